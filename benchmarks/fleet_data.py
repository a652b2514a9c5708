"""The fleet of benchmarks/fleet.py: who reports what, and the rows the write path would store.

Each instrument's state changes, spans and claims are those of benchmarks/usage.py (state
messages only, ``stale_after_s`` = 6 h, one claim and one span per change, the last change
through the write path); this module adds the fleet's mix, sessions, late data and the bulk
loaders for SQLite (``executemany`` in large transactions) and PostgreSQL (``COPY``).
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate, repeat
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from usage import STATES, WEIGHTS, Observation, instrument_id

from jishi.collector.ledger import tables
from jishi.collector.ledger.claims import CLAIM_COLUMNS

DAY = 86_400.0
ZONE = ZoneInfo("Asia/Shanghai")  # the site time zone (the collector's default)
FRESH_S = 12 * 3600.0  # the agents' stale_after_s: state messages only, no heartbeats
CUMULATIVE = list(accumulate(WEIGHTS))
# The share of draws that change the state (a draw of the current state is no change).
SAME_STATE_KEPT = 1 - sum(w * w for w in WEIGHTS) / sum(WEIGHTS) ** 2
SPAN_COLUMNS = tuple(c.name for c in tables.spans.columns if c.name != "id")
SESSION_COLUMNS = (
    "instrument_id",
    "source",
    "external_id",
    "start_ts",
    "end_ts",
    "user",
    "org",
    "user_type",
    "service_way",
    "direction",
    "satisfaction",
    "sample_count",
    "created_at",
)
USER_TYPES = ("internal", "external", "staff")
USER_WEIGHTS = (50, 40, 10)


@dataclass(frozen=True)
class Member:
    """One instrument of the fleet: ``kind`` is active (years of history up to now), new
    (first data days to weeks ago), silent (stopped months ago) or never (registered, no data);
    it reports over ``[start, end)`` (equal for never)."""

    i: int
    kind: str
    start: float
    end: float
    sessions: bool  # booked through the platform (user sessions imported)
    late: bool  # some of its closed days come late, after the roll-ups

    @property
    def id(self) -> str:
        return instrument_id(self.i)

    @property
    def boot_key(self) -> float:
        """When the collector first heard of its boot: the birth's receive time."""
        return self.start - 60 + 0.2


def plan(n: int, years: float, seed: int, now: float) -> list[Member]:
    """The fleet: ~80 % active, ~10 % new, ~5 % silent, ~5 % never reported."""
    rng = random.Random(seed)
    first = now - years * 365.25 * DAY
    fleet = []
    for i in range(n):
        r = rng.random()
        start, end, kind = float(round(first + rng.uniform(0, DAY))), now, "active"
        if r >= 0.95:
            start, kind = now, "never"
        elif r >= 0.90:
            end = max(start + 30 * DAY, now - rng.uniform(30, min(240, years * 200)) * DAY)
            kind = "silent"
        elif r >= 0.80:
            start, kind = float(round(now - rng.uniform(3, 42) * DAY)), "new"
        fleet.append(
            Member(
                i,
                kind,
                start,
                now if kind == "never" else end,
                sessions=rng.random() < 0.4,
                late=kind == "active" and rng.random() < 0.03,
            )
        )
    return fleet


@dataclass
class Rows:
    """Rows of a slice of the fleet, as the write path would store them."""

    spans: list[tuple[Any, ...]] = field(default_factory=list)
    claims: list[tuple[Any, ...]] = field(default_factory=list)
    sessions: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, other: Rows) -> None:
        self.spans += other.spans
        self.claims += other.claims
        self.sessions += other.sessions


def stream(m: Member, per_day: float, seed: int) -> list[Observation]:
    """The instrument's state changes, whole seconds apart: a state drawn by ``WEIGHTS`` at
    exponential gaps (drawing the same state again is no change, so the draws come faster)."""
    if m.kind == "never":
        return []
    rng = random.Random(seed * 1_000_003 + m.i)
    rate = per_day / DAY / SAME_STATE_KEPT
    out: list[Observation] = []
    ts, state = m.start + rng.randrange(600), "off"
    while ts < m.end:
        draws = rng.choices(STATES, cum_weights=CUMULATIVE, k=1024)
        for drawn in draws:
            if ts >= m.end:
                break
            if drawn != state:
                state = drawn
                out.append((ts, state))
            ts += max(1.0, float(round(rng.expovariate(rate))))
    return out


def span_rows(name: str, obs: Sequence[Observation]) -> list[tuple[Any, ...]]:
    """``usage.direct_rows`` in bulk: ``[ts, min(ts + freshness, next ts))`` per change."""
    ts = [t for t, _ in obs]
    ends = map(min, [t + FRESH_S for t in ts], [*ts[1:], math.inf])
    return list(zip(repeat(name), [s for _, s in obs], ts, ends, strict=False))


def claim_rows(m: Member, obs: Sequence[Observation], seqs: Sequence[int]) -> list[tuple[Any, ...]]:
    """``usage.direct_claims`` in bulk: one claim per change (``seqs``: their ``seq``)."""
    ts = [t for t, _ in obs]
    return list(
        zip(
            *(repeat(v) for v in (m.id, m.boot_key, f"boot-{m.id}")),
            seqs,
            seqs,
            *(repeat(v) for v in (None, False)),
            ts,
            ts,
            ts,
            [t + FRESH_S for t in ts],
            [s for _, s in obs],
            *(repeat(v) for v in (False, 1, False)),
            strict=False,
        )
    )


