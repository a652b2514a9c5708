"""``jishi collector check`` tries the broker and InfluxDB for real (issue 14): a stopped
broker, a refused password or an unreachable InfluxDB fail the check with what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_jishi
from support.influx import TEST_DB, InfluxDB1
from support.servers import Mosquitto, free_port, mosquitto, password_broker
from support.tls import make_pki

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, broker: str, password: str | None, influx: str = "") -> Path:
    """A collector.toml logging in as "recorder" (password "rec" on :func:`password_broker`)."""
    login = ""
    if password is not None:
        (tmp_path / "pw").write_text(password + "\n")
        login = f'username = "recorder"\npassword_file = "{tmp_path / "pw"}"\n'
    path = tmp_path / "collector.toml"
    path.write_text(f'data_dir = "data"\n[mqtt]\nbroker = "{broker}"\n{login}{influx}')
    return path


def test_a_running_broker_and_the_right_password_pass(tmp_path: Path) -> None:
    with password_broker(tmp_path) as broker:
        result = run_jishi("collector", "check", "-c", str(_config(tmp_path, broker.url, "rec")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"broker mqtt://127.0.0.1:{broker.port}: connected (3.1.1, no TLS)" in result.stdout
    assert result.stdout.rstrip().endswith("check passed")


def test_a_refused_password_fails(tmp_path: Path) -> None:
    with password_broker(tmp_path) as broker:
        result = run_jishi("collector", "check", "-c", str(_config(tmp_path, broker.url, "bad")))
    assert result.returncode == 1
    assert "refused: Not authorized; check mqtt.username" in result.stdout
    assert "check FAILED" in result.stdout
    assert "bad" not in result.stdout.replace("check FAILED", "")  # the password is not echoed


def test_a_stopped_broker_fails(tmp_path: Path) -> None:
    broker = Mosquitto(workdir=tmp_path / "mosquitto").start()
    broker.stop()  # it ran on this port and is gone: connection refused
    result = run_jishi("collector", "check", "-c", str(_config(tmp_path, broker.url, None)))
    assert result.returncode == 1
    assert "cannot connect" in result.stdout and "that the broker runs" in result.stdout
    assert "check FAILED" in result.stdout
    skipped = run_jishi(
        "collector", "check", "-c", str(_config(tmp_path, broker.url, None)), "--no-broker"
    )
    assert skipped.returncode == 0 and "broker mqtt" not in skipped.stdout


def _influx(url: str, database: str) -> str:
    return f'[influx]\napi = "v1"\nurl = "{url}"\ndatabase = "{database}"\n'


def test_influx_is_tried_when_configured(tmp_path: Path) -> None:
    influx = InfluxDB1(workdir=tmp_path / "influxd").start()
    try:
        influx.create_database(TEST_DB)
        with password_broker(tmp_path) as broker:
            good = _config(tmp_path, broker.url, "rec", _influx(influx.url, TEST_DB))
            result = run_jishi("collector", "check", "-c", str(good))
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"influx {influx.url}: writes accepted (v1 API" in result.stdout
            missing = _config(tmp_path, broker.url, "rec", _influx(influx.url, "nodb"))
            result = run_jishi("collector", "check", "-c", str(missing))
            assert result.returncode == 1
            assert "database not found" in result.stdout and "check FAILED" in result.stdout
    finally:
        influx.stop()


def test_a_stopped_influx_fails(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    path = _config(tmp_path, "mqtt://127.0.0.1:1", None, _influx(url, TEST_DB))
    result = run_jishi("collector", "check", "-c", str(path), "--no-broker")
    assert result.returncode == 1
    assert f"influx {url}: cannot write to database" in result.stdout
    assert "that InfluxDB runs" in result.stdout


def test_tls_files_relative_to_the_config_file(tmp_path: Path) -> None:
    """Client certificate and CA named relative to collector.toml, checked from another
    folder: TLS is set up from them; a missing one is named by its absolute path."""
    pki = make_pki(tmp_path / "sub" / "pki")
    listener = [
        f"cafile {pki.ca}",
        f"certfile {pki.server_cert}",
        f"keyfile {pki.server_key}",
        "require_certificate true",
    ]
    with mosquitto(tmp_path / "mosquitto", listener_extra=listener) as broker:
        tls = 'tls_ca_file = "pki/{}"\ntls_cert_file = "pki/{}"\ntls_key_file = "pki/{}"\n'
        names = (pki.ca.name, pki.client_cert.name, pki.client_key.name)
        config = _config(tmp_path / "sub", f"mqtts://127.0.0.1:{broker.port}", None, "")
        config.write_text(config.read_text().replace("[mqtt]\n", "[mqtt]\n" + tls.format(*names)))
        (tmp_path / "elsewhere").mkdir()
        result = run_jishi(
            "collector", "check", "-c", "../sub/collector.toml", cwd=tmp_path / "elsewhere"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "connected (3.1.1, TLS)" in result.stdout
        pki.client_key.rename(pki.client_key.with_suffix(".gone"))
        result = run_jishi(
            "collector", "check", "-c", "../sub/collector.toml", cwd=tmp_path / "elsewhere"
        )
        assert result.returncode == 1
        assert f"TLS setup failed ({pki.ca}, {pki.client_cert}, {pki.client_key})" in result.stdout
