"""The agent's config checker (jishi.tables, no pydantic) against pydantic, which the collector's
config still uses: the same keys, defaults, verdicts and messages for the same mistakes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from jishi.agent.config import AgentConfig, MqttConfig
from jishi.config import validate, validate_table
from jishi.errors import ConfigErrors
from jishi.pydantic_config import BrokerSection

SHARED_KEYS = list(BrokerSection.model_fields)


def test_the_agents_mqtt_table_has_the_collectors_keys_and_defaults() -> None:
    fields = {f.name: f for f in dataclasses.fields(MqttConfig)}
    assert list(fields)[: len(SHARED_KEYS)] == SHARED_KEYS
    for name, info in BrokerSection.model_fields.items():
        assert fields[name].default == info.default, name


def problems(run: Any) -> list[str]:
    """``key: problem`` of every error, or [] when the table is valid."""
    try:
        run()
    except ConfigErrors as exc:
        return [f"{e.key}: {e.problem}" for e in exc.errors]
    return []


@pytest.mark.parametrize(
    "table",
    [
        {},
        {"broker": "mqtts://broker.lab", "protocol": "5", "keepalive_s": 60},
        {"keepalive_s": 2},
        {"keepalive_s": 30.5},
        {"keepalive_s": True},
        {"keepalive_s": "30"},
        {"keepalive_s": " 45.0 "},
        {"keepalive_s": "1e3"},
        {"keepalive_s": [30]},
        {"protocol": "4"},
        {"protocol": 5},
        {"broker": "http://x"},
        {"broker": "mqtt://user:secret@host"},
        {"username": 7},
        {"username": ["u"]},
        {"tls_cert_file": "client.pem"},
        {"password_file": "pw", "password_env": "PW"},
        {"brokr": "mqtt://x", "keepalive_s": 0},
    ],
)
def test_same_verdicts_and_messages_as_pydantic(table: dict[str, Any], tmp_path: Path) -> None:
    agent = problems(lambda: validate_table("f", MqttConfig, table, tmp_path))
    collector = problems(lambda: validate("f", BrokerSection, table, tmp_path))
    assert agent == collector
    if agent:
        assert "secret" not in " ".join(agent)  # a URL may hold a password: never echoed


def test_relative_paths_are_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    table = {"tls_ca_file": "ca.pem", "password_file": "/etc/jishi/pw"}
    agent = validate_table("f", MqttConfig, table, tmp_path)
    collector = validate("f", BrokerSection, table, tmp_path)
    assert agent.tls_ca_file == collector.tls_ca_file == tmp_path / "ca.pem"
    assert agent.password_file == collector.password_file == Path("/etc/jishi/pw")


AGENT = {"site": "lab", "instruments": [{"id": "nmr-1", "source": {"driver": "simulated"}}]}


def test_every_problem_at_once_with_its_key() -> None:
    bad = {
        "site": "a b",
        "poll_interval_s": 0,
        "log_level": "loud",
        "outbox": {"max_mb": "big", "extra": 1},
        "instruments": [
            {"id": "ok-1", "source": {"driver": "simulated"}, "rules": {"initial": "busy"}},
            {"id": "ok-2", "category": "general", "rules": {"threshold": [{"off_below": 1,
                                                                           "running_above": 0}]},
             "source": {"driver": "simulated"}},
            {"id": "ok-3"},
        ],
    }  # fmt: skip
    found = problems(lambda: validate_table("agent.toml", AgentConfig, bad))
    assert found == [
        "site: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}$' (got 'a b')",
        "log_level: Input should be 'debug', 'info', 'warning' or 'error' (got 'loud')",
        "outbox.max_mb: Input should be a valid number, unable to parse string as a number "
        "(got 'big')",
        "outbox.extra: unknown key (check the spelling against the docs)",
        "poll_interval_s: Input should be greater than 0 (got 0)",
        "instruments[0].rules.initial: Input should be 'off', 'idle', 'running', 'fault' or "
        "'maintenance' (got 'busy')",
        "instruments[1].rules.threshold[0]: off_below (1.0) must not exceed running_above (0.0) "
        "(got {'off_below': 1, 'running_above': 0})",
        "instruments[2]: no source: add an [instruments.source] table with a driver "
        "(got {'id': 'ok-3'})",
    ]


def test_types_defaults_and_a_sources_own_keys() -> None:
    config = validate_table(
        "agent.toml",
        AgentConfig,
        AGENT | {"heartbeat_interval_s": 10, "outbox": {"replay_window": 20.0}},
    )
    assert config.heartbeat_interval_s == 10.0 and isinstance(config.heartbeat_interval_s, float)
    assert config.outbox.replay_window == 20 and isinstance(config.outbox.replay_window, int)
    assert config.mqtt == MqttConfig() and config.poll_interval_s == 1.0
    source = dict(AGENT["instruments"][0]["source"], port="/dev/ttyUSB0", baudrate=9600)  # type: ignore[call-overload]
    instrument = {"id": "x", "source": source}
    config = validate_table("agent.toml", AgentConfig, AGENT | {"instruments": [instrument]})
    assert config.instruments[0].all_sources()[0].options == {
        "port": "/dev/ttyUSB0",
        "baudrate": 9600,
    }
    assert problems(lambda: validate_table("f", AgentConfig, AGENT | {"instruments": []})) == [
        "instruments: List should have at least 1 item after validation, not 0 (got [])"
    ]


def test_a_config_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValueError, match="must be given together"):
        MqttConfig(tls_cert_file=Path("c.pem"))


def test_a_source_name_fits_the_wire() -> None:
    source = {"driver": "simulated", "name": "x" * 65}
    config = AGENT | {"instruments": [{"id": "nmr-1", "source": source}]}
    assert problems(lambda: validate_table("agent.toml", AgentConfig, config)) == [
        "instruments[0].source.name: String should have at most 64 characters (got '"
        + "x" * 65
        + "')"
    ]
