"""Relative paths in config files are taken from the file's folder, not the current directory
(issue 14): ``check`` run by a technician in one folder and the service started in its data dir
must read the same files, and an error names the path it tried."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.agent.sources import load_agent_config
from jishi.collector.config import load_collector_config
from jishi.config import read_toml
from jishi.errors import ConfigError
from jishi.firmware_bridge.config import load_bridge_config

from support.agentproc import sim_agent_toml
from support.cli import run_jishi, start_jishi, stop
from support.servers import Mosquitto, free_port, password_broker
from support.waiting import poll_until

SCENARIO = {"nmr-1": [("running", 3600.0)]}
COLLECTOR_TOML = """data_dir = "data"
[mqtt]
password_file = "secrets/mqtt"
tls_ca_file = "ca.pem"
[database]
url = "sqlite:///db/ledger.sqlite3"
[influx]
password_file = "secrets/influx"
spool_path = "spool.sqlite"
"""
BRIDGE_TOML = """site = "lab"
data_dir = "data"
[mqtt]
password_file = "pw"
[udp]
port = 47800
[[nodes]]
node_id = 1
instrument = "i-1"
[sparkplug.mqtt]
tls_ca_file = "plant-ca.pem"
[[sparkplug.instruments]]
instrument = "i-2"
group = "g"
edge_node = "e"
metrics = { power_w = "Power" }
"""


def _in_sub(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``sub/NAME`` beside the working directory; returns sub's absolute path."""
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    (sub / name).write_text(text)
    return sub.resolve()


def test_agent_paths_are_relative_to_the_config_file(tmp_path: Path, elsewhere: Path) -> None:
    extra = 'username = "u"\npassword_file = "pw"\ntls_ca_file = "pki/ca.pem"'
    text = sim_agent_toml("mqtt://h:1883", instruments=SCENARIO, extra_mqtt=extra)
    sub = _in_sub(tmp_path, "agent.toml", 'data_dir = "data"\n' + text)
    config, _ = load_agent_config(Path("../sub/agent.toml"))
    assert config.data_dir == sub / "data"
    assert config.mqtt.password_file == sub / "pw"
    assert config.mqtt.tls_ca_file == sub / "pki" / "ca.pem"
    with pytest.raises(ConfigError, match=str(sub / "pw")):
        config.mqtt.password()


def test_collector_paths_are_relative_to_the_config_file(tmp_path: Path, elsewhere: Path) -> None:
    root = _in_sub(tmp_path, "collector.toml", COLLECTOR_TOML)
    config = load_collector_config(Path("../sub/collector.toml"))
    assert config.data_dir == root / "data"
    assert config.database_url == f"sqlite:///{root}/db/ledger.sqlite3"
    assert config.mqtt.password_file == root / "secrets" / "mqtt"
    assert config.mqtt.tls_ca_file == root / "ca.pem"
    assert config.influx is not None
    assert config.influx.password_file == root / "secrets" / "influx"
    assert config.influx.spool_path == root / "spool.sqlite"


@pytest.mark.parametrize(
    "url", ["sqlite:////abs/ledger.db", "sqlite://", "sqlite:///:memory:", "postgresql://h/db"]
)
def test_absolute_and_other_database_urls_are_kept(tmp_path: Path, url: str) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(f'[database]\nurl = "{url}"\n')
    assert load_collector_config(path).database_url == url


def test_the_default_data_dir_is_beside_the_config_file(tmp_path: Path, elsewhere: Path) -> None:
    (tmp_path / "collector.toml").write_text("")
    config = load_collector_config(Path("../collector.toml"))
    assert config.data_dir == tmp_path.resolve() / ".jishi-collector"


def test_bridge_paths_are_relative_to_the_config_file(tmp_path: Path, elsewhere: Path) -> None:
    root = _in_sub(tmp_path, "bridge.toml", BRIDGE_TOML)
    config, _ = load_bridge_config(Path("../sub/bridge.toml"))
    assert config.data_dir == root / "data"
    assert config.mqtt.password_file == root / "pw"
    assert config.sparkplug is not None and config.sparkplug.mqtt is not None
    assert config.sparkplug.mqtt.tls_ca_file == root / "plant-ca.pem"


