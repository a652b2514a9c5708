"""The Chinese dashboards (``zh/*.json``, issue 19): the English ones with every title, panel
name, description, variable label, state name and table column in Chinese.

The queries, layout and colours are the English dashboard's, untouched, so the query tests run
against InfluxDB cover both languages. A text without an entry in the tables below stops the
generator (:class:`MissingTranslationError`), so a new panel cannot ship half-translated. Each
language's dashboards carry their own tag (``jishi`` / ``jishi-zh``) and uid suffix, so both sets
can be provisioned side by side and each one's links list only its own language.

Terms follow the national evaluation rules: 有效工作机时, 对外服务机时, 共享率, 定额机时.
"""

from __future__ import annotations

import copy
from typing import Any

TAG = "jishi-zh"
UID_SUFFIX = "-zh"

# Dashboard titles and descriptions, panel titles and descriptions, variable labels.
TEXTS = {
    # Dashboards
    "jishi / Fleet overview": "机时 / 仪器总览",
    "jishi / Instrument detail": "机时 / 仪器详情",
    "jishi / Utilization": "机时 / 机时利用率",
    "jishi / Agent fleet health": "机时 / 代理程序健康",
    "Which instruments are online, running, idle, in fault or unknown.": (
        "哪些仪器在线、运行、待机、故障或状态未知。"
    ),
    "One or a few instruments: state timeline with unknown time, readings, agent health.": (
        "一台或几台仪器：含未知时段的状态时间线、读数、代理程序健康状况。"
    ),
    "Effective machine-hours against quota, external service share, completeness.": (
        "有效工作机时与定额机时之比、共享率、数据完整率。"
    ),
    "Who is silent, who is buffering, who drops.": (
        "哪些仪器离线无数据，哪些代理程序在积压、在丢弃消息。"
    ),
    # Variables
    "Site": "站点",
    "Unit": "管理单位",
    "Instrument": "仪器",
    "State lookback": "状态回溯",
    "How far before the range to look for an instrument's last state.": (
        "在时间范围之前回溯多远，以找到仪器最近的状态。"
    ),
    # Fleet overview
    "Online": "在线",
    "Offline": "离线",
    "Running": "运行",
    "Idle": "待机",
    "Fault": "故障",
    "Unknown": "未知",
    "Instruments agent connected (birth message, no will) at the end of the range.": (
        "范围结束时代理程序已连接（有上线消息，无遗嘱消息）的仪器数。"
    ),
    "Instruments agent's last will received or announced offline at the end of the range.": (
        "范围结束时已收到代理程序遗嘱消息或其声明离线的仪器数。"
    ),
    "Instruments current state running at the end of the range.": "范围结束时状态为运行的仪器数。",
    "Instruments current state idle at the end of the range.": "范围结束时状态为待机的仪器数。",
    "Instruments current state fault at the end of the range.": "范围结束时状态为故障的仪器数。",
    "Instruments no fresh data: stale or offline at the end of the range.": (
        "范围结束时没有新数据（数据过时或离线）的仪器数。"
    ),
    "Instruments": "仪器列表",
    "State, since when, and when data was last fresh, at the end of the range.": (
        "范围结束时的状态、起始时间，以及最后一次收到新数据的时间。"
    ),
    "State timeline": "状态时间线",
    "Every instrument's state; unknown (purple) is time with no fresh data.": (
        "每台仪器的状态；未知（紫色）是没有新数据的时段。"
    ),
    # Instrument detail
    "State": "状态",
    "Unknown (purple) is time the collector had no fresh data; it is never painted over.": (
        "未知（紫色）是采集器没有新数据的时段，不会被其他状态覆盖。"
    ),
    "Power": "功率",
    "Mean power per interval; gaps are gaps.": "每个时间间隔的平均功率；数据缺口保持为缺口。",
    "All numeric readings": "全部数值读数",
    "Every numeric reading the agent sends, averaged per interval.": (
        "代理程序发送的每个数值读数，按时间间隔取平均。"
    ),
    "Agent health": "代理程序健康",
    "Outbox depth (messages waiting), messages dropped, read errors, from heartbeats.": (
        "来自心跳的发件箱积压（等待发送的消息）、丢弃的消息、读取错误。"
    ),
    "Hours by state (daily roll-ups)": "各状态小时数（按日汇总）",
    "Whole site-local days inside the range; unknown hours are shown too.": (
        "范围内完整的站点当地日；未知小时数也一并显示。"
    ),
    # Utilization
    "Effective hours": "有效工作机时",
    "有效工作机时 over whole days.": "按完整日统计的有效工作机时。",
    "Completeness": "数据完整率",
    "Share of the period observed, for effective hours: below 100 % the figure is a lower "
    "bound.": "有效工作机时所依据时段中被观测到的比例：低于 100 % 时该数字是下限。",
    "Utilization": "机时利用率",
    "effective / quota.": "有效工作机时 / 定额机时。",
    "Share of the period observed, for utilization: below 100 % the figure is a lower "
    "bound.": "机时利用率所依据时段中被观测到的比例：低于 100 % 时该数字是下限。",
    "External share": "共享率",
    "对外服务机时 / effective (共享率).": "共享率 = 对外服务机时 / 有效工作机时。",
    "Share of the period observed, for external share: below 100 % the figure is a lower "
    "bound.": "共享率所依据时段中被观测到的比例：低于 100 % 时该数字是下限。",
    "By instrument": "按仪器",
    "Effective hours against the prorated quota, external service, and completeness.": (
        "有效工作机时与按时段折算的定额机时、对外服务机时及数据完整率。"
    ),
    "By unit": "按管理单位",
    "The same figures summed per management unit.": "同样的数字按管理单位汇总。",
    "Effective hours per day, with completeness": "每日有效工作机时及数据完整率",
    "Bars: effective hours per site-local day; line (right axis): completeness of that day.": (
        "柱：每个站点当地日的有效工作机时；线（右轴）：当日的数据完整率。"
    ),
    # Agent fleet health
    "Silent": "离线无数据",
    "Instruments unknown now.": "当前状态未知的仪器数。",
    "Buffering": "积压中",
    "Agents whose last heartbeat reported messages waiting in the outbox.": (
        "最近一次心跳报告发件箱中有待发送消息的代理程序数。"
    ),
    "Dropping": "丢弃消息",
    "Agents that reported dropped messages in the range.": "范围内报告丢弃了消息的代理程序数。",
    "Mirror backlog": "镜像积压",
    "Points the collector's InfluxDB sink still had to write at its last self-report.": (
        "采集器的 InfluxDB 镜像在最近一次自报时尚待写入的数据点。"
    ),
    "Silent instruments": "离线无数据的仪器",
    "Unknown now: no fresh data since 'last seen' (online 0: the agent's will arrived).": (
        "当前状态未知：自“最后在线”以来没有新数据（在线为 0：已收到代理程序的遗嘱消息）。"
    ),
    "Buffering agents": "积压中的代理程序",
    "Last heartbeat had messages waiting: the link to the broker is slow or down.": (
        "最近一次心跳时有待发送的消息：到 MQTT 服务器的链路缓慢或中断。"
    ),
    "Dropping agents": "丢弃消息的代理程序",
    "Agents whose outbox overflowed in the range: data was lost at the source.": (
        "范围内发件箱溢出的代理程序：数据已在源头丢失。"
    ),
    "Outbox depth": "发件箱积压",
    "Messages waiting in each agent's outbox.": "每个代理程序发件箱中等待发送的消息数。",
    "Read errors per interval": "每个时间间隔的读取错误",
    "New read errors reported by each agent's drivers.": "每个代理程序的驱动新报告的读取错误数。",
    "Clock offset": "时钟偏差",
    "Agent clock minus reference clock, where the agent knows it.": (
        "代理程序时钟减参考时钟（在代理程序知道时）。"
    ),
    "Points waiting in each collector's InfluxDB spool (written late after an outage).": (
        "每个采集器的 InfluxDB 缓存中等待写入的数据点（中断后补写）。"
    ),
}
# The state names of DESIGN.md's state model, as the timelines and tables show them.
STATES = {
    "off": "关机",
    "idle": "待机",
    "running": "运行",
    "fault": "故障",
    "maintenance": "维护",
    "unknown": "未知",
}
# Table columns: the query's aliases and the tags it groups by.
COLUMNS = {
    "site": "站点",
    "unit": "管理单位",
    "category": "类别",
    "instrument": "仪器",
    "state": "状态",
    "since": "起始时间",
    "last seen": "最后在线",
    "online": "在线",
    "effective h": "有效工作机时 (h)",
    "quota h": "定额机时 (h)",
    "utilization": "机时利用率",
    "external service h": "对外服务机时 (h)",
    "external share": "共享率",
    "completeness": "数据完整率",
    "outbox depth": "发件箱积压",
    "oldest unsent": "最早未发送",
    "dropped": "丢弃数",
}


