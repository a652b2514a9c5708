"""The ``os-logins`` source: who is logged in at the instrument PC, as sessions.

Each poll lists the interactive logins (:mod:`jishi.drivers.utmp` on Linux, the WTS session
API on Windows through :mod:`jishi.drivers.wts`) and compares them with the previous poll: a
new login starts a session (dated from the login time when the system records it), a login
gone ends it. Accounts in ``ignore`` (service accounts) give no session; accounts in
``sign_in_required`` (a shared lab account) give none either, because who really used the
instrument comes from the sign-in point (``signin`` source), and ``check`` says so.

The open logins are saved in the state dir at :meth:`commit` (after the messages are durable),
so a login that ended while the agent was stopped is ended at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jishi.drivers.base import Reading, SessionEvent
from jishi.drivers.options import Options

log = logging.getLogger(__name__)
STATE_FILE = "os-logins.json"


@dataclass(frozen=True, slots=True)
class Login:
    """One interactive login: account, terminal or session, when it began (if known)."""

    user: str
    line: str
    since: datetime | None = None
    domain: str | None = None

    @property
    def key(self) -> str:
        return f"{self.user}@{self.line}"


Lister = Callable[[], list[Login]]


def default_lister(utmp_path: Path | None, platform: str = sys.platform) -> Lister:
    """The platform's way of listing logins (a utmp file if one is given)."""
    if utmp_path is not None or platform != "win32":
        from jishi.drivers.utmp import read_logins

        path = utmp_path or Path("/var/run/utmp")
        return lambda: read_logins(path)
    from jishi.drivers.wts import WtsApi, wts_logins

    api = WtsApi()
    return lambda: wts_logins(api)


class OsLoginDriver:
    """Interactive logins as session events; ``lister`` is injectable (tests, other OSes)."""

    def __init__(
        self,
        name: str,
        *,
        lister: Lister,
        ignore: Sequence[str] = (),
        sign_in_required: Sequence[str] = (),
        state_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.lister = lister
        self.ignore = {a.lower() for a in ignore}
        self.sign_in_required = {a.lower() for a in sign_in_required}
        self.state_dir = state_dir
        self.open: dict[str, dict[str, Any]] = self._restore()

    @classmethod
    def from_options(cls, name: str, raw: Mapping[str, Any]) -> OsLoginDriver:
        opts = Options(name, raw)
        utmp = opts.path("utmp_file")
        driver = cls(
            name,
            lister=default_lister(utmp),
            ignore=opts.str_list("ignore"),
            sign_in_required=opts.str_list("sign_in_required"),
            state_dir=opts.state_dir(),
        )
        opts.check_unused()
        return driver

    def _restore(self) -> dict[str, dict[str, Any]]:
        if self.state_dir is None:
            return {}
        try:
            saved = json.loads((self.state_dir / STATE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def _counts(self, login: Login) -> bool:
        user = login.user.lower()
        bare = user.rsplit("\\", 1)[-1]
        return not ({user, bare} & (self.ignore | self.sign_in_required))

    def poll(self, now: datetime) -> Sequence[Reading]:
        try:
            logins = self.lister()
        except OSError as exc:
            return [Reading(ts=now, error=f"cannot list logins: {exc}")]
        current = {login.key: login for login in logins if self._counts(login)}
        events: list[SessionEvent] = []
        for key, held in list(self.open.items()):
            if key not in current:
                events.append(self._event(now, "end", held, reason="logged_out"))
                del self.open[key]
        for key, login in current.items():
            if key not in self.open:
                since = login.since or now
                stamp = int(since.timestamp())
                held = {"id": f"{self.name}-{login.user}-{login.line}-{stamp}", "user": login.user}
                self.open[key] = held
                events.append(self._event(since, "start", held))
        shared = sorted({x.user for x in logins if x.user.lower() in self.sign_in_required})
        raw = "logged in: " + (", ".join(sorted(x.key for x in logins)) or "nobody")
        values = {"logins": len(current), "sign_in_required": ", ".join(shared) or None}
        return [Reading(ts=now, values=values, raw=raw, sessions=events, vouches=False)]

    def _event(
        self, ts: datetime, kind: str, held: Mapping[str, Any], **extra: Any
    ) -> SessionEvent:
        return SessionEvent(
            ts=ts, event=kind, session_id=str(held["id"])[:128], user=held["user"], **extra
        )

    def commit(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.open), "utf-8")
        os.replace(temporary, path)

    def close(self) -> None:
        """Nothing held open."""
