"""The agent's main loop: poll sources, infer states, enqueue messages, keep links alive.

Theory of operation. One thread polls every instrument's sources on its poll interval, feeds
the readings to that instrument's :class:`StateInferrer` and writes a ``state`` message to the
durable outbox at every transition (``since`` when the instrument changed, ``ts`` when we knew),
``session`` messages for sessions the sources saw, and a ``hb`` every heartbeat interval. One
:class:`Link` thread per instrument publishes its outbox. The messages themselves are built by
the pure :class:`jishi.agent.emitter.Emitter` (envelope, ``seq``, the per-instrument chain).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jishi.agent.config import AgentConfig, InstrumentConfig
from jishi.agent.emitter import Birth, Emitter, Outgoing
from jishi.agent.inference import StateInferrer, Transition
from jishi.agent.link import Link, LinkTimings, default_client_id, hostname
from jishi.agent.outbox import Outbox, OutboxFullError
from jishi.agent.paths import DataDirLock
from jishi.agent.wire import (
    AgentHealth,
    InstrumentState,
    MessageKind,
    SourceHealth,
    build_topic,
    encode,
)
from jishi.drivers.base import Committable, Driver, Reading
from jishi.drivers.registry import create

from jishi import __version__

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
OUTBOX_FILE = "outbox.sqlite"
# A wall-clock step larger than this between two loop ticks (against the monotonic clock)
# is counted as a clock jump (NTP correction, manual change, VM resume).
CLOCK_JUMP_S = 2.0


@dataclass
class SourceState:
    name: str
    driver: Driver
    last_good_read: datetime | None = None
    read_errors: int = 0
    last_error: str | None = None
    last_values: dict[str, Any] = field(default_factory=dict)
    last_raw: str | None = None

    def health(self) -> SourceHealth:
        return SourceHealth(
            last_good_read=self.last_good_read,
            read_errors=self.read_errors,
            last_error=self.last_error,
        )


@dataclass
class InstrumentRuntime:
    config: InstrumentConfig
    site: str
    sources: list[SourceState]
    inferrer: StateInferrer
    heartbeat_s: float
    poll_s: float
    next_poll: float = 0.0
    next_heartbeat: float = 0.0
    link: Link | None = None
    silent: bool = False
    saved_snapshot: str | None = None
    resumed: Transition | None = None  # a record's state to say again after a restart

    @property
    def id(self) -> str:
        return self.config.id


def build_sources(
    instrument: InstrumentConfig, state_dir: Path | None = None, config_dir: Path | None = None
) -> list[SourceState]:
    """Create the drivers of one instrument (opening nothing until the first poll).

    Drivers that keep state (log offsets) get ``state_dir`` in the agent's data dir; relative
    paths in options are resolved against ``config_dir``, the config file's folder."""
    sources = []
    for name, source in zip(instrument.source_names(), instrument.all_sources(), strict=True):
        options = source.options
        if state_dir is not None and "state_dir" not in options:
            options = {**options, "state_dir": str(state_dir / instrument.id / name)}
        if config_dir is not None and "config_dir" not in options:
            options = {**options, "config_dir": str(config_dir)}
        sources.append(SourceState(name=name, driver=create(source.driver, name, options)))
    return sources


def poll_sources(runtime_sources: list[SourceState], now: datetime) -> list[Reading]:
    """Poll every source once; failures become error readings and are counted."""
    readings: list[Reading] = []
    for source in runtime_sources:
        try:
            got = list(source.driver.poll(now))
        except Exception as exc:  # a driver bug must not stop the other instruments
            log.exception("source %s raised; counted as a read error", source.name)
            got = [Reading(ts=now, error=f"driver error: {exc}")]
        for reading in got:
            if reading.ok:
                source.last_good_read = reading.ts
                source.last_values.update(reading.values)
                source.last_raw = reading.raw
            else:
                source.read_errors += 1
                source.last_error = reading.error
        readings.extend(got)
    return readings


def commit_sources(sources: list[SourceState]) -> None:
    """Tell stateful drivers (log offsets) that what they returned is now durable."""
    for source in sources:
        if isinstance(source.driver, Committable):
            try:
                source.driver.commit()
            except Exception:  # a driver bug must not stop the others
                log.exception("source %s failed to save its position", source.name)