class MissingTranslationError(KeyError):
    """A dashboard text has no Chinese in the tables of dashboards/chinese.py."""


def _zh(table: dict[str, str], text: str) -> str:
    try:
        return table[text]
    except KeyError:
        raise MissingTranslationError(f"no Chinese for {text!r} in dashboards/chinese.py") from None


def _table(panel: dict[str, Any]) -> None:
    """Column headers in Chinese (Grafana's organize transformation), units and the state
    column's value names following them."""
    # Every name the query quotes that is a column name: the aliases and the grouping tags
    # (tests/dashboards/test_dashboard_translations.py checks the columns InfluxDB returns).
    queries = " ".join(target["query"] for target in panel["targets"])
    renames = {name: zh for name, zh in COLUMNS.items() if f'"{name}"' in queries}
    for transformation in panel["transformations"]:
        if transformation["id"] == "organize":
            transformation["options"]["renameByName"] = renames
    for override in panel["fieldConfig"]["overrides"]:
        override["matcher"]["options"] = renames[override["matcher"]["options"]]
    if "state" in renames:
        panel["fieldConfig"]["overrides"].append(
            {
                "matcher": {"id": "byName", "options": renames["state"]},
                "properties": [{"id": "mappings", "value": [_state_mapping()]}],
            }
        )


