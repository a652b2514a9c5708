"""A failed ledger write is the database's or one message's (issue 17): a table missing under
a running collector is an outage (retried, nothing acknowledged, nothing lost), not a reason to
dead-letter, and so acknowledge and lose, every valid message meanwhile; a value PostgreSQL
refuses is that message's dead letter and holds up no other."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from jishi.collector.ingest.intake import Limits
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ingest.worker import ProcessPipeline, WorkerSettings
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.failures import database_unavailable
from jishi.collector.ledger.writer import LedgerWriter

from support import messages as h
from support.waiting import wait_until

LIMITS = Limits(65536, 600, 400 * 86400, None)


def wrapped(orig: Exception) -> SQLAlchemyError:
    """The driver error as SQLAlchemy raises it (the DB-API class picks the wrapper)."""
    return DBAPIError.instance("INSERT ...", {}, orig, type(orig).__mro__[1])


@pytest.mark.parametrize(
    ("orig", "unavailable"),
    [
        (pg.UndefinedTable('relation "boots" does not exist'), True),  # 42P01
        (pg.UndefinedColumn("column does not exist"), True),  # 42703
        (pg.InsufficientPrivilege("permission denied for table spans"), True),  # 42501
        (pg.DiskFull("could not extend file"), True),  # 53100
        (pg.AdminShutdown("terminating connection"), True),  # 57P01
        (pg.DeadlockDetected("deadlock detected"), True),  # 40P01
        (pg.ReadOnlySqlTransaction("read-only transaction"), True),  # 25006
        (pg.InvalidCatalogName('database "ledger" does not exist'), True),  # 3D000
        (psycopg.OperationalError("connection failed"), True),  # no SQLSTATE
        (pg.NumericValueOutOfRange("value out of range"), False),  # 22003
        (pg.UniqueViolation("duplicate key"), False),  # 23505
        (pg.ProgramLimitExceeded("index row size exceeds maximum"), False),  # 54000
        (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), False),
        (sqlite3.OperationalError("no such table: boots"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.IntegrityError("NOT NULL constraint failed"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_who_is_at_fault(orig: Exception, unavailable: bool) -> None:
    assert database_unavailable(wrapped(orig)) is unavailable


class Acks:
    """The acker: which messages were acknowledged to the broker, by topic and payload."""

    def __init__(self) -> None:
        self.acked: list[Received] = []
        self.lock = threading.Lock()

    def __call__(self, items: Sequence[Received]) -> None:
        with self.lock:
            self.acked.extend(items)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def start_pipeline(kind: str, engines: Engines, acks: Acks) -> Pipeline | ProcessPipeline:
    metrics = IngestMetrics()
    pipeline: Pipeline | ProcessPipeline
    if kind == "thread":
        writer = LedgerWriter({}, "Asia/Shanghai", 4096, topic_root=h.ROOT)
        pipeline = Pipeline(
            engines=engines,
            writer=writer,
            limits=LIMITS,
            topic_root=h.ROOT,
            metrics=metrics,
            acker=acks,
        )
    else:
        settings = WorkerSettings(
            engines.url, {}, "Asia/Shanghai", 4096, LIMITS, h.ROOT, log_level=30
        )
        pipeline = ProcessPipeline(settings=settings, metrics=metrics, acker=acks)
    pipeline.start()
    return pipeline


def ledger_counts(engines: Engines) -> tuple[int, list[str]]:
    """(the highest seq stored for nmr, the dead letters' reasons)."""
    with engines.read.connect() as conn:
        top = conn.execute(text("SELECT top_seq FROM instruments WHERE id = 'nmr'")).scalar()
        dead = conn.execute(text("SELECT reason FROM dead_letters")).scalars().all()
    return int(top if top is not None else -1), list(dead)


def submit_all(pipeline: Pipeline | ProcessPipeline, messages: list[tuple[str, bytes]]) -> None:
    for topic, payload in messages:
        pipeline.submit(Received(topic, payload, time.time()))


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["thread", "process"])
def test_a_table_renamed_under_a_running_pipeline_loses_and_acks_nothing(
    engines: Engines, kind: str
) -> None:
    acks = Acks()
    pipeline = start_pipeline(kind, engines, acks)
    now = time.time() - 3600
    try:
        submit_all(pipeline, [h.birth("nmr", 0, now, hb=60.0)])
        wait_until(lambda: acks.count() == 1, 20, "the birth stored and acked")
        with engines.write.begin() as conn:
            conn.execute(text("ALTER TABLE boots RENAME TO boots_away"))  # every batch reads it
        states = ["running", "idle"] * 25
        submit_all(pipeline, [h.state("nmr", k + 1, now + k, s) for k, s in enumerate(states)])
        wait_until(
            lambda: pipeline.metrics.store_errors >= 3 or acks.count() > 1,
            20,
            "three failed attempts (or an acknowledgement)",
        )
        assert acks.count() == 1, "a message was acknowledged while the table was missing"
        assert pipeline.metrics.database_ok is False
        assert "boots" in str(pipeline.metrics.last_error)  # the table, in the driver's words
        with engines.write.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
            conn.execute(text("ALTER TABLE boots_away RENAME TO boots"))
        wait_until(lambda: acks.count() == 51, 30, "every message stored once the table is back")
    finally:
        pipeline.stop()
    top, dead = ledger_counts(engines)
    assert top == 50
    assert dead == []
    assert pipeline.metrics.stored == 51
    assert pipeline.metrics.database_ok is True


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["thread", "process"])
@pytest.mark.parametrize("ledger_url", ["postgresql"], indirect=True)  # SQLite stores a NUL
def test_a_value_postgresql_refuses_is_one_dead_letter(engines: Engines, kind: str) -> None:
    acks = Acks()
    pipeline = start_pipeline(kind, engines, acks)
    now = time.time() - 3600
    try:
        submit_all(
            pipeline,
            [
                h.birth("nmr", 0, now, hb=60.0),
                h.state("nmr", 1, now + 1, "running"),
                # A NUL in a text field: valid JSON and wire schema, refused by PostgreSQL.
                h.birth("gc-ms", 0, now, hb=60.0, boot="boot-gc-ms", name="GC\u0000MS"),
                h.state("nmr", 2, now + 2, "idle"),
            ],
        )
        wait_until(lambda: acks.count() == 4, 20, "all four acknowledged")
    finally:
        pipeline.stop()
    top, dead = ledger_counts(engines)
    assert top == 2
    assert dead == ["store_error"]
    assert pipeline.metrics.store_errors == 0  # never taken for an outage
    assert pipeline.metrics.refused_writes == 1
