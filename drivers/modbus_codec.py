"""Pure Modbus data handling: register specs, address notation, request grouping, decoding.

Theory of operation. A device profile is a list of :class:`RegisterSpec` (name, table, address,
type, byte/word order, scale, offset). :func:`plan_requests` groups specs of one table whose
registers are adjacent (or within ``max_gap``) into as few requests as the protocol allows
(125 registers or 2000 bits per read, Modbus Application Protocol V1.1b3 §6.1-6.4).
:func:`decode_block` turns the registers one request returned back into named values. Nothing
here does I/O, so the real captured RTU frames in the samples decode through the very same code
the driver uses (:func:`parse_rtu_response`).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jishi.drivers.base import DriverConfigError, Value
from jishi.errors import JishiError

Table = Literal["coil", "discrete", "holding", "input"]
FUNCTION_OF_TABLE: dict[Table, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_TABLE_ALIASES: dict[str, Table] = {
    "coil": "coil", "coils": "coil", "1": "coil", "01": "coil",
    "discrete": "discrete", "discrete_input": "discrete", "2": "discrete", "02": "discrete",
    "holding": "holding", "holding_register": "holding", "3": "holding", "03": "holding",
    "input": "input", "input_register": "input", "4": "input", "04": "input",
}  # fmt: skip
# 1-based "Modicon" notation: the leading digit names the table (0xxxx coils ... 4xxxx holding).
_NOTATION_TABLE: dict[str, Table] = {"0": "coil", "1": "discrete", "3": "input", "4": "holding"}
MAX_REGISTERS = 125
MAX_BITS = 2000

REGISTER_COUNT = {
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4,
    "int64": 4, "uint64": 4, "bool": 1,
}  # fmt: skip
_STRUCT = {
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d",
    "int64": "q", "uint64": "Q",
}  # fmt: skip
DATA_TYPES = (*REGISTER_COUNT, "string")


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """One named value in a device's register map (addresses are 0-based protocol addresses)."""

    name: str
    table: Table
    address: int
    data_type: str = "uint16"
    count: int = 1  # registers (strings) or bits
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    decimals: int | None = None

    @property
    def end(self) -> int:
        return self.address + self.count

    @property
    def is_bits(self) -> bool:
        return self.table in ("coil", "discrete")


@dataclass(frozen=True, slots=True)
class Request:
    """One read request covering several specs of one table."""

    table: Table
    address: int
    count: int
    specs: tuple[RegisterSpec, ...]

    @property
    def function(self) -> int:
        return FUNCTION_OF_TABLE[self.table]

    def describe(self) -> str:
        return f"FC{self.function:02d} {self.address:#06x}+{self.count}"


def parse_address(raw: Any, table: Table | None, base: int, where: str) -> tuple[Table, int]:
    """Resolve an address given as an integer (0- or 1-based per ``base``) or as Modicon text
    (``"30013"``, ``"400001"``) whose leading digit names the table."""
    if isinstance(raw, str):
        text = raw.strip().replace("_", "")
        if text.lower().startswith("0x"):
            return _need_table(table, where), int(text, 16) - base
        if not re.fullmatch(r"[01345]\d{4,5}", text):
            raise DriverConfigError(
                f"{where}: address {raw!r} is neither a number nor 5/6-digit notation (40001)"
            )
        notation_table = _NOTATION_TABLE.get(text[0])
        if notation_table is None:
            raise DriverConfigError(f"{where}: address {raw!r}: no Modbus table starts with 5")
        if table is not None and table != notation_table:
            raise DriverConfigError(
                f"{where}: address {raw!r} is in the {notation_table} table but "
                f"function says {table}"
            )
        number = int(text[1:])
        if number < 1:
            raise DriverConfigError(f"{where}: address {raw!r}: notation starts at 1")
        return notation_table, number - 1
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise DriverConfigError(f"{where}: address must be an integer or text, got {raw!r}")
    address = raw - base
    if not 0 <= address <= 0xFFFF:
        raise DriverConfigError(f"{where}: address {raw} is outside 0..65535 (base {base})")
    return _need_table(table, where), address


