"""Usage at fleet scale (issue 18): N instruments (default 10,000) with years of history in a
SQLite and a PostgreSQL ledger; the API and ``jishi report figures`` timed against the targets.

The fleet (benchmarks/fleet_data.py): ~80 % of the instruments report for ``--years`` up to
now, ~10 % are new (first data 3-42 days ago), ~5 % went silent 1-8 months ago and ~5 % are
registered but never reported. Each reporting instrument changes state ``--changes-per-day``
times a day on average (running, idle, off, some fault and maintenance; exponential gaps in
whole seconds); its agent sends state messages only and announces ``stale_after_s`` = 12 h, so
a gap longer than that is unknown time (about a fifth of the time at 3 changes a day). 40 %
have booked sessions (internal, external and staff users; about one every 2.5 days). 3 % of
the active ones get a day of late data: those changes are held back, the roll-ups computed,
then their rows written and the days marked in ``dirty_days``, as the writer does when late
data arrives.

How the ledger is filled (as benchmarks/usage.py does for its direct instruments, whose
helpers this reuses): births and each instrument's last change go through the collector's
write path (``Pipeline.process``); every other change is written directly as the ``claims``
and ``spans`` rows that path stores, built in bulk (the shapes of usage.py's ``direct_claims``
and ``direct_rows``, checked on a sample) by worker processes, with the secondary indexes of
both tables dropped during the load and created again after it (``executemany`` in one
transaction per slice on SQLite, ``COPY`` on PostgreSQL); sessions as a booking import stores
them; the registry by ``sync_registry``. A sample of stored timelines must equal the evidence
rules on their streams, or the benchmark fails.

Daily roll-ups are computed by the collector's ``refresh_rollups`` (worker processes over
slices of instruments) on the first database. On the second (same seed, same clock: the same
rows) they are copied, except for a sample of instruments that ``refresh_rollups`` computes
there too and that must give the same figures to the last digit.

Why 3 changes a day and the copy: the default fleet is 6.2 million instrument-days and 18.5
million changes. ``refresh_rollups`` costs about 60 us per instrument-day plus 10 us per change
(pure Python): on this 2-core machine, shared with other work, it took 18 minutes for one
database (5,800 days/s in 2 processes) whatever the density; storing a change in both databases
costs ~20 us of client CPU (the fill took 10.5 minutes, 2.7 of them rebuilding indexes).
Computing the roll-ups twice, or the ~20 changes a day of benchmarks/usage.py, would double
that. The default build of both databases still took 30 minutes here (2026-12-02), not the 15
hoped for: the roll-ups alone exceed that budget, so only a faster ``refresh_rollups`` brings
it there. Build once with ``--keep DIR`` and re-time the queries on it.

Then a child process runs the collector's API (``start_collector(..., ingest=False)``, real
uvicorn over HTTP; ``jishi collector run`` always ingests) with its clock fixed at the build's
"now", the last 22:12 site time before the build, where the history ends (today's live figures
then cover most of a day, the costliest time for a query that reaches today, and every build
times the same thing), while this process samples its RSS. Before timing, the ledgers get
what a collector does at its start: schema upgrade, a roll-up pass and its housekeeping (on
PostgreSQL, planner statistics of the grown tables). Timed (``--repeat``
runs each; a run over ``--slow`` seconds is not repeated, one over ``--timeout`` is reported as
a timeout and the child restarted): ``/api/v1/instruments``; ``/api/v1/usage`` for yesterday;
``group_by=unit`` for the current year; ``group_by=month`` for 11 calendar years; and
``jishi report figures`` for the last complete year (a subprocess on the same ledger).

    .venv/bin/python benchmarks/fleet.py [--instruments 10000] [--years 2] [--db both]
        [--keep DIR] [--timeout 600] [--repeat 3]

``--keep DIR`` keeps the built ledgers: ``DIR/fleet.json`` records the SQLite file, the
PostgreSQL database name, the clock and the fleet's parameters; run again with the same
``--keep DIR`` to time the queries on them without rebuilding (after a code change). Drop the
PostgreSQL database with ``dropdb -h 127.0.0.1 -U postgres NAME`` when done.

Targets: instruments <= 0.5 s, day <= 0.5 s, year by unit <= 2 s, 11 years by month <= 5 s,
report figures for a year <= 10 s, collector RSS <= 500 MB. Ends with one
``RESULT db=... ...`` line per database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_build import build
from fleet_timing import measure, serve
from sqlalchemy import delete, insert, select

from jishi.collector.config import load_collector_config
from jishi.collector.ledger import tables
from jishi.collector.ledger.db import migrate, open_engines
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.ledger.rollup_rules import retire_changed_rollups
from jishi.collector.ledger.statistics import refresh_statistics

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def ledger_urls(dbs: list[str], where: Path) -> dict[str, str]:
    urls = {}
    for db in dbs:
        if db == "sqlite":
            # A build that failed part way left no fleet.json: start that file afresh.
            for leftover in where.glob("ledger.sqlite3*"):
                leftover.unlink()
            urls[db] = f"sqlite:///{where / 'ledger.sqlite3'}"
        else:
            name = f"jishi_fleet_{os.getpid()}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            urls[db] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    return urls


def drop(urls: dict[str, str]) -> None:
    for url in urls.values():
        if url.startswith("postgresql"):
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_configs(manifest: dict[str, Any], where: Path) -> None:
    """One collector.toml per database, with the whole registry (the API and the report
    read the same file)."""
    registry = []
    for entry in manifest["registry"]:
        registry += ["[[instruments]]", *(f"{k} = {json.dumps(v)}" for k, v in entry.items())]
    for db, url in manifest["urls"].items():
        head = [f'data_dir = "{where}"', "[database]", f'url = "{url}"', "[api]", "port = 0"]
        (where / f"{db}.toml").write_text("\n".join(head + registry) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changes-per-day", type=float, default=3.0)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep (or reuse) the ledgers")
    parser.add_argument("--timeout", type=float, default=600.0, help="per request, seconds")
    parser.add_argument("--slow", type=float, default=60.0, help="no repeats above, seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.keep is None:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, Path(tmp), keep=False)
    else:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep.resolve(), keep=True)


def catch_up(config_path: Path, now: float, db: str) -> None:
    """What a collector does first on a kept ledger: upgrade its schema (a ledger built by an
    older version) and run a roll-up pass (days and months still missing), both timed. The
    late data's dirty marks are put back afterwards, so the queries still meet them."""
    config = load_collector_config(config_path)
    engines = open_engines(config.database_url)
    dirty = tables.dirty_days
    try:
        t0 = time.perf_counter()
        migrate(engines)
        t1 = time.perf_counter()
        with engines.read.connect() as conn:
            marks = [dict(r) for r in conn.execute(select(dirty)).mappings()]
            known = conn.execute(select(tables.rollup_rules.c.instrument_id).limit(1)).first()
        # The build computed the roll-ups with this very config: a ledger built before the
        # rules were recorded gets them recorded, not its roll-ups retired (the collector would
        # recompute all 6 million days once after such an upgrade).
        retire_changed_rollups(engines, config, now, retire=known is not None)
        written = refresh_rollups(engines, config, now)
        t2 = time.perf_counter()
        # What the collector's housekeeping does after its roll-up pass (this machine's
        # PostgreSQL runs with autovacuum off): without it the planner keeps the statistics
        # of the emptier tables and scans 18 million spans for one day.
        analyzed = refresh_statistics(engines)
        if marks:
            with engines.write.begin() as conn:
                conn.execute(delete(dirty))
                conn.execute(insert(dirty), marks)
    finally:
        engines.dispose()
    print(
        f"{db}: schema upgrade {t1 - t0:.0f} s, roll-up pass {t2 - t1:.0f} s ({written} days), "
        f"{len(marks)} late-data marks kept, statistics refreshed: {', '.join(analyzed) or '-'}"
    )


