"""The sensor-node frame (version 1): layout, pure encoder and decoder, rejection kinds.

Theory of operation (the normative text is docs/firmware-protocol.md):

* A frame is 28 bytes, little-endian: version, field mask, node id, sequence number, uptime,
  RMS current, active power, optional voltage and temperature, status flags, CRC-16/MODBUS of
  everything before it (low byte first).
* A receiver classifies every frame it cannot use into exactly one :class:`Rejection`, so a
  technician can tell line noise (bad CRC) from lost bytes (truncated), a wrong baud rate or a
  foreign talker (garbage) and newer firmware (unknown version).
* Later v1 firmware may append fields before the CRC; receivers ignore them (forward
  compatible). A different layout needs a new version number.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntFlag, StrEnum

from jishi.errors import JishiError
from jishi.firmware_bridge.crc import crc16_modbus

VERSION = 1
FRAME_V1_LENGTH = 28
# Longest frame accepted (v1 plus appended fields); anything longer is garbage.
MAX_FRAME_LENGTH = 64
_BODY_V1 = struct.Struct("<BBIHIIiHhH")  # without the CRC: 26 bytes
assert _BODY_V1.size == FRAME_V1_LENGTH - 2

FIELD_VOLTAGE = 0x01
FIELD_TEMPERATURE = 0x02
SEQ_MODULUS = 1 << 16


class StatusFlag(IntFlag):
    """Bits of the status word; bits 7-15 are reserved (sent 0, ignored)."""

    NONE = 0
    SENSOR_FAULT = 1 << 0
    OVERRANGE = 1 << 1
    LOW_SUPPLY = 1 << 2
    UNCALIBRATED = 1 << 3
    WATCHDOG_RESET = 1 << 4
    ALARM_INPUT = 1 << 5
    MAINTENANCE_INPUT = 1 << 6


class Rejection(StrEnum):
    """Why a received frame was not used; counted per source in the bridge's status."""

    BAD_CRC = "bad_crc"
    TRUNCATED = "truncated"
    GARBAGE = "garbage"
    UNKNOWN_VERSION = "unknown_version"


class FrameError(JishiError, ValueError):
    """A frame the receiver cannot use; ``kind`` says why."""

    def __init__(self, kind: Rejection, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded report of one node, in the integer units of the wire."""

    node_id: int
    seq: int
    uptime_s: int
    current_ma: int
    power_dw: int  # active power in 0.1 W, signed
    voltage_cv: int | None = None  # RMS voltage in 0.01 V
    temperature_cc: int | None = None  # 0.01 degC, signed
    flags: StatusFlag = StatusFlag.NONE
    version: int = VERSION

    @property
    def current_a(self) -> float:
        return self.current_ma / 1000

    @property
    def power_w(self) -> float:
        return self.power_dw / 10

    def readings(self) -> dict[str, float | int | bool]:
        """Named readings in SI units, as the agent's drivers name them (``power_w``, ...)."""
        values: dict[str, float | int | bool] = {
            "current_a": self.current_a,
            "power_w": self.power_w,
            "status_flags": int(self.flags),
            "alarm_input": bool(self.flags & StatusFlag.ALARM_INPUT),
            "maintenance_input": bool(self.flags & StatusFlag.MAINTENANCE_INPUT),
            "overrange": bool(self.flags & StatusFlag.OVERRANGE),
        }
        if self.voltage_cv is not None:
            values["voltage_v"] = self.voltage_cv / 100
        if self.temperature_cc is not None:
            values["temperature_c"] = self.temperature_cc / 100
        return values


def encode(frame: Frame) -> bytes:
    """The frame's bytes (CRC included), before COBS framing. Raises ``ValueError`` if a field
    does not fit its wire type."""
    mask = (FIELD_VOLTAGE if frame.voltage_cv is not None else 0) | (
        FIELD_TEMPERATURE if frame.temperature_cc is not None else 0
    )
    try:
        body = _BODY_V1.pack(
            VERSION,
            mask,
            frame.node_id,
            frame.seq,
            frame.uptime_s,
            frame.current_ma,
            frame.power_dw,
            frame.voltage_cv or 0,
            frame.temperature_cc or 0,
            int(frame.flags),
        )
    except struct.error as exc:
        raise ValueError(f"frame field out of range: {exc}") from None
    return body + crc16_modbus(body).to_bytes(2, "little")


def decode(data: bytes) -> Frame:
    """Decode one frame (COBS already removed); raises :class:`FrameError`.

    Order of checks (docs/firmware-protocol.md, "Receiving"): size, CRC, version, length.
    """
    size = len(data)
    if size > MAX_FRAME_LENGTH:
        raise FrameError(Rejection.GARBAGE, f"{size} bytes, longer than any frame")
    known = size >= 1 and data[0] == VERSION
    if size < 3:
        raise FrameError(Rejection.TRUNCATED, f"only {size} bytes")
    crc_ok = crc16_modbus(data[:-2]) == int.from_bytes(data[-2:], "little")
    if not crc_ok:
        if not known:
            raise FrameError(Rejection.GARBAGE, f"bad CRC and unknown version byte 0x{data[0]:02x}")
        if size < FRAME_V1_LENGTH:
            raise FrameError(Rejection.TRUNCATED, f"{size} of {FRAME_V1_LENGTH} bytes")
        raise FrameError(Rejection.BAD_CRC, "CRC-16/MODBUS mismatch")
    if not known:
        raise FrameError(Rejection.UNKNOWN_VERSION, f"version {data[0]}")
    if size < FRAME_V1_LENGTH:
        raise FrameError(Rejection.TRUNCATED, f"{size} of {FRAME_V1_LENGTH} bytes, CRC valid")
    (_, mask, node_id, seq, uptime_s, current_ma, power_dw, voltage, temperature, flags) = (
        _BODY_V1.unpack_from(data)
    )
    return Frame(
        node_id=node_id,
        seq=seq,
        uptime_s=uptime_s,
        current_ma=current_ma,
        power_dw=power_dw,
        voltage_cv=voltage if mask & FIELD_VOLTAGE else None,
        temperature_cc=temperature if mask & FIELD_TEMPERATURE else None,
        # Reserved bits are ignored so that later firmware may define them.
        flags=StatusFlag(flags & 0x7F),
    )
