"""Open user sessions of one instrument, and closing the ones a user forgot (pure, no clock).

Theory of operation (issue 13). Sources report session starts and ends (:class:`SessionEvent`);
the tracker remembers which are open. Users forget to sign out, which would count the rest of
the day as their use; so a session is closed for them once the instrument has been ``off`` or
``idle`` for ``close_after_s`` without interruption while it was open. The end is dated when
that quiet spell began (the last moment the instrument was doing anything for the user, or the
session's start if later), and says ``reason = "forgot_sign_out"``. The user's own sign-out of
a session closed this way arrives later and is dropped, so it cannot stretch the session back
to the sign-out time. Both survive a restart (saved with the inference state).
``close_after_s = 0`` turns this off (an OS login on a PC where people really do stay logged
in while the instrument waits is still a session).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from jishi.drivers.base import SessionEvent
from jishi.states import InstrumentState

FORGOT_SIGN_OUT = "forgot_sign_out"
QUIET_STATES = frozenset({InstrumentState.OFF, InstrumentState.IDLE})
# How many closed session ids are remembered to drop late ends; old ones cannot come back.
_REMEMBER_CLOSED = 256


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A session that started and has not ended: its start event and the source that saw it."""

    start: SessionEvent
    source: str


class SessionTracker:
    """Open sessions of one instrument; :meth:`feed` filters events, :meth:`expire` closes."""

    def __init__(self, close_after_s: float = 0.0) -> None:
        self.close_after_s = close_after_s
        self.open: dict[str, OpenSession] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()

    def feed(self, event: SessionEvent, source: str) -> SessionEvent | None:
        """The event to send, or None: an end of a session already closed (by the tracker or
        twice by its source) is dropped; a start of an open session is sent again (a restart
        repeats it, and the collector keys sessions by id)."""
        if event.event == "start":
            self._closed.pop(event.session_id, None)
            self.open[event.session_id] = OpenSession(event, source)
            return event
        if event.session_id in self._closed:
            return None
        self.open.pop(event.session_id, None)
        self._remember(event.session_id)
        return event

    def expire(
        self, now: datetime, state: InstrumentState | None, since: datetime | None
    ) -> list[tuple[SessionEvent, str]]:
        """End events (with their source) for sessions left open while the instrument has been
        quiet since ``since`` for at least ``close_after_s`` at ``now``."""
        if self.close_after_s <= 0 or state not in QUIET_STATES or since is None:
            return []
        if now - since < timedelta(seconds=self.close_after_s):
            return []
        ended: list[tuple[SessionEvent, str]] = []
        for session_id, held in list(self.open.items()):
            quiet_from = max(since, held.start.ts)
            if now - quiet_from < timedelta(seconds=self.close_after_s):
                continue  # signed in during the quiet spell: give them the full time
            end = replace(held.start, ts=quiet_from, event="end", reason=FORGOT_SIGN_OUT)
            del self.open[session_id]
            self._remember(session_id)
            ended.append((end, held.source))
        return ended

    def snapshot(self) -> dict[str, Any]:
        """What survives a restart (with the inference state): the open sessions, so one a
        user forgot is still closed, and the ids closed here, so a late sign-out stays out."""
        return {
            "open": [
                {**asdict(held.start), "ts": held.start.ts.isoformat(), "source": held.source}
                for held in self.open.values()
            ],
            "closed": list(self._closed),
        }

    def restore(self, saved: Any) -> None:
        """Continue from a :meth:`snapshot`; anything unreadable is skipped."""
        if not isinstance(saved, dict):
            return
        for item in saved.get("open") or []:
            try:
                fields = {**item, "ts": datetime.fromisoformat(item["ts"])}
                source = fields.pop("source")
                self.open[fields["session_id"]] = OpenSession(SessionEvent(**fields), source)
            except (KeyError, TypeError, ValueError):
                continue
        for session_id in saved.get("closed") or []:
            if isinstance(session_id, str):
                self._remember(session_id)

    def _remember(self, session_id: str) -> None:
        self._closed[session_id] = None
        self._closed.move_to_end(session_id)
        while len(self._closed) > _REMEMBER_CLOSED:
            self._closed.popitem(last=False)
