"""Reading logins from a utmp file (Linux glibc layout), pure Python, no psutil needed.

A glibc ``struct utmp`` record is 384 bytes (utmp(5)): ``ut_type`` (int16, padded to 4),
``ut_pid`` (int32), ``ut_line[32]``, ``ut_id[4]``, ``ut_user[32]``, ``ut_host[256]``,
``ut_exit`` (2 x int16), ``ut_session`` (int32), ``ut_tv`` (2 x int32: seconds,
microseconds), ``ut_addr_v6[4]`` (int32), 20 unused bytes. ``USER_PROCESS`` (7) is a live login;
its ``DEAD_PROCESS`` (8) clears the slot when the user logs out. Only little-endian x86_64 /
aarch64 layouts are read, which is what agents run on. macOS keeps ``utmpx`` in another
layout: point ``utmp_file`` at nothing there and the driver is not offered (docs/drivers.md).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

from jishi.drivers.os_logins import Login

RECORD = struct.Struct("<hxxi32s4s32s256shhi2i4i20x")
USER_PROCESS = 7
assert RECORD.size == 384


def parse_utmp(data: bytes) -> list[Login]:
    """The live user logins in a utmp file's bytes (a partial last record is ignored)."""
    logins = []
    for offset in range(0, len(data) - RECORD.size + 1, RECORD.size):
        fields = RECORD.unpack_from(data, offset)
        ut_type, _pid, line, _id, user, host = fields[:6]
        seconds, micros = fields[9], fields[10]
        if ut_type != USER_PROCESS:
            continue
        name = _text(user)
        if not name:
            continue
        since = datetime.fromtimestamp(seconds + micros / 1e6, UTC) if seconds > 0 else None
        logins.append(Login(user=name, line=_text(line), since=since, domain=_text(host) or None))
    return logins


def read_logins(path: Path) -> list[Login]:
    """Raises OSError when the file cannot be read."""
    return parse_utmp(path.read_bytes())


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
