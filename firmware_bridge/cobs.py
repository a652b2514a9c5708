"""Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999) for the serial side.

COBS removes every 0x00 from a frame so that 0x00 can delimit frames on a byte stream: a
receiver that joins mid-stream or loses bytes resynchronises at the next 0x00. The overhead is
one byte per 254 bytes (two bytes for a sensor-node frame), which is why it was chosen over SLIP
(whose escapes can double a frame and give no fixed worst-case length for buffer sizing).
"""

from __future__ import annotations

from jishi.errors import JishiError


class CobsError(JishiError, ValueError):
    """Bytes that no COBS encoder can have produced."""


def encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (without the trailing 0x00 delimiter)."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
            continue
        block.append(byte)
        if len(block) == 254:
            # A full block (code 0xFF) implies no zero after it.
            out.append(0xFF)
            out += block
            block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Decode one COBS block (delimiter already removed); raises :class:`CobsError`."""
    out = bytearray()
    index = 0
    length = len(data)
    while index < length:
        code = data[index]
        if code == 0:
            raise CobsError(f"zero byte at offset {index} inside a COBS block")
        end = index + code
        if end > length:
            raise CobsError(f"code {code} at offset {index} runs past the end ({length} bytes)")
        block = data[index + 1 : end]
        if 0 in block:
            raise CobsError("zero byte inside a COBS block")
        out += block
        index = end
        # A code below 0xFF stands for a zero after its block, except at the very end.
        if code < 0xFF and index < length:
            out.append(0)
    return bytes(out)
