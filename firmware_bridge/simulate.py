"""A simulated sensor node: the frames a real node would send, and faults on demand.

The pure part (:class:`SimulatedNode`, :func:`damage`) makes frame bytes from a scenario and
the node's own uptime; :func:`run_simulation` writes them to a serial port or UDP address.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from jishi.drivers.simulated import NOMINAL_POWER_W
from jishi.firmware_bridge.frame import SEQ_MODULUS, Frame, StatusFlag, encode
from jishi.firmware_bridge.stream import frame_for_stream

MAINS_V = 230.0


class Damage(StrEnum):
    """How ``jishi bridge simulate-node`` spoils a frame on purpose, to exercise the receiver."""

    BAD_CRC = "bad_crc"
    TRUNCATED = "truncated"
    GARBAGE = "garbage"


@dataclass
class SimulatedNode:
    """One node: ``report(state, now_s)`` gives the next frame's bytes (uncoded)."""

    node_id: int
    boot_s: float = 0.0
    seq: int = 0
    flags: StatusFlag = StatusFlag.NONE
    with_voltage: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def report(self, state: str, now_s: float) -> bytes:
        power = NOMINAL_POWER_W[state] * (1 + self.rng.uniform(-0.01, 0.01))
        frame = Frame(
            node_id=self.node_id,
            seq=self.seq,
            uptime_s=max(0, int(now_s - self.boot_s)),
            current_ma=round(power / MAINS_V * 1000),
            power_dw=round(power * 10),
            voltage_cv=round(MAINS_V * 100) if self.with_voltage else None,
            temperature_cc=3150,
            flags=self.flags,
        )
        self.seq = (self.seq + 1) % SEQ_MODULUS
        return encode(frame)

    def reboot(self, now_s: float) -> None:
        self.boot_s = now_s
        self.seq = 0


def damage(frame_bytes: bytes, kind: Damage, rng: random.Random) -> bytes:
    """Spoil a frame the way a line does: a flipped bit, a cut-off end, noise."""
    if kind is Damage.BAD_CRC:
        data = bytearray(frame_bytes)
        position = rng.randrange(2, len(data) - 2)
        data[position] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind is Damage.TRUNCATED:
        return frame_bytes[: rng.randrange(4, len(frame_bytes) - 2)]
    return bytes(rng.randrange(1, 256) for _ in range(rng.randrange(5, 40)))


def parse_scenario(text: str) -> list[tuple[str, float]]:
    """``"idle:10,running:30,off:5"`` -> steps; raises ``ValueError`` naming the bad step."""
    steps = []
    for part in text.split(","):
        state, _, seconds = part.strip().partition(":")
        if state not in NOMINAL_POWER_W or not seconds:
            raise ValueError(
                f"scenario step {part!r}: use state:seconds with a state from "
                f"{', '.join(NOMINAL_POWER_W)}"
            )
        steps.append((state, float(seconds)))
    return steps


def state_at(steps: Sequence[tuple[str, float]], elapsed_s: float) -> str:
    offset = elapsed_s % sum(s for _, s in steps)
    for state, seconds in steps:
        if offset < seconds:
            return state
        offset -= seconds
    return steps[-1][0]


def open_writer(serial_port: str | None, udp: str | None, baudrate: int) -> Callable[[bytes], None]:
    """A function sending one frame: COBS + delimiter on serial, a datagram on UDP."""
    if udp is not None:
        host, _, port = udp.rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        address = (host or "127.0.0.1", int(port))

        def send(data: bytes) -> None:
            sock.sendto(data, address)

        return send
    assert serial_port is not None
    import serial

    port = serial.serial_for_url(serial_port, baudrate=baudrate)
    port.write(b"\x00")  # end any half frame from before, as a real node does after reset

    def write(data: bytes) -> None:
        port.write(frame_for_stream(data))
        port.flush()

    return write


def run_simulation(
    *,
    node_id: int,
    write: Callable[[bytes], None],
    scenario: Sequence[tuple[str, float]],
    interval_s: float,
    count: int | None,
    damage_every: int = 0,
    reboot_every: int = 0,
    seed: int = 1,
) -> int:
    """Send ``count`` reports (forever if None); returns how many were sent."""
    rng = random.Random(seed)
    node = SimulatedNode(node_id, boot_s=time.monotonic(), rng=rng)
    start = time.monotonic()
    kinds = list(Damage)
    sent = 0
    while count is None or sent < count:
        now = time.monotonic()
        data = node.report(state_at(scenario, now - start), now)
        if damage_every and sent % damage_every == damage_every - 1:
            data = damage(data, kinds[(sent // damage_every) % len(kinds)], rng)
        write(data)
        sent += 1
        if reboot_every and sent % reboot_every == 0:
            node.reboot(time.monotonic())
        time.sleep(interval_s)
    return sent
