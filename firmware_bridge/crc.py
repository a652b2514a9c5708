"""CRC-16/MODBUS, the checksum of the sensor-node frame (docs/firmware-protocol.md).

Parameters (Greg Cook's CRC catalogue naming): width 16, poly 0x8005 (reflected 0xA001),
init 0xFFFF, refin/refout true, xorout 0x0000, check value ``crc("123456789") == 0x4B37``.
Chosen because firmware on metering nodes usually already carries it for Modbus RTU.
"""

from __future__ import annotations

CHECK_INPUT = b"123456789"
CHECK_VALUE = 0x4B37


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16_modbus(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS of ``data``; pass a previous result as ``crc`` to continue a running sum."""
    for byte in bytes(data):
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