def test_a_missing_config_file_is_named_in_full(elsewhere: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_toml(Path("sub/agent.toml"))
    assert str(caught.value) == (
        f"sub/agent.toml: file not found (looked for {elsewhere / 'sub' / 'agent.toml'}; "
        "check the path given with -c)"
    )


@pytest.mark.parametrize(
    "value", [r'"C:\ProgramData\XRD\Logs"', r'"C:\Users\lab\logs"', r'"\\pc-7\xrd\Logs"']
)
def test_a_windows_path_in_double_quotes_gets_a_hint(tmp_path: Path, value: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f'site = "lab"\n\n[instrument]\npath = {value}\n')
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: TOML syntax error")
    assert "line 4" in text
    assert "C:/ProgramData/XRD/Logs" in text and "single quotes" in text


def test_other_syntax_errors_get_no_backslash_hint(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('site = "lab"\npath = "C:/x\n')
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert "line 2" in str(caught.value) and "single quotes" not in str(caught.value)
    # Single quotes and forward slashes are the two ways the hint offers: both parse.
    path.write_text("a = 'C:\\ProgramData\\XRD\\Logs'\nb = \"C:/ProgramData/XRD/Logs\"\n")
    assert read_toml(path)[0]["a"] == "C:\\ProgramData\\XRD\\Logs"


@pytest.mark.integration
def test_agent_check_from_another_folder(tmp_path: Path) -> None:
    """``jishi agent check -c sub/agent.toml`` run from elsewhere reads sub/pw, and says which
    absolute path it tried when that file is missing."""
    sub = tmp_path / "sub"
    sub.mkdir()
    with password_broker(tmp_path) as broker:
        extra = 'username = "agent-1"\npassword_file = "pw"'
        text = sim_agent_toml(broker.url, instruments=SCENARIO, extra_mqtt=extra)
        (sub / "agent.toml").write_text('data_dir = "data"\n' + text)
        failed = run_jishi("agent", "check", "-c", "sub/agent.toml", cwd=tmp_path)
        assert failed.returncode == 1
        assert f"{sub.resolve() / 'pw'}: mqtt.password_file: cannot read" in failed.stdout
        (sub / "pw").write_text("right\n")
        passed = run_jishi("agent", "check", "-c", "sub/agent.toml", cwd=tmp_path)
        assert passed.returncode == 0, passed.stdout
        assert f"data dir {sub.resolve() / 'data'}:" in passed.stdout
        assert "connected (3.1.1, no TLS)" in passed.stdout


@pytest.mark.integration
def test_collector_check_from_another_folder(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "db").mkdir(parents=True)
    with password_broker(tmp_path) as broker:
        _collector_toml(sub, broker)
        failed = run_jishi("collector", "check", "-c", "sub/collector.toml", cwd=tmp_path)
        assert failed.returncode == 1
        assert f"{sub.resolve() / 'pw'}: mqtt.password_file: cannot read" in failed.stdout
        (sub / "pw").write_text("rec\n")
        passed = run_jishi("collector", "check", "-c", "sub/collector.toml", cwd=tmp_path)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "check passed" in passed.stdout
    assert (sub / "db" / "ledger.sqlite3").read_bytes().startswith(b"SQLite format 3\0")


def _collector_toml(folder: Path, broker: Mosquitto) -> None:
    (folder / "collector.toml").write_text(
        f'data_dir = "data"\n[mqtt]\nbroker = "{broker.url}"\nusername = "recorder"\n'
        'password_file = "pw"\n[database]\nurl = "sqlite:///db/ledger.sqlite3"\n'
    )


@pytest.mark.integration
def test_bridge_run_from_another_folder(tmp_path: Path) -> None:
    """The bridge has no check command: ``jishi bridge run -c sub/bridge.toml`` started
    elsewhere keeps its data dir beside the config and names the password file it tried."""
    text = BRIDGE_TOML.replace("port = 47800", f'host = "127.0.0.1"\nport = {free_port()}')
    text = text.split("[sparkplug.mqtt]")[0]  # serial-free, no plant broker
    root = _in_sub(tmp_path, "bridge.toml", text.replace("[mqtt]", '[mqtt]\nusername = "b"'))
    bridge = start_jishi("bridge", "run", "-c", "sub/bridge.toml", cwd=tmp_path)
    log = root / "data" / "logs" / "bridge.log"
    try:
        poll_until(lambda: log.exists() and "password_file" in log.read_text(), 20)
    finally:
        stop(bridge)
    assert f"{root / 'pw'}: mqtt.password_file: cannot read" in log.read_text()


def test_agent_check_on_a_missing_log_folder_says_to_check_the_folder(tmp_path: Path) -> None:
    """A log source that reads nothing is not a wiring problem: the advice names the folder,
    the account that reads it and network shares."""
    (tmp_path / "agent.toml").write_text(
        'site = "lab"\n[mqtt]\nbroker = "mqtt://127.0.0.1:1"\n'
        '[[instruments]]\nid = "seq-1"\n[instruments.source]\n'
        'driver = "logs"\nprofile = "illumina"\npath = "runs"\n'
    )
    checked = run_jishi("agent", "check", "-c", str(tmp_path / "agent.toml"), "--no-broker")
    assert "check that the folder exists" in checked.stdout, checked.stdout + checked.stderr
    assert "check wiring" not in checked.stdout
