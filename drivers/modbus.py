"""Modbus driver: reads one device (TCP, RTU on a serial port, RTU over TCP) through a profile.

Each poll reads the profile's registers in as few requests as possible. A request that fails
leaves its values out; when every request fails the poll returns an error reading. A device that
keeps failing is "dead": it is retried only every ``dead_backoff_s`` so that, on a shared RS-485
bus, its timeouts do not eat the time of the meters that do answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from jishi.drivers.base import Reading, Value
from jishi.drivers.modbus_bus import BusError, BusSettings, ModbusBus, Transport, acquire, release
from jishi.drivers.modbus_codec import Request, decode_block, plan_requests
from jishi.drivers.modbus_profiles import ModbusProfile, load_profile
from jishi.drivers.options import Options

PARITIES = {"N": "N", "E": "E", "O": "O", "none": "N", "even": "E", "odd": "O"}


class ModbusDriver:
    """One Modbus device; the port is opened on the first poll and shared with other devices."""

    def __init__(
        self,
        name: str,
        *,
        settings: BusSettings,
        device_id: int,
        profile: ModbusProfile,
        max_gap: int = 0,
        dead_after: int = 3,
        dead_backoff_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings
        self.device_id = device_id
        self.profile = profile
        self.requests: list[Request] = plan_requests(profile.registers, max_gap=max_gap)
        self.dead_after = dead_after
        self.dead_backoff_s = dead_backoff_s
        self._clock = clock
        self._bus: ModbusBus | None = None
        self._failures = 0
        self._retry_at = 0.0

    @classmethod
    def from_options(cls, name: str, raw: Mapping[str, Any]) -> ModbusDriver:
        opts = Options(name, raw)
        host = opts.opt_text("host")
        serial_port = opts.opt_text("serial_port")
        default_transport = "rtu" if serial_port else "tcp"
        # text() checked it is one of the choices: exactly the Transport literals.
        transport = cast(
            Transport,
            opts.text("transport", default_transport, choices=("tcp", "rtu", "rtu-over-tcp")),
        )
        if transport == "rtu" and not serial_port:
            raise opts.error("serial_port", "transport rtu needs serial_port (COM3, /dev/ttyUSB0)")
        if transport != "rtu" and not host:
            raise opts.error("host", f"transport {transport} needs host (e.g. 127.0.0.1)")
        profile_name = opts.text("profile", "generic")
        profile = load_profile(
            profile_name,
            user_file=opts.path("profiles_file"),
            extra_registers=opts.table_list("registers"),
            only=opts.str_list("only"),
            address_base=opts.integer("address_base", 0, lo=0, hi=1)
            if opts.has("address_base")
            else None,
            where=f"source {name!r}",
        )
        parity = opts.text("parity", "N")
        if parity not in PARITIES:
            raise opts.error("parity", "must be N, E or O")
        device_key = next((k for k in ("device_id", "unit", "slave") if opts.has(k)), "device_id")
        settings = BusSettings(
            transport=transport,
            host=host,
            port=opts.integer("port", 502, lo=1, hi=65535),
            serial_port=serial_port,
            baudrate=opts.integer("baudrate", profile.baudrate or 9600, lo=300, hi=921_600),
            parity=PARITIES[parity],
            stopbits=opts.integer("stopbits", 1, lo=1, hi=2),
            bytesize=opts.integer("bytesize", 8, lo=7, hi=8),
            timeout_s=opts.number("timeout_s", 1.0, lo=0.05, hi=60),
            retries=opts.integer("retries", 1, lo=0, hi=10),
            pause_s=opts.number("pause_s", 0.0, lo=0, hi=10),
            connect_pause_s=opts.number("connect_pause_s", 0.0, lo=0, hi=30),
        )
        driver = cls(
            name,
            settings=settings,
            device_id=opts.integer(device_key, 1, lo=0, hi=247),
            profile=profile,
            max_gap=opts.integer("max_gap", profile.max_gap, lo=0, hi=100),
            dead_after=opts.integer("dead_after", 3, lo=1, hi=1000),
            dead_backoff_s=opts.number("dead_backoff_s", 30.0, lo=0, hi=86_400),
        )
        for key in ("unit", "slave"):
            opts.get(key)
        opts.check_unused()
        return driver

    def poll(self, now: datetime) -> Sequence[Reading]:
        where = f"{self.settings.describe()} device {self.device_id}"
        if self._failures >= self.dead_after and self._clock() < self._retry_at:
            wait = self._retry_at - self._clock()
            return [
                Reading(
                    ts=now,
                    error=f"{where}: not answering ({self._failures} failed polls); "
                    f"next try in {wait:.0f} s",
                )
            ]
        if self._bus is None:
            self._bus = acquire(self.settings)
        values: dict[str, Value] = {}
        raw_parts: list[str] = []
        errors: list[str] = []
        with self._bus.lock:
            for request in self.requests:
                try:
                    registers = self._bus.read(request, self.device_id)
                except BusError as exc:
                    errors.append(f"{request.describe()}: {exc}")
                    raw_parts.append(f"{request.describe()} error")
                    if exc.kind == "connect":
                        break  # the port is gone; the other requests would fail the same way
                    continue
                values.update(decode_block(request, registers))
                raw_parts.append(f"{request.describe()} " + " ".join(f"{r:04X}" for r in registers))
        raw = f"dev {self.device_id} " + "; ".join(raw_parts)
        if values:
            self._failures = 0
            if errors:
                raw += " | partial: " + "; ".join(errors)
            return [Reading(ts=now, values=values, raw=raw)]
        self._failures += 1
        if self._failures >= self.dead_after:
            self._retry_at = self._clock() + self.dead_backoff_s
        return [Reading(ts=now, raw=raw, error=f"{where}: " + "; ".join(errors))]

    def close(self) -> None:
        if self._bus is not None:
            release(self._bus)
            self._bus = None
