"""A small synchronous Modbus master: reads (functions 1 to 4) over TCP, RTU and RTU over TCP.

Theory of operation. A read is one request PDU (function, start address, count), framed for
its transport and answered by one response:

* TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b, s3.1.3): a 7-byte MBAP header
  (transaction id, protocol 0, length of what follows, unit id) before the PDU. A response
  whose transaction id is not the request's is a late answer to an earlier request that timed
  out: it is dropped and the wait goes on.
* RTU (Modbus over Serial Line v1.02, s2.5.1): device id, PDU, CRC-16 low byte first. The
  response is read in its own rhythm: device id and function, then either an exception code
  or a byte count, then the data and the CRC. Bytes left on the line are dropped before each
  request, so a late or garbled answer cannot be taken for the next one.
* RTU over TCP: RTU frames (CRC included) carried in a TCP stream, as serial-to-Ethernet
  gateways in transparent mode do.

An attempt that gets no complete, valid answer within ``timeout_s`` is tried again ``retries``
times. What goes wrong is one of three errors: :class:`LinkLost` (the connection or port is
gone), :class:`NoAnswer` and :class:`DeviceException` (the device answered with an exception
code). pyserial is imported only for RTU on a serial port.

The agent used pymodbus here until issue 14: its client imports asyncio and most of its
package, 3 MB of the agent's 32 MB budget, for four read functions. The framing and CRC live in
:mod:`jishi.drivers.modbus_codec`; this module is the I/O around them.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from jishi.drivers.modbus_codec import FrameError, crc16_modbus, parse_rtu_response
from jishi.errors import JishiError


class LinkLost(JishiError):  # noqa: N818 - a state of the link, not a failed call
    """The connection or the port is gone (closed by the peer, unplugged, refused)."""


class NoAnswer(JishiError):  # noqa: N818 - an outcome of a request, as in the Modbus spec
    """No complete, valid answer in time (every attempt)."""


class DeviceException(JishiError):  # noqa: N818 - the spec's name: an exception response
    """The device answered with a Modbus exception code (spec s7)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception code {code}")
        self.code = code


class _Stream(Protocol):
    def send(self, data: bytes) -> None: ...
    def receive(self, size: int, deadline: float) -> bytes: ...
    def drop_pending(self) -> None: ...
    def close(self) -> None: ...


def _receive(read: Callable[[int, float], bytes | None], size: int, deadline: float) -> bytes:
    """``size`` bytes by ``read(missing, seconds left)``, or fewer when the deadline passes
    first (``read`` returns None when its wait ran out)."""
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        chunk = read(size - len(data), left)
        if chunk is None:
            break
        data += chunk
    return data


class _SocketStream:
    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise LinkLost(exc.strerror or str(exc)) from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout_s = timeout_s

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.timeout_s)  # a peer that stops reading cannot hang the poll
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise LinkLost(f"send failed: {exc.strerror or exc}") from None

    def receive(self, size: int, deadline: float) -> bytes:
        return _receive(self._read, size, deadline)

    def _read(self, size: int, timeout_s: float) -> bytes | None:
        self.sock.settimeout(timeout_s)
        try:
            chunk = self.sock.recv(size)
        except TimeoutError:
            return None
        except OSError as exc:
            raise LinkLost(f"receive failed: {exc.strerror or exc}") from None
        if not chunk:
            raise LinkLost("connection closed by the device or gateway")
        return chunk

    def drop_pending(self) -> None:
        self.sock.setblocking(False)
        try:
            while self.sock.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            raise LinkLost(f"receive failed: {exc.strerror or exc}") from None
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


