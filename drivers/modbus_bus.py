"""The I/O shell of the Modbus driver: one client per physical bus, shared by drivers.

Several meters on one RS-485 line (or behind one TCP gateway) are separate sources, often of
separate instruments, but there is one port. Drivers therefore share a :class:`ModbusBus`
keyed by the port; requests are serialised by a lock and spaced by ``pause_s``. Every error of
the client (:mod:`jishi.drivers.modbus_client`) is translated into :class:`BusError` here.
pyserial is imported on first use of a serial bus (agent RSS budget).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Literal

from jishi.drivers.modbus_client import DeviceException, LinkLost, ModbusClient, NoAnswer
from jishi.drivers.modbus_codec import Request
from jishi.errors import JishiError, missing_package

Transport = Literal["tcp", "rtu", "rtu-over-tcp"]


class BusError(JishiError):
    """A request failed: ``kind`` is ``connect``, ``timeout`` or ``exception``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class BusSettings:
    """How to reach a Modbus bus: transport, address, serial line settings, timeouts."""

    transport: Transport
    host: str | None = None
    port: int = 502
    serial_port: str | None = None
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout_s: float = 1.0
    retries: int = 1
    pause_s: float = 0.0
    connect_pause_s: float = 0.0

    @property
    def key(self) -> str:
        if self.transport == "rtu":
            return f"rtu:{self.serial_port}"
        return f"{self.transport}:{self.host}:{self.port}"

    def describe(self) -> str:
        if self.transport == "rtu":
            return f"{self.serial_port} {self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"
        return f"{self.transport}://{self.host}:{self.port}"


class ModbusBus:
    """A lazily connected Modbus client; ``read`` returns registers or raises BusError."""

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.users = 0
        self._client: ModbusClient | None = None
        self._last_request = 0.0

    def _connect(self) -> ModbusClient:
        if self._client is not None:
            return self._client
        s = self.settings
        try:
            if s.transport == "rtu":
                client = ModbusClient.serial(
                    str(s.serial_port),
                    baudrate=s.baudrate,
                    parity=s.parity,
                    stopbits=s.stopbits,
                    bytesize=s.bytesize,
                    timeout_s=s.timeout_s,
                    retries=s.retries,
                )
            else:
                client = ModbusClient.tcp(
                    str(s.host),
                    s.port,
                    rtu=s.transport == "rtu-over-tcp",
                    timeout_s=s.timeout_s,
                    retries=s.retries,
                )
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BusError("connect", missing_package(exc, "agent")) from None
        except LinkLost as exc:
            raise BusError("connect", f"cannot connect to {s.describe()}: {exc}") from None
        if s.connect_pause_s > 0:
            # Some gateways drop the first request sent right after the TCP connect.
            time.sleep(s.connect_pause_s)
        self._client = client
        return client

    def read(self, request: Request, device_id: int) -> list[int]:
        """Execute one read; the caller holds ``lock``."""
        client = self._connect()
        wait = self._last_request + self.settings.pause_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            return client.read(request.function, request.address, request.count, device_id)
        except LinkLost as exc:
            self.reset()
            raise BusError("connect", f"connection lost: {exc}") from None
        except NoAnswer as exc:
            raise BusError("timeout", f"no answer from device {device_id}: {exc}") from None
        except DeviceException as exc:
            raise BusError(
                "exception", f"device {device_id} answered exception code {exc.code}"
            ) from None
        finally:
            self._last_request = time.monotonic()

    def reset(self) -> None:
        if self._client is not None:
            _close_quietly(self._client)
            self._client = None


def _close_quietly(client: ModbusClient) -> None:
    # Closing a broken client cannot fail louder than the failure that got us here.
    with contextlib.suppress(Exception):
        client.close()


_BUSES: dict[str, ModbusBus] = {}
_BUSES_LOCK = threading.Lock()


def acquire(settings: BusSettings) -> ModbusBus:
    """The shared bus for this port (created on first use; the first settings win)."""
    with _BUSES_LOCK:
        bus = _BUSES.get(settings.key)
        if bus is None:
            bus = _BUSES[settings.key] = ModbusBus(settings)
        bus.users += 1
        return bus


def release(bus: ModbusBus) -> None:
    with _BUSES_LOCK:
        bus.users -= 1
        if bus.users <= 0:
            with bus.lock:
                bus.reset()
            _BUSES.pop(bus.settings.key, None)
