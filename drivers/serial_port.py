"""Serial driver (pyserial): poll a device with commands, or listen to the lines it streams.

The port is opened on the first poll. When it fails (a USB-serial adapter unplugged), the driver
closes it, reports the failure as an error reading, and tries to open it again every
``reconnect_s``: the gap shows as read errors, never as a crash. pyserial is imported lazily and
its exceptions never leave this module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jishi.drivers.base import Reading, StateEvent, Value
from jishi.drivers.options import Options
from jishi.drivers.serial_protocol import (
    LineBuffer,
    SerialProfile,
    load_serial_profile,
    parse_reply,
)
from jishi.errors import JishiError, missing_package
from jishi.states import STRENGTH


class PortError(JishiError):
    """The port could not be opened, or failed while in use."""


class SerialDriver:
    """A device speaking a line protocol on a serial port (or a socat pty in tests)."""

    def __init__(
        self,
        name: str,
        *,
        port: str,
        profile: SerialProfile,
        mode: str = "poll",
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
        timeout_s: float = 1.0,
        reconnect_s: float = 2.0,
        emit_states: bool = True,
        reopen_after: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.port = port
        self.profile = profile
        self.mode = mode
        self.params = {
            "baudrate": baudrate,
            "bytesize": bytesize,
            "parity": parity,
            "stopbits": stopbits,
        }
        self.timeout_s = timeout_s
        self.reconnect_s = reconnect_s
        self.emit_states = emit_states
        self._clock = clock
        self._serial: Any = None
        self._retry_at = 0.0
        self._silent = 0
        self.reopen_after = reopen_after
        self._lines = LineBuffer(profile.reply_terminator.encode("latin-1"))

    @classmethod
    def from_options(cls, name: str, raw: Mapping[str, Any]) -> SerialDriver:
        opts = Options(name, raw)
        port = opts.text("port")
        mode = opts.text("mode", "poll", choices=("poll", "listen"))
        profile = load_serial_profile(
            opts.text("profile", "regex"),
            user_file=opts.path("profiles_file"),
            command=opts.opt_text("command"),
            extra_patterns=opts.table_list("patterns"),
            where=f"source {name!r}",
        )
        if mode == "poll" and not profile.queries:
            raise opts.error("command", "poll mode needs a command (or a profile with queries)")
        if not profile.listen_patterns:
            raise opts.error("patterns", "no reply patterns: give patterns or a profile")
        if opts.has("terminator") or opts.has("reply_terminator"):
            profile = SerialProfile(
                profile.name,
                profile.queries,
                profile.listen_patterns,
                opts.text("terminator", profile.terminator),
                opts.text("reply_terminator", profile.reply_terminator),
                profile.settings,
            )
        defaults = profile.settings
        driver = cls(
            name,
            port=port,
            profile=profile,
            mode=mode,
            baudrate=opts.integer(
                "baudrate", int(defaults.get("baudrate", 9600)), lo=50, hi=4_000_000
            ),
            bytesize=opts.integer("bytesize", int(defaults.get("bytesize", 8)), lo=5, hi=8),
            parity=opts.text(
                "parity", str(defaults.get("parity", "N")), choices=("N", "E", "O", "M", "S")
            ),
            stopbits=opts.integer("stopbits", int(defaults.get("stopbits", 1)), lo=1, hi=2),
            timeout_s=opts.number("timeout_s", 1.0, lo=0.01, hi=60),
            reconnect_s=opts.number("reconnect_s", 2.0, lo=0, hi=3600),
            emit_states=opts.flag("emit_states", True),
            reopen_after=opts.integer("reopen_after", 3, lo=1, hi=1000),
        )
        opts.check_unused()
        return driver

    def poll(self, now: datetime) -> Sequence[Reading]:
        try:
            port = self._open()
            lines = self._exchange(port) if self.mode == "poll" else self._listen(port)
        except PortError as exc:
            return [Reading(ts=now, error=f"{self.port}: {exc}")]
        values: dict[str, Value] = {}
        events: list[StateEvent] = []
        raw: list[str] = []
        patterns_of = (
            [q.patterns for q in self.profile.queries]
            if self.mode == "poll"
            else [self.profile.listen_patterns] * len(lines)
        )
        unparsed = []
        for line, patterns in zip(lines, patterns_of, strict=False):
            raw.append(repr(line))
            if line is None:
                continue
            parsed = parse_reply(line, patterns)
            if parsed is None:
                unparsed.append(line)
                continue
            values.update(parsed.values)
            if parsed.state is not None and self.emit_states:
                events.append(StateEvent(now, parsed.state, parsed.reason, source=self.name))
        text = " ".join(raw) or None
        if self.mode == "poll" and not values:
            self._silent += 1
            if self._silent >= self.reopen_after:
                # A re-plugged adapter is a new device node: our handle to the old one only
                # ever times out, so reopen.
                self._drop()
                self._silent = 0
            problem = (
                "no reply"
                if all(line is None for line in lines)
                else f"unrecognised reply {unparsed!r}"
            )
            return [Reading(ts=now, raw=text, error=f"{self.port}: {problem}")]
        self._silent = 0
        # Several queries may each name a state (Julabo STATUS and IN_MODE_05): the weightiest
        # wins, as in inference (fault over running over idle over off).
        chosen = max(events, key=lambda e: STRENGTH[e.state], default=None)
        return [Reading(ts=now, values=values, raw=text, events=(chosen,) if chosen else ())]

    def close(self) -> None:
        self._drop()

    # -- I/O ----------------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._serial is not None:
            return self._serial
        if self._clock() < self._retry_at:
            raise PortError(f"unavailable; next try in {self._retry_at - self._clock():.1f} s")
        try:
            import serial
        except ImportError as exc:
            raise PortError(missing_package(exc, "agent")) from None
        try:
            port = serial.serial_for_url(self.port, do_not_open=True)
            port.baudrate = self.params["baudrate"]
            port.bytesize = self.params["bytesize"]
            port.parity = self.params["parity"]
            port.stopbits = self.params["stopbits"]
            port.timeout = self.timeout_s if self.mode == "poll" else 0
            port.write_timeout = self.timeout_s
            port.open()
        except Exception as exc:
            self._retry_at = self._clock() + self.reconnect_s
            raise PortError(f"cannot open: {exc}") from None
        self._serial = port
        self._lines = LineBuffer(self.profile.reply_terminator.encode("latin-1"))
        return port

    def _exchange(self, port: Any) -> list[str | None]:
        replies: list[str | None] = []
        terminator = self.profile.reply_terminator.encode("latin-1") or b"\n"
        try:
            for query in self.profile.queries:
                port.reset_input_buffer()
                port.write(((query.command or "") + self.profile.terminator).encode("latin-1"))
                data = port.read_until(terminator)
                if not data.endswith(terminator):
                    replies.append(None)
                    continue
                replies.append(
                    data[: -len(terminator)].decode("latin-1", errors="replace").strip("\r\n")
                )
        except Exception as exc:
            self._drop()
            raise PortError(f"port lost: {exc}") from None
        return replies

    def _listen(self, port: Any) -> list[str]:
        try:
            waiting = port.in_waiting
            chunk = port.read(waiting or 1)
        except Exception as exc:
            self._drop()
            raise PortError(f"port lost: {exc}") from None
        return self._lines.feed(chunk)

    def _drop(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(Exception):  # a dead port may fail to close, too
                self._serial.close()
            self._serial = None
            self._retry_at = self._clock() + self.reconnect_s
