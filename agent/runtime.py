"""The agent's I/O shell: polls the drivers, stores messages in the outbox, keeps links alive.

Theory of operation. :class:`Agent` is built without touching the disk; :meth:`Agent.start`
takes the data dir's lock, opens the durable outbox and restores every instrument's saved
inference state. One thread then polls every instrument's drivers on its poll interval and
hands the readings, with the time, to its pure :class:`jishi.agent.core.InstrumentCore`, which
says what they mean: ``state`` messages at transitions, ``session`` messages (and the ends of
sessions a user forgot), a ``hb`` every heartbeat interval. This shell writes them to the
outbox, one :class:`Link` thread per instrument publishes it; the loop watches the wall clock
for jumps and writes the status file ``jishi agent status`` reads.

A full disk (issue 17, 5) stops nothing: the outbox holds what it cannot write in memory, the
loop asks it to try again every few seconds. While anything of an instrument is held, neither
its sources' positions nor its inference state are saved (a restart re-reads, never skips).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from jishi import __version__
from jishi.agent.config import AgentConfig, InstrumentConfig
from jishi.agent.core import InstrumentCore, OutboxFigures
from jishi.agent.emitter import Birth, Emitter, Outgoing
from jishi.agent.held import HeldMessage
from jishi.agent.link import (
    Link,
    LinkTimings,
    client_id_suffix,
    default_client_id,
    hostname,
)
from jishi.agent.messages import MessageKind, StateMessage, build_topic, encode
from jishi.agent.outbox import Outbox, OutboxFullError
from jishi.agent.paths import DataDirLock
from jishi.agent.sources import build_drivers, commit_sources, read_source
from jishi.drivers.base import Driver

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
OUTBOX_FILE = "outbox.sqlite"
# A wall-clock step larger than this between two loop ticks (against the monotonic clock)
# is counted as a clock jump (NTP correction, manual change, VM resume).
CLOCK_JUMP_S = 2.0
# `jishi agent status` calls an agent running while its status file is at most 10 s old.
STATUS_EVERY_S = 2.0


@dataclass
class InstrumentRuntime:
    """One instrument in the shell: its drivers, poll schedule and link around its core."""

    config: InstrumentConfig
    core: InstrumentCore
    drivers: list[Driver]
    next_poll: float = 0.0
    link: Link | None = None

    @property
    def id(self) -> str:
        return self.core.id

    @property
    def site(self) -> str:
        return self.core.site


class Agent:
    """Runs the agent until :meth:`stop`. Collaborators are injected for tests.

    The constructor does no I/O; :meth:`start` (called by :meth:`run`, or by a test before
    :meth:`tick`) opens the data dir, and :meth:`close` lets go of it."""

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
        self.config = config = config.with_broker(broker)
        self.config_hash = config_hash
        self.data_dir = data_dir
        self.config_dir = config_dir
        self.clock = clock
        self.link_timings = link_timings or LinkTimings(
            historical_after_s=config.outbox.historical_after_s
        )
        self.emitter = Emitter(boot_at=clock())
        self.boot_id = self.emitter.boot_id
        injected = dict(drivers or {})
        self.instruments = [self._build(i, injected.get(i.id)) for i in config.instruments]
        self.agent_name = config.agent_id or ""  # the host name's fallback is read at start
        self.host: str | None = None
        self.outbox_errors = 0  # messages the outbox could not take at once (held in memory)
        self._status_failing = False
        self.clock_jumps = 0
        self.started: float | None = None
        self._publish = publish
        self._outbox: Outbox | None = None
        self._dir_lock: DataDirLock | None = None
        self._stop = threading.Event()
        self._stopped = False

    def _build(
        self, instrument: InstrumentConfig, injected: Sequence[Driver] | None
    ) -> InstrumentRuntime:
        drivers = (
            list(injected)
            if injected is not None
            else build_drivers(instrument, self.data_dir / "sources", self.config_dir)
        )
        core = InstrumentCore(
            instrument=instrument.id,
            site=self.config.site_of(instrument),
            rules=instrument.rules.to_rules(),
            heartbeat_s=self.config.heartbeat_of(instrument),
            poll_s=self.config.poll_of(instrument),
            sources=[d.name for d in drivers],
            emitter=self.emitter,
            session_close_after_s=instrument.session_close_after_s,
        )
        return InstrumentRuntime(config=instrument, core=core, drivers=drivers)

    # --- data dir --------------------------------------------------------------------------

    def start(self) -> Agent:
        """Take the data dir (its lock, the outbox) and restore the saved inference states.
        Raises ``JishiError`` if another agent holds the data dir. Returns the agent."""
        if self._outbox is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = DataDirLock(self.data_dir)
        try:
            outbox = Outbox(self.data_dir / OUTBOX_FILE, max_bytes=self.config.outbox.max_bytes)
        except Exception:
            lock.release()
            raise
        self._dir_lock, self._outbox = lock, outbox
        self.agent_name = self.config.agent_name()
        self.host = hostname()
        self.started = time.time()
        for inst in self.instruments:
            inst.core.restore(outbox.get_meta(f"inference:{inst.id}"))
        return self

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("the agent is not started: call Agent.start() first")
        return self._outbox

    def close(self) -> None:
        """Close the drivers and the outbox and release the data dir, as a killed process
        would (no goodbye to the broker: :meth:`stop` does that)."""
        for inst in self.instruments:
            for driver in inst.drivers:
                try:
                    driver.close()
                except Exception:  # closing must not hide the others
                    log.exception("closing source %s failed", driver.name)
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    def __enter__(self) -> Agent:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- messages ------------------------------------------------------------------------

    def _topic(self, inst: InstrumentRuntime, kind: MessageKind) -> str:
        return build_topic(inst.site, inst.id, kind, self.config.mqtt.topic_root)

    def birth(self, inst: InstrumentRuntime) -> bytes:
        about = Birth(
            agent_version=__version__,
            config_hash=self.config_hash,
            heartbeat_interval_s=inst.core.heartbeat_s,
            name=inst.config.name,
            unit=inst.config.unit,
            category=inst.config.category,
            hostname=self.host,
        )
        return encode(self.emitter.birth(inst.site, inst.id, self.clock(), about).message)

    def offline(self, inst: InstrumentRuntime) -> bytes:
        return encode(self.emitter.offline(inst.site, inst.id, self.clock()).message)

    def _enqueue(self, inst: InstrumentRuntime, out: Outgoing, now: datetime) -> None:
        """Store one message durably (``created`` on the agent's clock, which the links'
        age rule reads too), or, if the disk refuses, have the outbox hold it in memory."""
        topic, payload, boot_id = (
            self._topic(inst, out.kind),
            encode(out.message),
            out.message.boot_id,
        )
        message = HeldMessage(
            inst.id, out.kind.value, topic, payload, boot_id, out.seq, now.timestamp()
        )
        row_id = self.outbox.put_or_hold(message)
        if row_id is None:
            self.outbox_errors += 1  # the outbox logs the spell once; this counts messages
        elif inst.link is not None:
            inst.link.wake()

    def _store(self, inst: InstrumentRuntime, messages: Sequence[Outgoing], now: datetime) -> None:
        for out in messages:
            # Logged once stored or held: the log shows what the agent decided, and a message
            # held in memory is written and sent once the disk takes it.
            self._enqueue(inst, out, now)
            if isinstance(out.message, StateMessage):
                _log_state(inst.id, out.message)

    def _figures(self, inst: InstrumentRuntime, now: datetime) -> OutboxFigures:
        stats = self.outbox.stats(inst.id)
        return OutboxFigures.at(
            depth=stats.depth,
            oldest_created=stats.oldest_created,
            dropped=stats.dropped,
            now=now.timestamp(),
            held_in_memory=stats.held,
        )

    def retry_outbox(self) -> None:
        """Write what the outbox holds in memory if the disk has room again; wake the links."""
        if self.outbox.retry():
            for inst in self.instruments:
                if inst.link is not None:
                    inst.link.wake()

    # --- loop ----------------------------------------------------------------------------

    def tick(self, mono: float) -> None:
        """One pass over every instrument that is due (``mono`` is the monotonic time)."""
        for inst in self.instruments:
            if mono >= inst.next_poll:
                inst.next_poll = mono + inst.core.poll_s
                self._poll(inst)
            if inst.core.heartbeat_due(mono):
                now = self.clock()
                figures = self._figures(inst, now)
                beat = inst.core.heartbeat(now, mono, figures, clock_jumps=self.clock_jumps)
                if beat is not None:
                    self._store(inst, [beat], now)

    def _poll(self, inst: InstrumentRuntime) -> None:
        now = self.clock()
        polled = [(driver.name, read_source(driver, now)) for driver in inst.drivers]
        self._store(inst, inst.core.poll(now, polled), now)
        if self.outbox.holding(inst.id):
            # Some of what the readings caused is only in memory (full disk): saving offsets or
            # the inference state now would make a restart skip it. Saved once it is written.
            return
        # Only now that what the readings caused is durable may the sources forget them (log
        # offsets): a kill before this point re-reads, never skips. The inference state is
        # saved too, so a restart continues from it.
        snapshot = inst.core.to_save()
        if snapshot is not None:
            try:
                self.outbox.set_meta(f"inference:{inst.id}", snapshot)
            except OutboxFullError:
                return  # the disk filled since: saved at a later poll, offsets with it
            inst.core.saved(snapshot)
        commit_sources(inst.drivers)

    def start_links(self) -> None:
        suffix = client_id_suffix(self.outbox)
        for inst in self.instruments:
            inst.link = Link(
                instrument=inst.id,
                client_id=default_client_id(inst.site, inst.id, self.agent_name, suffix),
                mqtt=self.config.mqtt,
                outbox=self.outbox,
                boot_id=self.emitter.boot_of(inst.site, inst.id),
                status_topic=self._topic(inst, MessageKind.STATUS),
                birth=partial(self.birth, inst),
                will=partial(self.offline, inst),
                offline=partial(self.offline, inst),
                window=self.config.outbox.replay_window,
                timings=self.link_timings,
                clock=lambda: self.clock().timestamp(),
            )
            inst.link.start()

    def run(self) -> None:
        """Run until :meth:`stop` is called (from a signal handler or another thread)."""
        self.start()
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
                    next_status = mono + STATUS_EVERY_S
                    self.retry_outbox()
                    self.write_status()
                due = min(min(i.next_poll, i.core.next_wake()) for i in self.instruments)
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
        self._stopped = True
        self.write_status()
        self.close()
        log.info("agent stopped")

    # --- status file for `jishi agent status` ---------------------------------------------

    def status_snapshot(self) -> dict[str, Any]:
        outbox = self._outbox
        return {
            "agent": self.agent_name,
            "boot_id": self.boot_id,
            "pid": os.getpid(),
            "version": __version__,
            "broker": str(self.config.mqtt.url),
            "written": time.time(),
            "started": self.started,
            "clock_jumps": self.clock_jumps,
            "outbox_errors": self.outbox_errors,
            "outbox_unwritable_since": outbox.unwritable_since if outbox else None,
            "outbox_error": outbox.last_error if outbox else None,
            "held_in_memory": outbox.holding() if outbox else 0,
            "stopped": self._stopped,
            "instruments": [_instrument_status(inst) for inst in self.instruments],
        }

    def write_status(self) -> None:
        path = self.data_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.status_snapshot(), default=str, indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            # Once per spell, not every 2 s: a full disk must not also fill the journal.
            if not self._status_failing:
                log.warning("cannot write %s (%s); 'jishi agent status' shows it stale", path, exc)
            self._status_failing = True
            return
        if self._status_failing:
            log.info("status file %s written again", path)
            self._status_failing = False


def _instrument_status(inst: InstrumentRuntime) -> dict[str, Any]:
    inferrer = inst.core.inferrer
    link = inst.link.stats if inst.link else None
    return {
        "id": inst.id,
        "site": inst.site,
        "state": inferrer.state.value if inferrer.state else None,
        "since": inferrer.since.isoformat() if inferrer.since else None,
        "connected": bool(link and link.connected),
        "last_publish": link.last_publish if link else None,
        "last_ack": link.last_ack if link else None,
        "last_error": link.last_error if link else None,
        "sources": {
            s.name: {
                "last_good_read": s.last_good_read.isoformat() if s.last_good_read else None,
                "read_errors": s.read_errors,
                "last_error": s.last_error,
                "values": s.last_values,
            }
            for s in inst.core.sources.values()
        },
    }


def _log_state(instrument: str, message: StateMessage) -> None:
    # tests/support/agentproc.py reads these lines as the truth of what the agent decided.
    if message.until is not None:
        log.info(
            "%s: record: %s from %s until %s (%s)",
            instrument,
            message.state.value,
            message.since.isoformat(),
            message.until.isoformat(),
            message.reason,
        )
        return
    log.info(
        "%s: %s -> %s at %s (%s)",
        instrument,
        message.previous.value if message.previous else "-",
        message.state.value,
        message.since.isoformat(),
        message.reason,
    )
