"""Run a real collector process for tests and talk to its API."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.cli import kill, start_jishi, stop
from support.servers import free_port, started_or_stopped
from support.waiting import poll_until


@dataclass
class CollectorProcess:
    workdir: Path
    broker: str
    db: str | None = None
    token: str = "test-admin-token"
    client_id: str = "jishi-collector-test"
    share_group: str | None = None
    api_port: int = 0
    # More [mqtt] lines, e.g. "reconnect_max_s = 1" for tests that restart the broker.
    extra_mqtt: str = ""
    # A config file to use as it is (only --broker and --api-port are added), instead of a
    # generated one.
    config_file: Path | None = None
    # Its own process group (as a service or a terminal job): signals can go to the group.
    new_session: bool = False
    process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f'data_dir = "{self.workdir}"',
            "[mqtt]",
            f'broker = "{self.broker}"',
            f'client_id = "{self.client_id}"',
        ]
        if self.share_group:
            lines.append(f'share_group = "{self.share_group}"')
        if self.extra_mqtt:
            lines.append(self.extra_mqtt)
        path = self.workdir / "collector.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> CollectorProcess:
        if self.config_file is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            config = self.config_file
        else:
            config = self.write_config()
        if not self.api_port:
            self.api_port = free_port()
        args = ["collector", "run", "-c", str(config), "--api-port", str(self.api_port)]
        if self.db:
            args += ["--db", self.db]
        if self.config_file is not None:
            args += ["--broker", self.broker]
        self.process = start_jishi(
            *args,
            output=self.workdir / "stdout.log",
            env={"JISHI_ADMIN_TOKEN": self.token},
            new_session=self.new_session,
        )
        log = self.workdir / "stdout.log"
        started_or_stopped(self.api_port, what="collector", log=log, stop=self.stop, timeout=30)
        return self

    def kill(self) -> None:
        assert self.process is not None
        kill(self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def get(self, path: str, token: str | None = "default") -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}")
        bearer = self.token if token == "default" else token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read()
            return exc.code, json.loads(body) if body else None

    def wait_for(self, path: str, predicate: Any, timeout: float) -> Any:
        last: list[Any] = [None]

        def satisfied() -> bool:
            status, last[0] = self.get(path)
            return status == 200 and bool(predicate(last[0]))

        if poll_until(satisfied, timeout, 0.2):
            return last[0]
        raise AssertionError(
            f"{path} did not satisfy the condition in {timeout} s; last body: {last[0]}"
        )
