"""The ``signin`` source: a sign-in point at a PC without per-user accounts.

Two inputs feed one :class:`SignInDesk` per instrument:

* a **spool folder** (``spool_dir``, default ``<data dir>/sources/<instrument>/<source>/spool``;
  the data dir is private to the agent's account, so kiosk users need a folder of their own) where
  ``jishi agent sign-in`` / ``sign-out`` drop one small JSON file per action (written to a
  temporary name, then renamed, so the agent never reads half a file). The command works while
  the agent runs, before it starts or while the broker is away; the agent reads the files in
  name (= time) order.
* optionally a **serial card reader** (``card_port``) in listen mode: every line matching
  ``card_pattern`` is a swipe (the named group ``card``, else the whole match).

Spool files are deleted, and who is signed in saved (``signin.json`` in the state dir), only in
:meth:`commit`, once the session messages are durable in the outbox: after a kill -9 in between
the files are read again and give the same session ids. pyserial is imported only when a card
port is configured; its exceptions never leave this module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jishi.drivers.base import Reading, SessionEvent
from jishi.drivers.options import Options
from jishi.drivers.serial_protocol import LineBuffer
from jishi.drivers.signin_desk import Request, SignInDesk
from jishi.errors import missing_package

log = logging.getLogger(__name__)
SPOOL = "spool"
STATE_FILE = "signin.json"
DEFAULT_CARD_PATTERN = r"(?P<card>[0-9A-Fa-f]{4,32})"


def spool_dir(data_dir: Path, instrument: str, source: str) -> Path:
    """Where ``jishi agent sign-in`` leaves requests for one instrument's ``signin`` source
    (the agent gives each source ``<data dir>/sources/<instrument>/<source>`` as state dir)."""
    return data_dir / "sources" / instrument / source / SPOOL


class SignInDriver:
    """Sign-ins from the spool folder and an optional card reader, as session events."""

    def __init__(
        self,
        name: str,
        *,
        state_dir: Path | None,
        card_port: str | None = None,
        card_pattern: str = DEFAULT_CARD_PATTERN,
        baudrate: int = 9600,
        user_type: str | None = None,
        spool: Path | None = None,
        reconnect_s: float = 2.0,
    ) -> None:
        self.name = name
        self.state_dir = state_dir
        self._spool = spool
        self.card_port = card_port
        self.card_pattern = re.compile(card_pattern)
        self.baudrate = baudrate
        self.user_type = user_type  # for card swipes, which say nothing of the user
        self.desk = SignInDesk(name)
        self._port: Any = None
        self._retry_at = 0.0
        self.reconnect_s = reconnect_s
        self._lines = LineBuffer(b"\n")
        self._read: list[Path] = []
        self._restore()

    @classmethod
    def from_options(cls, name: str, raw: Mapping[str, Any]) -> SignInDriver:
        opts = Options(name, raw)
        pattern = opts.text("card_pattern", DEFAULT_CARD_PATTERN)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise opts.error("card_pattern", f"not a valid regex: {exc}") from None
        driver = cls(
            name,
            state_dir=opts.state_dir(),
            card_port=opts.opt_text("card_port"),
            card_pattern=pattern,
            baudrate=opts.integer("baudrate", 9600, lo=50, hi=4_000_000),
            user_type=opts.opt_text("user_type", choices=("internal", "external", "staff")),
            spool=opts.path("spool_dir"),
            reconnect_s=opts.number("reconnect_s", 2.0, lo=0, hi=3600),
        )
        opts.check_unused()
        return driver

    @property
    def spool(self) -> Path | None:
        if self._spool is not None:
            return self._spool
        return None if self.state_dir is None else self.state_dir / SPOOL

    def _restore(self) -> None:
        if self.state_dir is None:
            return
        try:
            saved = json.loads((self.state_dir / STATE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return
        self.desk.restore(saved.get("active") if isinstance(saved, dict) else None)

    def poll(self, now: datetime) -> Sequence[Reading]:
        requests = self._spooled()
        problems: list[str] = []
        if self.card_port is not None:
            try:
                requests += [Request(now, "card", card, self.user_type) for card in self._swipes()]
            except OSError as exc:
                self._drop()
                problems.append(f"{self.card_port}: {exc}")
        sessions: list[SessionEvent] = []
        for req in requests:
            sessions.extend(self.desk.apply(req))
        error = "; ".join(problems) or None
        return [Reading(ts=now, raw=self._who(), sessions=sessions, error=error, vouches=False)]

    def _who(self) -> str:
        active = self.desk.active
        return f"signed in: {active.account}" if active else "nobody signed in"

    def _spooled(self) -> list[Request]:
        spool = self.spool
        if spool is None or not spool.is_dir():
            return []
        requests = []
        self._read = sorted(spool.glob("*.json"))
        for path in self._read:
            try:
                requests.append(Request.from_json(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("%s: ignoring malformed sign-in request %s: %s", self.name, path, exc)
        return requests

    def _swipes(self) -> list[str]:
        if self._port is None:
            if time.monotonic() < self._retry_at:
                return []  # the failure was reported when it happened; try again later
            self._retry_at = time.monotonic() + self.reconnect_s
            try:
                import serial
            except ImportError as exc:
                raise OSError(missing_package(exc, "agent")) from None
            try:
                self._port = serial.serial_for_url(
                    self.card_port, baudrate=self.baudrate, timeout=0
                )
            except Exception as exc:  # pyserial's errors stay here (STYLE.md 5)
                raise OSError(f"cannot open: {exc}") from None
        try:
            chunk = self._port.read(self._port.in_waiting or 1)
        except Exception as exc:
            raise OSError(f"port lost: {exc}") from None
        cards = []
        for line in self._lines.feed(chunk.replace(b"\r", b"\n")):
            found = self.card_pattern.search(line)
            if found:
                cards.append(found.groupdict().get("card") or found.group(0))
        return cards

    def commit(self) -> None:
        """The session events of the last poll are durable: forget their requests."""
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = json.dumps({"active": self.desk.snapshot()})
        path = self.state_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(state, "utf-8")
        os.replace(temporary, path)
        for path in self._read:
            path.unlink(missing_ok=True)
        self._read = []

    def _drop(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # closing a lost port may fail too; it is gone either way
                log.debug("closing %s failed", self.card_port)
            self._port = None

    def close(self) -> None:
        self._drop()
