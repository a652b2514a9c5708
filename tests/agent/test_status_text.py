"""``jishi agent status`` as plain text: every line within 80 columns, local times to the
second, short ages, errors under their row (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jishi.agent.status_text import WIDTH, age, local_time, status_lines
from jishi.i18n import columns, set_language

NOW = datetime(2026, 12, 2, 6, 30, 0, 123456, tzinfo=UTC)


def report(instruments: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "data_dir": "/var/lib/jishi-agent",
        "outbox": {
            "depth": 2,
            "bytes": 1840,
            "by_kind": {"hb": 2},
            "oldest_unsent_age_s": 31.0,
            "dropped": 0,
        },
        "agent": "pc-nmr-01",
        "broker": "mqtt://10.0.0.5:1883",
        "running": True,
        "status_stale_but_running": False,
        "outbox_error": None,
        "outbox_unwritable_since": None,
        "held_in_memory": 0,
        "disk_free_bytes": 41_200_000_000,
        "instruments": instruments,
    }
    return {**base, **overrides}


def instrument(
    name: str, sources: dict[str, dict[str, Any]], state: str = "running"
) -> dict[str, Any]:
    return {
        "id": name,
        "state": state,
        "since": (NOW - timedelta(minutes=7)).isoformat(),
        "connected": True,
        "last_publish": NOW.timestamp() - 3,
        "sources": sources,
    }


def source(errors: int = 0, error: str | None = None) -> dict[str, Any]:
    return {
        "last_good_read": (NOW - timedelta(seconds=1, microseconds=5)).isoformat(),
        "read_errors": errors,
        "last_error": error,
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (-0.4, "0 s"), (3.2, "3 s"), (119, "119 s"), (720, "12 min"), (5400, "90 min"),
     (7200, "2.0 h"), (86400 * 3, "72.0 h")],
)  # fmt: skip
def test_ages_are_short(seconds: float | None, text: str) -> None:
    assert age(seconds) == text


def test_times_are_local_to_the_second_with_the_date_only_on_other_days() -> None:
    now = NOW.timestamp()
    local = NOW.astimezone()
    assert local_time(NOW.isoformat(), now) == local.strftime("%H:%M:%S")
    assert "." not in local_time(NOW.isoformat(), now)  # no microseconds
    earlier = NOW - timedelta(days=3)
    assert local_time(earlier.isoformat(), now) == earlier.astimezone().strftime("%m-%d %H:%M")
    assert local_time(None, now) == "-"


def test_a_typical_agent_fits_80_columns() -> None:
    rep = report(
        [
            instrument("nmr-600", {"modbus": source()}),
            instrument("xrd-d8", {"logs": source(), "process": source(2, "no such process")}),
            instrument("sem-01", {"serial": source()}, state="maintenance"),
        ]
    )
    lines = status_lines(rep, NOW.timestamp())
    assert max(len(line) for line in lines) <= WIDTH, "\n".join(lines)
    text = "\n".join(lines)
    assert "agent pc-nmr-01: running" in text
    assert "outbox: 2 unsent (1840 bytes; hb 2), oldest 31 s ago, dropped heartbeats 0" in text
    header = next(line for line in lines if line.startswith("instrument"))
    row = next(line for line in lines if line.startswith("nmr-600"))
    assert row.split() == [
        "nmr-600", "running", (NOW - timedelta(minutes=7)).astimezone().strftime("%H:%M:%S"),
        "yes", "3", "s", "modbus", (NOW - timedelta(seconds=1)).astimezone().strftime("%H:%M:%S"),
        "0",
    ]  # fmt: skip
    assert header.index("source") == row.index("modbus")
    # The second source of xrd-d8 has blank instrument cells and its error on the next line.
    process = lines.index(next(line for line in lines if line.lstrip().startswith("process")))
    assert lines[process].startswith(" ")
    assert lines[process + 1] == "  last error: no such process"


def test_long_names_errors_and_paths_are_cut_or_wrapped_within_80_columns() -> None:
    long_error = "modbus: no answer from device 7 at 192.168.10.20:502 " * 4
    rep = report(
        [
            instrument(
                "icp-ms-agilent-7900-room-b204-north",
                {"vendor-log-folder-with-long-name": source(12345, long_error)},
                state="maintenance",
            )
        ],
        data_dir="C:/ProgramData/jishi/agent/with/a/rather/long/path/" + "x" * 30,
        broker="mqtts://collector.instruments.example-university.edu.cn:8883",
        outbox_unwritable_since=NOW.timestamp() - 600,
        held_in_memory=12,
        outbox_error="database or disk is full",
    )
    lines = status_lines(rep, NOW.timestamp())
    # A path is never broken inside; everything else fits.
    assert all(len(line) <= WIDTH for line in lines if "x" * 30 not in line), "\n".join(lines)
    row = next(line for line in lines if line.startswith("icp-ms"))
    assert "~" in row and "maintenance" in row and "12345" in row
    assert any("OUTBOX CANNOT BE WRITTEN since 10 min ago" in line for line in lines)
    error_lines = [line for line in lines if line.startswith("  ") and "no answer" in line]
    assert len(error_lines) >= 3


def test_not_running_and_no_outbox() -> None:
    rep = report([], running=False, outbox=None, disk_free_bytes=None, agent=None)
    lines = status_lines(rep, NOW.timestamp())
    assert lines[0] == "agent ?: not running (status file stale or missing)"
    assert "outbox: none yet" in lines
    assert lines[-1].startswith("instrument")


@pytest.fixture
def chinese() -> Iterator[None]:
    set_language("zh")
    yield
    set_language(None)


def test_in_chinese_every_line_fits_80_console_columns(chinese: None) -> None:
    """Chinese characters take two columns: counted as one, the table would pass 80 and the
    columns would not line up (issue 19)."""
    long_error = "读取失败：设备 7 无应答，请检查串口线缆和波特率设置 " * 3
    rep = report(
        [
            instrument("nmr-600", {"modbus": source()}),
            instrument(
                "icp-ms-agilent-7900-room-b204-north",
                {"vendor-log-folder-with-long-name": source(12345, long_error)},
                state="maintenance",
            ),
        ],
        outbox_unwritable_since=NOW.timestamp() - 600,
        held_in_memory=12,
        outbox_error="database or disk is full",
    )
    lines = status_lines(rep, NOW.timestamp())
    assert max(columns(line) for line in lines) <= WIDTH, "\n".join(lines)
    assert lines[0] == "代理程序 pc-nmr-01：运行中"
    assert any(line.startswith("发件箱自 10 分钟前起无法写入：12 条消息") for line in lines)
    header = next(line for line in lines if line.startswith("仪器"))
    row = next(line for line in lines if line.startswith("nmr-600"))
    assert row.split()[1:2] == ["运行"] and " 是 " in row
    # Columns line up on the console: the source column starts at the same column.
    assert columns(header[: header.index("数据源")]) == columns(row[: row.index("modbus")])
    error = lines[lines.index(next(line for line in lines if line.startswith("icp-ms"))) + 1 :]
    assert len(error) == 3 and error[0].startswith("  最近错误：读取失败：设备 7")
    assert all(line.startswith("    ") for line in error[1:])