class Agent:
    """Runs the agent until :meth:`stop`. Collaborators are injected for tests."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        config_hash: str,
        data_dir: Path,
        broker: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        publish: bool = True,
        drivers: Mapping[str, Sequence[Driver]] | None = None,
        config_dir: Path | None = None,
        link_timings: LinkTimings | None = None,
    ) -> None:
        """``drivers`` replaces the config's sources of the named instruments with ready-made
        drivers (the firmware bridge feeds decoded node frames through such drivers)."""
        self.config = config
        if broker is not None:
            config = config.model_copy(
                update={"mqtt": config.mqtt.model_copy(update={"broker": broker})}
            )
            self.config = config
        self.config_hash = config_hash
        self.link_timings = link_timings or LinkTimings(
            historical_after_s=config.outbox.historical_after_s
        )
        self.data_dir = data_dir
        self.clock = clock
        self.emitter = Emitter(boot_at=clock())
        self.boot_id = self.emitter.boot_id
        self.agent_name = config.agent_name()
        self.host = hostname()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._dir_lock = DataDirLock(data_dir)
        self.outbox = Outbox(data_dir / OUTBOX_FILE, max_bytes=config.outbox.max_bytes)
        self._injected = dict(drivers or {})
        self.config_dir = config_dir
        self.instruments = [self._build(instrument) for instrument in config.instruments]
        for inst in self.instruments:
            self._restore_inference(inst)
        self.outbox_errors = 0
        self._stop = threading.Event()
        self._publish = publish
        self.clock_jumps = 0
        self.started = time.time()
        self._stopped = False

    def _build(self, instrument: InstrumentConfig) -> InstrumentRuntime:
        injected = self._injected.get(instrument.id)
        sources = (
            [SourceState(name=d.name, driver=d) for d in injected]
            if injected is not None
            else build_sources(instrument, self.data_dir / "sources", self.config_dir)
        )
        return InstrumentRuntime(
            config=instrument,
            site=self.config.site_of(instrument),
            sources=sources,
            inferrer=StateInferrer(instrument.rules.to_rules()),
            heartbeat_s=self.config.heartbeat_of(instrument),
            poll_s=self.config.poll_of(instrument),
        )

    # --- messages ------------------------------------------------------------------------

    def _topic(self, inst: InstrumentRuntime, kind: MessageKind) -> str:
        return build_topic(inst.site, inst.id, kind, self.config.mqtt.topic_root)

    def birth(self, inst: InstrumentRuntime) -> bytes:
        about = Birth(
            agent_version=__version__,
            config_hash=self.config_hash,
            heartbeat_interval_s=inst.heartbeat_s,
            name=inst.config.name,
            unit=inst.config.unit,
            category=inst.config.category,
            hostname=self.host,
        )
        return encode(self.emitter.birth(inst.site, inst.id, self.clock(), about).message)

    def offline(self, inst: InstrumentRuntime) -> bytes:
        return encode(self.emitter.offline(inst.site, inst.id, self.clock()).message)

    def _enqueue(self, inst: InstrumentRuntime, out: Outgoing) -> None:
        try:
            self.outbox.put(
                instrument=inst.id,
                kind=out.kind.value,
                topic=self._topic(inst, out.kind),
                payload=encode(out.message),
                boot_id=out.message.boot_id,
                seq=out.seq,
            )
        except OutboxFullError:
            # The disk refused the write (full, read-only): nothing can keep this message, but
            # the agent must go on observing and say so loudly.
            self.outbox_errors += 1
            log.exception("%s: could not store a %s message in the outbox", inst.id, out.kind.value)
            return
        if inst.link is not None:
            inst.link.wake()

    def _emit_transition(
        self, inst: InstrumentRuntime, transition: Transition, now: datetime
    ) -> None:
        self._enqueue(inst, self.emitter.state(inst.site, inst.id, transition, now))
        # Logged once stored, so the log never shows a transition the outbox does not hold.
        if transition.until is not None:
            log.info(
                "%s: record: %s from %s until %s (%s)",
                inst.id,
                transition.state.value,
                transition.since.isoformat(),
                transition.until.isoformat(),
                transition.reason,
            )
            return
        log.info(
            "%s: %s -> %s at %s (%s)",
            inst.id,
            transition.previous.value if transition.previous else "-",
            transition.state.value,
            transition.since.isoformat(),
            transition.reason,
        )

    def health(self, inst: InstrumentRuntime) -> AgentHealth:
        stats = self.outbox.stats(inst.id)
        now = time.time()
        good = [s.last_good_read for s in inst.sources if s.last_good_read is not None]
        return AgentHealth(
            outbox_depth=stats.depth,
            oldest_unsent_s=None
            if stats.oldest_created is None
            else round(now - stats.oldest_created, 3),
            dropped=self.outbox.dropped,
            last_good_read=max(good) if good else None,
            read_errors=sum(s.read_errors for s in inst.sources),
            clock_jumps=self.clock_jumps,
            sources={s.name: s.health() for s in inst.sources},
        )

    def sources_silent(self, inst: InstrumentRuntime, now: datetime) -> bool:
        """True when no source has read well for ``silence_after``: the agent no longer knows
        the state, so it stops heartbeats and the collector derives ``unknown`` (DESIGN.md:
        unknown is never carried forward). Default: two heartbeats or three polls."""
        good = [s.last_good_read for s in inst.sources if s.last_good_read is not None]
        if not good:
            return True
        limit = max(2 * inst.heartbeat_s, 3 * inst.poll_s)
        return (now - max(good)).total_seconds() > limit

    def _save_inference(self, inst: InstrumentRuntime) -> None:
        """Persist the inferrer's state when it changed, so a restart continues from it (a
        log event waiting out ``min_dwell_s`` is not forgotten)."""
        snapshot = json.dumps(inst.inferrer.snapshot(), sort_keys=True)
        if snapshot != inst.saved_snapshot:
            self.outbox.set_meta(f"inference:{inst.id}", snapshot)
            inst.saved_snapshot = snapshot

    def _restore_inference(self, inst: InstrumentRuntime) -> None:
        raw = self.outbox.get_meta(f"inference:{inst.id}")
        if raw is None:
            return
        try:
            inst.inferrer.restore(json.loads(raw))
        except (ValueError, TypeError):
            log.warning("%s: ignoring an unreadable saved inference state", inst.id)
            return
        inst.saved_snapshot = raw
        inst.resumed = inst.inferrer.resumed()
        if inst.inferrer.state is not None:
            log.info(
                "%s: continuing from saved state %s since %s",
                inst.id,
                inst.inferrer.state.value,
                inst.inferrer.since.isoformat() if inst.inferrer.since else "?",
            )

    def _emit_heartbeat(self, inst: InstrumentRuntime, now: datetime) -> None:
        # A heartbeat says what the agent holds now, also while a new state waits out
        # min_dwell_s: if that state is accepted, its message (dated from when it began, and
        # later knowledge) overrides this one from then on.
        state = inst.inferrer.state
        if state is None:
            return  # nothing observed yet: no heartbeat, so the collector keeps it unknown
        if self.sources_silent(inst, now):
            if not inst.silent:
                inst.silent = True
                log.warning(
                    "%s: no good read from any source for a while; heartbeats paused so the "
                    "collector shows unknown (see 'jishi agent status')",
                    inst.id,
                )
            return
        if inst.silent:
            inst.silent = False
            log.info("%s: sources read again; heartbeats resumed", inst.id)
        out = self.emitter.heartbeat(
            inst.site,
            inst.id,
            ts=now,
            state=state,
            since=inst.inferrer.since or now,
            interval_s=inst.heartbeat_s,
            readings=inst.inferrer.readings,
            health=self.health(inst),
        )
        self._enqueue(inst, out)

    def _emit_sessions(self, inst: InstrumentRuntime, readings: list[Reading]) -> None:
        for reading in readings:
            for event in reading.sessions:
                out = self.emitter.session(
                    inst.site,
                    inst.id,
                    ts=event.ts,
                    event=event.event,
                    session_id=event.session_id,
                    user=event.user,
                    org=event.org,
                    source="agent",
                )
                self._enqueue(inst, out)

    # --- loop ----------------------------------------------------------------------------

    def tick(self, mono: float) -> None:
        """One pass over every instrument that is due (``mono`` is the monotonic time)."""
        for inst in self.instruments:
            if mono >= inst.next_poll:
                inst.next_poll = mono + inst.poll_s
                now = self.clock()
                if inst.resumed is not None:
                    # The record this state came from still holds: say so for the time the
                    # agent was down, before anything newer.
                    self._emit_transition(inst, inst.resumed, now)
                    inst.resumed = None
                readings = poll_sources(inst.sources, now)
                for reading in readings:
                    for transition in inst.inferrer.feed(reading):
                        self._emit_transition(inst, transition, now)
                self._emit_sessions(inst, readings)
                # Only now that what the readings caused is durable may the sources forget
                # them (log offsets): a kill before this point re-reads, never skips.
                self._save_inference(inst)
                commit_sources(inst.sources)
            if mono >= inst.next_heartbeat and inst.inferrer.state is not None:
                inst.next_heartbeat = mono + inst.heartbeat_s
                self._emit_heartbeat(inst, self.clock())

    def start_links(self) -> None:
        for inst in self.instruments:
            inst.link = Link(
                instrument=inst.id,
                client_id=default_client_id(inst.site, inst.id, self.agent_name),
                mqtt=self.config.mqtt,
                outbox=self.outbox,
                boot_id=self.emitter.boot_of(inst.site, inst.id),
                status_topic=self._topic(inst, MessageKind.STATUS),
                birth=lambda inst=inst: self.birth(inst),  # type: ignore[misc]
                will=lambda inst=inst: self.offline(inst),  # type: ignore[misc]
                offline=lambda inst=inst: self.offline(inst),  # type: ignore[misc]
                window=self.config.outbox.replay_window,
                timings=self.link_timings,
            )
            inst.link.start()

    def run(self) -> None:
        """Run until :meth:`stop` is called (from a signal handler or another thread)."""
        log.info(
            "agent %s starting: boot %s, %d instrument(s), broker %s, data dir %s",
            self.agent_name,
            self.boot_id,
            len(self.instruments),
            self.config.mqtt.url,
            self.data_dir,
        )
        if self._publish:
            self.start_links()
        last_wall, last_mono = time.time(), time.monotonic()
        next_status = 0.0
        try:
            while not self._stop.is_set():
                mono = time.monotonic()
                wall = time.time()
                if abs((wall - last_wall) - (mono - last_mono)) > CLOCK_JUMP_S:
                    self.clock_jumps += 1
                    log.warning(
                        "wall clock jumped by %.1f s", (wall - last_wall) - (mono - last_mono)
                    )
                last_wall, last_mono = wall, mono
                self.tick(mono)
                if mono >= next_status:
                    next_status = mono + 2.0
                    self.write_status()
                # An instrument without a state yet sends no heartbeat: only its poll is due.
                due = min(
                    min(
                        i.next_poll,
                        i.next_heartbeat if i.inferrer.state is not None else float("inf"),
                    )
                    for i in self.instruments
                )
                self._stop.wait(max(0.01, min(1.0, due - time.monotonic())))
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def _shutdown(self) -> None:
        # Ask every link to stop first, then wait for all: a slow broker costs one timeout,
        # not one per instrument, and no link still uses the outbox when it is closed.
        links = [inst.link for inst in self.instruments if inst.link is not None]
        for link in links:
            link.request_stop(clean=True)
        for link in links:
            link.join(20)
            if link.is_alive():
                log.warning("%s: link did not stop in time", link.instrument)
        for inst in self.instruments:
            for source in inst.sources:
                try:
                    source.driver.close()
                except Exception:  # closing must not hide the others
                    log.exception("closing source %s failed", source.name)
        self._stopped = True
        self.write_status()
        self.outbox.close()
        self._dir_lock.release()
        log.info("agent stopped")

    # --- status file for `jishi agent status` ---------------------------------------------

    def status_snapshot(self) -> dict[str, Any]:
        instruments = []
        for inst in self.instruments:
            link = inst.link.stats if inst.link else None
            instruments.append(
                {
                    "id": inst.id,
                    "site": inst.site,
                    "state": inst.inferrer.state.value if inst.inferrer.state else None,
                    "since": inst.inferrer.since.isoformat() if inst.inferrer.since else None,
                    "connected": bool(link and link.connected),
                    "last_publish": link.last_publish if link else None,
                    "last_ack": link.last_ack if link else None,
                    "last_error": link.last_error if link else None,
                    "sources": {
                        s.name: {
                            "last_good_read": s.last_good_read.isoformat()
                            if s.last_good_read
                            else None,
                            "read_errors": s.read_errors,
                            "last_error": s.last_error,
                            "values": s.last_values,
                        }
                        for s in inst.sources
                    },
                }
            )
        return {
            "agent": self.agent_name,
            "boot_id": self.boot_id,
            "pid": os.getpid(),
            "version": __version__,
            "broker": str(self.config.mqtt.url),
            "written": time.time(),
            "started": self.started,
            "clock_jumps": self.clock_jumps,
            "stopped": self._stopped,
            "instruments": instruments,
        }

    def write_status(self) -> None:
        path = self.data_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.status_snapshot(), default=str, indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)


def current_state(agent: Agent) -> dict[str, InstrumentState | None]:
    return {inst.id: inst.inferrer.state for inst in agent.instruments}
