"""Usage query speed: 1,000 instruments x 1 year (~20 state changes a day each) in a real SQLite
ledger; ``group_by=instrument`` for the year, and one instrument-year, through the HTTP API.

How the ledger is filled (7.3 million state changes cannot all pass the ~10k msg/s ingest path
in a 3-minute benchmark, so most are written as the rows that path would write):

1. Every instrument's birth goes through the collector's write path (``Pipeline.process``:
   validation, dedupe on (boot_id, seq), ``LedgerWriter``), as does the full year of state
   messages of ``--through-pipeline`` instruments (default 10), interleaved in time order, in
   batches of ``database.batch_max``, with the writer's clock following the simulated time.
2. For the other instruments, every state change but the last is written directly as the rows
   the write path would store: one claim per change (``claims``), and one span per change,
   ``[ts, min(ts + stale_after, next ts))``, the closed form of what the evidence rules
   (:mod:`jishi.collector.usage.evidence`) give for a stream in which every message changes the
   state. Their last state change then goes through the write path, which merges it in.
3. The stored timelines are checked: those of the pipeline instruments, and those of a sample
   of the direct ones, must equal :func:`jishi.collector.evidence.resolve` of their message
   stream, or the benchmark fails.
4. ``rollup.refresh_rollups`` (what the collector's background thread runs) computes the daily
   roll-ups; then the API (``start_collector(..., ingest=False)``, real uvicorn, HTTP) answers
   with the clock at 00:30 on the day after the year.

Agents send ``stale_after_s`` = 6 h in their birth (state messages only, no heartbeats), so a
quiet stretch longer than that is unknown time, as it would be in production.

    .venv/bin/python benchmarks/usage.py [--instruments 1000] [--days 366] [--through-pipeline 10]

Targets: fleet year < 5 s, one instrument-year < 100 ms.
Ends with ``RESULT fleet_year_s=... one_year_ms=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.progress import Progress

from jishi.collector.config import CollectorConfig
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.ledger.queries import timeline
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.ledger.writer import LedgerWriter
from jishi.collector.service import _limits, start_collector
from jishi.collector.usage.evidence import Claim, resolve

SITE = "bench"
YEAR_START = "2024-01-01"  # a leap year: 366 days
STALE_AFTER_S = 6 * 3600.0
STATES = ("running", "idle", "off", "fault", "maintenance")
WEIGHTS = (45, 35, 12, 4, 4)
TOKEN = "bench-admin"

Observation = tuple[float, str]  # (ts, state); every one differs in state from the one before


def instrument_id(i: int) -> str:
    return f"inst{i:04d}"


def observations(i: int, start: float, end: float, per_day: float, seed: int) -> list[Observation]:
    """One instrument's state changes: exponential gaps (whole seconds), a random new state."""
    rng = random.Random(seed * 1_000_003 + i)
    mean_gap = 86_400.0 / per_day
    out: list[Observation] = []
    ts, state = start + rng.randrange(0, 600), "off"
    while ts < end:
        state = rng.choices(
            [s for s in STATES if s != state],
            [w for s, w in zip(STATES, WEIGHTS, strict=True) if s != state],
        )[0]
        out.append((ts, state))
        ts += max(1.0, float(round(rng.expovariate(1.0 / mean_gap))))
    return out


def closed_form_spans(
    obs: list[Observation], stale_after_s: float = STALE_AFTER_S
) -> list[tuple[float, float, str, float]]:
    """(start, end, state, last_ts) per state change: what the writer's merge stores."""
    spans = []
    for k, (ts, state) in enumerate(obs):
        end = ts + stale_after_s
        if k + 1 < len(obs):
            end = min(end, obs[k + 1][0])
        spans.append((ts, end, state, ts))
    return spans


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def state_message(name: str, seq: int, ts: float, state: str, previous: str | None) -> Received:
    body = {
        "schema": 1,
        "kind": "state",
        "instrument": name,
        "site": SITE,
        "boot_id": f"boot-{name}",
        "seq": seq,
        "ts": iso(ts),
        "since": iso(ts),
        "state": state,
        "previous": previous,
        "readings": {"power_w": 1234.5},
    }
    return Received(f"jishi/v1/{SITE}/{name}/state", json.dumps(body).encode(), ts + 0.2)


def birth(name: str, ts: float, stale_after_s: float = STALE_AFTER_S) -> Received:
    body = {
        "schema": 1,
        "kind": "status",
        "instrument": name,
        "site": SITE,
        "boot_id": f"boot-{name}",
        "seq": 0,
        "ts": iso(ts),
        "online": True,
        "heartbeat_interval_s": 30.0,
        "stale_after_s": stale_after_s,
    }
    return Received(f"jishi/v1/{SITE}/{name}/status", json.dumps(body).encode(), ts + 0.2)


