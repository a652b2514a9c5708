"""Modbus codec: captured frames decode through the profiles to the values beside them.

The frames come from two files in one format (``<meter> | response | <hex> | <decoded>``): ours
(tests/fixtures/modbus/frames.txt, written here with invented values and valid CRCs, so every
clone decodes through every profile) and the real captured frames in ../shared/samples (skipped,
saying why, where they are absent)."""

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
from jishi.drivers.modbus_profiles import load_profile, profile_names

from support.samples import own_fixture, vendor_samples


def frames(folder: Path, meter: str) -> list[bytes]:
    """Response frames for ``meter`` from frames.txt (format: meter | direction | hex | decoded)."""
    out = []
    for line in (folder / "frames.txt").read_text().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] == meter and parts[1] == "response":
            out.append(bytes.fromhex(parts[2]))
    return out


def frames_folder(source: str) -> Path:
    """Our frames.txt, or the real captured one (skipping the test when it is absent)."""
    return own_fixture("modbus") if source == "ours" else vendor_samples("modbus-captured-frames")


def decode_frame(profile_name: str, frame: bytes, start: int = 0) -> dict[str, Value]:
    _, _, registers = parse_rtu_response(frame)
    profile = load_profile(profile_name)
    specs = tuple(
        s for s in profile.registers if start <= s.address and s.end <= start + len(registers)
    )
    return decode_block(Request(specs[0].table, start, len(registers), specs), registers)


PZEM = ("voltage_v", "current_a", "power_w", "energy_wh", "frequency_hz", "power_factor", "alarm")
DDS238 = (
    "total_energy_kwh", "export_energy_kwh", "import_energy_kwh", "voltage_v", "current_a",
    "power_w", "reactive_power_var", "power_factor", "frequency_hz",
)  # fmt: skip


def values(names: tuple[str, ...], *row: Value) -> dict[str, Value]:
    return dict(zip(names, row, strict=True))


SDM_OURS = values(("voltage_v", "current_a", "power_w"), 228.5, 1.75, 399.875)
SDM630 = ("voltage_l1_v", "voltage_l2_v", "voltage_l3_v", "current_l1_a", "current_l2_a",
          "current_l3_a", "power_l1_w")  # fmt: skip
SDM630_OURS = values(SDM630, 228.5, 0.0, 0.0, 1.75, 0.0, 0.0, 399.875)
# 32-bit values above 65535 (energy, power) prove the PZEM's low-word-first order.
PZEM_OURS = [
    values(PZEM, 221.4, 2.345, 512.3, 123456, 50.1, 0.99, 0),
    values(PZEM, 236.2, 31.25, 7012.4, 65535, 49.9, 0.95, 0),
]
PZEM_VENDOR = [
    values(PZEM, 225.7, 0.108, 24.4, 38, 50.0, 1.0, 0),
    values(PZEM, 239.3, 0.516, 90.1, 4649, 49.9, 0.73, 0),
]
DDS238_OURS = values(DDS238, 123.45, 23.45, 100.0, 229.8, 3.15, 701, -45, 0.981, 49.97)
# Firmware v1 keeps the energy totals at 0x04/0x06; this meter exports (negative power).
DDS238_V1_OURS = values(DDS238, 124.0, 24.0, 100.0, 230.1, 1.52, -350, 20, 0.962, 50.03)
DDS238_VENDOR = [
    values(DDS238, 72.91, 12.67, 60.24, 242.3, 4.22, 1016, 112, 0.993, 50.02),
    values(DDS238, 73.41, 12.67, 60.74, 242.3, 4.97, 1199, 108, 0.995, 49.98),
]
NO_V1_TOTALS: dict[str, Value] = {"export_energy_kwh": 0.0, "import_energy_kwh": 0.0}

# (meter in frames.txt, which response, profile, first register, the values it decodes to)
Case = tuple[str, int, str, int, dict[str, Value]]
OURS: list[Case] = [
    ("SDM", 0, "sdm120", 0, SDM_OURS),
    ("SDM", 0, "sdm230", 0, SDM_OURS),
    ("SDM", 0, "sdm630", 0, SDM630_OURS),
    ("SDM", 0, "sdm72", 0, SDM630_OURS),
    ("SDM", 1, "sdm630", 0x34, {"power_w": 2417.25}),  # total system power
    ("SDM", 1, "sdm72", 0x34, {"power_w": 2417.25}),
    ("PZEM", 0, "pzem-004t", 0, PZEM_OURS[0]),
    ("PZEM", 1, "pzem-004t", 0, PZEM_OURS[1]),
    ("PZEM", 1, "pzem-016", 0, PZEM_OURS[1]),
    ("DDS238-2", 0, "dds238", 0, DDS238_OURS),
    ("DDS238-2", 1, "dds238-v1", 0, DDS238_V1_OURS),
    # Each layout read with the other firmware's profile finds zeros where it looks.
    ("DDS238-2", 1, "dds238", 0, DDS238_V1_OURS | NO_V1_TOTALS),
]
VENDOR: list[Case] = [
    ("SDM", 0, "sdm120", 0, {"voltage_v": 230.2}),
    ("SDM", 0, "sdm630", 0, {"voltage_l1_v": 230.2}),
    ("PZEM", 0, "pzem-004t", 0, PZEM_VENDOR[0]),
    ("PZEM", 1, "pzem-004t", 0, PZEM_VENDOR[1]),
    ("DDS238-2", 0, "dds238", 0, DDS238_VENDOR[0]),
    ("DDS238-2", 1, "dds238", 0, DDS238_VENDOR[1]),
    ("DDS238-2", 0, "dds238-v1", 0, DDS238_VENDOR[0] | NO_V1_TOTALS),
]


@pytest.mark.parametrize(
    ("source", "case"),
    [pytest.param("ours", c, id=f"ours: {c[2]} {c[0]} #{c[1]}") for c in OURS]
    + [pytest.param("vendor", c, id=f"vendor: {c[2]} {c[0]} #{c[1]}") for c in VENDOR],
)
def test_captured_frames_decode_through_the_profiles(source: str, case: Case) -> None:
    meter, index, profile, start, expected = case
    assert decode_frame(profile, frames(frames_folder(source), meter)[index], start) == expected


@pytest.mark.parametrize("source", ["ours", "vendor"])
def test_dds238_energy_totals_add_up(source: str) -> None:
    """export + import = total in every DDS238 frame, read with its firmware's profile."""
    for frame in frames(frames_folder(source), "DDS238-2"):
        values = decode_frame("dds238", frame)
        if values["export_energy_kwh"] == values["import_energy_kwh"] == 0:
            values = decode_frame("dds238-v1", frame)  # firmware v1: totals at 0x04/0x06
        export, imported = values["export_energy_kwh"], values["import_energy_kwh"]
        assert isinstance(export, float)
        assert isinstance(imported, float)
        assert export + imported == pytest.approx(values["total_energy_kwh"])


def test_our_frames_decode_through_every_shipped_profile() -> None:
    assert {case[2] for case in OURS} == set(profile_names()) - {"generic"}


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
