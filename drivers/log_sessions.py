"""Sessions from log records that name the user (pure; issue 13).

Two ways a log says who used the instrument:

* **a session per run**: a record whose rules capture a ``user`` group and give a run's two
  ends (TopSpin's audit entry: ``<NMRLAB\\nmr-user>`` with ``started at`` and its own time) is
  one session from the run's start to its end;
* **sign-in / sign-out pairs**: rules with ``session = "start"`` / ``"end"`` (and a ``user``
  group on the start) open and close a session, e.g. ``operator=wang logged in`` in a home-made
  log. An end without a user closes whoever is signed in; a start while someone is signed in
  ends their session first.

Session ids come from the source, the user and the start time, so a record read again after a
restart gives the same id (the collector keys sessions by id).
"""

from __future__ import annotations

from collections.abc import Sequence

from jishi.drivers.base import SessionEvent
from jishi.drivers.log_rules import Match


def _session_id(source: str, user: str, start: Match) -> str:
    return f"{source}-{user}-{start.ts.strftime('%Y%m%dT%H%M%S')}"[:128]


class LogSessions:
    """Turns each record's matches into session events; remembers the signed-in user."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.open: tuple[str, str] | None = None  # (session id, user) of a sign-in pair

    def record(self, matches: Sequence[Match]) -> list[SessionEvent]:
        """The session events of one record's matches (in time order)."""
        if not matches:
            return []
        paired = [m for m in matches if m.session is not None]
        if paired:
            return [e for m in sorted(paired, key=lambda m: m.ts) for e in self._pair(m)]
        users = [m.user for m in matches if m.user]
        if not users:
            return []
        first = min(matches, key=lambda m: m.ts)
        end = max(m.until or m.ts for m in matches)
        if end <= first.ts:
            return []  # a record naming one instant: no span to attribute
        sid = _session_id(self.source, users[0], first)
        return [
            SessionEvent(first.ts, "start", sid, user=users[0]),
            SessionEvent(end, "end", sid, user=users[0]),
        ]

    def _pair(self, match: Match) -> list[SessionEvent]:
        events = []
        if self.open is not None and (
            match.session == "start" or match.user in (None, self.open[1])
        ):
            events.append(SessionEvent(match.ts, "end", self.open[0], user=self.open[1]))
            self.open = None
        if match.session == "start" and match.user:
            sid = _session_id(self.source, match.user, match)
            self.open = (sid, match.user)
            events.append(SessionEvent(match.ts, "start", sid, user=match.user))
        return events
