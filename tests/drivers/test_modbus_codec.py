"""Modbus codec: the real captured frames decode through the profiles to the values beside them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jishi.drivers.base import DriverConfigError, Value
from jishi.drivers.modbus_codec import (
    FrameError,
    RegisterSpec,
    Request,
    decode_block,
    decode_value,
    encode_value,
    parse_address,
    parse_rtu_response,
    plan_requests,
)
from jishi.drivers.modbus_profiles import load_profile


def frames(samples_dir: Path, meter: str) -> list[bytes]:
    """Response frames for ``meter`` from frames.txt (format: meter | direction | hex | decoded)."""
    out = []
    for line in (samples_dir / "modbus-captured-frames" / "frames.txt").read_text().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] == meter and parts[1] == "response":
            out.append(bytes.fromhex(parts[2]))
    return out


def decode_frame(profile_name: str, frame: bytes, start: int = 0) -> dict[str, Value]:
    _, _, registers = parse_rtu_response(frame)
    profile = load_profile(profile_name)
    specs = tuple(
        s for s in profile.registers if start <= s.address and s.end <= start + len(registers)
    )
    return decode_block(Request(specs[0].table, start, len(registers), specs), registers)


def test_sdm120_voltage_frame(samples_dir: Path) -> None:
    (frame,) = frames(samples_dir, "SDM")
    assert decode_frame("sdm120", frame) == {"voltage_v": 230.2}
    assert decode_frame("sdm630", frame) == {"voltage_l1_v": 230.2}


def test_pzem_frames(samples_dir: Path) -> None:
    first, second = frames(samples_dir, "PZEM")
    assert decode_frame("pzem-004t", first) == {
        "voltage_v": 225.7, "current_a": 0.108, "power_w": 24.4, "energy_wh": 38,
        "frequency_hz": 50.0, "power_factor": 1.0, "alarm": 0,
    }  # fmt: skip
    assert decode_frame("pzem-004t", second) == {
        "voltage_v": 239.3, "current_a": 0.516, "power_w": 90.1, "energy_wh": 4649,
        "frequency_hz": 49.9, "power_factor": 0.73, "alarm": 0,
    }  # fmt: skip


def test_dds238_frames_both_layouts(samples_dir: Path) -> None:
    first, second = frames(samples_dir, "DDS238-2")
    v2 = decode_frame("dds238", first)
    assert v2 == {
        "total_energy_kwh": 72.91, "export_energy_kwh": 12.67, "import_energy_kwh": 60.24,
        "voltage_v": 242.3, "current_a": 4.22, "power_w": 1016, "reactive_power_var": 112,
        "power_factor": 0.993, "frequency_hz": 50.02,
    }  # fmt: skip
    assert v2["export_energy_kwh"] + v2["import_energy_kwh"] == pytest.approx(72.91)  # type: ignore[operator]  # both readings are present in this frame
    later = decode_frame("dds238", second)
    assert (later["current_a"], later["power_w"], later["reactive_power_var"]) == (4.97, 1199, 108)
    assert (later["power_factor"], later["frequency_hz"], later["total_energy_kwh"]) == (
        0.995,
        49.98,
        73.41,
    )
    # Firmware v1 keeps the totals at 0x04/0x06, which are zero in this (v2) meter's frame.
    v1 = decode_frame("dds238-v1", first)
    assert (v1["export_energy_kwh"], v1["import_energy_kwh"], v1["power_w"]) == (0.0, 0.0, 1016)


def test_crc_is_checked() -> None:
    with pytest.raises(FrameError):
        parse_rtu_response(bytes.fromhex("01 04 04 43 66 33 34 1B 39"))


@pytest.mark.parametrize(
    ("raw", "table", "base", "expected"),
    [
        (12, "input", 0, ("input", 12)),
        (13, "input", 1, ("input", 12)),
        ("30013", None, 0, ("input", 12)),
        ("40001", None, 0, ("holding", 0)),
        ("400011", None, 0, ("holding", 10)),
        ("00005", None, 0, ("coil", 4)),
        ("10002", None, 0, ("discrete", 1)),
        ("0x0156", "input", 0, ("input", 0x156)),
    ],
)
def test_addresses(raw: object, table: str | None, base: int, expected: tuple[str, int]) -> None:
    assert parse_address(raw, table, base, "t") == expected  # type: ignore[arg-type]  # parametrized values of the declared literal types


def test_address_table_conflict_is_a_config_error() -> None:
    with pytest.raises(DriverConfigError, match="holding table"):
        parse_address("40001", "input", 0, "t")


def test_grouping_adjacent_and_gaps() -> None:
    specs = [RegisterSpec(f"r{a}", "holding", a) for a in (0, 1, 2, 5, 200)]
    assert [r.describe() for r in plan_requests(specs)] == [
        "FC03 0x0000+3", "FC03 0x0005+1", "FC03 0x00c8+1",
    ]  # fmt: skip
    assert [r.describe() for r in plan_requests(specs, max_gap=2)] == [
        "FC03 0x0000+6",
        "FC03 0x00c8+1",
    ]
    many = [RegisterSpec(f"r{a}", "input", a) for a in range(300)]
    assert [r.count for r in plan_requests(many)] == [125, 125, 50]


@pytest.mark.parametrize(
    ("data_type", "byte_order", "word_order", "registers", "value"),
    [
        ("int16", "big", "big", [0xFFFE], -2),
        ("uint32", "big", "little", [0x006C, 0x0000], 108),
        ("int32", "big", "big", [0xFFFF, 0xFFFF], -1),
        ("float32", "big", "big", [0x4366, 0x3334], 230.2),
        ("float32", "little", "little", [0x3433, 0x6643], 230.2),
        ("float64", "big", "big", [0x4059, 0x0000, 0x0000, 0x0000], 100.0),
    ],
)
def test_types_and_orders(
    data_type: str, byte_order: str, word_order: str, registers: list[int], value: float
) -> None:
    spec = RegisterSpec("x", "holding", 0, data_type, len(registers), byte_order, word_order)  # type: ignore[arg-type]  # parametrized values of the declared literal types
    assert decode_value(spec, registers) == value


def test_string_and_scale_offset() -> None:
    text = RegisterSpec("model", "holding", 0, "string", 4)
    assert decode_value(text, encode_value(text, "SDM120")) == "SDM120"
    scaled = RegisterSpec("t", "holding", 0, "int16", scale=0.1, offset=-40.0, decimals=1)
    assert decode_value(scaled, [653]) == 25.3


ORDERS = st.sampled_from(["big", "little"])


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), ORDERS, ORDERS)
def test_float_round_trip(value: float, byte_order: str, word_order: str) -> None:
    spec = RegisterSpec("x", "input", 0, "float64", 4, byte_order, word_order)  # type: ignore[arg-type]  # parametrized values of the declared literal types
    assert decode_value(spec, encode_value(spec, value)) == value
