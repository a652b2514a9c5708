"""Real InfluxDB 1.x (Debian ``influxd``) and VictoriaMetrics for tests: free loopback ports, own
config and data dirs, started as child processes and stopped by PID."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jishi.collector.sink import SinkConfig

from support.servers import free_port, started_or_stopped
from support.waiting import poll_until

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
    def answers() -> bool:
        with contextlib.suppress(OSError), _urlopen(url, timeout=1) as response:
            return bool(response.status < 300)
        return False

    if not poll_until(answers, timeout):
        raise TimeoutError(f"{url} did not answer within {timeout} s")


@dataclass
class HttpServer:
    """A server child process on a free loopback port, its files in ``workdir``. ``start()``
    may be called again after ``stop()`` (same port and data): outage tests take it away and
    bring it back."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, args: list[str], *, log_name: str, health_path: str) -> None:
        """Start ``args``, logging to ``workdir/log_name``, and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / log_name
        with log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        started_or_stopped(
            self.port,
            what=Path(args[0]).name,
            log=log,
            stop=self.stop,
            ready=lambda: _wait_http(f"{self.url}{health_path}"),
        )

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class InfluxDB1(HttpServer):
    """A private ``influxd`` 1.x."""

    rpc_port: int = field(default_factory=free_port)

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
        conf = self.write_conf()
        args = [require_server_binary("influxd"), "-config", str(conf)]
        self.launch(args, log_name="influxd.log", health_path="/ping")
        return self

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


def v1_sink_config(influx: InfluxDB1, **settings: Any) -> SinkConfig:
    """A sink writing to ``influx`` through the v1 API (the test database unless ``settings``
    name another), with ``settings``."""
    return SinkConfig(**{"api": "v1", "url": influx.url, "database": TEST_DB, **settings})


@dataclass
class VictoriaMetrics(HttpServer):
    """A private single-node VictoriaMetrics (accepts the InfluxDB v2 write API)."""

    def start(self) -> VictoriaMetrics:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        args = [
            require_server_binary("victoria-metrics"),
            f"-storageDataPath={data}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            # Points are written with past timestamps; keep them and read them at once.
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]
        self.launch(args, log_name="victoria-metrics.log", health_path="/health")
        return self

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every sample of the series matching ``match``, via ``/api/v1/export`` (JSON lines)."""
        with _urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        with _urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as response:
            lines = response.read().decode().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