class Feeder:
    """The collector's write path, driven with a simulated clock."""

    def __init__(self, config: CollectorConfig, engines: Engines) -> None:
        self.now = 0.0
        writer = LedgerWriter(
            config.registry(), config.site.timezone, config.ingest.dead_letter_max_bytes
        )
        self.metrics = IngestMetrics()
        self.pipeline = Pipeline(
            engines=engines,
            writer=writer,
            limits=_limits(config),
            topic_root=config.mqtt.topic_root,
            metrics=self.metrics,
            acker=lambda _items: None,
            batch_max=config.database.batch_max,
            clock=lambda: self.now,
        )
        self.batch_max = config.database.batch_max

    def feed(self, items: list[Received], advance: Callable[[int], None]) -> None:
        for k in range(0, len(items), self.batch_max):
            batch = items[k : k + self.batch_max]
            self.now = batch[-1].received_at
            outcome = self.pipeline.process(batch)
            if outcome.dead or outcome.duplicates:
                raise RuntimeError(f"write path refused messages: {outcome}")
            advance(len(batch))


def direct_rows(
    i: int, obs: list[Observation], stale_after_s: float = STALE_AFTER_S
) -> Iterator[tuple[object, ...]]:
    name = instrument_id(i)
    for start, end, state, _last_ts in closed_form_spans(obs, stale_after_s):
        yield (name, state, start, end)


def claim(  # noqa: PLR0917 - one message's fields
    seq: int, ts: float, state: str, boot_at: float, name: str, stale_after_s: float = STALE_AFTER_S
) -> Claim:
    """The claim of state message ``seq`` (schema 1: unlinked; fresh for stale_after)."""
    boot = f"boot-{name}"
    return Claim(boot_at, boot, seq, seq, None, False, ts, ts, ts, ts + stale_after_s, state)


def direct_claims(
    i: int, obs: list[Observation], boot_at: float, stale_after_s: float = STALE_AFTER_S
) -> Iterator[tuple[object, ...]]:
    name = instrument_id(i)
    for seq, (ts, state) in enumerate(obs, start=1):
        c = claim(seq, ts, state, boot_at, name, stale_after_s)
        yield (name, *c[:11], False, 1, False)


def verify(
    engines: Engines,
    i: int,
    obs: list[Observation],
    boot_at: float,
    stale_after_s: float = STALE_AFTER_S,
) -> None:
    name = instrument_id(i)
    claims = [
        claim(seq, ts, state, boot_at, name, stale_after_s)
        for seq, (ts, state) in enumerate(obs, 1)
    ]
    lo, hi = obs[0][0] - 3600, obs[-1][0] + stale_after_s + 3600
    with engines.read.connect() as conn:
        got = timeline(conn, name, lo, hi)
    if got != resolve(claims, [], lo, hi):
        raise RuntimeError(f"{name}: stored timeline differs from the evidence rules")


