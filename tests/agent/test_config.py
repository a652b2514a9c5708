"""agent.toml errors name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.agent.config import AgentConfig
from jishi.agent.sources import load_agent_config
from jishi.errors import ConfigError
from jishi.mqtt import BrokerUrl

from support.paths import EXAMPLES

GOOD = """
site = "lab"
[[instruments]]
id = "nmr-600"
[instruments.source]
driver = "simulated"
scenario = [["idle", 10], ["running", 20]]
[[instruments.rules.threshold]]
reading = "power_w"
off_below = 5
running_above = 300
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_examples_load() -> None:
    config, digest = load_agent_config(EXAMPLES / "agent-sim.toml")
    assert isinstance(config, AgentConfig)
    assert len(config.instruments) == 3
    assert len(digest) == 12


def test_good_minimal(tmp_path: Path) -> None:
    config, _ = load_agent_config(write(tmp_path, GOOD))
    assert config.heartbeat_interval_s == 30
    assert config.mqtt.protocol == "3.1.1"
    assert config.instruments[0].source_names() == ["simulated"]


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (GOOD.replace('site = "lab"', ""), "site", "required key is missing"),
        (GOOD.replace('id = "nmr-600"', 'id = "nmr 600"'), "instruments[0].id", "pattern"),
        (
            GOOD.replace("off_below = 5", "off_below = 500"),
            "instruments[0].rules.threshold[0]",
            "must not exceed",
        ),
        (GOOD + "\n[mqtt]\nbroker = 'http://x'\n", "mqtt.broker", "scheme"),
        (GOOD + "\n[mqtt]\nprotocl = '5'\n", "mqtt.protocl", "unknown key"),
        (
            GOOD.replace('driver = "simulated"', 'driver = "modbus-magic"'),
            "instruments[0].source.driver",
            "unknown driver",
        ),
        (
            GOOD.replace('["idle", 10]', '["busy", 10]'),
            "instruments[0].source",
            "unknown state 'busy'",
        ),
        (GOOD.replace("heartbeat", "x") + "heartbeat_interval_s = -1\n", None, None),
    ],
)
def test_errors_name_file_key_problem(
    tmp_path: Path, text: str, key: str | None, problem: str | None
) -> None:
    path = write(tmp_path, text)
    if key is None:
        # heartbeat_interval_s after a table belongs to the table: still an error, with a key.
        with pytest.raises(ConfigError) as info:
            load_agent_config(path)
        assert str(path) in str(info.value)
        return
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert problem in message


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_agent_config(write(tmp_path, "site = \n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_agent_config(tmp_path / "nope.toml")


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('site = "lab"', 'site = "a b"').replace('id = "nmr-600"', 'id = ""')
    with pytest.raises(ConfigError) as info:
        load_agent_config(write(tmp_path, text))
    assert "site" in str(info.value)
    assert "instruments[0].id" in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker:1884", "mqtt://broker:1884"),
        ("127.0.0.1", "mqtt://127.0.0.1:1883"),
        ("mqtts://broker", "mqtts://broker:8883"),
    ],
)
def test_broker_urls(url: str, expected: str) -> None:
    assert str(BrokerUrl.parse(url)) == expected


def test_password_from_env_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = load_agent_config(
        write(tmp_path, GOOD + "\n[mqtt]\nusername='u'\npassword_env='JISHI_TEST_PW'\n")
    )
    monkeypatch.delenv("JISHI_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="JISHI_TEST_PW is not set"):
        config.mqtt.password()
    monkeypatch.setenv("JISHI_TEST_PW", "s3cret")
    assert config.mqtt.password() == "s3cret"
