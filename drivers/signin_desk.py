"""The sign-in point's state machine (pure): sign-ins, sign-outs and card swipes in, session
events out. One user at a time is signed in at an instrument.

Rules (issue 13; the Chinese platforms' 上机 clients work the same way):

* ``sign-in`` of an account opens a session; if someone else was signed in, their session
  ends first (``reason = "replaced"``); signing in again while signed in changes nothing.
* ``sign-out`` ends the session (of that account, or of whoever is signed in when no account
  is given) with the feedback given: ``outcome`` normal/fault (正常/故障), ``sample_count``.
* a ``card`` swipe (a serial card reader) signs its card in, or out if it is the one signed in.

Session ids come from the request's time and the source name, so requests read again after a
crash give the same ids (the collector keys sessions by id).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from jishi.drivers.base import SessionEvent

# The wire's bound on a session's sample count (jishi.agent.wire.SessionMessage): a larger one
# is refused here, at the desk, rather than dead-lettered by the collector.
MAX_SAMPLES = 1_000_000

ACTIONS = ("sign-in", "sign-out", "card")
OUTCOMES = ("normal", "fault")


@dataclass(frozen=True, slots=True)
class Request:
    """One action at the sign-in point (a spool file, a card swipe)."""

    ts: datetime
    action: str
    account: str | None = None
    user_type: str | None = None
    org: str | None = None
    outcome: str | None = None
    sample_count: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ts": self.ts.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        """Raises ValueError (or KeyError / TypeError) on a malformed request."""
        action = data["action"]
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        ts = datetime.fromisoformat(data["ts"])
        if ts.tzinfo is None:
            raise ValueError("the request time has no time zone")
        outcome = data.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        samples = data.get("sample_count")
        if samples is not None and (
            isinstance(samples, bool)
            or not isinstance(samples, int)
            or not 0 <= samples <= MAX_SAMPLES
        ):
            raise ValueError(f"bad sample_count {samples!r} (0 to {MAX_SAMPLES})")
        text = {k: data.get(k) for k in ("account", "user_type", "org")}
        if any(v is not None and not isinstance(v, str) for v in text.values()):
            raise ValueError("account, user_type and org must be text")
        return cls(ts, action, outcome=outcome, sample_count=samples, **text)


@dataclass(frozen=True, slots=True)
class Active:
    """Who is signed in now, under which session id."""

    session_id: str
    account: str
    ts: str  # ISO time of the sign-in
    user_type: str | None = None
    org: str | None = None


class SignInDesk:
    """One instrument's sign-in point; :meth:`apply` a request, persist :attr:`active`."""

    def __init__(self, source: str, active: Active | None = None) -> None:
        self.source = source
        self.active = active

    def apply(self, req: Request) -> list[SessionEvent]:
        if req.action == "card":
            if req.account is None:
                return []
            same = self.active is not None and self.active.account == req.account
            return self._sign_out(req) if same else self._sign_in(req)
        if req.action == "sign-in":
            return self._sign_in(req)
        return self._sign_out(req)

    def _sign_in(self, req: Request) -> list[SessionEvent]:
        if req.account is None or (self.active and self.active.account == req.account):
            return []
        events = self._end(req.ts, reason="replaced") if self.active else []
        digest = hashlib.sha1(req.account.encode(), usedforsecurity=False).hexdigest()[:8]
        session_id = f"{self.source}-{req.ts.strftime('%Y%m%dT%H%M%S%f')}-{digest}"
        self.active = Active(session_id, req.account, req.ts.isoformat(), req.user_type, req.org)
        events.append(self._event(req.ts, "start"))
        return events

    def _sign_out(self, req: Request) -> list[SessionEvent]:
        if self.active is None or (req.account and req.account != self.active.account):
            return []
        return self._end(req.ts, outcome=req.outcome, sample_count=req.sample_count)

    def _end(self, ts: datetime, **feedback: Any) -> list[SessionEvent]:
        event = self._event(ts, "end", **feedback)
        self.active = None
        return [event]

    def _event(self, ts: datetime, kind: str, **extra: Any) -> SessionEvent:
        assert self.active is not None
        a = self.active
        return SessionEvent(
            ts=ts,
            event=kind,
            session_id=a.session_id,
            user=a.account,
            org=a.org,
            user_type=a.user_type,
            **extra,
        )

    def snapshot(self) -> dict[str, Any] | None:
        return asdict(self.active) if self.active else None

    def restore(self, saved: Any) -> None:
        if isinstance(saved, dict):
            try:
                self.active = Active(**saved)
            except TypeError:
                self.active = None
