"""Incremental log decoding: bytes in, complete (multi-line) records out, offsets exact.

Theory of operation. A :class:`LogStream` is fed the bytes of one file as they arrive
(``feed(chunk)``). It splits them into lines at the newline *of the file's encoding* (UTF-16
puts ``0A 00`` on a 2-byte boundary; in UTF-8, GBK and GB18030 the byte 0x0A never occurs
inside a multi-byte character), buffers a partial last line, and groups lines into records when
``record_start`` is given (a line matching it opens a record, other lines continue it). A record
is only complete when the next one starts or :meth:`flush` is called (the file went quiet).

``committed`` is the byte offset just past the last record handed out: a restarted agent
resumes there, so a line is never read twice and never skipped (a partial line or an
unfinished record is read again). No I/O here: the driver shell reads files and feeds us.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
ENCODINGS = ("auto", "utf-8", "utf-16", "utf-16-le", "utf-16-be", "gbk", "gb18030", "latin-1")
MAX_RECORD_CHARS = 64 * 1024  # a runaway record (no start line for MBs) is cut, not grown


def detect_bom(head: bytes) -> tuple[str | None, int]:
    """The codec named by a byte-order mark at the start of a file, and the mark's length."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    return None, 0


def resolve_encoding(configured: str, head: bytes) -> tuple[str, int]:
    """Codec to use for a file (``auto``: BOM, else UTF-8 falling back to GB18030 per line)
    and how many BOM bytes to skip at offset 0."""
    codec, skip = detect_bom(head)
    if configured in ("auto", "utf-16") and codec is not None:
        return codec, skip
    if configured == "utf-16":
        return "utf-16-le", 0  # Windows writes little-endian when it omits the BOM
    if configured == "utf-8" and codec == "utf-8":
        return "utf-8", skip
    return configured, 0


def decode_text(data: bytes, codec: str) -> str:
    """``data`` in ``codec``; ``auto`` is UTF-8, else GB18030; undecodable bytes are replaced."""
    if codec == "auto":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # Chinese Windows software writes the ANSI code page (GBK); GB18030 is its superset.
            return data.decode("gb18030", errors="replace")
    return data.decode(codec, errors="replace")


@dataclass(frozen=True, slots=True)
class Record:
    """One complete log record (several lines when multi-line) and where it ends in bytes."""

    text: str
    end_offset: int


class LogStream:
    """Splits one file's bytes into records; see the module docstring."""

    def __init__(
        self, *, encoding: str = "auto", record_start: re.Pattern[str] | None = None,
        offset: int = 0,
    ) -> None:  # fmt: skip
        self.encoding = encoding
        self.record_start = record_start
        self.committed = offset
        self._read_to = offset
        self._buffer = b""
        self._newline = "\n".encode(encoding) if encoding not in ("auto",) else b"\n"
        self._unit = len(self._newline)
        self._lines: list[str] = []  # lines of the unfinished record
        self._record_end = offset

    @property
    def read_to(self) -> int:
        """Offset of the next byte to feed."""
        return self._read_to

    @property
    def has_pending(self) -> bool:
        return bool(self._lines) or bool(self._buffer)

    def feed(self, chunk: bytes) -> list[Record]:
        self._read_to += len(chunk)
        data = self._buffer + chunk
        position = 0
        start_offset = self._read_to - len(data)
        records: list[Record] = []
        while True:
            index = self._find_newline(data, position)
            if index < 0:
                break
            line_bytes = data[position:index]
            position = index + self._unit
            line = decode_text(line_bytes, self.encoding).rstrip("\r")
            records.extend(self._add_line(line, start_offset + position))
        self._buffer = data[position:]
        return records

    def flush(self) -> list[Record]:
        """The file went quiet: hand out the unfinished record (a partial line stays buffered,
        since the writer may still be in the middle of it)."""
        if not self._lines:
            return []
        return [self._emit(self._record_end)]

    def _find_newline(self, data: bytes, position: int) -> int:
        if self._unit == 1:
            return data.find(self._newline, position)
        index = data.find(self._newline, position)
        while index >= 0 and (index - position) % self._unit:
            index = data.find(self._newline, index + 1)
        return index

    def _add_line(self, line: str, end_offset: int) -> list[Record]:
        if self.record_start is None:
            self.committed = end_offset
            return [Record(line, end_offset)]
        out: list[Record] = []
        if self.record_start.match(line) and self._lines:
            out.append(self._emit(self._record_end))
        if not self._lines and not self.record_start.match(line):
            # Lines before the first record start are records of their own (file headers).
            self.committed = end_offset
            return [*out, Record(line, end_offset)]
        if sum(len(s) for s in self._lines) < MAX_RECORD_CHARS:
            self._lines.append(line)
        self._record_end = end_offset
        return out

    def _emit(self, end_offset: int) -> Record:
        record = Record("\n".join(self._lines), end_offset)
        self._lines = []
        self.committed = end_offset
        return record