def _need_table(table: Table | None, where: str) -> Table:
    if table is None:
        raise DriverConfigError(f"{where}: give function (input, holding, coil, discrete)")
    return table


def parse_table(raw: Any, where: str) -> Table | None:
    if raw is None:
        return None
    table = _TABLE_ALIASES.get(str(raw).lower())
    if table is None:
        raise DriverConfigError(
            f"{where}: function {raw!r} must be input (04), holding (03), coil (01) or "
            "discrete (02)"
        )
    return table


def spec_from_table(
    item: Mapping[str, Any], defaults: Mapping[str, Any], base: int, where: str
) -> RegisterSpec:
    """Build a spec from a profile or config table; ``defaults`` are the profile's top level."""
    merged = {**defaults, **item}
    name = merged.get("name")
    if not isinstance(name, str) or not name:
        raise DriverConfigError(f"{where}: every register needs a name")
    where = f"{where} {name!r}"
    table, address = parse_address(
        merged.get("address"), parse_table(merged.get("function"), where), base, where
    )
    data_type = str(merged.get("type", "bool" if table in ("coil", "discrete") else "uint16"))
    if data_type not in DATA_TYPES:
        raise DriverConfigError(f"{where}: type {data_type!r} is not one of {DATA_TYPES}")
    if data_type == "string":
        count = merged.get("count")
        if not isinstance(count, int) or count < 1:
            raise DriverConfigError(f"{where}: a string needs count = number of registers")
    else:
        count = REGISTER_COUNT[data_type]
    orders: dict[str, Literal["big", "little"]] = {}
    for key in ("byte_order", "word_order"):
        value = str(merged.get(key, "big"))
        if value == "big":
            orders[key] = "big"
        elif value == "little":
            orders[key] = "little"
        else:
            raise DriverConfigError(f"{where}: {key} must be big or little, got {value!r}")
    numbers = {}
    for key, default in (("scale", 1.0), ("offset", 0.0)):
        value = merged.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DriverConfigError(f"{where}: {key} must be a number, got {value!r}")
        numbers[key] = float(value)
    decimals = merged.get("decimals")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int)):
        raise DriverConfigError(f"{where}: decimals must be an integer")
    return RegisterSpec(
        name=name,
        table=table,
        address=address,
        data_type=data_type,
        count=count,
        byte_order=orders["byte_order"],
        word_order=orders["word_order"],
        scale=numbers["scale"],
        offset=numbers["offset"],
        unit=str(merged.get("unit", "")),
        decimals=decimals,
    )


def plan_requests(
    specs: Sequence[RegisterSpec], *, max_gap: int = 0, max_registers: int = MAX_REGISTERS
) -> list[Request]:
    """Group specs into reads: same table, gaps of at most ``max_gap`` registers, bounded size."""
    requests: list[Request] = []
    ordered = sorted(specs, key=lambda s: (FUNCTION_OF_TABLE[s.table], s.address, s.end))
    group: list[RegisterSpec] = []
    for spec in ordered:
        limit = MAX_BITS if spec.is_bits else max_registers
        if group:
            start = group[0].address
            end = max(s.end for s in group)
            same = spec.table == group[0].table
            if same and spec.address <= end + max_gap and max(end, spec.end) - start <= limit:
                group.append(spec)
                continue
            requests.append(_request(group))
        group = [spec]
    if group:
        requests.append(_request(group))
    return requests


def _request(group: list[RegisterSpec]) -> Request:
    start = group[0].address
    end = max(s.end for s in group)
    return Request(group[0].table, start, end - start, tuple(group))


