"""Receiving frames: the COBS byte-stream side (serial) and the datagram side (UDP), counting
every rejection by kind. Pure: bytes in, frames out, no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from jishi.firmware_bridge import cobs
from jishi.firmware_bridge.frame import MAX_FRAME_LENGTH, Frame, FrameError, Rejection, decode

# COBS adds one byte per 254; a stream chunk longer than this without a delimiter is garbage.
MAX_ENCODED_LENGTH = MAX_FRAME_LENGTH + MAX_FRAME_LENGTH // 254 + 1


@dataclass
class RejectCounts:
    """How many frames were accepted and how many rejected, by kind."""

    accepted: int = 0
    rejected: Counter[Rejection] = field(default_factory=Counter)

    def reject(self, kind: Rejection) -> None:
        self.rejected[kind] += 1

    def as_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, **{k.value: self.rejected[k] for k in Rejection}}


class StreamDecoder:
    """Splits a byte stream at 0x00 delimiters and decodes each COBS block.

    ``feed`` may be called with any chunking; a partial frame waits in the buffer. A chunk that
    grows past any valid length is garbage: it is counted once and skipped up to the next
    delimiter. A bad block before the first delimiter is dropped uncounted, because a receiver
    that opens the port mid-frame always sees one.
    """

    def __init__(self, counts: RejectCounts | None = None) -> None:
        self.counts = counts if counts is not None else RejectCounts()
        self._buffer = bytearray()
        self._skipping = False
        self._synchronised = False

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data[start:])
                return frames
            self._append(data[start:end])
            frame = self._finish_block()
            if frame is not None:
                frames.append(frame)
            start = end + 1

    def _append(self, chunk: bytes) -> None:
        if self._skipping or not chunk:
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_ENCODED_LENGTH:
            self._buffer.clear()
            self._skipping = True
            if self._synchronised:
                self.counts.reject(Rejection.GARBAGE)

    def _finish_block(self) -> Frame | None:
        block = bytes(self._buffer)
        self._buffer.clear()
        skipped, self._skipping = self._skipping, False
        first, self._synchronised = not self._synchronised, True
        if skipped or not block:
            # Empty blocks are idle fill (a sender may flush with extra delimiters).
            return None
        try:
            frame = decode(cobs.decode(block))
        except cobs.CobsError:
            if not first:
                self.counts.reject(Rejection.GARBAGE)
            return None
        except FrameError as exc:
            if not first:
                self.counts.reject(exc.kind)
            return None
        self.counts.accepted += 1
        return frame


def decode_datagram(data: bytes, counts: RejectCounts) -> Frame | None:
    """One UDP datagram holds one frame, without COBS."""
    try:
        frame = decode(data)
    except FrameError as exc:
        counts.reject(exc.kind)
        return None
    counts.accepted += 1
    return frame


def frame_for_stream(frame_bytes: bytes) -> bytes:
    """COBS-encode a frame and add the delimiter, ready to write to a serial port."""
    return cobs.encode(frame_bytes) + b"\x00"