def _state_mapping() -> dict[str, Any]:
    options = {name: {"text": zh, "index": i} for i, (name, zh) in enumerate(STATES.items())}
    return {"type": "value", "options": options}


def _panel(panel: dict[str, Any]) -> None:
    panel["title"] = _zh(TEXTS, panel["title"])
    panel["description"] = _zh(TEXTS, panel["description"])
    if panel["type"] == "state-timeline":
        for mapping in panel["fieldConfig"]["defaults"]["mappings"]:
            for option in mapping["options"].values():
                option["text"] = _zh(STATES, option["text"])
    if panel["type"] == "table":
        _table(panel)


def translate(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The Chinese version of an English dashboard (a copy; the original is unchanged)."""
    zh = copy.deepcopy(dashboard)
    zh["uid"] += UID_SUFFIX
    zh["title"] = _zh(TEXTS, zh["title"])
    zh["description"] = _zh(TEXTS, zh["description"])
    zh["tags"] = [TAG]
    for link in zh["links"]:
        link["tags"] = [TAG]
    for variable in zh["templating"]["list"]:
        if variable["type"] != "datasource":  # "InfluxDB" is a name
            variable["label"] = _zh(TEXTS, variable["label"])
        if "description" in variable:
            variable["description"] = _zh(TEXTS, variable["description"])
    for panel in zh["panels"]:
        _panel(panel)
    return zh