def registers_to_bytes(
    registers: Sequence[int], byte_order: str = "big", word_order: str = "big"
) -> bytes:
    """Registers as they arrived (each a 16-bit word) -> bytes in big-endian value order."""
    words = list(registers)
    if word_order == "little":
        words.reverse()
    parts = []
    for word in words:
        raw = (word & 0xFFFF).to_bytes(2, "big")
        parts.append(raw[::-1] if byte_order == "little" else raw)
    return b"".join(parts)


def decode_value(spec: RegisterSpec, registers: Sequence[int]) -> Value:
    """One spec's registers (exactly ``spec.count`` of them) -> its scaled value."""
    if spec.data_type == "bool":
        return bool(registers[0])
    if spec.data_type == "string":
        # Strings keep their character order; byte_order swaps the two bytes of each register.
        raw = b"".join(
            (r & 0xFFFF).to_bytes(2, "big")[:: -1 if spec.byte_order == "little" else 1]
            for r in registers
        )
        return raw.split(b"\x00", 1)[0].decode("latin-1").strip()
    data = registers_to_bytes(registers, spec.byte_order, spec.word_order)
    (number,) = struct.unpack(">" + _STRUCT[spec.data_type], data)
    if spec.scale == 1.0 and spec.offset == 0.0 and spec.data_type != "float32":
        return int(number) if isinstance(number, int) else float(number)
    value = float(number) * spec.scale + spec.offset
    if spec.decimals is not None:
        return round(value, spec.decimals)
    # float32 has ~7 significant digits; rounding hides the binary noise (230.2000274658203).
    return float(f"{value:.7g}") if spec.data_type == "float32" else round(value, 9)


def encode_value(spec: RegisterSpec, value: float | int | str | bool) -> list[int]:
    """Inverse of :func:`decode_value` (simulators and tests write register images with it)."""
    if spec.data_type == "bool":
        return [1 if value else 0]
    if spec.data_type == "string":
        raw = str(value).encode("latin-1")[: spec.count * 2].ljust(spec.count * 2, b"\x00")
        words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
        return [
            int.from_bytes(w[:: -1 if spec.byte_order == "little" else 1], "big") for w in words
        ]
    number = (float(value) - spec.offset) / spec.scale
    code = _STRUCT[spec.data_type]
    packed = struct.pack(">" + code, number if code in "fd" else round(number))
    words = [packed[i : i + 2] for i in range(0, len(packed), 2)]
    if spec.byte_order == "little":
        words = [w[::-1] for w in words]
    if spec.word_order == "little":
        words.reverse()
    return [int.from_bytes(w, "big") for w in words]


def decode_block(request: Request, registers: Sequence[int | bool]) -> dict[str, Value]:
    """Decode every spec of ``request`` from the registers (or bits) it returned."""
    values: dict[str, Value] = {}
    for spec in request.specs:
        start = spec.address - request.address
        chunk = [int(r) for r in registers[start : start + spec.count]]
        if len(chunk) < spec.count:
            continue
        values[spec.name] = decode_value(spec, chunk)
    return values


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class FrameError(JishiError, ValueError):
    """An RTU frame is malformed or fails its CRC."""


def parse_rtu_response(frame: bytes) -> tuple[int, int, list[int]]:
    """A read response ``addr fc n data crc`` -> (device id, function, registers or bits)."""
    if len(frame) < 5:
        raise FrameError(f"frame of {len(frame)} bytes is too short")
    if crc16_modbus(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
        raise FrameError("CRC mismatch")
    device, function, length = frame[0], frame[1], frame[2]
    if function & 0x80:
        raise FrameError(f"exception response, code {frame[2]}")
    data = frame[3 : 3 + length]
    if len(data) != length:
        raise FrameError("byte count does not match the frame")
    if function in (1, 2):
        bits = [bool(data[i // 8] >> (i % 8) & 1) for i in range(length * 8)]
        return device, function, [int(b) for b in bits]
    return device, function, [int.from_bytes(data[i : i + 2], "big") for i in range(0, length, 2)]
