"""The console's words in English and Chinese, and which language a request gets.

One table per language with the same keys (a unit test fails when a key lacks either). The
language is the ``jishi_lang`` cookie when set by the switch, else the browser's
``Accept-Language`` (the first of ``zh*`` or ``en*`` by preference), else English.
"""

from __future__ import annotations

from collections.abc import Mapping

Lang = str
LANGS: tuple[Lang, ...] = ("en", "zh")
LANG_COOKIE = "jishi_lang"

EN: dict[str, str] = {
    "app_title": "jishi console",
    "nav_fleet": "Fleet",
    "nav_usage": "Usage",
    "nav_warnings": "Warnings",
    "switch_to": "中文",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "token_label": "API token (read role or higher)",
    "signin_help": "Paste a token issued by the collector's operator "
    "(jishi collector token create --role read).",
    "signin_bad": "Unknown or revoked token.",
    "signin_role": "This token's role cannot read.",
    "signin_expired": "The form had expired; please sign in again.",
    "state_off": "off",
    "state_idle": "idle",
    "state_running": "running",
    "state_fault": "fault",
    "state_maintenance": "maintenance",
    "state_unknown": "unknown (no data)",
    "online": "online",
    "offline": "offline",
    "never": "never",
    "category_general": "general-purpose",
    "category_specialised": "specialised",
    "no_unit": "(no unit)",
    "all": "All",
    "filter": "Filter",
    "show": "Show",
    "timezone": "Times in",
    "fleet_title": "Fleet now",
    "fleet_count": "{n} instruments",
    "fleet_updated": "Updated",
    "fleet_refresh": "refreshes every {n} s",
    "fleet_empty": "No instrument matches.",
    "col_instrument": "Instrument",
    "col_unit": "Management unit",
    "col_category": "Category",
    "col_state": "State",
    "col_link": "Agent",
    "col_since": "Since",
    "col_last_seen": "Last heard",
    "col_running_today": "Running today (h)",
    "col_effective_today": "Effective today (h)",
    "col_completeness": "Completeness",
    "col_start": "Start",
    "col_end": "End",
    "col_duration": "Duration",
    "col_user": "User",
    "col_org": "Organisation",
    "col_user_type": "User type",
    "col_source": "Source",
    "col_reason": "Reason",
    "col_by": "By",
    "col_active": "Active",
    "col_effective_h": "Effective (h)",
    "col_running_h": "Running (h)",
    "col_service_h": "Service (h)",
    "col_external_h": "External service (h)",
    "col_share_rate": "Share rate",
    "col_quota_h": "Prorated quota (h)",
    "col_utilization": "Utilization",
    "col_unknown_h": "Unknown (h)",
    "col_month": "Month",
    "weekday_0": "Mon",
    "weekday_1": "Tue",
    "weekday_2": "Wed",
    "weekday_3": "Thu",
    "weekday_4": "Fri",
    "weekday_5": "Sat",
    "weekday_6": "Sun",
    "col_upper_bound": "Utilization if unknown were used",
    "col_verdict": "Verdict",
    "col_kind": "Kind",
    "col_threshold_h": "Threshold (h)",
    "col_saturated": "Saturated",
    "col_instruments": "Instruments",
    "col_mean_effective_h": "Mean effective (h)",
    "user_internal": "internal",
    "user_external": "external",
    "user_staff": "staff",
    "yes": "yes",
    "no": "no",
    "day": "Day",
    "week": "Week",
    "timeline": "Timeline",
    "timeline_help": "Hover over or click a stretch to see the messages behind it.",
    "daily_effective": "Effective hours per day, last 30 days",
    "daily_help": "Bar: effective hours; grey strip under each bar: completeness of that day.",
    "sessions": "Sessions",
    "adjustments": "Adjustments",
    "none_in_period": "None in this period.",
    "evidence": "Evidence",
    "ev_none": "No fresh message covers this stretch, so it is unknown.",
    "ev_boot": "Agent boot",
    "ev_seq": "Messages (seq)",
    "ev_observed": "Observed",
    "ev_kind": "Kind",
    "ev_record": "record (a log or run file)",
    "ev_heartbeat": "heartbeats and state messages",
    "ev_replayed": "replayed after an outage",
    "ev_will": "Offline (Last Will or goodbye) received at {t}",
    "ev_withdrawn": "withdrawn: the agent proved it kept observing",
    "ev_more": "and {n} more",
    "partial": "The period reaches now: figures up to now.",
    "usage_title": "Usage",
    "usage_by_unit": "By management unit",
    "usage_by_month": "By month",
    "usage_total": "Total",
    "period_start": "From",
    "period_end": "Until (exclusive)",
    "download": "Per instrument (evaluation figures report)",
    "download_tables": "Download these tables",
    "warnings_title": "Warnings",
    "year": "Year",
    "low_use_title": "Low utilization",
    "low_use_help": "Effective hours below {pct} of the prorated quota. The upper bound counts "
    "every unknown hour as effective: below the threshold even then, the instrument is "
    "under-used whatever the missing data held.",
    "low_completeness_title": "Low completeness",
    "low_completeness_help": "Less than {pct} of the period observed: the figures of these "
    "instruments cannot be trusted.",
    "verdict_under_used": "under-used",
    "verdict_under_used_or_data_missing": "under-used or data missing",
    "saturation_title": "Saturation",
    "saturation_help": "Purchase review: instruments of a kind busy beyond {h} h a year "
    "(prorated to the period: {p} h).",
    "error_title": "Cannot show this page",
    "not_found": "No instrument {id!r}.",
    "back": "Back to the fleet",
}