def run(args: argparse.Namespace, where: Path, *, keep: bool) -> None:
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    path = where / "fleet.json"
    if path.exists():
        manifest = json.loads(path.read_text())
        missing = set(dbs) - set(manifest["urls"])
        if missing:
            sys.exit(f"{where} holds no {', '.join(sorted(missing))} ledger: use another DIR")
        print(f"reusing the ledgers of {path}: {manifest['summary']}")
        for db in dbs:
            catch_up(where / f"{db}.toml", manifest["now"], db)
    else:
        urls = ledger_urls(dbs, where)
        t0 = time.perf_counter()
        try:
            manifest = build(args, urls)
            print(f"built in {time.perf_counter() - t0:.0f} s")
        except BaseException:
            if keep:
                print(f"build failed; its ledgers are kept: {', '.join(urls.values())}")
            else:
                drop(urls)
            raise
        path.write_text(json.dumps(manifest, indent=1))
        write_configs(manifest, where)
        for db in dbs:  # as a collector would start on these ledgers
            catch_up(where / f"{db}.toml", manifest["now"], db)
    try:
        results = {db: measure(args, manifest, where / f"{db}.toml", db) for db in dbs}
    finally:
        if not keep:
            drop(manifest["urls"])
    for db, line in results.items():
        print(f"RESULT db={db} {line}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(Path(sys.argv[2]), float(sys.argv[3]))
    else:
        main()
