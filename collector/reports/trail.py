"""The adjustments' audit trail as every report shows it (JSON and a sheet)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jishi.collector.reports import columns as col
from jishi.collector.reports.adjust import Adjustment
from jishi.collector.reports.output import Column, Sheet

STATE_NAMES = {
    "running": "运行",
    "idle": "待机",
    "off": "关机",
    "fault": "故障",
    "maintenance": "维护",
    "unknown": "未知",
}


def local_time(value: float | None, timezone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, ZoneInfo(timezone)).strftime(fmt)


def iso_local(value: float | None, timezone: str) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, ZoneInfo(timezone)).isoformat()


def trail_json(items: Sequence[Adjustment], timezone: str) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "instrument": a.instrument,
            "start": iso_local(a.start, timezone),
            "end": iso_local(a.end, timezone),
            "state": a.state,
            "reason": a.reason,
            "created_by": a.created_by,
            "created_at": iso_local(a.created_at, timezone),
            "active": a.active,
            "revoked_by": a.revoked_by,
            "revoked_at": iso_local(a.revoked_at, timezone),
            "revoke_reason": a.revoke_reason,
        }
        for a in items
    ]


TRAIL_COLUMNS = (
    Column("调整编号", "id", "int"),
    col.INSTRUMENT,
    Column("开始时间", "start"),
    Column("结束时间", "end"),
    Column("调整为状态", "state"),
    Column("原因", "reason"),
    Column("调整人", "created_by"),
    Column("调整时间", "created_at"),
    Column("是否有效", "active"),
    Column("撤销人", "revoked_by"),
    Column("撤销时间", "revoked_at"),
    Column("撤销原因", "revoke_reason"),
)


def trail_sheet(items: Sequence[Adjustment], timezone: str) -> Sheet:
    rows = [
        {
            "id": a.id,
            "instrument": a.instrument,
            "start": local_time(a.start, timezone),
            "end": local_time(a.end, timezone),
            "state": f"{STATE_NAMES[a.state]} ({a.state})",
            "reason": a.reason,
            "created_by": a.created_by,
            "created_at": local_time(a.created_at, timezone),
            "active": "有效" if a.active else "已撤销",
            "revoked_by": a.revoked_by,
            "revoked_at": local_time(a.revoked_at, timezone),
            "revoke_reason": a.revoke_reason,
        }
        for a in items
    ]
    return Sheet("调整记录", TRAIL_COLUMNS, rows)
