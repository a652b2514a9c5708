"""Serial driver against a device simulator on a socat pty pair, unplugged and re-plugged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import serial

from jishi.drivers.base import Driver, Reading
from jishi.drivers.registry import create
from jishi.drivers.serial_protocol import LineBuffer, load_serial_profile, parse_reply

from support.ptys import PtyPair

Responder = Callable[[str], str | None]


class Device(threading.Thread):
    """Answers commands on the device end of the pty until the cable is pulled."""

    def __init__(self, path: Path, respond: Responder, terminator: bytes) -> None:
        super().__init__(daemon=True)
        self.port = serial.Serial(str(path), 9600, timeout=0.05)
        self.respond = respond
        self.terminator = terminator
        self.stopping = False

    def run(self) -> None:
        buffer = b""
        while not self.stopping:
            try:
                buffer += self.port.read(64)
            except (serial.SerialException, OSError):
                return
            while self.terminator in buffer:
                command, buffer = buffer.split(self.terminator, 1)
                reply = self.respond(command.decode("latin-1"))
                if reply is not None:
                    self.port.write(reply.encode("latin-1"))

    def stop(self) -> None:
        self.stopping = True
        self.join(timeout=2)
        self.port.close()


class Bench:
    """A pty pair with a simulated device; ``unplug``/``replug`` recreate the ptys."""

    def __init__(self, folder: Path, respond: Responder, terminator: bytes) -> None:
        self.pair = PtyPair(folder)
        self.respond, self.terminator = respond, terminator
        self.device: Device | None = None

    def replug(self) -> None:
        self.pair.start()
        self.device = Device(self.pair.device, self.respond, self.terminator)
        self.device.start()

    def unplug(self) -> None:
        if self.device is not None:
            self.device.stop()
            self.device = None
        self.pair.stop()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Callable[[Responder, bytes], Bench]]:
    made: list[Bench] = []

    def make(respond: Responder, terminator: bytes) -> Bench:
        item = Bench(tmp_path, respond, terminator)
        item.replug()
        made.append(item)
        return item

    yield make
    for item in made:
        item.unplug()


def poll(driver: Driver) -> Reading:
    (reading,) = driver.poll(datetime.now(UTC))
    return reading


@pytest.mark.integration
def test_mt_sics_balance_states_and_replug(bench: Callable[[Responder, bytes], Bench]) -> None:
    weights = iter(["S S      12.3456 g", "S D      12.4001 g", "ES", "S S       0.0000 g"] * 3)

    def balance(command: str) -> str | None:
        return next(weights) + "\r\n" if command == "SI" else "ES\r\n"

    rig = bench(balance, b"\r\n")
    driver = create("serial", "balance", {"port": str(rig.pair.host), "profile": "mt-sics",
                                          "timeout_s": 0.3, "reconnect_s": 0})  # fmt: skip
    states = []
    for _ in range(4):
        reading = poll(driver)
        assert reading.ok, reading.error
        states.append(reading.events[0].state)
    assert states == ["idle", "running", "fault", "idle"]
    assert reading.values["weight"] == 0.0
    assert reading.values["balance_status"] == "stable"
    rig.unplug()
    gone = poll(driver)
    assert not gone.ok  # the gap is a read error, not a crash
    rig.replug()
    for _ in range(5):  # the driver reopens the port by itself
        back = poll(driver)
        if back.ok:
            break
    assert back.ok
    assert back.values["balance_status"] in {"stable", "dynamic", "error"}
    driver.close()


@pytest.mark.integration
def test_julabo_status_and_mode(bench: Callable[[Responder, bytes], Bench]) -> None:
    mode = {"value": "1", "status": "03 REMOTE START"}

    def julabo(command: str) -> str | None:
        if command == "STATUS":
            return mode["status"] + "\r\n"
        if command == "IN_MODE_05":
            return mode["value"] + "\r\n"
        return None

    rig = bench(julabo, b"\r")
    driver = create("serial", "bath", {"port": str(rig.pair.host), "profile": "julabo",
                                       "timeout_s": 0.3, "reconnect_s": 0})  # fmt: skip
    first = poll(driver)
    assert first.values == {"status_code": 3, "status_text": "REMOTE START", "started": 1}
    assert [e.state for e in first.events] == ["running"]
    mode.update(value="0", status="-08 INVALID COMMAND")
    second = poll(driver)
    assert second.values["status_code"] == -8
    assert [e.state for e in second.events] == ["fault"]  # fault outweighs the stopped mode
    mode.update(value="0", status="02 REMOTE STOP")
    assert [e.state for e in poll(driver).events] == ["idle"]
    driver.close()


def test_no_port_is_an_error_reading(tmp_path: Path) -> None:
    driver = create("serial", "x", {"port": str(tmp_path / "ttyUSB9"), "profile": "mt-sics"})
    reading = poll(driver)
    assert not reading.ok
    assert "cannot open" in (reading.error or "")
    driver.close()


@pytest.mark.parametrize(
    ("profile", "line", "state", "values"),
    [
        ("mt-sics", "S S      100.00 g", "idle", {"weight": 100.0, "unit": "g"}),
        ("mt-sics", "S +", "fault", {"balance_status": "overload"}),
        ("mt-sics", "S I", "running", {"balance_status": "busy"}),
        ("sartorius-sbi", "N     +   0.1234 g  ", "idle", {"weight": 0.1234, "unit": "g"}),
        ("sartorius-sbi", "N     +   0.1234    ", "running", {"balance_status": "dynamic"}),
        ("sartorius-sbi", "Stat        OFF     ", "off", {"balance_status": "off"}),
        ("cavro", "/0`\x03", "idle", {"status_byte": 0x60}),
        ("cavro", "/0@", "running", {"status_byte": 0x40}),
        ("cavro", "/0g", "fault", {"status_byte": 0x67}),
    ],
)
def test_profile_reply_table(
    profile: str, line: str, state: str, values: dict[str, object]
) -> None:
    loaded = load_serial_profile(
        profile, user_file=None, command=None, extra_patterns=(), where="t"
    )
    parsed = parse_reply(line, loaded.queries[0].patterns)
    assert parsed is not None
    assert parsed.state == state
    assert values.items() <= parsed.values.items()


def test_line_buffer_keeps_partial_lines() -> None:
    buffer = LineBuffer(b"\r\n")
    assert buffer.feed(b"S S  1.0 g\r\nS D") == ["S S  1.0 g"]
    assert buffer.feed(b"  2.0 g\r\n") == ["S D  2.0 g"]
