"""Credentials and TLS against a real Mosquitto: refusals are clear, retried without busy
looping, never a crash; TLS with a CA (and client certificate) made by the test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.agentproc import Recorder, agent_process, sim_agent_toml
from support.cli import run_jishi
from support.servers import Mosquitto, mosquitto, password_broker
from support.tls import make_pki
from support.waiting import poll_until

pytestmark = pytest.mark.integration

SCENARIO = {"nmr-1": [("running", 3600.0)]}


def agent_with_wrong_password(tmp_path: Path, broker: Mosquitto) -> Path:
    """An agent.toml logging in as agent-1 from a password file that holds the wrong one (a
    test writes "right" to ``tmp_path / "pw"`` to fix it); returns the config's path."""
    (tmp_path / "pw").write_text("wrong\n")
    config = tmp_path / "agent.toml"
    config.write_text(
        sim_agent_toml(
            broker.url,
            instruments=SCENARIO,
            extra_mqtt=f'username = "agent-1"\npassword_file = "{tmp_path / "pw"}"',
        )
    )
    return config


def test_wrong_password_is_refused_clearly_and_retried(tmp_path: Path) -> None:
    with (
        password_broker(tmp_path) as broker,
        agent_process(agent_with_wrong_password(tmp_path, broker), tmp_path / "agent") as agent,
    ):
        time.sleep(6)
        assert agent.process is not None and agent.process.poll() is None, "the agent keeps running"
        log = (tmp_path / "agent" / "logs" / "agent.log").read_text()
        refusals = [line for line in log.splitlines() if "refused the connection" in line]
        assert refusals, log
        assert "check mqtt.username" in refusals[0] and "password" in refusals[0]
        # Logged once at WARNING (repeats at DEBUG): no flood, no busy loop.
        assert len(refusals) <= 2
        status = run_jishi(
            "agent", "status", "--data-dir", str(tmp_path / "agent"), "--json", check=True
        ).stdout
        assert '"connected": false' in status
        assert "refused" in status
        # Observations were kept: fixing the password delivers them.
        (tmp_path / "pw").write_text("right\n")
        recorder = Recorder(
            "127.0.0.1", broker.port, client_id="rec", username="recorder", password="rec"
        ).start()
        try:
            assert recorder.wait_for(
                lambda: any(m["state"] == "running" for m in recorder.of_kind("state", "nmr-1")), 15
            )
        finally:
            recorder.stop()


def test_agent_check_reports_bad_credentials(tmp_path: Path) -> None:
    with password_broker(tmp_path) as broker:
        config = agent_with_wrong_password(tmp_path, broker)
        result = run_jishi("agent", "check", "-c", str(config))
        assert result.returncode == 1
        assert "refused" in result.stdout and "password" in result.stdout
        assert "state: running" in result.stdout  # the source part still worked
        (tmp_path / "pw").write_text("right\n")
        result = run_jishi("agent", "check", "-c", str(config))
        assert result.returncode == 0, result.stdout
        assert "check passed" in result.stdout


@pytest.mark.parametrize("client_cert", [False, True])
def test_tls_with_test_ca(tmp_path: Path, client_cert: bool) -> None:
    pki = make_pki(tmp_path / "pki")
    listener = [f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}"]
    if client_cert:
        listener += ["require_certificate true"]
    with mosquitto(tmp_path / "mosquitto", listener_extra=listener) as broker:
        mqtt = f'tls_ca_file = "{pki.ca}"'
        if client_cert:
            mqtt += f'\ntls_cert_file = "{pki.client_cert}"\ntls_key_file = "{pki.client_key}"'
        config = tmp_path / "agent.toml"
        broker_url = f"mqtts://127.0.0.1:{broker.port}"
        config.write_text(sim_agent_toml(broker_url, instruments=SCENARIO, extra_mqtt=mqtt))
        result = run_jishi("agent", "check", "-c", str(config))
        assert result.returncode == 0, result.stdout
        assert "connected (3.1.1, TLS)" in result.stdout
        # Without the CA the server certificate is not trusted: a clear failure.
        bad = tmp_path / "bad.toml"
        bad.write_text(sim_agent_toml(broker_url, instruments=SCENARIO))
        result = run_jishi("agent", "check", "-c", str(bad))
        assert result.returncode == 1
        assert (
            "CERTIFICATE_VERIFY_FAILED" in result.stdout or "certificate" in result.stdout.lower()
        )
        # And the agent itself publishes over TLS.
        with agent_process(config, tmp_path / "agent"):
            log = tmp_path / "agent" / "logs" / "agent.log"
            poll_until(lambda: log.exists() and "connected to mqtts://" in log.read_text(), 15)
            assert "connected to mqtts://" in log.read_text()
