"""Log records that name the user: sign-in / sign-out pairs in a home-made log, tailed by the
log driver from a real file, and the account taken from a Windows ``DOMAIN\\user``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jishi.drivers.base import DriverConfigError
from jishi.drivers.log_rules import account_of
from jishi.drivers.logs import LogDriver

from support.driver_runs import FakeClock, poll_until_quiet

NOW = datetime(2026, 3, 1, tzinfo=UTC)
RULES = [
    {"pattern": r"^(?P<ts>\S+ \S+) RUN START", "state": "running"},
    {"pattern": r"^(?P<ts>\S+ \S+) RUN END", "state": "idle"},
    {"pattern": r"^(?P<ts>\S+ \S+) LOGIN operator=(?P<user>\S+)", "session": "start"},
    {"pattern": r"^(?P<ts>\S+ \S+) LOGOUT", "session": "end"},
]
LOG = """2026-02-28 09:00:00 LOGIN operator=wang
2026-02-28 09:05:00 RUN START
2026-02-28 10:00:00 RUN END
2026-02-28 10:30:00 LOGIN operator=li
2026-02-28 11:00:00 RUN START
2026-02-28 11:40:00 RUN END
2026-02-28 12:00:00 LOGOUT
"""


def _at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-02-28T{hhmm}:00+08:00")


def test_sign_in_and_out_records_make_sessions(tmp_path: Path) -> None:
    (tmp_path / "instrument.log").write_text(LOG, "utf-8")
    options = {
        "path": str(tmp_path),
        "files": ["*.log"],
        "rules": RULES,
        "timezone": "Asia/Shanghai",
    }
    clock = FakeClock()
    driver = LogDriver.from_options("hplc", options)
    driver._clock = clock
    readings = poll_until_quiet(driver, clock, NOW)
    driver.close()
    sessions = [(s.event, s.user, s.ts) for r in readings for s in r.sessions]
    assert sessions == [
        ("start", "wang", _at("09:00")),
        ("end", "wang", _at("10:30")),  # li signs in: wang's session ends
        ("start", "li", _at("10:30")),
        ("end", "li", _at("12:00")),
    ]
    states = [(e.state, e.ts) for r in readings for e in r.events]
    assert ("running", _at("09:05")) in states  # the session rules leave the states alone
    assert all(state in ("running", "idle") for state, _ in states)


def test_a_rule_needs_a_state_or_a_session(tmp_path: Path) -> None:
    options = {"path": str(tmp_path), "rules": [{"pattern": "x", "session": "maybe"}]}
    with pytest.raises(DriverConfigError, match="session must be start or end"):
        LogDriver.from_options("x", options)


@pytest.mark.parametrize(
    ("text", "account"),
    [
        ("NMRLAB\\nmr-user", "nmr-user"),
        ("<CHEM\\nmr-user>", "nmr-user"),
        ("wang", "wang"),
        ("  ", None),
    ],
)
def test_account_of(text: str, account: str | None) -> None:
    assert account_of(text) == account
