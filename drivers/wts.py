"""Logins on Windows through the WTS session API (wtsapi32.dll) with ctypes, no pywin32.

``WTSEnumerateSessionsW`` lists the sessions of this PC (console and Remote Desktop);
``WTSQuerySessionInformationW`` gives each one's user (``WTSUserName`` = 5), domain
(``WTSDomainName`` = 7) and logon time (``WTSSessionInfo`` = 24, a ``WTSINFOW`` whose
``LogonTime`` is a FILETIME: 100 ns ticks since 1601-01-01 UTC). A session whose state is
``WTSActive`` (0) or ``WTSDisconnected`` (4, a user who switched away but is still logged in)
with a user name is a login, dated from its logon time, so a login made before the agent
started counts from when the user logged on (Windows 7's defect in ``WTSINFOW.State`` does not
matter: the state comes from the enumeration, and Python 3.11 does not run there anyway).
:func:`wts_logins` takes anything with these calls, so tests run it against a fake: no
Windows runs here.
"""

from __future__ import annotations

import ctypes
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from jishi.drivers.os_logins import Login

WTS_USER_NAME = 5
WTS_DOMAIN_NAME = 7
WTS_SESSION_INFO = 24
FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
LOGGED_IN_STATES = {0: "active", 4: "disconnected"}


class WtsCalls(Protocol):
    """The two WTS calls :func:`wts_logins` needs."""

    def enumerate_sessions(self) -> list[tuple[int, str, int]]:
        """(session id, window station name, connect state) of every session."""
        ...

    def query(self, session_id: int, info_class: int) -> str: ...

    def logon_time(self, session_id: int) -> datetime | None:
        """When the session's user logged on (None: not known)."""
        ...


def wts_logins(api: WtsCalls) -> list[Login]:
    """The logged-in users of this PC. Raises OSError when the API fails."""
    logins = []
    for session_id, station, state in api.enumerate_sessions():
        if state not in LOGGED_IN_STATES:
            continue
        user = api.query(session_id, WTS_USER_NAME)
        if not user:
            continue  # the services session 0, a logon screen
        domain = api.query(session_id, WTS_DOMAIN_NAME) or None
        line = station or f"session-{session_id}"
        since = _plausible(api.logon_time(session_id))
        logins.append(Login(user=user, line=line, since=since, domain=domain))
    return logins


def _plausible(since: datetime | None) -> datetime | None:
    """A logon time that can be true: after 2000 and not in the future (else first sight)."""
    if since is None or since.year < 2000 or since > datetime.now(UTC) + timedelta(minutes=5):
        return None
    return since


def from_filetime(ticks: int) -> datetime | None:
    """A FILETIME (100 ns since 1601-01-01 UTC) as a datetime; 0 means not set."""
    if ticks <= 0:
        return None
    return FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


class _SessionInfo(ctypes.Structure):
    _fields_ = [
        ("SessionId", ctypes.c_uint32),
        ("pWinStationName", ctypes.c_wchar_p),
        ("State", ctypes.c_int),
    ]


_WCHAR = ctypes.c_uint16  # UTF-16 as on Windows, so the layout is the same on any platform


class WtsInfo(ctypes.Structure):
    """``WTSINFOW`` (wtsapi32.h): 216 bytes, ``LogonTime`` at offset 200."""

    _fields_ = [
        ("State", ctypes.c_int),
        ("SessionId", ctypes.c_uint32),
        ("IncomingBytes", ctypes.c_uint32),
        ("OutgoingBytes", ctypes.c_uint32),
        ("IncomingFrames", ctypes.c_uint32),
        ("OutgoingFrames", ctypes.c_uint32),
        ("IncomingCompressedBytes", ctypes.c_uint32),
        ("OutgoingCompressedBytes", ctypes.c_uint32),
        ("WinStationName", _WCHAR * 32),
        ("Domain", _WCHAR * 17),
        ("UserName", _WCHAR * 21),
        ("ConnectTime", ctypes.c_int64),
        ("DisconnectTime", ctypes.c_int64),
        ("LastInputTime", ctypes.c_int64),
        ("LogonTime", ctypes.c_int64),
        ("CurrentTime", ctypes.c_int64),
    ]


class WtsApi:
    """wtsapi32 through ctypes (Windows only: constructing it elsewhere raises OSError)."""

    def __init__(self, dll: Any = None) -> None:
        if dll is None:
            windll: Any = getattr(ctypes, "windll", None)
            if windll is None:
                raise OSError("the WTS session API exists only on Windows")
            dll = windll.wtsapi32
        self._dll: Any = dll  # tests pass C callbacks standing in for wtsapi32
        # Declared so the server handle (NULL) and out-pointers are passed pointer-sized.
        handle, dword, out = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p
        self._dll.WTSEnumerateSessionsW.argtypes = [handle, dword, dword, out, out]
        self._dll.WTSEnumerateSessionsW.restype = ctypes.c_int
        self._dll.WTSQuerySessionInformationW.argtypes = [handle, dword, ctypes.c_int, out, out]
        self._dll.WTSQuerySessionInformationW.restype = ctypes.c_int
        self._dll.WTSFreeMemory.argtypes = [ctypes.c_void_p]
        self._dll.WTSFreeMemory.restype = None

    def enumerate_sessions(self) -> list[tuple[int, str, int]]:
        info = ctypes.POINTER(_SessionInfo)()
        count = ctypes.c_uint32()
        ok = self._dll.WTSEnumerateSessionsW(
            None, 0, 1, ctypes.addressof(info), ctypes.addressof(count)
        )
        if not ok:
            raise OSError("WTSEnumerateSessionsW failed")
        try:
            return [
                (info[i].SessionId, info[i].pWinStationName or "", info[i].State)
                for i in range(count.value)
            ]
        finally:
            self._dll.WTSFreeMemory(ctypes.cast(info, ctypes.c_void_p))

    def _query(self, session_id: int, info_class: int) -> tuple[int, int] | None:
        """The address and size of what the call returned (None: it failed); the caller
        frees it with ``WTSFreeMemory``."""
        buffer = ctypes.c_void_p()
        size = ctypes.c_uint32()
        ok = self._dll.WTSQuerySessionInformationW(
            None,
            session_id,
            info_class,
            ctypes.addressof(buffer),
            ctypes.addressof(size),
        )
        if not ok or not buffer.value:
            return None
        return buffer.value, size.value

    def query(self, session_id: int, info_class: int) -> str:
        got = self._query(session_id, info_class)
        if got is None:
            return ""
        try:
            return ctypes.wstring_at(got[0]) if got[1] else ""
        finally:
            self._dll.WTSFreeMemory(got[0])

    def logon_time(self, session_id: int) -> datetime | None:
        got = self._query(session_id, WTS_SESSION_INFO)
        if got is None:
            return None
        try:
            if got[1] < ctypes.sizeof(WtsInfo):
                return None  # not the structure this code knows
            return from_filetime(WtsInfo.from_address(got[0]).LogonTime)
        finally:
            self._dll.WTSFreeMemory(got[0])
