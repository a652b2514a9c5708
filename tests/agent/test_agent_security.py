"""Credentials and TLS against a real Mosquitto: refusals are clear, retried without busy
looping, never a crash; TLS with a CA (and client certificate) made by the test."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.agentproc import AgentProcess, Recorder, sim_agent_toml
from support.servers import Mosquitto
from support.tls import make_pki

pytestmark = pytest.mark.integration

SCENARIO = {"nmr-1": [("running", 3600.0)]}


def password_broker(tmp_path: Path, **kwargs: object) -> Mosquitto:
    passwords = tmp_path / "passwd"
    for index, (user, password) in enumerate((("agent-1", "right"), ("recorder", "rec"))):
        flags = ["-c"] if index == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *flags, str(passwords), user, password], check=True
        )
    return Mosquitto(
        workdir=tmp_path / "mosquitto",
        extra_conf=["allow_anonymous false", f"password_file {passwords}"],
        **kwargs,  # type: ignore[arg-type]
    ).start()


def test_wrong_password_is_refused_clearly_and_retried(tmp_path: Path) -> None:
    broker = password_broker(tmp_path)
    try:
        (tmp_path / "pw").write_text("wrong\n")
        config = tmp_path / "agent.toml"
        config.write_text(
            sim_agent_toml(
                broker.url,
                instruments=SCENARIO,
                extra_mqtt=f'username = "agent-1"\npassword_file = "{tmp_path / "pw"}"',
            )
        )
        agent = AgentProcess(config, tmp_path / "agent").start()
        request_stop = agent.stop
        time.sleep(6)
        assert agent.process is not None and agent.process.poll() is None, "the agent keeps running"
        log = (tmp_path / "agent" / "logs" / "agent.log").read_text()
        refusals = [line for line in log.splitlines() if "refused the connection" in line]
        assert refusals, log
        assert "check mqtt.username" in refusals[0] and "password" in refusals[0]
        # Logged once at WARNING (repeats at DEBUG): no flood, no busy loop.
        assert len(refusals) <= 2
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "jishi.cli",
                "agent",
                "status",
                "--data-dir",
                str(tmp_path / "agent"),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
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
        agent.stop()
    finally:
        if "request_stop" in locals():
            request_stop()
        broker.stop()


def test_agent_check_reports_bad_credentials(tmp_path: Path) -> None:
    broker = password_broker(tmp_path)
    try:
        (tmp_path / "pw").write_text("wrong\n")
        config = tmp_path / "agent.toml"
        config.write_text(
            sim_agent_toml(
                broker.url,
                instruments=SCENARIO,
                extra_mqtt=f'username = "agent-1"\npassword_file = "{tmp_path / "pw"}"',
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "jishi.cli", "agent", "check", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "refused" in result.stdout and "password" in result.stdout
        assert "state: running" in result.stdout  # the source part still worked
        (tmp_path / "pw").write_text("right\n")
        result = subprocess.run(
            [sys.executable, "-m", "jishi.cli", "agent", "check", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout
        assert "check passed" in result.stdout
    finally:
        broker.stop()


@pytest.mark.parametrize("client_cert", [False, True])
def test_tls_with_test_ca(tmp_path: Path, client_cert: bool) -> None:
    pki = make_pki(tmp_path / "pki")
    listener = [f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}"]
    if client_cert:
        listener += ["require_certificate true"]
    broker = Mosquitto(workdir=tmp_path / "mosquitto", listener_extra=listener).start()
    try:
        mqtt = f'tls_ca_file = "{pki.ca}"'
        if client_cert:
            mqtt += f'\ntls_cert_file = "{pki.client_cert}"\ntls_key_file = "{pki.client_key}"'
        config = tmp_path / "agent.toml"
        config.write_text(
            sim_agent_toml(
                f"mqtts://127.0.0.1:{broker.port}", instruments=SCENARIO, extra_mqtt=mqtt
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "jishi.cli", "agent", "check", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout
        assert "connected (3.1.1, TLS)" in result.stdout
        # Without the CA the server certificate is not trusted: a clear failure.
        bad = tmp_path / "bad.toml"
        bad.write_text(sim_agent_toml(f"mqtts://127.0.0.1:{broker.port}", instruments=SCENARIO))
        result = subprocess.run(
            [sys.executable, "-m", "jishi.cli", "agent", "check", "-c", str(bad)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert (
            "CERTIFICATE_VERIFY_FAILED" in result.stdout or "certificate" in result.stdout.lower()
        )
        # And the agent itself publishes over TLS.
        agent = AgentProcess(config, tmp_path / "agent").start()
        try:
            deadline = time.monotonic() + 15
            log = tmp_path / "agent" / "logs" / "agent.log"
            while time.monotonic() < deadline and not (
                log.exists() and "connected to mqtts://" in log.read_text()
            ):
                time.sleep(0.2)
            assert "connected to mqtts://" in log.read_text()
        finally:
            agent.stop()
    finally:
        broker.stop()