def build_ledger(args: argparse.Namespace, config: CollectorConfig) -> tuple[float, float]:
    """Fill the ledger; returns the year's bounds (epoch seconds)."""
    zone = ZoneInfo(config.site.timezone)
    start = datetime.fromisoformat(YEAR_START).replace(tzinfo=zone).timestamp()
    end = start + args.days * 86_400.0  # Asia/Shanghai has no DST
    engines = open_engines(config.database_url)
    migrate(engines)
    feeder = Feeder(config, engines)
    n, k = args.instruments, min(args.through_pipeline, args.instruments)

    def stream(i: int) -> list[Observation]:
        return observations(i, start, end, args.changes_per_day, args.seed)

    streams = {i: stream(i) for i in range(k)}
    # The direct instruments' change count and last two changes.
    tails: dict[int, tuple[int, list[Observation]]] = {}
    total = sum(len(o) for o in streams.values())
    t0 = time.perf_counter()
    with Progress() as progress:
        task = progress.add_task("births (write path)", total=n)
        feeder.feed(
            [birth(instrument_id(i), start - 60) for i in range(n)],
            lambda c: progress.advance(task, c),
        )
        piped = sorted(
            (
                state_message(
                    instrument_id(i), seq + 1, ts, state, obs[seq - 1][1] if seq else None
                )
                for i in range(k)
                for obs in (streams[i],)
                for seq, (ts, state) in enumerate(obs)
            ),
            key=lambda r: r.received_at,
        )
        task = progress.add_task(f"{k} instruments (write path)", total=len(piped))
        feeder.feed(piped, lambda c: progress.advance(task, c))
        rate = len(piped) / max(progress.tasks[task].elapsed or 1e-9, 1e-9)
        task = progress.add_task(f"{n - k} instruments (direct rows)", total=n - k)
        raw = engines.write.raw_connection()
        try:
            cursor = raw.cursor()
            for i in range(k, n):
                obs = stream(i)
                total += len(obs)
                tails[i] = len(obs), obs[-2:]
                cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(
                    'INSERT INTO spans (instrument_id, state, start, "end") VALUES (?, ?, ?, ?)',
                    direct_rows(i, obs[:-1]),
                )
                cursor.executemany(
                    "INSERT INTO claims (instrument_id, boot_key, boot_id, seq_lo, seq_hi, "
                    'prev_seq, linked, ts_lo, ts_hi, start, "end", state, closed, observations, '
                    "historical) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    direct_claims(i, obs[:-1], start - 60),
                )
                cursor.execute("COMMIT")
                progress.advance(task)
        finally:
            raw.close()
        last = sorted(
            (
                state_message(instrument_id(i), seq, *last[-1], last[-2][1])
                for i, (seq, last) in tails.items()
            ),
            key=lambda r: r.received_at,
        )
        task = progress.add_task("last change of each (write path)", total=len(last))
        feeder.feed(last, lambda c: progress.advance(task, c))
    print(f"{n} instruments, {args.days} days, {total:,} state changes")
    print(
        f"ledger filled in {time.perf_counter() - t0:.1f} s; write path ran at "
        f"{rate:,.0f} msg/s for {len(piped):,} state messages",
        flush=True,
    )
    checked = list(range(k)) + list(range(k, n, max(1, (n - k) // 10)))
    for i in checked:
        verify(engines, i, streams.get(i) or stream(i), start - 60)
    print(f"timelines of {len(checked)} instruments equal the evidence rules on their stream")
    t0 = time.perf_counter()
    engines.dispose()
    # The background thread's pass, run by one worker process per core on a share of the
    # instruments (the engine is pure Python: one process would take minutes for 366,000 days).
    shares = [[instrument_id(i) for i in range(w, n, args.workers)] for w in range(args.workers)]
    with ProcessPoolExecutor(args.workers) as pool:
        days = sum(pool.map(rollup_worker, [(config, end + 1800, ids) for ids in shares]))
    print(
        f"roll-ups: {days:,} instrument-days in {time.perf_counter() - t0:.1f} s "
        f"({args.workers} processes)",
        flush=True,
    )
    return start, end


def rollup_worker(job: tuple[CollectorConfig, float, list[str]]) -> int:
    config, now, ids = job
    engines = open_engines(config.database_url)
    days = 0
    try:
        # One call does at most 20,000 days (the background thread's step); repeat until done.
        while written := refresh_rollups(engines, config, now, instruments=ids):
            days += written
    finally:
        engines.dispose()
    return days


def timed_get(
    client: httpx.Client, params: dict[str, str | list[str]]
) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    response = client.get("/api/v1/usage", params=params)
    elapsed = time.perf_counter() - t0
    response.raise_for_status()
    return elapsed, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=1000)
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--changes-per-day", type=float, default=20.0)
    parser.add_argument("--through-pipeline", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = CollectorConfig.model_validate(
            {
                "data_dir": tmp,
                "api": {"port": 0},
                "instruments": [
                    {"id": instrument_id(i), "site": SITE, "unit": f"unit{i % 20:02d}"}
                    for i in range(args.instruments)
                ],
            }
        )
        start, end = build_ledger(args, config)
        clock_at = end + 1800
        collector = start_collector(config, admin_token=TOKEN, ingest=False, clock=lambda: clock_at)
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            day0 = datetime.fromtimestamp(start, ZoneInfo(config.site.timezone)).date()
            day1 = datetime.fromtimestamp(end, ZoneInfo(config.site.timezone)).date()
            period = {"start": day0.isoformat(), "end": day1.isoformat()}
            with httpx.Client(base_url=collector.api_url or "", headers=headers, timeout=120) as c:
                fleet = []
                for _ in range(args.repeat):
                    elapsed, body = timed_get(c, {**period, "group_by": "instrument"})
                    fleet.append(elapsed)
                results = body["results"]
                assert len(results) == args.instruments, len(results)
                hours = sum(r["effective_h"] for r in results)
                completeness = statistics.mean(r["completeness"] for r in results)
                print(
                    f"fleet year (group_by=instrument): {', '.join(f'{t:.2f}' for t in fleet)} s"
                    f"; {hours:,.0f} effective h, mean completeness {completeness:.4f}"
                )
                one = []
                for i in range(0, args.instruments, max(1, args.instruments // 20)):
                    elapsed, body = timed_get(c, {**period, "instrument": instrument_id(i)})
                    one.append(elapsed * 1000)
                print(
                    f"one instrument-year: median {statistics.median(one):.1f} ms, "
                    f"max {max(one):.1f} ms over {len(one)} instruments"
                )
        finally:
            collector.stop()
    fleet_s = statistics.median(fleet)
    print(f"RESULT fleet_year_s={fleet_s:.2f} one_year_ms={statistics.median(one):.1f}")


if __name__ == "__main__":
    main()
