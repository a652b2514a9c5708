"""The known six-hour scenario the dashboard tests load into a real InfluxDB through the sink.

Scenario (minutes after T0; heartbeats every 5 min while an instrument is fresh):

* ``s1/nmr-1`` (unit chem, general): running 0, idle 60, running 120, **unknown 180** (stale,
  last seen 175), running again 210 to the end. Power 1200 W running, 150 W idle. One new read
  error per hour.
* ``s1/xrd.2`` (unit phys, specialised; the dot tests regex escaping): idle 0, fault 240. Power
  80 W idle, 300 W fault. Last heartbeat reports 5 messages in the outbox; clock offset 0.2 s.
* ``s2/ms-3`` (unit chem, general): running 0, **unknown 300** (agent's will, offline, last seen
  295). Reports 3 dropped messages from minute 200 on.

Daily roll-ups for the two days before T0 (the day D2 of nmr-1 is first written wrong, then
rewritten, as late data would).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jishi.collector.sink import DailyUsage, InfluxSink, InstrumentMeta

from support.influx import InfluxDB1

T0 = datetime(2024, 3, 4, tzinfo=UTC)
HEARTBEAT_MIN = 5
END_MIN = 360

NMR = InstrumentMeta("s1", "nmr-1", "chem", "general")
XRD = InstrumentMeta("s1", "xrd.2", "phys", "specialised")
MS = InstrumentMeta("s2", "ms-3", "chem", "general")

POWER_W = {"running": 1200.0, "idle": 150.0, "fault": 300.0}
XRD_POWER_W = {"idle": 80.0, "fault": 300.0}

# (minute, state, online) transitions; "unknown" rows carry the last fresh minute.
TRANSITIONS: dict[InstrumentMeta, list[tuple[int, str, bool]]] = {
    NMR: [(0, "running", True), (60, "idle", True), (120, "running", True),
          (180, "unknown", True), (210, "running", True)],
    XRD: [(0, "idle", True), (240, "fault", True)],
    MS: [(0, "running", True), (300, "unknown", False)],
}  # fmt: skip
LAST_FRESH = {(NMR, 180): 175, (MS, 300): 295}

HOUR = 3600.0
# Daily figures (seconds) per instrument and day offset (-2, -1 days from T0).
DAILY: dict[InstrumentMeta, dict[int, dict[str, float]]] = {
    NMR: {
        -2: {"running_s": 3 * HOUR, "idle_s": 2 * HOUR, "off_s": 19 * HOUR, "effective_s": 3 * HOUR,
             "service_s": 3 * HOUR, "external_service_s": 1 * HOUR, "quota_s": 4 * HOUR},
        -1: {"running_s": 1 * HOUR, "off_s": 17 * HOUR, "unknown_s": 6 * HOUR,
             "effective_s": 1 * HOUR, "quota_s": 4 * HOUR},
    },
    XRD: {
        -2: {"running_s": 2 * HOUR, "idle_s": 22 * HOUR, "effective_s": 2 * HOUR,
             "quota_s": 2 * HOUR},
        -1: {"idle_s": 20 * HOUR, "fault_s": 4 * HOUR, "quota_s": 2 * HOUR},
    },
    MS: {
        -2: {"running_s": 4 * HOUR, "off_s": 20 * HOUR, "effective_s": 4 * HOUR,
             "service_s": 4 * HOUR, "external_service_s": 2 * HOUR, "quota_s": 4 * HOUR},
        -1: {"running_s": 2 * HOUR, "off_s": 22 * HOUR, "effective_s": 2 * HOUR,
             "service_s": 2 * HOUR, "external_service_s": 2 * HOUR, "quota_s": 4 * HOUR},
    },
}  # fmt: skip
# What late data replaced: nmr-1's day -1 was first reported with half a day unknown.
NMR_DAY1_FIRST = {"off_s": 11.5 * HOUR, "running_s": 0.5 * HOUR, "unknown_s": 12 * HOUR,
                  "effective_s": 0.5 * HOUR, "quota_s": 4 * HOUR}  # fmt: skip
STATE_REFRESH_S = 1800.0


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def state_at(meta: InstrumentMeta, minute: int) -> str:
    current = "unknown"
    for start, state, _ in TRANSITIONS[meta]:
        if start <= minute:
            current = state
    return current


def fresh(meta: InstrumentMeta, minute: int) -> bool:
    return state_at(meta, minute) != "unknown"


def _health(meta: InstrumentMeta, minute: int) -> dict[str, object]:
    health: dict[str, object] = {"outbox_depth": 0, "dropped": 0, "read_errors": 0}
    if meta == NMR:
        health["read_errors"] = minute // 60
    if meta == XRD:
        health["clock_offset_s"] = 0.2
        if minute == END_MIN - HEARTBEAT_MIN:
            health["outbox_depth"] = 5
            health["oldest_unsent_s"] = 42.0
    if meta == MS and minute >= 200:
        health["dropped"] = 3
    return health


def feed(sink: InfluxSink) -> None:
    """Play the scenario into the sink the way the collector's ingest path would."""
    events: list[tuple[int, int, InstrumentMeta, str]] = []
    for meta, transitions in TRANSITIONS.items():
        for minute, _, _ in transitions:
            events.append((minute, 0, meta, "state"))
        for minute in range(0, END_MIN, HEARTBEAT_MIN):
            if fresh(meta, minute):
                events.append((minute, 1, meta, "hb"))
    for minute, _, meta, kind in sorted(events, key=lambda e: (e[0], e[1], e[2].instrument)):
        state = state_at(meta, minute)
        if kind == "state":
            online = next(o for m, _, o in TRANSITIONS[meta] if m == minute)
            last_fresh = LAST_FRESH.get((meta, minute))
            sink.write_state(
                meta,
                at(minute),
                state,
                online=online,
                since=at(minute),
                last_seen=at(last_fresh) if last_fresh is not None else None,
            )
            continue
        since = max(m for m, _, _ in TRANSITIONS[meta] if m <= minute)
        power = (XRD_POWER_W if meta == XRD else POWER_W)[state]
        sink.write_heartbeat(
            meta,
            at(minute),
            state=state,
            since=at(since),
            readings={"power_w": power, "current_a": round(power / 230, 3), "mode": state},
            health=_health(meta, minute),
        )
    for meta, days in DAILY.items():
        for offset, figures in days.items():
            start = T0 + timedelta(days=offset)
            if meta == NMR and offset == -1:
                sink.write_daily_usage(
                    meta, DailyUsage(start, start + timedelta(days=1), NMR_DAY1_FIRST)
                )
            sink.write_daily_usage(meta, DailyUsage(start, start + timedelta(days=1), figures))


@dataclass
class Loaded:
    """The InfluxDB holding the scenario, and the sink's status after writing it."""

    influx: InfluxDB1
    sink_status: dict[str, object]
