"""Thin I/O shells around the frame decoder: one thread per serial port and one for UDP.

Each reader stamps the receive time, decodes with the pure decoder and puts accepted frames
on the bridge's queue. ``SerialException`` and ``OSError`` never escape: a port that vanishes
(USB adapter unplugged) is reopened with backoff, and the failure is logged once.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jishi.backoff import Backoff
from jishi.firmware_bridge.frame import Frame
from jishi.firmware_bridge.stream import RejectCounts, StreamDecoder, decode_datagram

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
REOPEN_MIN_S = 0.5
REOPEN_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class FrameArrival:
    """A decoded frame with the transport it came from (serial port or UDP peer) and when."""

    source: str
    frame: Frame
    received: datetime


class SerialReader(threading.Thread):
    """Reads COBS frames from one serial port (or pyserial URL such as ``socket://``)."""

    def __init__(
        self,
        *,
        port: str,
        baudrate: int,
        label: str,
        counts: RejectCounts,
        out: queue.Queue[Any],
        clock: Clock,
    ) -> None:
        super().__init__(name=f"serial-{label}", daemon=True)
        self.port, self.baudrate, self.label = port, baudrate, label
        self.decoder = StreamDecoder(counts)
        self.out, self.clock = out, clock
        self.opened = threading.Event()
        self._stopping = threading.Event()
        self.last_error: str | None = None

    def stop(self) -> None:
        self._stopping.set()
        self.join(5)

    def run(self) -> None:
        import serial

        backoff = Backoff(REOPEN_MIN_S, REOPEN_MAX_S)
        while not self._stopping.is_set():
            try:
                port = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.2)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._error(f"cannot open {self.port}: {exc}")
                self._stopping.wait(backoff.next_delay())
                continue
            backoff.reset()
            log.info("serial %s: listening on %s at %d baud", self.label, self.port, self.baudrate)
            # A new opening starts mid-stream: resynchronise at the next delimiter.
            self.decoder = StreamDecoder(self.decoder.counts)
            self.opened.set()
            try:
                while not self._stopping.is_set():
                    # Blocks up to the 0.2 s timeout for the first byte, then takes the rest.
                    data = port.read(max(1, port.in_waiting))
                    if data:
                        self._deliver(data)
            except (serial.SerialException, OSError) as exc:
                self._error(f"{self.port} failed: {exc}; reopening")
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
                self.opened.clear()

    def _deliver(self, data: bytes) -> None:
        now = self.clock()
        for frame in self.decoder.feed(data):
            self.out.put(FrameArrival(self.label, frame, now))

    def _error(self, message: str) -> None:
        if message != self.last_error:
            log.warning("serial %s: %s", self.label, message)
        self.last_error = message


class UdpReader(threading.Thread):
    """Receives one frame per datagram on a UDP port."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        counts: RejectCounts,
        out: queue.Queue[Any],
        clock: Clock,
    ) -> None:
        super().__init__(name="udp", daemon=True)
        self.counts, self.out, self.clock = counts, out, clock
        self.label = f"udp:{port}"
        self._stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Bind in the constructor so a port in use is reported at start, not in a thread.
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address: tuple[str, int] = self.sock.getsockname()

    def stop(self) -> None:
        self._stopping.set()
        self.join(5)
        self.sock.close()

    def run(self) -> None:
        log.info("udp: listening on %s:%d", *self.address)
        while not self._stopping.is_set():
            try:
                data, _peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    return
                log.warning("udp: receive failed: %s", exc)
                self._stopping.wait(0.5)
                continue
            now = self.clock()
            frame = decode_datagram(data, self.counts)
            if frame is not None:
                self.out.put(FrameArrival(self.label, frame, now))
