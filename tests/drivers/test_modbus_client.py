"""The Modbus client's framing against scripted exchanges: what a device or gateway answers,
late, garbled, with an exception, or not at all. (Real servers: test_modbus_server.py.)"""

from __future__ import annotations

import struct
import time

import pytest

from jishi.drivers.modbus_client import DeviceException, LinkLost, ModbusClient, NoAnswer
from jishi.drivers.modbus_codec import crc16_modbus


class ScriptedStream:
    """Answers each request with the next scripted reply (bytes, or None for silence);
    ``pending`` is what was already on the line before the request."""

    def __init__(self, replies: list[bytes | None], pending: bytes = b"") -> None:
        self.replies = replies
        self.sent: list[bytes] = []
        self.buffer = pending
        self.closed = False
        self.dropped = 0

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        reply = self.replies.pop(0)
        if reply is not None:
            self.buffer += reply

    def receive(self, size: int, deadline: float) -> bytes:
        if self.buffer == b"" and deadline > time.monotonic():
            return b""  # silence until the deadline
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def drop_pending(self) -> None:
        self.dropped += len(self.buffer)
        self.buffer = b""

    def close(self) -> None:
        self.closed = True


def rtu(*body: int) -> bytes:
    frame = bytes(body)
    return frame + crc16_modbus(frame).to_bytes(2, "little")


def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def client(stream: ScriptedStream, *, rtu: bool, retries: int = 0) -> ModbusClient:
    return ModbusClient(stream, rtu=rtu, timeout_s=0.05, retries=retries)


def test_tcp_request_framing_and_registers() -> None:
    stream = ScriptedStream([mbap(1, 7, bytes([4, 4, 0x44, 0x54, 0x80, 0x00]))])
    assert client(stream, rtu=False).read(4, 12, 2, 7) == [0x4454, 0x8000]
    # MBAP: transaction 1, protocol 0, length 6, unit 7; PDU: function 4, address 12, count 2.
    assert stream.sent == [bytes.fromhex("000100000006070400_0c_0002".replace("_", ""))]


def test_tcp_a_late_answer_to_an_earlier_request_is_dropped() -> None:
    late = mbap(1, 1, bytes([3, 2, 0x00, 0x01]))
    stream = ScriptedStream([None, late + mbap(2, 1, bytes([3, 2, 0x00, 0x02]))])
    modbus = client(stream, rtu=False, retries=1)
    assert modbus.read(3, 0, 1, 1) == [2]  # attempt 1 silent; attempt 2 skips the late tid 1


@pytest.mark.parametrize("transport_rtu", [False, True])
def test_an_exception_response_is_the_devices_answer(transport_rtu: bool) -> None:
    reply = rtu(1, 0x83, 2) if transport_rtu else mbap(1, 1, bytes([0x83, 2]))
    with pytest.raises(DeviceException) as info:
        client(ScriptedStream([reply]), rtu=transport_rtu).read(3, 0, 1, 1)
    assert info.value.code == 2


def test_rtu_framing_bits_and_a_crc_error_retried() -> None:
    good = rtu(5, 1, 1, 0b0000_0101)
    garbled = good[:-1] + bytes([good[-1] ^ 0xFF])
    stream = ScriptedStream([garbled, good])
    assert client(stream, rtu=True, retries=1).read(1, 0, 3, 5) == [1, 0, 1]
    assert stream.sent[0] == rtu(5, 1, 0, 0, 0, 3)


def test_rtu_stale_bytes_are_dropped_before_a_request() -> None:
    stream = ScriptedStream([rtu(1, 3, 2, 0, 9)], pending=b"\x00\xff junk")
    assert client(stream, rtu=True).read(3, 0, 1, 1) == [9]
    assert stream.dropped == 7


@pytest.mark.parametrize(
    "reply",
    [
        None,  # silence
        rtu(2, 3, 2, 0, 9),  # another device's answer
        rtu(1, 4, 2, 0, 9),  # the answer to another function
        rtu(1, 3, 4, 0, 9),  # shorter than its byte count says
    ],
)
def test_rtu_no_valid_answer_is_no_answer(reply: bytes | None) -> None:
    stream = ScriptedStream([reply, reply])
    with pytest.raises(NoAnswer, match="2 attempt"):
        client(stream, rtu=True, retries=1).read(3, 0, 1, 1)
    assert len(stream.sent) == 2


def test_a_refused_connection_is_link_lost() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(LinkLost):
            ModbusClient.tcp("127.0.0.1", port, rtu=False, timeout_s=0.5, retries=0)
