"""Builds every message an agent or the firmware bridge sends: envelope, sequence and chain.

Theory of operation (DESIGN.md, "Wire protocol" and "Freshness, evidence and unknown time"):

* One :class:`Emitter` per process start (a *boot*). Each instrument gets its own ``boot_id``
  for this start (the agent's random id and a short digest of the instrument) and its own
  ``seq`` counter, so ``seq`` is strictly increasing per ``boot_id`` and has no gaps of other
  instruments' messages; the collector binds a boot to its instrument, so nobody can make an
  instrument's messages look like duplicates by reusing its boot id elsewhere. ``boot_at`` (the
  start) orders the boots of an instrument: a later boot is later knowledge.
* Every ``state`` and ``hb`` message names the ``seq`` of the same instrument's previous one
  (``prev_seq``). The chain lets the collector see that nothing was lost between two messages,
  which is what it needs to withdraw a Last Will the broker published while the agent went on
  observing (a broker restart, a network cut).
* A state message says when the state began (``since``), when the agent knew it (``ts``, the
  time of the poll that decided it) and, for a record with both ends, when it ended
  (``until``). A record read late therefore still covers the whole run it describes.

Pure: time is an argument, nothing is read or written; the lock only guards the counter, which
the links' threads use for births and wills.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from jishi.agent.inference import Transition
from jishi.agent.messages import (
    AgentHealth,
    Evidence,
    HeartbeatMessage,
    InstrumentState,
    MessageKind,
    Reading,
    SessionMessage,
    StateMessage,
    StatusMessage,
    UserType,
)

Message = StatusMessage | StateMessage | HeartbeatMessage | SessionMessage


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for one instrument, ready for its outbox (``seq`` for the outbox row)."""

    instrument: str
    site: str
    kind: MessageKind
    message: Message

    @property
    def seq(self) -> int:
        return self.message.seq


@dataclass(frozen=True, slots=True)
class Birth:
    """What a birth message tells about an instrument besides ``online: true``."""

    agent_version: str
    config_hash: str | None
    heartbeat_interval_s: float
    name: str | None = None
    unit: str | None = None
    category: str | None = None
    hostname: str | None = None


class Emitter:
    """Envelopes and messages of one boot; ``site`` and ``instrument`` are passed per call."""

    def __init__(self, *, boot_at: datetime, boot_id: str | None = None) -> None:
        self.boot_id = boot_id or uuid.uuid4().hex  # the process start; instruments derive theirs
        self.boot_at = boot_at
        self._next: dict[tuple[str, str], int] = {}
        self._prev: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def boot_of(self, site: str, instrument: str) -> str:
        """The ``boot_id`` of one instrument for this start."""
        digest = hashlib.sha256(f"{site}/{instrument}".encode()).hexdigest()[:8]
        return f"{self.boot_id}-{digest}"

    def _envelope(
        self, site: str, instrument: str, ts: datetime, *, chained: bool
    ) -> dict[str, Any]:
        key = (site, instrument)
        with self._lock:
            seq = self._next.get(key, 0)
            self._next[key] = seq + 1
            fields: dict[str, Any] = {
                "instrument": instrument,
                "site": site,
                "boot_id": self.boot_of(site, instrument),
                "boot_at": self.boot_at,
                "seq": seq,
                "ts": ts,
            }
            if chained:
                fields["prev_seq"] = self._prev.get(key)
                self._prev[key] = seq
        return fields

    def state(self, site: str, instrument: str, transition: Transition, now: datetime) -> Outgoing:
        """A decided change (or a closed record) known at ``now``."""
        message = StateMessage(
            **self._envelope(site, instrument, now, chained=True),
            state=transition.state,
            previous=transition.previous,
            since=transition.since,
            until=transition.until,
            evidence=Evidence.RECORD if transition.record else Evidence.READING,
            source=transition.source,
            reason=transition.reason,
            readings=dict(transition.readings),
        )
        return Outgoing(instrument, site, MessageKind.STATE, message)

    def heartbeat(
        self,
        site: str,
        instrument: str,
        *,
        ts: datetime,
        state: InstrumentState,
        since: datetime,
        interval_s: float,
        readings: Mapping[str, Reading],
        health: AgentHealth,
    ) -> Outgoing:
        message = HeartbeatMessage(
            **self._envelope(site, instrument, ts, chained=True),
            state=state,
            since=since,
            interval_s=interval_s,
            readings=dict(readings),
            health=health,
        )
        return Outgoing(instrument, site, MessageKind.HEARTBEAT, message)

    def session(
        self,
        site: str,
        instrument: str,
        *,
        ts: datetime,
        event: str,
        session_id: str,
        user: str | None = None,
        org: str | None = None,
        user_type: UserType | str | None = None,
        source: str | None = None,
        reason: str | None = None,
        outcome: str | None = None,
        sample_count: int | None = None,
    ) -> Outgoing:
        known_type = user_type if user_type in set(UserType) else None
        message = SessionMessage(
            **self._envelope(site, instrument, ts, chained=False),
            event="start" if event == "start" else "end",
            session_id=session_id,
            user=user,
            org=org,
            user_type=UserType(known_type) if known_type else None,
            source=source,
            reason=reason,
            outcome="fault" if outcome == "fault" else "normal" if outcome == "normal" else None,
            sample_count=sample_count,
        )
        return Outgoing(instrument, site, MessageKind.SESSION, message)

    def birth(self, site: str, instrument: str, now: datetime, about: Birth) -> Outgoing:
        message = StatusMessage(
            **self._envelope(site, instrument, now, chained=False),
            online=True,
            **asdict(about),  # Birth's fields are the status message's, by name
        )
        return Outgoing(instrument, site, MessageKind.STATUS, message)

    def offline(self, site: str, instrument: str, now: datetime) -> Outgoing:
        """The Last Will registered on connect, and the goodbye of a clean stop."""
        message = StatusMessage(
            **self._envelope(site, instrument, now, chained=False), online=False
        )
        return Outgoing(instrument, site, MessageKind.STATUS, message)
