"""``jishi report ...`` end to end on a ledger file, and the pure period and overlay rules."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from collector.reports import scenario as sc
from collector.reports import truth
from jishi.cli import main
from jishi.collector.config import CollectorConfig
from jishi.collector.ledger.db import Engines
from jishi.collector.reports.adjust import Adjustment, overlay
from jishi.collector.reports.errors import PeriodError
from jishi.collector.reports.period import resolve_period
from jishi.collector.usage.timeline import Interval


@pytest.fixture(scope="module")
def toml(
    year_ledger: tuple[CollectorConfig, Engines], tmp_path_factory: pytest.TempPathFactory
) -> str:
    config, _engines = year_ledger
    lines = [
        f'data_dir = "{config.data_dir}"',
        "[database]",
        f'url = "{config.database_url}"',
        "[reports.kinds]",
        '"电镜" = ["sem-*"]',
    ]
    path = tmp_path_factory.mktemp("cfg") / "collector.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_cli_writes_xlsx_and_json(
    toml: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    out = tmp_path / "figures.xlsx"
    assert (
        main(
            ["report", "figures", "-c", toml, "--year", "2025", "--format", "xlsx", "-o", str(out)]
        )
        == 0
    )
    ws = openpyxl.load_workbook(out)["仪器"]
    assert ws.cell(1, 7).value == "有效工作机时"
    assert ws.cell(6, 1).value == "合计"
    total = truth.summed(list(truth.QUOTA_H))
    assert ws.cell(6, 7).value == round(total["effective_s"] / 3600, 6)
    capsysbinary.readouterr()
    assert main(["report", "saturation", "-c", toml, "--year", "2025", "--kind", "电镜"]) == 0
    doc = json.loads(capsysbinary.readouterr().out)
    assert [(e["instrument"], e["saturated"]) for e in doc["instruments"]] == [
        ("sem-1", True),
        ("sem-2", False),
    ]
    assert (
        main(
            [
                "report",
                "service-records",
                "-c",
                toml,
                "--start",
                "2025-01-01",
                "--end",
                "2025-01-02",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    text = capsysbinary.readouterr().out.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("仪器内部编号,仪器编号,仪器名称,管理单位,服务开始时间")
    assert len(text.splitlines()) == 1 + 4 + 1  # header, 2 sessions x 2 instruments, total
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["联系方式"] for r in rows[:2]] == ["13800000001", ""]


def test_cli_adjust_add_list_revoke(toml: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "report",
                "adjust",
                "add",
                "-c",
                toml,
                "--instrument",
                "sem-2",
                "--start",
                "2025-07-01",
                "--end",
                "2025-07-02",
                "--state",
                "off",
                "--reason",
                "停电检修",
                "--by",
                "tester",
            ]
        )
        == 0
    )
    assert "recorded" in capsys.readouterr().out
    assert main(["report", "adjust", "revoke", "-c", toml, "1", "--reason", "undo"]) == 0
    assert main(["report", "adjust", "list", "-c", toml, "--year", "2025"]) == 0
    listing = capsys.readouterr().out
    assert "sem-2" in listing and "revoked" in listing and "停电检修" in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2025", "--unit", "不存在学院"], "no management unit '不存在学院'"),
        (["--start", "2025-06-01", "--end", "2025-01-01"], "inverted"),
        (["--year", "2999"], "year 2999 is in the future"),
        (["--start", "2025-01-01"], "give both --start and --end"),
    ],
)
def test_cli_bad_parameters(
    toml: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "figures", "-c", toml, *args]) == 1
    assert message in capsys.readouterr().err


NOW = datetime(2026, 3, 1, 12, tzinfo=sc.ZONE).timestamp()


def test_period_rules() -> None:
    whole = resolve_period(year=2025, start=None, end=None, timezone=sc.TZ, now=NOW)
    assert (whole.start, whole.end) == (
        sc.at(sc.date(2025, 1, 1), "00:00"),
        sc.at(sc.date(2026, 1, 1), "00:00"),
    )
    default = resolve_period(year=None, start=None, end=None, timezone=sc.TZ, now=NOW)
    assert default.label == "2025"
    current = resolve_period(year=2026, start=None, end=None, timezone=sc.TZ, now=NOW)
    assert current.partial and current.end == NOW
    ranged = resolve_period(
        year=None, start="2025-02-01", end="2026-12-01", timezone=sc.TZ, now=NOW
    )
    assert ranged.partial and ranged.end == NOW
    for kwargs in (
        {"year": 2027},
        {"year": 1500},
        {"start": "2025-02-02", "end": "2025-02-01"},
        {"start": "2025-02-02", "end": "2025-02-02"},
        {"start": "x", "end": "y"},
        {"start": "2000-01-01", "end": "2020-01-01"},
    ):
        with pytest.raises(PeriodError):
            resolve_period(
                **{"year": None, "start": None, "end": None, **kwargs},  # type: ignore[arg-type]  # a minimal stand-in for argparse.Namespace
                timezone=sc.TZ,
                now=NOW,
            )


def _adj(i: int, start: float, end: float, state: str, revoked: bool = False) -> Adjustment:
    return Adjustment(
        i, "x", start, end, state, "why", "me", float(i), revoked_at=1.0 if revoked else None
    )


def test_overlay_later_wins_revoked_ignored_range_kept() -> None:
    timeline = [Interval(0, 10, "off"), Interval(10, 20, "idle"), Interval(20, 30, "running")]
    out = overlay(
        timeline,
        [
            _adj(1, 5, 25, "maintenance"),
            _adj(2, 15, 22, "running"),
            _adj(3, 0, 30, "fault", revoked=True),
            _adj(4, -5, 2, "idle"),
            _adj(5, 28, 40, "off"),
        ],
    )
    assert out == [
        Interval(0, 2, "idle"),
        Interval(2, 5, "off"),
        Interval(5, 15, "maintenance"),
        Interval(15, 22, "running"),
        Interval(22, 25, "maintenance"),
        Interval(25, 28, "running"),
        Interval(28, 30, "off"),
    ]
    assert overlay(timeline, []) == timeline
    with pytest.raises(ValueError, match="end after it starts"):
        _adj(1, 5, 5, "off")
