"""The sensor-node frame: CRC, COBS, encoder/decoder, rejection kinds and the doc's vectors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jishi.firmware_bridge import cobs
from jishi.firmware_bridge.crc import CHECK_INPUT, CHECK_VALUE, crc16_modbus
from jishi.firmware_bridge.frame import (
    FRAME_V1_LENGTH,
    Frame,
    FrameError,
    Rejection,
    StatusFlag,
    decode,
    encode,
)
from jishi.firmware_bridge.stream import (
    RejectCounts,
    StreamDecoder,
    decode_datagram,
    frame_for_stream,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "firmware-protocol.md"

# (fields, frame hex, serial hex): the test vectors of docs/firmware-protocol.md.
VECTORS = [
    (
        Frame(
            node_id=0x1A2B3C4D,
            seq=1,
            uptime_s=42,
            current_ma=1234,
            power_dw=23456,
            voltage_cv=23012,
            temperature_cc=2550,
        ),
        "01 03 4d 3c 2b 1a 01 00 2a 00 00 00 d2 04 00 00 a0 5b 00 00 e4 59 f6 09 00 00 55 b8",
        "08 01 03 4d 3c 2b 1a 01 02 2a 01 01 03 d2 04 01 03 a0 5b 01 05 e4 59 f6 09 01 03 55 b8 00",
    ),
    (
        Frame(
            node_id=7,
            seq=65535,
            uptime_s=3600,
            current_ma=0,
            power_dw=-5,
            flags=StatusFlag.SENSOR_FAULT | StatusFlag.ALARM_INPUT,
        ),
        "01 00 07 00 00 00 ff ff 10 0e 00 00 00 00 00 00 fb ff ff ff 00 00 00 00 21 00 21 07",
        "02 01 02 07 01 01 05 ff ff 10 0e 01 01 01 01 01 05 fb ff ff ff 01 01 01 02 21 03 21 07 00",
    ),
    (
        Frame(
            node_id=0xCAFE0001,
            seq=300,
            uptime_s=86400,
            current_ma=48,
            power_dw=52,
            temperature_cc=-1025,
            flags=StatusFlag.WATCHDOG_RESET,
        ),
        "01 02 01 00 fe ca 2c 01 80 51 01 00 30 00 00 00 34 00 00 00 00 00 ff fb 10 00 95 cf",
        "04 01 02 01 08 fe ca 2c 01 80 51 01 02 30 01 01 02 34 01 01 01 01 04 ff fb 10 03 95 cf 00",
    ),
]


def test_crc_check_value() -> None:
    assert crc16_modbus(CHECK_INPUT) == CHECK_VALUE == 0x4B37
    assert f"0x{CHECK_VALUE:04X}" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(("frame", "frame_hex", "serial_hex"), VECTORS)
def test_vectors(frame: Frame, frame_hex: str, serial_hex: str) -> None:
    raw = bytes.fromhex(frame_hex)
    assert len(raw) == FRAME_V1_LENGTH
    assert encode(frame) == raw
    assert decode(raw) == frame
    assert frame_for_stream(raw) == bytes.fromhex(serial_hex)
    doc = DOC.read_text(encoding="utf-8")
    assert frame_hex in doc
    assert serial_hex in doc


def test_readings_in_si_units() -> None:
    frame = VECTORS[0][0]
    assert frame.readings() == {
        "current_a": 1.234,
        "power_w": 2345.6,
        "voltage_v": 230.12,
        "temperature_c": 25.5,
        "status_flags": 0,
        "alarm_input": False,
        "maintenance_input": False,
        "overrange": False,
    }
    assert VECTORS[1][0].readings()["alarm_input"] is True
    assert "voltage_v" not in VECTORS[1][0].readings()
    assert VECTORS[2][0].readings()["temperature_c"] == -10.25


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x11\x22\x33\x00\x44", bytes(range(256)) * 2, b"\x00" * 300, bytes(253)],
)
def test_cobs_round_trip(data: bytes) -> None:
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert cobs.decode(encoded) == data


@given(st.binary(max_size=600))
def test_cobs_round_trip_any(data: bytes) -> None:
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs.decode(encoded) == data


@pytest.mark.parametrize("bad", [b"\x05\x01\x02", b"\x02\x00", b"\x00"])
def test_cobs_rejects(bad: bytes) -> None:
    with pytest.raises(cobs.CobsError):
        cobs.decode(bad)


def _good() -> bytes:
    return bytes.fromhex(VECTORS[0][1])


def _with_crc(body: bytes) -> bytes:
    return body + crc16_modbus(body).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_good()[:-1] + bytes([_good()[-1] ^ 0x01]), Rejection.BAD_CRC),
        (bytes([_good()[0]]) + bytes([_good()[1] ^ 0x40]) + _good()[2:], Rejection.BAD_CRC),
        (_good()[:20], Rejection.TRUNCATED),
        (_good()[:2], Rejection.TRUNCATED),
        (_with_crc(_good()[:20]), Rejection.TRUNCATED),
        (b"\x7f" + _good()[1:], Rejection.GARBAGE),
        (b"hello world, this is not a frame", Rejection.GARBAGE),
        (bytes(65), Rejection.GARBAGE),
        (_with_crc(b"\x02" + _good()[1:-2]), Rejection.UNKNOWN_VERSION),
        (_with_crc(b"\x09\x01\x02"), Rejection.UNKNOWN_VERSION),
    ],
)
def test_rejections(data: bytes, kind: Rejection) -> None:
    with pytest.raises(FrameError) as caught:
        decode(data)
    assert caught.value.kind is kind


def test_longer_v1_frame_is_accepted_and_extra_bytes_ignored() -> None:
    """Forward compatibility: later v1 firmware may append fields before the CRC."""
    extended = _with_crc(_good()[:-2] + b"\x01\x02\x03\x04")
    assert decode(extended) == VECTORS[0][0]


def test_reserved_flag_bits_are_ignored() -> None:
    body = bytearray(_good()[:-2])
    body[24] |= 0x80
    body[25] |= 0xFF
    assert decode(_with_crc(bytes(body))).flags == StatusFlag.NONE


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode(Frame(node_id=1, seq=70_000, uptime_s=0, current_ma=0, power_dw=0))


def _stream(*frames: bytes) -> bytes:
    return b"".join(frame_for_stream(f) for f in frames)


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_stream_any_chunking(cuts: list[int]) -> None:
    """Frames come out whole whatever the chunking of the byte stream."""
    data = b"\x00" + _stream(*(bytes.fromhex(v[1]) for v in VECTORS)) * 3
    decoder = StreamDecoder()
    frames: list[Frame] = []
    position = 0
    for cut in cuts:
        frames += decoder.feed(data[position : position + cut])
        position += cut
    frames += decoder.feed(data[position:])
    assert frames == [v[0] for v in VECTORS] * 3
    assert decoder.counts.as_dict() == {
        "accepted": 9,
        "bad_crc": 0,
        "truncated": 0,
        "garbage": 0,
        "unknown_version": 0,
    }


def test_stream_counts_each_rejection_and_resynchronises() -> None:
    good = bytes.fromhex(VECTORS[0][1])
    bad_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    unknown = _with_crc(b"\x02" + good[1:-2])
    data = (
        b"\x13\x37partial-frame-from-before-we-opened\x00"  # dropped uncounted
        + frame_for_stream(good)
        + frame_for_stream(bad_crc)
        + cobs.encode(good)[:15]
        + b"\x00"  # truncated mid-frame (e.g. the node reset while sending)
        + b"\xff" * 200  # line noise longer than any frame, without delimiter
        + b"\x00"
        + frame_for_stream(unknown)
        + b"\x05\x01\x00"  # not valid COBS
        + b"\x00\x00\x00"  # idle fill
        + frame_for_stream(good)
    )
    decoder = StreamDecoder()
    assert decoder.feed(data) == [VECTORS[0][0]] * 2
    assert decoder.counts.as_dict() == {
        "accepted": 2,
        "bad_crc": 1,
        "truncated": 1,
        "garbage": 2,
        "unknown_version": 1,
    }


def test_datagram_side() -> None:
    counts = RejectCounts()
    assert decode_datagram(bytes.fromhex(VECTORS[1][1]), counts) == VECTORS[1][0]
    assert decode_datagram(b"\x01\x02", counts) is None
    assert decode_datagram(frame_for_stream(bytes.fromhex(VECTORS[1][1])), counts) is None
    assert counts.as_dict()["accepted"] == 1
    assert counts.as_dict()["truncated"] == 1
    assert counts.as_dict()["garbage"] == 1
