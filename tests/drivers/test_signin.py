"""The sign-in point: the desk's rules as a table, ``jishi agent sign-in``/``sign-out`` as real
processes feeding the ``signin`` source through its spool, a card reader on a socat pty, and
requests read again after a crash giving the same session ids."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jishi.drivers.base import SessionEvent
from jishi.drivers.signin import SignInDriver, spool_dir
from jishi.drivers.signin_desk import Request, SignInDesk

from support.cli import run_jishi
from support.ptys import PtyPair
from support.signin import signin_config
from support.times import at


def _apply(desk: SignInDesk, *requests: Request) -> list[tuple[str, str | None, str | None]]:
    events: list[SessionEvent] = []
    for req in requests:
        events.extend(desk.apply(req))
    return [(e.event, e.user, e.reason) for e in events]


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([Request(at(0), "sign-in", "wang")], [("start", "wang", None)]),
        (
            [Request(at(0), "sign-in", "wang"), Request(at(1), "sign-in", "wang")],
            [("start", "wang", None)],
        ),
        (
            [Request(at(0), "sign-in", "wang"), Request(at(9), "sign-in", "li")],
            [("start", "wang", None), ("end", "wang", "replaced"), ("start", "li", None)],
        ),
        (
            [Request(at(0), "sign-in", "wang"), Request(at(5), "sign-out")],
            [("start", "wang", None), ("end", "wang", None)],
        ),
        (
            [Request(at(0), "sign-in", "wang"), Request(at(5), "sign-out", "li")],
            [("start", "wang", None)],
        ),
        ([Request(at(5), "sign-out")], []),
        (
            [Request(at(0), "card", "04A1B2"), Request(at(60), "card", "04A1B2")],
            [("start", "04A1B2", None), ("end", "04A1B2", None)],
        ),
    ],
)
def test_desk_rules(
    requests: list[Request], expected: list[tuple[str, str | None, str | None]]
) -> None:
    assert _apply(SignInDesk("desk"), *requests) == expected


def _config(tmp_path: Path, extra: str = "") -> Path:
    return signin_config(tmp_path, extra)


@pytest.mark.integration  # runs jishi commands as processes
def test_sign_in_and_out_commands_reach_the_source_and_survive_a_crash(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = run_jishi(
        "agent", "sign-in", "-c", str(config), "zhang", "--user-type", "external", "--org", "Acme"
    )
    assert result.returncode == 0, result.stderr
    assert "queued for the agent" in result.stdout
    # More samples than a session message carries (the wire's bound): refused at the desk.
    result = run_jishi("agent", "sign-out", "-c", str(config), "--samples", "1000001")
    assert result.returncode != 0
    assert "samples must be between 0 and 1000000" in result.stderr
    result = run_jishi(
        "agent", "sign-out", "-c", str(config), "--outcome", "fault", "--samples", "4"
    )
    assert result.returncode == 0, result.stderr

    state_dir = tmp_path / "data" / "sources" / "nmr-1" / "desk"
    assert len(list(spool_dir(tmp_path / "data", "nmr-1", "desk").glob("*.json"))) == 2
    first = SignInDriver.from_options("desk", {"state_dir": str(state_dir)})
    [reading] = first.poll(datetime.now(UTC))
    start, end = reading.sessions
    assert (start.event, start.user, start.user_type, start.org) == (
        "start",
        "zhang",
        "external",
        "Acme",
    )
    assert (end.event, end.session_id, end.outcome, end.sample_count) == (
        "end",
        start.session_id,
        "fault",
        4,
    )

    # Killed before commit: the requests are read again, with the same session id.
    again = SignInDriver.from_options("desk", {"state_dir": str(state_dir)})
    [reading2] = again.poll(datetime.now(UTC))
    assert [e.session_id for e in reading2.sessions] == [start.session_id] * 2
    again.commit()
    assert list(state_dir.glob("spool/*.json")) == []
    [after] = SignInDriver.from_options("desk", {"state_dir": str(state_dir)}).poll(at(0))
    assert (list(after.sessions), after.raw, after.vouches) == ([], "nobody signed in", False)


@pytest.mark.integration  # runs jishi commands as processes
def test_sign_in_reads_a_card_typed_by_a_usb_reader(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = run_jishi_stdin(["agent", "sign-in", "-c", str(config)], "0012345678\n")
    assert result.returncode == 0, result.stderr
    driver = SignInDriver.from_options(
        "desk", {"state_dir": str(tmp_path / "data/sources/nmr-1/desk")}
    )
    [reading] = driver.poll(datetime.now(UTC))
    assert [(e.event, e.user) for e in reading.sessions] == [("start", "0012345678")]


@pytest.mark.integration  # runs jishi commands as processes
def test_sign_in_without_a_signin_source_says_what_to_add(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'site = "lab"\n[[instruments]]\nid = "x"\n[instruments.source]\ndriver = "simulated"\nscenario = [["idle", 5]]\n'
    )
    result = run_jishi("agent", "sign-in", "-c", str(config), "zhang")
    assert result.returncode != 0
    assert "no 'signin' source" in result.stderr


def run_jishi_stdin(args: list[str], text: str):
    import subprocess

    from support.cli import jishi_command

    return subprocess.run(
        jishi_command(*args), input=text, capture_output=True, text=True, timeout=60
    )


@pytest.mark.integration
def test_card_reader_on_a_serial_port(tmp_path: Path) -> None:
    pair = PtyPair(tmp_path).start()
    driver = SignInDriver.from_options(
        "reader",
        {
            "state_dir": str(tmp_path / "state"),
            "card_port": str(pair.host),
            "card_pattern": r"^CARD:(?P<card>\d{8,10})$",
            "user_type": "internal",
            "reconnect_s": 0.5,
        },
    )
    try:
        assert [list(r.sessions) for r in driver.poll(datetime.now(UTC))] == [
            []
        ]  # opens the port, nobody swiped
        fd = os.open(pair.device, os.O_WRONLY | os.O_NOCTTY)
        os.write(fd, b"CARD:0012345678\r\nnoise\r\nCARD:00123")  # a swipe, noise, half a swipe
        time.sleep(0.2)
        [reading] = driver.poll(datetime.now(UTC))
        assert [(e.event, e.user, e.user_type) for e in reading.sessions] == [
            ("start", "0012345678", "internal")
        ]
        os.write(fd, b"45678\r\n")  # the same card again: signs out
        time.sleep(0.2)
        [reading] = driver.poll(datetime.now(UTC))
        assert [(e.event, e.user) for e in reading.sessions] == [("end", "0012345678")]
        assert reading.raw == "nobody signed in"
        os.close(fd)
        pair.stop()  # the reader unplugged: a read error, not a crash
        time.sleep(0.2)
        readings = driver.poll(datetime.now(UTC))
        assert readings and readings[0].error is not None
        pair.start()  # plugged in again: reopened after reconnect_s, swipes read again
        [reading] = driver.poll(datetime.now(UTC))
        assert reading.error is None  # not retried yet, and the failure was already said
        time.sleep(0.6)
        driver.poll(datetime.now(UTC))  # reopens
        fd = os.open(pair.device, os.O_WRONLY | os.O_NOCTTY)
        os.write(fd, b"CARD:0099999999\r\n")
        os.close(fd)
        time.sleep(0.2)
        [reading] = driver.poll(datetime.now(UTC))
        assert [(e.event, e.user) for e in reading.sessions] == [("start", "0099999999")]
    finally:
        driver.close()
        pair.stop()


@pytest.mark.integration  # runs jishi commands as processes
def test_agent_check_shows_the_sign_in_point(tmp_path: Path) -> None:
    result = run_jishi("agent", "check", "-c", str(_config(tmp_path)), "--no-broker")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "source desk: (no values)" in result.stdout
    assert "raw: nobody signed in" in result.stdout


@pytest.mark.integration  # runs jishi commands as processes
def test_a_spool_folder_outside_the_private_data_dir(tmp_path: Path) -> None:
    """The data dir is private to the agent's account; a kiosk user signs in through a folder
    of its own (relative to the config file, for the command and the agent alike)."""
    from jishi.agent.sources import build_drivers, load_agent_config

    config = _config(tmp_path, 'spool_dir = "kiosk-spool"')
    result = run_jishi("agent", "sign-in", "-c", str(config), "wang")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "kiosk-spool").glob("*.json"))) == 1
    loaded, _ = load_agent_config(config)
    desk = build_drivers(loaded.instruments[0], tmp_path / "data" / "sources", tmp_path)[1]
    [reading] = desk.poll(datetime.now(UTC))
    assert [(e.event, e.user) for e in reading.sessions] == [("start", "wang")]


@pytest.mark.parametrize(("count", "valid"), [(0, True), (1_000_000, True), (1_000_001, False),
                                               (-1, False), (True, False), ("4", False)])  # fmt: skip
def test_a_requests_sample_count_is_within_the_wires_bounds(count: object, valid: bool) -> None:
    data = {"action": "sign-out", "ts": "2026-03-01T08:00:00+08:00", "sample_count": count}
    if valid:
        assert Request.from_json(data).sample_count == count
    else:
        with pytest.raises(ValueError, match="bad sample_count"):
            Request.from_json(data)