class _SerialStream:
    def __init__(self, port: str, **line: Any) -> None:
        import serial  # lazily: only RTU on a serial port needs pyserial

        self._errors = (serial.SerialException, OSError)
        try:
            self.port = serial.Serial(port, **line)
        except self._errors as exc:
            raise LinkLost(str(exc)) from None

    def send(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except self._errors as exc:
            raise LinkLost(f"write failed: {exc}") from None

    def receive(self, size: int, deadline: float) -> bytes:
        return _receive(self._read, size, deadline)

    def _read(self, size: int, timeout_s: float) -> bytes:
        self.port.timeout = timeout_s
        try:
            return bytes(self.port.read(size))
        except self._errors as exc:
            raise LinkLost(f"read failed: {exc}") from None

    def drop_pending(self) -> None:
        try:
            self.port.reset_input_buffer()
        except self._errors as exc:
            raise LinkLost(f"port failed: {exc}") from None

    def close(self) -> None:
        self.port.close()


class ModbusClient:
    """One connection to a bus; ``read`` is not thread-safe (the bus holds a lock)."""

    def __init__(self, stream: _Stream, *, rtu: bool, timeout_s: float, retries: int) -> None:
        self.stream = stream
        self.rtu = rtu
        self.timeout_s = timeout_s
        self.retries = retries
        self._tid = 0

    @classmethod
    def tcp(
        cls, host: str, port: int, *, rtu: bool, timeout_s: float, retries: int
    ) -> ModbusClient:
        """Modbus TCP (``rtu=False``) or RTU frames over TCP (``rtu=True``)."""
        stream = _SocketStream(host, port, timeout_s)
        return cls(stream, rtu=rtu, timeout_s=timeout_s, retries=retries)

    @classmethod
    def serial(cls, port: str, *, timeout_s: float, retries: int, **line: Any) -> ModbusClient:
        """RTU on a serial port; ``line`` holds baudrate, parity, stopbits and bytesize."""
        stream = _SerialStream(port, timeout=timeout_s, **line)
        return cls(stream, rtu=True, timeout_s=timeout_s, retries=retries)

    def read(self, function: int, address: int, count: int, device_id: int) -> list[int]:
        """Registers (functions 3, 4) or bits as 0/1 (functions 1, 2), ``count`` of them."""
        pdu = struct.pack(">BHH", function, address, count)
        for _attempt in range(self.retries + 1):
            self.stream.drop_pending()
            exchange = self._exchange_rtu if self.rtu else self._exchange_tcp
            answer = exchange(pdu, device_id)
            if answer is not None:
                values = _values(function, answer)
                return values[:count] if function in (1, 2) else values
        raise NoAnswer(f"no answer in {self.timeout_s:g} s ({self.retries + 1} attempt(s))")

    def _exchange_tcp(self, pdu: bytes, device_id: int) -> bytes | None:
        """The response PDU's data (after the byte count), or None when none came in time."""
        self._tid = (self._tid + 1) % 0x10000
        self.stream.send(struct.pack(">HHHB", self._tid, 0, len(pdu) + 1, device_id) + pdu)
        deadline = time.monotonic() + self.timeout_s
        while True:
            header = self.stream.receive(7, deadline)
            if len(header) < 7:
                return None
            tid, protocol, length, _unit = struct.unpack(">HHHB", header)
            body = self.stream.receive(length - 1, deadline)
            if len(body) < length - 1 or length < 2:
                return None
            if tid != self._tid or protocol != 0:
                continue  # a late answer to an earlier request
            return _pdu_data(pdu[0], body)

    def _exchange_rtu(self, pdu: bytes, device_id: int) -> bytes | None:
        frame = bytes([device_id]) + pdu
        self.stream.send(frame + crc16_modbus(frame).to_bytes(2, "little"))
        deadline = time.monotonic() + self.timeout_s
        head = self.stream.receive(3, deadline)
        if len(head) < 3:
            return None
        rest = 2 if head[1] & 0x80 else head[2] + 2
        frame = head + self.stream.receive(rest, deadline)
        if len(frame) < 3 + rest or frame[0] != device_id:
            return None
        if head[1] & 0x80:
            if crc16_modbus(frame[:3]) != int.from_bytes(frame[3:5], "little"):
                return None
            raise DeviceException(frame[2])
        try:
            parse_rtu_response(frame)  # the CRC and the byte count
        except FrameError:
            return None
        return frame[3:-2] if frame[1] == pdu[0] else None

    def close(self) -> None:
        self.stream.close()


def _pdu_data(function: int, body: bytes) -> bytes | None:
    """The data of a response PDU ``fc n data``; raises :class:`DeviceException` for ``fc|0x80``."""
    if len(body) < 2:
        return None
    if body[0] == function | 0x80:
        raise DeviceException(body[1])
    if body[0] != function or len(body) != 2 + body[1]:
        return None
    return body[2:]


def _values(function: int, data: bytes) -> list[int]:
    if function in (1, 2):  # bits, least significant first (spec s6.1)
        return [data[i // 8] >> (i % 8) & 1 for i in range(len(data) * 8)]
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]
