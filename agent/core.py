"""The agent's pure core: readings and the time in, messages out; no I/O, no clock.

Theory of operation. One :class:`InstrumentCore` per instrument keeps what the agent knows
about it: the :class:`StateInferrer`, what each source last read, when the next heartbeat is
due, whether the sources have gone silent, and a record's state to say again after a restart.
The shell (:mod:`jishi.agent.runtime`) polls the drivers, hands their readings over with the
time (:meth:`InstrumentCore.poll`), stores the messages that come back in the outbox, and only
then lets the drivers forget what they read. For heartbeats it passes the outbox's figures in
(:meth:`InstrumentCore.heartbeat`); it never lets the core read them itself.

The heartbeat rules that the firmware bridge shares (when one is due, what it says, the health
it carries) are the module-level functions; the silence rule is the agent's own (the bridge
judges silence per sensor node).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from jishi.agent.emitter import Emitter, Outgoing
from jishi.agent.inference import Rules, StateInferrer, Transition
from jishi.agent.messages import AgentHealth, InstrumentState, SourceHealth
from jishi.agent.sessions import SessionTracker
from jishi.drivers.base import Reading, SessionEvent

log = logging.getLogger(__name__)

# Heartbeat times: monotonic seconds in the agent, datetimes in the bridge.
T = TypeVar("T", float, datetime)


# --- shared with the firmware bridge -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxFigures:
    """What the shell read from an instrument's outbox, for the heartbeat's health."""

    depth: int = 0
    oldest_unsent_s: float | None = None
    dropped: int = 0
    held_in_memory: int = 0  # messages the outbox could not write yet (full disk)

    @classmethod
    def at(
        cls,
        *,
        depth: int,
        oldest_created: float | None,
        dropped: int,
        now: float,
        held_in_memory: int = 0,
    ) -> OutboxFigures:
        """From the outbox's statistics; ``now`` on the clock of its rows' ``created``."""
        oldest = None if oldest_created is None else round(now - oldest_created, 3)
        return cls(
            depth=depth, oldest_unsent_s=oldest, dropped=dropped, held_in_memory=held_in_memory
        )


def agent_health(
    figures: OutboxFigures, sources: Mapping[str, SourceHealth], *, clock_jumps: int = 0
) -> AgentHealth:
    """The self-health a heartbeat carries: outbox figures and every source's reads."""
    good = [s.last_good_read for s in sources.values() if s.last_good_read is not None]
    return AgentHealth(
        outbox_depth=figures.depth,
        oldest_unsent_s=figures.oldest_unsent_s,
        dropped=figures.dropped,
        held_in_memory=figures.held_in_memory,
        last_good_read=max(good) if good else None,
        read_errors=sum(s.read_errors for s in sources.values()),
        clock_jumps=clock_jumps,
        sources=dict(sources),
    )


def heartbeat_due(state: InstrumentState | None, next_at: T | None, now: T) -> bool:
    """Due once the instrument has a state and ``next_at`` has come (None: at once). Without
    a state there is no heartbeat, so the collector keeps the instrument unknown."""
    return state is not None and (next_at is None or now >= next_at)


class Beating(Protocol):
    """What a heartbeat is made from: an instrument's identity, inference and interval (the
    agent's :class:`InstrumentCore` and the bridge's instruments)."""

    site: str
    inferrer: StateInferrer
    heartbeat_s: float

    @property
    def id(self) -> str: ...


def heartbeat(
    emitter: Emitter, inst: Beating, *, now: datetime, health: AgentHealth
) -> Outgoing | None:
    """What a heartbeat says: the state held now, since when, the latest readings.

    Also while a new state waits out ``min_dwell_s``: if that state is accepted, its message
    (dated from when it began, and later knowledge) overrides this one from then on."""
    inferrer = inst.inferrer
    if inferrer.state is None:
        return None
    return emitter.heartbeat(
        inst.site,
        inst.id,
        ts=now,
        state=inferrer.state,
        since=inferrer.since or now,
        interval_s=inst.heartbeat_s,
        readings=inferrer.readings,
        health=health,
    )


# --- the agent's own rules ---------------------------------------------------------------


def silence_after(heartbeat_s: float, poll_s: float) -> float:
    """How long without a good read before the agent stops vouching for the state: two
    heartbeats or three polls, whichever is longer."""
    return max(2 * heartbeat_s, 3 * poll_s)


def sources_silent(
    last_good_reads: Iterable[datetime | None], now: datetime, *, heartbeat_s: float, poll_s: float
) -> bool:
    """True when no source has read well for :func:`silence_after`: the agent no longer knows
    the state, so it stops heartbeats and the collector derives ``unknown`` (DESIGN.md:
    unknown is never carried forward)."""
    good = [t for t in last_good_reads if t is not None]
    if not good:
        return True
    return (now - max(good)).total_seconds() > silence_after(heartbeat_s, poll_s)


@dataclass
class SourceFigures:
    """What one source's reads amounted to: for health, silence and the status file."""

    name: str
    last_good_read: datetime | None = None
    read_errors: int = 0
    last_error: str | None = None
    last_values: dict[str, Any] = field(default_factory=dict)
    last_raw: str | None = None

    def observe(self, reading: Reading) -> None:
        if reading.ok:
            if reading.vouches:
                self.last_good_read = reading.ts
            self.last_values.update(reading.values)
            self.last_raw = reading.raw
        else:
            self.read_errors += 1
            self.last_error = reading.error

    def health(self) -> SourceHealth:
        return SourceHealth(
            last_good_read=self.last_good_read,
            read_errors=self.read_errors,
            last_error=self.last_error,
        )


