"""Credentials in a broker URL (issue 17, 6): refused with a clear error that does not repeat
them, in the agent's and the collector's config and on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.agent.config import AgentConfig
from jishi.agent.sources import load_agent_config
from jishi.collector.config import load_collector_config
from jishi.errors import ConfigError

from support.cli import run_jishi

SECRET = "s3cret-pw"
URLS = [f"mqtt://bob:{SECRET}@127.0.0.1:1883", f"bob:{SECRET}@broker", "mqtts://bob@h:8883"]
AGENT = """site = "lab"
[mqtt]
broker = "{url}"
[[instruments]]
id = "sim-1"
source = {{ driver = "simulated", scenario = [["idle", 60]] }}
"""


@pytest.mark.parametrize("url", URLS)
def test_agent_config_refuses_a_user_in_the_broker_url(tmp_path: Path, url: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(AGENT.format(url=url))
    with pytest.raises(ConfigError) as caught:
        load_agent_config(path)
    text = str(caught.value)
    assert "mqtt.broker" in text
    assert "must not carry a user or password" in text
    assert SECRET not in text and "bob" not in text


@pytest.mark.parametrize("url", URLS)
def test_collector_config_refuses_a_user_in_the_broker_url(tmp_path: Path, url: str) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(f'[mqtt]\nbroker = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        load_collector_config(path)
    assert "mqtt.broker" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_broker_option_refuses_it_too(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(AGENT.format(url="mqtt://127.0.0.1:1883"))
    config, _ = load_agent_config(path)
    with pytest.raises(ConfigError, match="--broker"):
        config.with_broker(URLS[0])
    assert isinstance(config.with_broker("mqtt://10.0.0.1:1883"), AgentConfig)


@pytest.mark.integration
def test_agent_check_says_what_to_do_without_echoing_the_password(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(AGENT.format(url="mqtt://127.0.0.1:1883"))
    result = run_jishi("agent", "check", "-c", str(path), "--broker", URLS[0])
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "must not carry a user or password" in output
    assert SECRET not in output
    assert "Traceback" not in output
