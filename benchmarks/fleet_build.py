"""Building the ledgers of benchmarks/fleet.py (its docstring says what and why)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from fleet_data import (
    DAY,
    FRESH_S,
    ZONE,
    Loader,
    Member,
    Rows,
    _columns,
    dirty_days,
    late_rows,
    member_rows,
    plan,
    stream,
)
from rich.progress import Progress
from usage import SITE, Feeder, birth, direct_claims, direct_rows, state_message, verify

from jishi.collector.config import CollectorConfig
from jishi.collector.ingest.pipeline import Received
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.usage.engine import FIGURE_NAMES

SLICE = 100  # instruments per bulk write and per roll-up job
ROLLUP_TABLES = {  # the roll-up tables' columns, copied between the ledgers
    "daily_usage": ("instrument_id", "day", *FIGURE_NAMES, "computed_at"),
    "monthly_usage": ("instrument_id", "month", "first_day", "days", *FIGURE_NAMES, "computed_at"),
}


def registry(fleet: Sequence[Member]) -> list[dict[str, Any]]:
    """The ``[[instruments]]`` entries: 100 management units, a fifth specialised."""
    return [
        {
            "id": m.id,
            "site": SITE,
            "unit": f"unit{m.i % 100:02d}",
            "category": "specialised" if m.i % 5 == 0 else "general",
        }
        for m in fleet
    ]


def collector_config(url: str, entries: list[dict[str, Any]]) -> CollectorConfig:
    return CollectorConfig.model_validate({"database": {"url": url}, "instruments": entries})


def feed(feeder: Feeder, items: list[Received], progress: Progress, label: str) -> None:
    """Through the write path in time order, in batches that span at most a day (the writer
    refuses messages far older than its clock, which follows each batch's last message)."""
    items.sort(key=lambda r: r.received_at)
    task = progress.add_task(label, total=len(items))
    batch: list[Received] = []
    for item in [*items, None]:
        if batch and (
            item is None
            or len(batch) == feeder.batch_max
            or item.received_at - batch[0].received_at > DAY
        ):
            feeder.feed(batch, lambda c: progress.advance(task, c))
            batch = []
        if item is not None:
            batch.append(item)


def last_changes(fleet: Sequence[Member], per_day: float, seed: int) -> list[Received]:
    out = []
    for m in fleet:
        obs = stream(m, per_day, seed)
        if obs:
            previous = obs[-2][1] if len(obs) > 1 else None
            out.append(state_message(m.id, len(obs), *obs[-1], previous))
    return out


def load_job(job: tuple[list[Member], list[str], float, int, float]) -> int:
    """Generate the rows of a slice of the fleet and write them into every ledger (in a
    worker process: generation runs on both cores, SQLite takes turns, PostgreSQL does not)."""
    members, urls, per_day, seed, now = job
    rows = Rows()
    for m in members:
        rows.add(member_rows(m, per_day, seed, now))
    for url in urls:
        with Loader(url) as loader:
            loader.rows(rows)
    return len(rows.claims)


def load(args: argparse.Namespace, fleet: Sequence[Member], urls: list[str], now: float) -> int:
    """Every change but the last and the late ones, and the sessions; returns the changes."""
    jobs = [
        (list(fleet[k : k + SLICE]), urls, args.changes_per_day, args.seed, now)
        for k in range(0, len(fleet), SLICE)
    ]
    changes = 0
    with Progress() as progress, ProcessPoolExecutor(args.workers) as pool:
        task = progress.add_task("direct rows (spans, claims, sessions)", total=len(fleet))
        for job, written in zip(jobs, pool.map(load_job, jobs), strict=True):
            changes += written
            progress.advance(task, len(job[0]))
    return changes


def rollup_job(job: tuple[str, list[dict[str, Any]], float, list[str]]) -> int:
    url, entries, now, ids = job
    engines = open_engines(url)
    try:
        return refresh_rollups(engines, collector_config(url, entries), now, 10**8, instruments=ids)
    finally:
        engines.dispose()


def rollups(
    url: str, entries: list[dict[str, Any]], now: float, ids: Sequence[str], workers: int
) -> int:
    """``refresh_rollups`` over slices of ``ids`` in ``workers`` processes; days written."""
    # Each call also scans every instrument's first span and counts every roll-up stored:
    # few large slices (~8 per process) keep that overhead small.
    size = max(SLICE, min(5 * SLICE, len(ids) // (8 * workers) + 1))
    jobs = [(url, entries, now, list(ids[k : k + size])) for k in range(0, len(ids), size)]
    days = 0
    with Progress() as progress, ProcessPoolExecutor(workers) as pool:
        task = progress.add_task(f"roll-ups ({url.split(':', 1)[0]})", total=len(jobs))
        for written in pool.map(rollup_job, jobs):
            days += written
            progress.advance(task)
    return days


def copy_rollups(source: Loader, target: Loader, skip: set[str]) -> int:
    """The daily and monthly roll-ups of ``source`` into ``target``, except those of the
    ``skip`` instruments; clears ``target``'s dirty marks (``refresh_rollups`` cleared them in
    ``source``). Returns the daily rows copied."""
    copied = 0
    for table, columns in ROLLUP_TABLES.items():
        cur = source.conn.cursor()
        cur.execute(f"SELECT {_columns(columns)} FROM {table}")  # noqa: S608 - our own names
        while chunk := cur.fetchmany(200_000):
            rows = [r for r in chunk if r[0] not in skip]
            target.write(table, columns, rows)
            copied += len(rows) if table == "daily_usage" else 0
    target.query("DELETE FROM dirty_days")
    return copied


def same_rollups(a: Loader, b: Loader, ids: Sequence[str]) -> int:
    """Roll-ups of ``ids`` (daily and monthly) must be equal in both ledgers to the last digit;
    returns how many daily rows."""
    count = 0
    for table, columns in ROLLUP_TABLES.items():
        wanted = [c for c in columns if c != "computed_at"]
        query = f"SELECT {_columns(wanted)} FROM {table} WHERE instrument_id = ?"  # noqa: S608
        got = [sorted(tuple(row) for i in ids for row in x.query(query, (i,))) for x in (a, b)]
        if got[0] != got[1]:
            differ = len(set(got[0]) ^ set(got[1]))
            raise RuntimeError(f"{table} differs between the ledgers ({differ} rows differ)")
        count += len(got[0]) if table == "daily_usage" else 0
    return count


def late_data(
    fleet: Sequence[Member], args: argparse.Namespace, loaders: list[Loader], now: float
) -> int:
    """The held-back changes arrive: the change before them is cut short, their claims and
    spans are stored and the closed days they touch marked dirty; returns the days marked."""
    marks: list[tuple[str, str, float]] = []
    rows = Rows()
    cut: list[tuple[str, float]] = []
    for m in fleet:
        if m.late:
            part, lo, hi = late_rows(m, args.changes_per_day, args.seed, now)
            if part.spans:
                cut.append((m.id, lo))
                rows.add(part)
                marks += [(m.id, day, now) for day in dirty_days(lo, hi, now)]
    for loader in loaders:
        loader.many("DELETE FROM spans WHERE instrument_id = ? AND start = ?", cut)
        loader.rows(rows)
        loader.many(
            "INSERT INTO dirty_days (instrument_id, day, marked_at) VALUES (?, ?, ?)", marks
        )
    return len(marks)


def check_timelines(
    engines: Engines, fleet: Sequence[Member], args: argparse.Namespace, now: float
) -> int:
    """Stored timelines of a sample (every late instrument among them) must equal the
    evidence rules on their whole stream."""
    step = max(1, len(fleet) // 20)
    sample = [m for m in fleet if m.kind != "never" and (m.i % step == 0 or m.late)][:60]
    for m in sample:
        obs = stream(m, args.changes_per_day, args.seed)
        verify(engines, m.i, obs, m.boot_key, FRESH_S)
        rows = member_rows(m, args.changes_per_day, args.seed, now)
        if not m.late and (
            rows.spans != list(direct_rows(m.i, obs[:-1], FRESH_S))
            or rows.claims != list(direct_claims(m.i, obs[:-1], m.boot_key, FRESH_S))
        ):
            raise RuntimeError(f"{m.id}: the bulk rows differ from benchmarks/usage.py's")
    return len(sample)


def create_indexes(job: tuple[str, list[str]]) -> None:
    url, statements = job
    with Loader(url) as loader:
        for statement in statements:
            loader.query(statement)


def write_path(
    url: str, config: CollectorConfig, messages: Callable[[], list[Received]], label: str
) -> None:
    engines = open_engines(url)
    try:
        with Progress() as progress:
            name = url.split(":", 1)[0]
            feed(Feeder(config, engines), messages(), progress, f"{label} ({name})")
    finally:
        engines.dispose()


def late_evening(now: float) -> float:
    """The last 22:12 site time before ``now``: the fleet's data end there and the API's clock
    stands there, so today's live figures cover most of a day whenever the fleet is built (the
    costliest time of day for a query that reaches today, and the same figures every build)."""
    local = datetime.fromtimestamp(now, ZONE)
    evening = local.replace(hour=22, minute=12, second=0, microsecond=0)
    if evening > local:
        evening -= timedelta(days=1)
    return evening.timestamp()


def build(args: argparse.Namespace, urls: dict[str, str]) -> dict[str, Any]:
    """Fill the ledgers at ``urls`` (database name -> URL; the first one computes the
    roll-ups); returns the manifest (what ``--keep`` records)."""
    now, t0 = late_evening(time.time()), time.perf_counter()
    fleet = plan(args.instruments, args.years, args.seed, now)
    entries = registry(fleet)
    configs = {db: collector_config(url, entries) for db, url in urls.items()}
    reporting = [m for m in fleet if m.kind != "never"]
    for db, url in urls.items():
        engines = open_engines(url)
        migrate(engines)
        sync_registry(engines, configs[db].registry(), now)
        engines.dispose()
        births = [birth(m.id, m.start - 60, FRESH_S) for m in reporting]
        write_path(url, configs[db], lambda b=births: b, "births (write path)")
    indexes = {}
    for url in urls.values():
        with Loader(url) as loader:
            indexes[url] = loader.drop_indexes(("spans", "claims"))
    changes = load(args, fleet, list(urls.values()), now)
    t1 = time.perf_counter()
    with ThreadPoolExecutor(len(indexes)) as pool:  # both databases at once
        list(pool.map(create_indexes, indexes.items()))
    print(f"indexes of spans and claims built again in {time.perf_counter() - t1:.0f} s")
    for db, url in urls.items():
        write_path(
            url,
            configs[db],
            lambda: last_changes(fleet, args.changes_per_day, args.seed),
            "last change of each (write path)",
        )
    print(f"ledger(s) filled in {time.perf_counter() - t0:.0f} s: {changes:,} changes")
    return finish(args, urls, fleet, entries, now)


def finish(
    args: argparse.Namespace,
    urls: dict[str, str],
    fleet: Sequence[Member],
    entries: list[dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """Roll-ups, late data, the checks; the manifest."""
    ids = [m.id for m in fleet]
    (first, url), *others = urls.items()
    t0 = time.perf_counter()
    days = rollups(url, entries, now, ids, args.workers)
    took = time.perf_counter() - t0
    print(
        f"roll-ups ({first}): {days:,} instrument-days in {took:.0f} s "
        f"({days / max(took, 1e-9):,.0f} days/s, {args.workers} processes)",
        flush=True,
    )
    loaders = [Loader(u) for u in urls.values()]
    try:
        sample = set(ids[:: max(1, len(ids) // 50)])
        for (db, other), loader in zip(others, loaders[1:], strict=True):
            t0 = time.perf_counter()
            copied = copy_rollups(loaders[0], loader, sample)
            again = rollups(other, entries, now, sorted(sample), args.workers)
            same = same_rollups(loaders[0], loader, sorted(sample))
            print(
                f"roll-ups ({db}): {copied:,} copied from {first}; {again:,} of {len(sample)} "
                f"instruments computed there by refresh_rollups, all {same:,} equal to {first}'s "
                f"({time.perf_counter() - t0:.0f} s)"
            )
        marked = late_data(fleet, args, loaders, now)
    finally:
        for loader in loaders:
            loader.close()
    for db, u in urls.items():
        engines = open_engines(u)
        checked = check_timelines(engines, fleet, args, now)
        engines.dispose()
        print(f"{db}: timelines of {checked} instruments equal the evidence rules on their stream")
    kinds = {k: sum(1 for m in fleet if m.kind == k) for k in ("active", "new", "silent", "never")}
    summary = (
        f"{len(fleet):,} instruments ({', '.join(f'{v:,} {k}' for k, v in kinds.items())}), "
        f"{args.years:g} years, {args.changes_per_day:g} changes/day, seed {args.seed}; "
        f"{marked} days marked dirty by late data"
    )
    print(summary)
    return {"now": now, "urls": urls, "registry": entries, "summary": summary}