class InstrumentCore:
    """One instrument's state machine; every method takes the time it should think it is."""

    def __init__(
        self,
        *,
        instrument: str,
        site: str,
        rules: Rules,
        heartbeat_s: float,
        poll_s: float,
        sources: Sequence[str],
        emitter: Emitter,
        session_close_after_s: float = 0.0,
    ) -> None:
        self.id = instrument
        self.site = site
        self.inferrer = StateInferrer(rules)
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.sources = {name: SourceFigures(name) for name in sources}
        self.emitter = emitter
        self.sessions = SessionTracker(session_close_after_s)
        self.next_heartbeat = 0.0  # on the caller's monotonic clock
        self.silent = False
        self.resumed: Transition | None = None  # a record's state to say again after a restart
        self._saved: str | None = None  # the inference snapshot last saved

    # --- restart ---------------------------------------------------------------------------

    def restore(self, saved: str | None) -> None:
        """Continue from the inference state saved before a restart (see :meth:`to_save`), so
        a log event waiting out ``min_dwell_s`` is not forgotten. A state that came from a
        record is said again at the first poll: the record holds across the downtime."""
        if saved is None:
            return
        try:
            data = json.loads(saved)
            self.inferrer.restore(data)
            self.sessions.restore(data.get("sessions"))
        except (ValueError, TypeError, AttributeError):
            log.warning("%s: ignoring an unreadable saved inference state", self.id)
            return
        self._saved = saved
        self.resumed = self.inferrer.resumed()
        if self.inferrer.state is not None:
            since = self.inferrer.since.isoformat() if self.inferrer.since else "?"
            log.info(
                "%s: continuing from saved state %s since %s",
                self.id,
                self.inferrer.state.value,
                since,
            )

    def to_save(self) -> str | None:
        """The inference state to persist when it changed since it was last saved, else None;
        the shell calls :meth:`saved` once it is durable."""
        state = {**self.inferrer.snapshot(), "sessions": self.sessions.snapshot()}
        snapshot = json.dumps(state, sort_keys=True)
        return None if snapshot == self._saved else snapshot

    def saved(self, snapshot: str) -> None:
        self._saved = snapshot

    # --- polls -----------------------------------------------------------------------------

    def poll(
        self, now: datetime, polled: Sequence[tuple[str, Sequence[Reading]]]
    ) -> list[Outgoing]:
        """What one poll's readings (per source name) mean, known at ``now``: state messages
        for the transitions they caused, then session messages, in ``seq`` order."""
        out: list[Outgoing] = []
        if self.resumed is not None:
            # The record this state came from still holds: say so for the time the agent was
            # down, before anything newer.
            out.append(self.emitter.state(self.site, self.id, self.resumed, now))
            self.resumed = None
        readings: list[Reading] = []
        for name, got in polled:
            figures = self.sources.setdefault(name, SourceFigures(name))
            for reading in got:
                figures.observe(reading)
            readings.extend(got)
        for reading in readings:
            transitions = self.inferrer.feed(reading)
            out.extend(self.emitter.state(self.site, self.id, t, now) for t in transitions)
        for name, got in polled:
            for reading in got:
                for event in reading.sessions:
                    kept = self.sessions.feed(event, name)
                    if kept is not None:
                        out.append(self._session(kept, name))
        inferrer = self.inferrer
        for event, name in self.sessions.expire(now, inferrer.state, inferrer.since):
            log.info("%s: session %s closed: %s", self.id, event.session_id, event.reason)
            out.append(self._session(event, name))
        return out

    def _session(self, event: SessionEvent, source: str) -> Outgoing:
        # A source's session event carries the message's fields by name.
        return self.emitter.session(self.site, self.id, **asdict(event), source=source)

    # --- heartbeats ------------------------------------------------------------------------

    def heartbeat_due(self, mono: float) -> bool:
        return heartbeat_due(self.inferrer.state, self.next_heartbeat, mono)

    def next_wake(self) -> float:
        """When a heartbeat may next be due (infinity while there is no state to report)."""
        return self.next_heartbeat if self.inferrer.state is not None else float("inf")

    def heartbeat(
        self, now: datetime, mono: float, figures: OutboxFigures, *, clock_jumps: int = 0
    ) -> Outgoing | None:
        """The heartbeat due at ``mono`` (wall time ``now``), or None while the sources are
        silent; the next one is due a heartbeat interval later either way."""
        self.next_heartbeat = mono + self.heartbeat_s
        last_reads = (s.last_good_read for s in self.sources.values())
        silent = sources_silent(last_reads, now, heartbeat_s=self.heartbeat_s, poll_s=self.poll_s)
        if silent != self.silent:
            self.silent = silent
            if silent:
                log.warning(
                    "%s: no good read from any source for a while; heartbeats paused so the "
                    "collector shows unknown (see 'jishi agent status')",
                    self.id,
                )
            else:
                log.info("%s: sources read again; heartbeats resumed", self.id)
        if silent:
            return None
        health = agent_health(
            figures,
            {name: s.health() for name, s in self.sources.items()},
            clock_jumps=clock_jumps,
        )
        return heartbeat(self.emitter, self, now=now, health=health)