ZH: dict[str, str] = {
    "app_title": "jishi 机时控制台",
    "nav_fleet": "仪器总览",
    "nav_usage": "机时统计",
    "nav_warnings": "预警",
    "switch_to": "English",
    "sign_in": "登录",
    "sign_out": "退出",
    "token_label": "访问令牌（读权限或以上）",
    "signin_help": "请粘贴采集器管理员发放的令牌（jishi collector token create --role read）。",
    "signin_bad": "令牌无效或已撤销。",
    "signin_role": "该令牌没有读取权限。",
    "signin_expired": "表单已过期，请重新登录。",
    "state_off": "关机",
    "state_idle": "待机",
    "state_running": "运行",
    "state_fault": "故障",
    "state_maintenance": "维护",
    "state_unknown": "未知（无数据）",
    "online": "在线",
    "offline": "离线",
    "never": "从未",
    "category_general": "通用",
    "category_specialised": "专用",
    "no_unit": "（未设单位）",
    "all": "全部",
    "filter": "筛选",
    "show": "显示",
    "timezone": "时区",
    "fleet_title": "仪器实时总览",
    "fleet_count": "共 {n} 台仪器",
    "fleet_updated": "更新于",
    "fleet_refresh": "每 {n} 秒自动刷新",
    "fleet_empty": "没有符合条件的仪器。",
    "col_instrument": "仪器",
    "col_unit": "管理单位",
    "col_category": "类别",
    "col_state": "状态",
    "col_link": "代理",
    "col_since": "状态起始",
    "col_last_seen": "最近上报",
    "col_running_today": "今日运行 (h)",
    "col_effective_today": "今日有效 (h)",
    "col_completeness": "数据完整率",
    "col_start": "开始",
    "col_end": "结束",
    "col_duration": "时长",
    "col_user": "用户",
    "col_org": "单位",
    "col_user_type": "用户类型",
    "col_source": "来源",
    "col_reason": "原因",
    "col_by": "操作人",
    "col_active": "有效",
    "col_effective_h": "有效机时 (h)",
    "col_running_h": "运行机时 (h)",
    "col_service_h": "服务机时 (h)",
    "col_external_h": "对外服务机时 (h)",
    "col_share_rate": "共享率",
    "col_quota_h": "折算定额机时 (h)",
    "col_utilization": "使用率",
    "col_unknown_h": "未知时长 (h)",
    "col_month": "月份",
    "weekday_0": "周一",
    "weekday_1": "周二",
    "weekday_2": "周三",
    "weekday_3": "周四",
    "weekday_4": "周五",
    "weekday_5": "周六",
    "weekday_6": "周日",
    "col_upper_bound": "未知计为使用时的使用率",
    "col_verdict": "结论",
    "col_kind": "仪器类别",
    "col_threshold_h": "饱和阈值 (h)",
    "col_saturated": "是否饱和",
    "col_instruments": "台数",
    "col_mean_effective_h": "平均有效机时 (h)",
    "user_internal": "校内",
    "user_external": "校外",
    "user_staff": "本单位人员",
    "yes": "是",
    "no": "否",
    "day": "日",
    "week": "周",
    "timeline": "状态时间线",
    "timeline_help": "鼠标悬停或点击某一段，可查看其依据的消息。",
    "daily_effective": "近 30 天每日有效机时",
    "daily_help": "柱：有效机时；柱下灰条：当天数据完整率。",
    "sessions": "使用记录",
    "adjustments": "修正记录",
    "none_in_period": "本期间无记录。",
    "evidence": "依据",
    "ev_none": "此段没有新鲜消息覆盖，因此为未知。",
    "ev_boot": "代理程序启动",
    "ev_seq": "消息（序号）",
    "ev_observed": "观测时间",
    "ev_kind": "类型",
    "ev_record": "记录（日志或运行文件）",
    "ev_heartbeat": "心跳与状态消息",
    "ev_replayed": "断线后补传",
    "ev_will": "{t} 收到离线消息（遗嘱或正常下线）",
    "ev_withdrawn": "已撤回：代理程序证明其持续观测",
    "ev_more": "另有 {n} 条",
    "partial": "统计期间延伸至当前：数据截至此刻。",
    "usage_title": "机时统计",
    "usage_by_unit": "按管理单位",
    "usage_by_month": "按月",
    "usage_total": "合计",
    "period_start": "起",
    "period_end": "止（不含）",
    "download": "按仪器（评价机时报表）",
    "download_tables": "下载本页表格",
    "warnings_title": "预警",
    "year": "年份",
    "low_use_title": "使用率偏低",
    "low_use_help": "有效机时低于折算定额的 {pct}。上限将所有未知时长计为有效：若仍低于阈值，"
    "则无论缺失数据如何，该仪器均使用不足。",
    "low_completeness_title": "数据完整率偏低",
    "low_completeness_help": "观测到的时间不足统计期间的 {pct}：这些仪器的数据不可信。",
    "verdict_under_used": "使用不足",
    "verdict_under_used_or_data_missing": "使用不足或数据缺失",
    "saturation_title": "机时饱和",
    "saturation_help": "购置评议：同类仪器每年有效机时超过 {h} 小时（按统计期间折算为 {p} 小时）。",
    "error_title": "无法显示此页面",
    "not_found": "没有仪器 {id!r}。",
    "back": "返回仪器总览",
}

CATALOGS: Mapping[Lang, Mapping[str, str]] = {"en": EN, "zh": ZH}


def from_accept_language(header: str) -> Lang:
    """The language the browser prefers among ours: ``zh`` or ``en`` by q-value, else en."""
    best: tuple[float, int, Lang] | None = None
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in CATALOGS and quality > 0:
            candidate = (-quality, position, lang)
            best = candidate if best is None else min(best, candidate)
    return "en" if best is None else best[2]


def choose(cookie: str | None, accept_language: str) -> Lang:
    """The switch's choice (cookie) first, else the browser's."""
    if cookie in CATALOGS:
        return str(cookie)
    return from_accept_language(accept_language)


class Words:
    """Look-up of one language's words: ``words("key", n=3)`` formats with arguments."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self._table = CATALOGS[lang]

    def __call__(self, key: str, **args: object) -> str:
        text = self._table.get(key)
        if text is None:  # a value from the ledger with no word of ours: shown as it is
            return key.partition("_")[2] or key
        return text.format(**args) if args else text
