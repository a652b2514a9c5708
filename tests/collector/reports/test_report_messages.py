"""``jishi report``'s errors in the reader's language (issue 19): each error the command can
meet is raised for real, in English (as the API shares it) and in Chinese, and every pattern of
collector/reports/cli_text.py is matched by a real message, so a reworded one cannot silently
stay English."""

from __future__ import annotations

import re

import pytest

from jishi import i18n
from jishi.cli import main
from jishi.collector.config import CollectorConfig
from jishi.collector.ledger.db import Engines
from jishi.collector.reports.cli_text import PHRASES

CJK = re.compile("[\u4e00-\u9fff]")
FIGURES = ["report", "figures", "--no-progress"]
ADD = ["report", "adjust", "add", "--state", "idle", "--reason", "test", "--by", "t"]
# What a technician may type wrong, and the English message it must give (the start of it).
CASES = [
    ([*FIGURES, "--year", "2025", "--start", "2025-01-01"], "give either --year"),
    ([*FIGURES, "--start", "2025-01-01"], "give both --start and --end"),
    ([*FIGURES, "--start", "2025-06-01", "--end", "2025-01-01"], "the range is inverted"),
    ([*FIGURES, "--start", "2000-01-01", "--end", "2020-01-01"], "the range may span"),
    ([*FIGURES, "--start", "2999-01-01", "--end", "2999-02-01"], "start (2999-01-01) is in"),
    ([*FIGURES, "--year", "2999"], "year 2999 is in the future"),
    ([*FIGURES, "--year", "1980"], "year 1980 is before 1990"),
    ([*FIGURES, "--start", "soon", "--end", "2025-01-01"], "--start 'soon' is not a date"),
    ([*ADD, "--instrument", "x", "--start", "soon", "--end", "2025-01-02"], "--start 'soon'"),
    ([*FIGURES, "--year", "2025", "--format", "csv", "--table", "9"], "this report has"),
    (["report", "saturation", "--year", "2025", "--kind", "nope"], "no instrument kind 'nope'"),
    ([*FIGURES, "--year", "2025", "--unit", "nope"], "no management unit 'nope'"),
    ([*FIGURES, "--year", "2025", "--instrument", "nope"], "no instrument(s) nope"),
    ([*ADD, "--instrument", "nope", "--start", "2025-01-01", "--end", "2025-01-02"], "no instr"),
    (["report", "adjust", "revoke", "999", "--reason", "test"], "no adjustment 999"),
]


@pytest.fixture(scope="module")
def toml(
    year_ledger: tuple[CollectorConfig, Engines], tmp_path_factory: pytest.TempPathFactory
) -> str:
    config, _engines = year_ledger
    path = tmp_path_factory.mktemp("cfg") / "collector.toml"
    path.write_text(
        f'data_dir = "{config.data_dir}"\n[database]\nurl = "{config.database_url}"\n',
        encoding="utf-8",
    )
    return str(path)


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    return capsys.readouterr().err.rstrip("\n")


def test_every_report_error_is_raised_in_english_and_shown_in_chinese(
    toml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    matched: set[str] = set()
    try:
        for argv, english in CASES:
            args = [*argv, "-c", toml]
            said = _error(["--lang", "en", *args], capsys)
            assert said.startswith(f"error: {english}"), (argv, said)
            message = said.removeprefix("error: ")
            pattern = next(p for p, _ in PHRASES if re.fullmatch(p, message))
            matched.add(pattern)
            chinese = _error(["--lang", "zh", *args], capsys)
            assert chinese.startswith("错误："), chinese
            assert CJK.search(chinese.removeprefix("错误：")), (argv, chinese)
            assert "error" not in chinese and " is " not in chinese, chinese
    finally:
        i18n.set_language(None)
    assert matched == {pattern for pattern, _ in PHRASES}, "a pattern no real message matches"
