"""A generated year (2025, Asia/Shanghai) for four instruments in three units, with known truth.

Every day of every instrument follows one of a few patterns whose figures are worked out by hand
below (minutes); the ledger is filled through the collector's own write paths (state messages
and last wills through the ingest pipeline, sessions through the CSV import), and the truth is
the sum of the patterns' figures, independent of the engine under test.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from jishi.collector.config import CollectorConfig
from jishi.collector.ingest.intake import Limits
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ingest.sessions_csv import parse_sessions_csv
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.sessions import store_sessions
from jishi.collector.ledger.writer import LedgerWriter

from support import messages as h

TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)
YEAR = 2025
NOW = datetime(2026, 3, 1, 12, tzinfo=ZONE).timestamp()
WEEK = 7 * 86_400.0

# Pattern -> state changes (local "HH:MM", state); the first entry is at 00:00.
PATTERNS: dict[str, list[tuple[str, str]]] = {
    # busy: 5-min sample change (effective), lunch-free afternoon, idle 17-18 (not effective)
    "A": [
        ("00:00", "off"),
        ("08:00", "idle"),
        ("08:30", "running"),
        ("12:00", "idle"),
        ("12:05", "running"),
        ("17:00", "idle"),
        ("18:00", "off"),
    ],
    # quiet: a 20-min pause between runs (too long to count)
    "B": [
        ("00:00", "off"),
        ("09:00", "running"),
        ("10:00", "idle"),
        ("10:20", "running"),
        ("11:00", "off"),
    ],
    "O": [("00:00", "off")],
    "M": [("00:00", "maintenance")],
    "F": [("00:00", "off"), ("08:00", "running"), ("12:00", "fault")],
    "C": [],  # agent down: a last will at 00:00, nothing else
}
# Sessions per pattern: (start, end, user, org, user_type, service_way, direction).
SESSIONS: dict[str, list[tuple[str, str, str, str, str, str, str]]] = {
    "A": [
        ("08:00", "12:00", "张三", "外校甲大学", "校外", "委托共享", "科研"),
        ("13:00", "17:30", "李四", "本校化学系", "internal", "occupy", "teaching"),
    ],
    "Bs": [("09:00", "11:00", "王五", "本中心", "staff", "", "")],
}
# Applicant contacts by user (the CSV's optional ``contact`` column); others leave it empty.
CONTACTS = {"张三": "13800000001"}
# Hand-worked minutes per day pattern (see PATTERNS and SESSIONS).
TRUTH: dict[str, dict[str, float]] = {
    "A": {
        "running": 505,
        "idle": 95,
        "off": 840,
        "effective": 570,
        "service": 510,
        "external_service": 240,
    },
    "B": {"running": 100, "idle": 20, "off": 1320, "effective": 100},
    "Bs": {"running": 100, "idle": 20, "off": 1320, "effective": 120},
    "O": {"off": 1440},
    "M": {"maintenance": 1440},
    "F": {"running": 240, "off": 480, "fault": 720, "effective": 240},
    "C": {"unknown": 1440},
}
# Service records of an "A" day: (hours, service type, way, direction code, user type).
A_RECORDS = [(4.0, 130, "委托共享", 135, "external"), (4.5, 120, "占用共享", 137, "internal")]


@dataclass(frozen=True)
class Instrument:
    """One instrument of the scenario: registry facts and which day pattern each day follows."""

    id: str
    name: str
    unit: str
    category: str
    quota_h: float | None
    inner_id: str
    plan: Callable[[date], str]


def _nmr(day: date) -> str:
    if date(2025, 3, 10) <= day <= date(2025, 3, 19):
        return "C"
    return "A" if day.weekday() < 5 else "O"


def _sem1(day: date) -> str:
    return {0: "A", 2: "A", 4: "A", 1: "Bs", 3: "Bs"}.get(day.weekday(), "O")


def _sem2(day: date) -> str:
    if date(2025, 7, 1) <= day <= date(2025, 8, 29):
        return "C"
    if day.weekday() == 0 and day.day <= 7:
        return "M"
    return "B" if day.weekday() < 5 else "O"


def _xrd(day: date) -> str:
    return "F" if day.weekday() == 1 else "O"


INSTRUMENTS = [
    Instrument("nmr-1", "核磁共振波谱仪", "化学学院", "general", None, "NMR0001", _nmr),
    Instrument("sem-1", "扫描电子显微镜", "材料学院", "general", None, "SEM0001", _sem1),
    Instrument("sem-2", "场发射扫描电镜", "材料学院", "specialised", None, "SEM0002", _sem2),
    Instrument("xrd-1", "X射线衍射仪", "物理学院", "general", 1000.0, "XRD0001", _xrd),
]
KINDS = {"电镜": ["sem-*"], "核磁": ["nmr-*"]}


def days(year: int = YEAR) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def at(day: date, hhmm: str) -> float:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).timestamp()


def config_for(tmp_path: Path, database_url: str) -> CollectorConfig:
    return CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "collector"),
            "database": {"url": database_url},
            "api": {"port": 0},
            "site": {"timezone": TZ},
            "reports": {"kinds": KINDS},
            "instruments": [
                {
                    "id": i.id,
                    "name": i.name,
                    "unit": i.unit,
                    "category": i.category,
                    "inner_id": i.inner_id,
                    "stale_after_s": WEEK,  # state messages only: a run lasts until the next
                    **({"quota_h": i.quota_h} if i.quota_h else {}),
                }
                for i in INSTRUMENTS
            ],
        }
    )


def _messages(inst: Instrument) -> list[Received]:
    boot = f"boot-{inst.id}"
    out: list[Received] = []
    seq = 0

    def add(topic_payload: tuple[str, bytes], when: float) -> None:
        out.append(Received(topic_payload[0], topic_payload[1], when))

    first = at(days()[0], "00:00")
    add(h.birth(inst.id, seq, first, boot=boot, hb=30.0), first)
    previous = ""
    for day in days():
        pattern = inst.plan(day)
        if pattern == "Bs":
            pattern = "B"  # same states; the staff session comes from the CSV
        if pattern == "C":
            if previous != "C":
                seq += 1
                add(h.will(inst.id, seq, at(day, "00:00"), boot=boot), at(day, "00:00"))
        else:
            for hhmm, state in PATTERNS[pattern]:
                seq += 1
                ts = at(day, hhmm)
                add(h.state(inst.id, seq, ts, state, boot=boot), ts)
        previous = pattern
    return out


def sessions_csv() -> str:
    """The year's planned sessions as the CSV an operator would import (a header, then rows)."""
    rows = [
        {
            "instrument": inst.id,
            "start": f"{day}T{start}",
            "end": f"{day}T{end}",
            "user": user,
            "org": org,
            "contact": CONTACTS.get(user, ""),
            "user_type": kind,
            "service_way": way,
            "direction": direction,
            "satisfaction": "5",
            "session_id": f"{inst.id}-{day}-{k}",
        }
        for inst in INSTRUMENTS
        for day in days()
        for k, (start, end, user, org, kind, way, direction) in enumerate(
            SESSIONS.get(inst.plan(day), [])
        )
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def load(engines: Engines, config: CollectorConfig) -> None:
    """Fill the ledger through the ingest pipeline and the session CSV import."""
    pipeline = Pipeline(
        engines=engines,
        writer=LedgerWriter(config.registry(), TZ, 256),
        limits=Limits(65536, 600, 400 * 86400, None),
        topic_root=h.ROOT,
        metrics=IngestMetrics(),
        acker=lambda _items: None,
        clock=lambda: NOW,
    )
    messages = [m for inst in INSTRUMENTS for m in _messages(inst)]
    for k in range(0, len(messages), 2000):
        outcome = pipeline.process(messages[k : k + 2000])
        assert not outcome.dead, outcome.dead
    records = parse_sessions_csv(sessions_csv(), TZ)
    store_sessions(engines, records, "import", NOW, TZ)


# --- truth -----------------------------------------------------------------------------------


def truth_minutes(inst: Instrument, start: date, end: date) -> Counter[str]:
    """Minutes per figure over local days ``[start, end)``."""
    total: Counter[str] = Counter()
    day = start
    while day < end:
        total.update(TRUTH[inst.plan(day)])
        day += timedelta(days=1)
    return total


def pattern_count(inst: Instrument, pattern: str) -> int:
    return sum(1 for d in days() if inst.plan(d) == pattern)
