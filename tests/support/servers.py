"""Real servers for tests, each on a free loopback port with its own config and data dir,
started as child processes and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support.waiting import poll_until


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    def listening() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        return False

    if not poll_until(listening, timeout):
        raise TimeoutError(f"nothing listened on {host}:{port} within {timeout} s")


def started_or_stopped(
    port: int,
    *,
    what: str,
    log: Path,
    stop: Callable[[], object],
    ready: Callable[[], None] | None = None,
    timeout: float = 20.0,
) -> None:
    """Wait until a child just started listens on ``port`` (and ``ready`` passes); if it does
    not, stop it and fail with the end of its log, which says why."""
    try:
        wait_for_port(port, timeout=timeout)
        if ready is not None:
            ready()
    except TimeoutError:
        stop()
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise RuntimeError(f"{what} did not start; {log} ends:\n{tail}") from None


def require_binary(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        raise RuntimeError(
            f"{name} is not installed; run the README's test command (scripts/test.sh), "
            f"which installs it with apt-get"
        )
    return path


@dataclass
class Mosquitto:
    """A private Mosquitto broker. ``extra_conf`` lines go into its listener config."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_conf: list[str] = field(default_factory=list)
    listener_extra: list[str] = field(default_factory=list)
    max_queued_messages: int = 1_000_000
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def write_conf(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            # Run as root keeps persistence writable (mosquitto drops to its own user otherwise).
            "user root",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            # The default (1000) silently drops QoS 1 messages queued for offline sessions.
            f"max_queued_messages {self.max_queued_messages}",
            "max_inflight_messages 0",
            "log_dest file " + str(self.workdir / "mosquitto.log"),
            "log_type error",
            "log_type warning",
            "log_type notice",
            "per_listener_settings false",
            *self.extra_conf,
            f"listener {self.port} 127.0.0.1",
            *self.listener_extra,
        ]
        if not any(line.startswith(("allow_anonymous", "password_file")) for line in lines):
            lines.insert(0, "allow_anonymous true")
        self.conf_path.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        binary = require_binary("mosquitto")
        self.write_conf()
        log = (self.workdir / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"mosquitto did not start; see {self.workdir}/mosquitto.log"
            ) from None
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def mosquitto(workdir: Path, **kwargs: object) -> Iterator[Mosquitto]:
    broker = Mosquitto(workdir=workdir, **kwargs)  # type: ignore[arg-type]  # keyword options are Mosquitto's by name
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def password_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker that knows agent-1 (password "right") and a recorder (password "rec"), and no
    anonymous users."""
    passwords = tmp_path / "passwd"
    for index, (user, password) in enumerate((("agent-1", "right"), ("recorder", "rec"))):
        flags = ["-c"] if index == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *flags, str(passwords), user, password], check=True
        )
    extra_conf = ["allow_anonymous false", f"password_file {passwords}"]
    with mosquitto(tmp_path / "mosquitto", extra_conf=extra_conf) as broker:
        yield broker


PG_ADMIN_URL = os.environ.get("JISHI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL; yields its SQLAlchemy URL."""
    import psycopg

    name = f"jishi_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}; scripts/test.sh starts it"
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
