"""Real InfluxDB 1.x (Debian ``influxd``) and VictoriaMetrics for tests: free loopback ports, own
config and data dirs, started as child processes and stopped by PID."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.servers import free_port, wait_for_port

INSTALL_HINT = "apt-get install influxdb victoria-metrics"
TEST_DB = "jishi"  # the database tests create and write to


def require_server_binary(name: str) -> str:
    """Path of ``influxd`` or ``victoria-metrics``; a clear error naming the package if missing."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/bin") / name, Path("/usr/sbin") / name) if p.exists()), None
    )
    if path is None:
        raise RuntimeError(
            f"{name} is not installed; install it with `{INSTALL_HINT}` "
            f"(the README's test script does this on a fresh machine)"
        )
    return path


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _urlopen(target: str | urllib.request.Request, timeout: float) -> Any:
    # Only http://127.0.0.1 URLs built in this module reach here.
    return urllib.request.urlopen(target, timeout=timeout)


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), _urlopen(url, timeout=1) as response:
            if response.status < 300:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@dataclass
class InfluxDB1:
    """A private ``influxd`` 1.x. ``start()`` may be called again after ``stop()`` (same port and
    data), which is how outage tests take it away and bring it back."""

    workdir: Path
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_conf(self) -> Path:
        for sub in ("meta", "data", "wal"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "influxdb.conf"
        conf.write_text(
            "\n".join(
                [
                    "reporting-disabled = true",
                    f'bind-address = "127.0.0.1:{self.rpc_port}"',
                    "[meta]",
                    f'  dir = "{self.workdir / "meta"}"',
                    "[data]",
                    f'  dir = "{self.workdir / "data"}"',
                    f'  wal-dir = "{self.workdir / "wal"}"',
                    "  query-log-enabled = false",
                    "[http]",
                    f'  bind-address = "127.0.0.1:{self.port}"',
                    "  log-enabled = false",
                    "  pprof-enabled = false",
                    "[monitor]",
                    "  store-enabled = false",
                    "[subscriber]",
                    "  enabled = false",
                    "[continuous_queries]",
                    "  enabled = false",
                    "[logging]",
                    '  level = "warn"',
                    "  suppress-logo = true",
                    "",
                ]
            )
        )
        return conf

    def start(self) -> InfluxDB1:
        binary = require_server_binary("influxd")
        conf = self.write_conf()
        log = (self.workdir / "influxd.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-config", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(self.port, timeout=20)
            _wait_http(f"{self.url}/ping")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"influxd did not start; see {self.workdir}/influxd.log") from None
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL through ``/query`` (``epoch=ms``, like Grafana); raises on any error."""
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        try:
            with _urlopen(request, timeout=30) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"InfluxQL {q!r} failed: {exc.code} {exc.read()!r}") from None
        for result in body.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL {q!r} failed: {result['error']}")
        return body

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')


@dataclass
class VictoriaMetrics:
    """A private single-node VictoriaMetrics (accepts the InfluxDB v2 write API)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VictoriaMetrics:
        binary = require_server_binary("victoria-metrics")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "victoria-metrics.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"-storageDataPath={data}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                # Points are written with past timestamps; keep them and read them at once.
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-loggerLevel=ERROR",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, timeout=20)
            _wait_http(f"{self.url}/health")
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"victoria-metrics did not start; see {self.workdir}/victoria-metrics.log"
            ) from None
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every sample of the series matching ``match``, via ``/api/v1/export`` (JSON lines)."""
        with _urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        with _urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as response:
            lines = response.read().decode().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@contextlib.contextmanager
def influxdb1(workdir: Path) -> Iterator[InfluxDB1]:
    server = InfluxDB1(workdir=workdir).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def victoria_metrics(workdir: Path) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(workdir=workdir).start()
    try:
        yield server
    finally:
        server.stop()
