"""The collector's client id: generated once and kept private; weak explicit ids named; the
takeover decision table (issue 17, item 3)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from jishi.collector.client_id import (
    GENERATED,
    ClientIdError,
    resolve_client_id,
    weak_client_id_reason,
)
from jishi.collector.ingest.mqtt_source import _reason_value
from jishi.collector.ingest.takeover import SESSION_TAKEN_OVER, TakeoverWatch

from support.cli import run_jishi


def test_generated_id_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = resolve_client_id(GENERATED, tmp_path / "data")
    assert first.startswith("jishi-collector-") and len(first) == len("jishi-collector-") + 16
    path = tmp_path / "data" / "client_id"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_client_id(GENERATED, tmp_path / "data") == first
    assert resolve_client_id(GENERATED, tmp_path / "other") != first
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["client_id"]


def test_explicit_id_is_used_as_given(tmp_path: Path) -> None:
    assert resolve_client_id("collector-a-0123456789abcdef", tmp_path) == (
        "collector-a-0123456789abcdef"
    )
    assert not (tmp_path / "client_id").exists()


def test_edited_id_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "client_id").write_text("jishi-collector\n")
    with pytest.raises(ClientIdError, match="not a generated client id"):
        resolve_client_id(GENERATED, tmp_path)


@pytest.mark.parametrize(
    ("configured", "weak"),
    [
        (GENERATED, None),
        ("jishi-collector", "old documented default"),
        ("collector-1", "short"),
        ("collector-7f3a9c1e2b4d6f80a1c3", None),
    ],
)
def test_weak_ids_are_named(configured: str, weak: str | None) -> None:
    reason = weak_client_id_reason(configured)
    assert (reason is None) if weak is None else (reason is not None and weak in reason)


def test_takeover_decisions() -> None:
    watch = TakeoverWatch(short_s=5.0, repeats=3)
    # MQTT 5 says so: one is enough, however long we were connected.
    watch.connected(0.0)
    assert watch.disconnected(100.0, SESSION_TAKEN_OVER) is not None
    # MQTT 3.1.1: a long connection lost is an outage, not a takeover.
    watch.connected(200.0)
    assert watch.disconnected(300.0, 128) is None
    # Failed attempts (no connection) do not count.
    assert watch.disconnected(301.0, 128) is None
    # Three short connections in a row do.
    results = []
    for start in (400.0, 410.0, 420.0):
        watch.connected(start)
        results.append(watch.disconnected(start + 1.0, 128))
    assert results[:2] == [None, None] and results[2] is not None
    # A long connection in between starts the count again.
    for start, lasted in ((500.0, 1.0), (510.0, 1.0), (520.0, 60.0), (600.0, 1.0)):
        watch.connected(start)
        assert watch.disconnected(start + lasted, 128) is None


def test_paho_reason_codes_are_read_as_numbers() -> None:
    # What paho hands on_disconnect for a broker's DISCONNECT "Session taken over".
    assert _reason_value(ReasonCode(PacketTypes.DISCONNECT, identifier=0x8E)) == SESSION_TAKEN_OVER
    assert _reason_value(7) == 7
    assert _reason_value(None) is None


@pytest.mark.parametrize(("line", "warned"), [("", False), ('client_id = "jishi-collector"', True)])
def test_collector_check_warns_about_a_guessable_id(
    tmp_path: Path, line: str, warned: bool
) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[mqtt]\nbroker = "mqtt://127.0.0.1:1"\n{line}\n')
    result = run_jishi("collector", "check", "-c", str(config), "--no-broker")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("warning: mqtt.client_id 'jishi-collector'" in result.stdout) is warned, result.stdout
