"""Logins on Windows through the WTS session API (wtsapi32.dll) with ctypes, no pywin32.

``WTSEnumerateSessionsW`` lists the sessions of this PC (console and Remote Desktop);
``WTSQuerySessionInformationW`` gives each one's user (``WTSUserName`` = 5) and domain
(``WTSDomainName`` = 7). A session whose state is ``WTSActive`` (0) or ``WTSDisconnected`` (4,
a user who switched away but is still logged in) with a user name is a login. The logon time is
not asked for (``WTSSessionInfo`` differs between Windows versions); the driver dates a login
from when it first saw it. :func:`wts_logins` takes anything with the two calls, so tests run
it against a fake: no Windows runs here.
"""

from __future__ import annotations

import ctypes
from typing import Any, Protocol

from jishi.drivers.os_logins import Login

WTS_USER_NAME = 5
WTS_DOMAIN_NAME = 7
LOGGED_IN_STATES = {0: "active", 4: "disconnected"}


class WtsCalls(Protocol):
    """The two WTS calls :func:`wts_logins` needs."""

    def enumerate_sessions(self) -> list[tuple[int, str, int]]:
        """(session id, window station name, connect state) of every session."""
        ...

    def query(self, session_id: int, info_class: int) -> str: ...


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
        logins.append(Login(user=user, line=line, since=None, domain=domain))
    return logins


class _SessionInfo(ctypes.Structure):
    _fields_ = [
        ("SessionId", ctypes.c_uint32),
        ("pWinStationName", ctypes.c_wchar_p),
        ("State", ctypes.c_int),
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

    def query(self, session_id: int, info_class: int) -> str:
        buffer = ctypes.c_wchar_p()
        size = ctypes.c_uint32()
        ok = self._dll.WTSQuerySessionInformationW(
            None,
            session_id,
            info_class,
            ctypes.addressof(buffer),
            ctypes.addressof(size),
        )
        if not ok:
            return ""
        try:
            return buffer.value or ""
        finally:
            self._dll.WTSFreeMemory(ctypes.cast(buffer, ctypes.c_void_p))
