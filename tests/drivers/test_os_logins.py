"""OS logins as sessions: a real utmp file written by ``utmpdump -r`` read through the
production code path (only its path injected), and the Windows WTS path against a fake of the
two WTS calls, because no Windows runs here."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from jishi.drivers.os_logins import Login, OsLoginDriver
from jishi.drivers.wts import (
    WTS_DOMAIN_NAME,
    WTS_SESSION_INFO,
    WTS_USER_NAME,
    WtsApi,
    WtsInfo,
    _SessionInfo,
    from_filetime,
    wts_logins,
)

from support.times import at

FIXTURES = Path(__file__).parent.parent / "fixtures" / "utmp"
LOGON = datetime(2026, 3, 1, 7, 30, 15, 250000, tzinfo=UTC)
LOGON_TICKS = (int(LOGON.timestamp()) + 11_644_473_600) * 10**7 + 2_500_005  # 250 ms and 500 ns


def _utmp(folder: Path, text: str) -> Path:
    # scripts/services.sh (run by scripts/test.sh) installs util-linux when it is missing.
    utmpdump = shutil.which("utmpdump")
    assert utmpdump is not None, "utmpdump is missing: apt-get install util-linux"
    path = folder / "utmp"
    with path.open("wb") as out:
        subprocess.run(
            [utmpdump, "-r"], input=text.encode(), stdout=out, stderr=subprocess.DEVNULL, check=True
        )
    return path


def test_logins_from_a_real_utmp_file_start_and_end_sessions(tmp_path: Path) -> None:
    text = (FIXTURES / "logins.txt").read_text("utf-8")
    utmp = _utmp(tmp_path, text)
    options = {
        "utmp_file": str(utmp),
        "ignore": ["svc-backup"],
        "sign_in_required": ["labuser"],
        "state_dir": str(tmp_path / "state"),
    }
    driver = OsLoginDriver.from_options("logins", options)
    [reading] = driver.poll(at(7200))
    [start] = reading.sessions
    assert (start.event, start.user, start.ts) == (
        "start",
        "zhang",
        datetime(2026, 3, 1, 8, tzinfo=UTC),
    )
    assert reading.values["sign_in_required"] == "labuser"
    assert [list(r.sessions) for r in driver.poll(at(7300))] == [[]]  # nothing changed
    driver.commit()

    # zhang logs out while the agent is stopped: the next agent ends the session.
    _utmp(tmp_path, text.replace("[7] [01234]", "[8] [01234]"))
    restarted = OsLoginDriver.from_options("logins", options)
    [reading] = restarted.poll(at(9000))
    [end] = reading.sessions
    assert (end.event, end.session_id, end.ts, end.reason) == (
        "end",
        start.session_id,
        at(9000),
        "logged_out",
    )


def test_an_unreadable_utmp_file_is_a_read_error(tmp_path: Path) -> None:
    driver = OsLoginDriver.from_options("logins", {"utmp_file": str(tmp_path / "missing")})
    [reading] = driver.poll(at(0))
    assert reading.error is not None and "cannot list logins" in reading.error


class FakeWts:
    """The two WTS calls as Windows answers them: session 0 (services, no user), a console
    user, a disconnected Remote Desktop user, a listener."""

    def enumerate_sessions(self) -> list[tuple[int, str, int]]:
        return [(0, "Services", 4), (1, "Console", 0), (2, "RDP-Tcp#3", 4), (65536, "RDP-Tcp", 6)]

    def query(self, session_id: int, info_class: int) -> str:
        users = {1: ("nmr-user", "LAB"), 2: ("wang", "LAB"), 65536: ("", "")}
        user, domain = users.get(session_id, ("", ""))
        return {WTS_USER_NAME: user, WTS_DOMAIN_NAME: domain}[info_class]

    def logon_time(self, session_id: int) -> datetime | None:
        # The console user logged on before the agent started; Windows reports no time for
        # wang's session (0) and a clock error would be a time in the future.
        return {1: at(-5400), 2: None}.get(session_id, at(10**9))


def test_windows_sessions_through_the_wts_calls() -> None:
    assert wts_logins(FakeWts()) == [
        Login(user="nmr-user", line="Console", since=at(-5400), domain="LAB"),
        Login(user="wang", line="RDP-Tcp#3", domain="LAB"),
    ]
    driver = OsLoginDriver("logins", lister=lambda: wts_logins(FakeWts()))
    [reading] = driver.poll(at(0))
    # Dated from the logon (the user was there before the agent), or first sight without one.
    assert [(e.user, e.ts) for e in reading.sessions] == [
        ("nmr-user", at(-5400)),
        ("wang", at(0)),
    ]


def test_the_wtsinfo_layout_is_windows_own() -> None:
    """WTSINFOW as wtsapi32.h lays it out on x86 and x64 (WCHAR is 2 bytes there)."""
    assert ctypes.sizeof(WtsInfo) == 216
    assert WtsInfo.LogonTime.offset == 200 and WtsInfo.UserName.offset == 130
    assert from_filetime(0) is None
    # 2026-03-01 08:00 UTC in FILETIME ticks (11,644,473,600 s from 1601 to 1970).
    ticks = (int(datetime(2026, 3, 1, 8, tzinfo=UTC).timestamp()) + 11_644_473_600) * 10**7
    assert from_filetime(ticks) == datetime(2026, 3, 1, 8, tzinfo=UTC)


class FakeWtsapi32:
    """wtsapi32's three functions as C callbacks, so :class:`WtsApi`'s ctypes marshalling (out
    pointers, the session array, freeing) runs for real, on Linux (no Windows here)."""

    def __init__(self) -> None:
        self.keep: list[object] = []
        self.freed: list[int] = []
        out = ctypes.c_void_p
        self.WTSEnumerateSessionsW = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, out, out
        )(self._enumerate)
        self.WTSQuerySessionInformationW = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, out, out
        )(self._query)
        self.WTSFreeMemory = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(self._free)

    def _enumerate(
        self, server: int | None, reserved: int, version: int, info: int, count: int
    ) -> int:
        assert server is None and version == 1
        sessions = (_SessionInfo * 2)((0, "Services", 4), (1, "Console", 0))
        self.keep.append(sessions)
        ctypes.cast(info, ctypes.POINTER(ctypes.c_void_p))[0] = ctypes.addressof(sessions)
        ctypes.cast(count, ctypes.POINTER(ctypes.c_uint32))[0] = 2
        return 1

    def _query(
        self, server: int | None, session: int, info_class: int, buffer: int, size: int
    ) -> int:
        if info_class == WTS_SESSION_INFO:
            info = WtsInfo(State=0, SessionId=session, LogonTime=LOGON_TICKS if session else 0)
            self.keep.append(info)
            ctypes.cast(buffer, ctypes.POINTER(ctypes.c_void_p))[0] = ctypes.addressof(info)
            ctypes.cast(size, ctypes.POINTER(ctypes.c_uint32))[0] = ctypes.sizeof(info)
            return 1
        text = {(1, WTS_USER_NAME): "nmr-user", (1, WTS_DOMAIN_NAME): "LAB"}.get(
            (session, info_class), ""
        )
        value = ctypes.create_unicode_buffer(text)
        self.keep.append(value)
        ctypes.cast(buffer, ctypes.POINTER(ctypes.c_void_p))[0] = ctypes.addressof(value)
        ctypes.cast(size, ctypes.POINTER(ctypes.c_uint32))[0] = ctypes.sizeof(value)
        return 1

    def _free(self, address: int) -> None:
        self.freed.append(address)


def test_the_ctypes_wrapper_reads_what_wtsapi32_returns() -> None:
    dll = FakeWtsapi32()
    assert wts_logins(WtsApi(dll)) == [
        Login(user="nmr-user", line="Console", since=LOGON, domain="LAB")
    ]
    assert len(dll.freed) == 1 + 4  # the session array, each string and the WTSINFOW queried