def late_range(m: Member, obs: Sequence[Observation], now: float) -> range:
    """Indices of the changes that arrive late: those of one closed day in the last 60 days
    (never the first change nor the last two)."""
    if not m.late:
        return range(0)
    rng = random.Random(m.i * 7919 + 17)
    day = now - rng.uniform(2, 60) * DAY
    held = [k for k, (ts, _) in enumerate(obs) if day <= ts < day + DAY and 1 <= k < len(obs) - 2]
    return range(held[0], held[-1] + 1) if held else range(0)


def member_rows(m: Member, per_day: float, seed: int, now: float) -> Rows:
    """Spans and claims of every change but the last (it goes through the write path) and the
    late ones; with the late changes missing, the change before them stays fresh as long as
    the writer stored it before they came."""
    obs = stream(m, per_day, seed)[:-1]
    late = late_range(m, obs, now)
    kept = [k for k in range(len(obs)) if k not in late]
    kept_obs = [obs[k] for k in kept]
    sessions = session_rows(m, now) if m.sessions and obs else []
    seqs = [k + 1 for k in kept]
    return Rows(span_rows(m.id, kept_obs), claim_rows(m, kept_obs, seqs), sessions)


def late_rows(m: Member, per_day: float, seed: int, now: float) -> tuple[Rows, float, float]:
    """What the late changes add: their claims, and the spans from the change before them
    (which they cut short) to the last of them; with the stretch ``[lo, hi)`` they touch."""
    obs = stream(m, per_day, seed)
    late = late_range(m, obs[:-1], now)
    if not late:
        return Rows(), 0.0, 0.0
    claims = claim_rows(m, obs[late.start : late.stop], [k + 1 for k in late])
    spans = span_rows(m.id, obs[late.start - 1 : late.stop + 1])[:-1]
    return Rows(spans, claims), spans[0][2], spans[-1][3]


def session_rows(m: Member, now: float) -> list[tuple[Any, ...]]:
    """Booked sessions, about one every two and a half days, 1-6 h each, from internal,
    external and staff users; imported from a booking system."""
    rng = random.Random(m.i * 104_729 + 3)
    out: list[tuple[Any, ...]] = []
    ts = m.start + rng.uniform(0, 2 * DAY)
    while ts < m.end - 6 * 3600:
        user_type = rng.choices(USER_TYPES, USER_WEIGHTS)[0]
        user = rng.randrange(200)
        out.append(
            (
                m.id,
                "import",
                f"bk-{m.i}-{len(out)}",
                ts,
                ts + rng.uniform(1, 6) * 3600,
                f"user{user:03d}",
                f"org{user % 40:02d}",
                user_type,
                "委托测试" if user_type == "external" else "自主上机",
                "材料",
                5.0,
                rng.randrange(1, 20),
                now,
            )
        )
        ts += rng.expovariate(1 / (2.5 * DAY))
    return out


def dirty_days(lo: float, hi: float, now: float, zone: ZoneInfo = ZONE) -> Iterator[str]:
    """The closed days (before today) that ``[lo, hi)`` touches, as the writer marks them."""
    day = datetime.fromtimestamp(lo, zone).date()
    today = datetime.fromtimestamp(now, zone).date()
    last = min(datetime.fromtimestamp(hi, zone).date(), today - timedelta(days=1))
    while day <= last:
        yield day.isoformat()
        day += timedelta(days=1)


def _columns(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


class Loader:
    """Bulk rows into one ledger: SQLite (one ``executemany`` transaction per call) or
    PostgreSQL (``COPY``). ``url`` is the collector's SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.conn: Any = sqlite3.connect(
                url.split(":///", 1)[1], isolation_level=None, timeout=300
            )
            self.conn.execute("PRAGMA synchronous=OFF")  # a benchmark's build: no fsync
        else:
            self.conn = psycopg.connect(url.replace("+psycopg", ""), autocommit=False)

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                f"INSERT INTO {table} ({_columns(columns)}) VALUES ({marks})",  # noqa: S608
                rows,
            )
            self.conn.execute("COMMIT")
            return
        sql = f"COPY {table} ({_columns(columns)}) FROM STDIN"
        with self.conn.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        self.conn.commit()

    def rows(self, rows: Rows) -> None:
        self.write("spans", SPAN_COLUMNS, rows.spans)
        self.write("claims", CLAIM_COLUMNS, rows.claims)
        self.write("sessions", SESSION_COLUMNS, rows.sessions)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement (``?`` placeholders) and its rows."""
        cur = self.conn.cursor()
        cur.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        out = cur.fetchall() if cur.description else []
        if not self.sqlite:
            self.conn.commit()
        return list(out)

    def many(self, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
        """One statement (``?`` placeholders) for each of ``params``, in one transaction."""
        if not params:
            return
        if self.sqlite:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(sql, params)
            self.conn.execute("COMMIT")
            return
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), params)
        self.conn.commit()

    def drop_indexes(self, tables: Sequence[str]) -> list[str]:
        """Drop the secondary indexes of ``tables`` (bulk loads run several times faster
        without them); returns the statements that create them again, as they were."""
        if self.sqlite:
            query = "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'"
        else:
            query = "SELECT tablename, indexname, indexdef FROM pg_indexes"
        found = [
            (name, sql)
            for table, name, sql in self.query(query)
            if table in tables and sql and not name.startswith("pk_")
        ]
        for name, _ in found:
            self.query(f'DROP INDEX "{name}"')
        return [sql for _, sql in found]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
