"""The user directory: its CSV (UTF-8 and GBK, every bad row at once), how it is applied to
sessions when figures are computed, and the accounts it does not know (issue 13)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from jishi.collector.config import InstrumentEntry
from jishi.collector.ingest.directory_csv import parse_directory_csv
from jishi.collector.ingest.directory_import import import_directory_csv
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.directory import delete_entry, store_entries, unmatched_accounts
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.ledger.session_input import SessionImportError, SessionRecord
from jishi.collector.ledger.sessions import store_sessions
from jishi.collector.usage.engine import Session
from jishi.collector.usage.users import Directory, DirectoryEntry

from support import messages as h
from support.ledger import feed, make_config, make_pipeline

TZ = "Asia/Shanghai"
# What Excel on a Chinese Windows saves: Chinese headers, GBK bytes.
DIRECTORY = """账号,卡号,邮箱,姓名,单位,管理单位,用户类型
zhangsan,0012345678,ZhangSan@Example.edu.cn,张三,化学学院,分析测试中心,校内
lisi,0087654321,,李四,某某公司,分析测试中心,校外
tech01,,,王工,分析测试中心,分析测试中心,工作人员
"""


def test_a_gbk_directory_reads_as_written() -> None:
    from jishi.collector.ingest.sessions_csv import decode_csv

    entries = parse_directory_csv(decode_csv(DIRECTORY.encode("gbk")))
    assert [(e.account, e.person, e.org, e.user_type) for e in entries] == [
        ("zhangsan", "张三", "化学学院", "internal"),
        ("lisi", "李四", "某某公司", "external"),
        ("tech01", "王工", "分析测试中心", "staff"),
    ]
    assert entries[0].email == "zhangsan@example.edu.cn"


def test_every_bad_row_at_once() -> None:
    text = (
        "account,card,email,user_type\n"
        "a,1,,internal\n"
        ",2,,internal\n"  # no account
        "b,3,,visitor\n"  # no such type
        "c,1,,external\n"  # card of line 2 again
        "d,,not-an-address,external\n"
    )
    with pytest.raises(SessionImportError) as caught:
        parse_directory_csv(text)
    assert [line for line, _ in caught.value.problems] == [3, 4, 5, 6]
    assert "already on line 2" in caught.value.problems[2][1]


def test_an_unknown_column_is_refused_before_any_row() -> None:
    with pytest.raises(SessionImportError, match="unknown column"):
        parse_directory_csv("account,user_type,phone\na,internal,1\n")


def test_the_directory_fills_what_a_session_leaves_empty() -> None:
    directory = Directory(
        [
            DirectoryEntry("zs", "internal", card="0012", email="zs@x.cn", org="化学学院"),
            DirectoryEntry("ls", "external", card="0013", person="李四"),
        ]
    )
    by_card = directory.apply(Session(0, 10, user="0012"))
    by_mail = directory.apply(Session(0, 10, user="ZS@X.cn"))
    explicit = directory.apply(Session(0, 10, user="zs", user_type="external", org="某公司"))
    unknown = directory.apply(Session(0, 10, user="nobody"))
    assert directory.apply(Session(0, 10, user="0013")).user == "李四"  # the applicant's name
    assert (by_card.user_type, by_card.org) == ("internal", "化学学院")
    assert by_card.user == "0012"  # no name in the entry: the card number stays
    assert (by_mail.user_type, by_mail.contact) == ("internal", "zs@x.cn")
    assert (explicit.user_type, explicit.org) == ("external", "某公司")
    assert unknown.user_type is None


def test_an_account_wins_over_a_card_number_that_reads_the_same() -> None:
    directory = Directory(
        [DirectoryEntry("1234", "staff"), DirectoryEntry("other", "external", card="1234")]
    )
    found = directory.find("1234")
    assert found is not None and found.account == "1234"


def _session(user: str, start: float, hours: float = 2) -> SessionRecord:
    return SessionRecord("nmr", Session(start, start + hours * 3600, user=user, session_id=user))


def test_a_corrected_directory_corrects_past_figures(engines: Engines) -> None:
    now = time.time()
    sync_registry(engines, {"nmr": InstrumentEntry(id="nmr")}, now)
    past = now - 10 * 86400
    store_sessions(
        engines, [_session("0087654321", past), _session("ghost", past + 7200)], "api", now, TZ
    )
    with engines.write.begin() as conn:
        conn.execute(tables.dirty_days.delete())
    import_directory_csv(engines, DIRECTORY.encode("gb18030"), TZ, now)
    with engines.read.connect() as conn:
        types = [s.user_type for s in queries.sessions_in(conn, ["nmr"], past, now, now)["nmr"]]
        dirty = conn.execute(select(tables.dirty_days.c.instrument_id)).scalars().all()
        missing = unmatched_accounts(conn)
    assert types == ["external", None]
    assert set(dirty) == {"nmr"}  # the roll-up of that day is made again with the new type
    assert missing == [{"user": "ghost", "sessions": 1, "instruments": ["nmr"]}]
    fixed = DIRECTORY.replace(
        "0087654321,,李四,某某公司,分析测试中心,校外", "0087654321,,李四,化学学院,分析测试中心,校内"
    )
    import_directory_csv(engines, fixed.encode("utf-8"), TZ, now)
    assert delete_entry(engines, "tech01", now, TZ)
    assert not delete_entry(engines, "tech01", now, TZ)
    with engines.read.connect() as conn:
        types = [s.user_type for s in queries.sessions_in(conn, ["nmr"], past, now, now)["nmr"]]
    assert types == ["internal", None]


def test_a_directory_entry_reaches_the_daily_roll_up(engines: Engines, tmp_path: Path) -> None:
    day0 = 1_749_916_800.0  # 2025-06-15 00:00 Asia/Shanghai
    now = day0 + 2 * 86400
    pipeline = make_pipeline(engines, tmp_path, now)
    msgs = [h.birth("nmr", 0, day0, hb=60.0)]
    msgs += [h.hb("nmr", k, day0 + 9 * 3600 + k * 60, "running", interval=60) for k in range(1, 61)]
    feed(pipeline, msgs, now)
    session = Session(day0 + 9 * 3600, day0 + 10 * 3600, user="card-9", session_id="s9")
    store_sessions(engines, [SessionRecord("nmr", session)], "agent-test", now, TZ)
    config = make_config(tmp_path, database={"url": engines.url})

    def rolled_external() -> float:
        refresh_rollups(engines, config, now)
        d = tables.daily_usage
        with engines.read.connect() as conn:
            return float(
                conn.execute(
                    select(d.c.external_service_s).where(d.c.day == "2025-06-15")
                ).scalar_one()
            )

    assert rolled_external() == 0.0
    entry = DirectoryEntry("visitor", "external", card="card-9")
    store_entries(engines, [entry], now, TZ)
    assert rolled_external() > 3000  # the hour of running inside the session, now external


def test_a_campus_sized_directory(engines: Engines) -> None:
    """12,000 people, each with a card and an e-mail: 36,000 keys, looked up as account, card
    or e-mail, more parameters than PostgreSQL binds in one statement (65,535; SQLite's limit
    depends on how it was built), so lookups and the dirty-day marking go in chunks."""
    now = time.time()
    sync_registry(engines, {"nmr": InstrumentEntry(id="nmr")}, now)
    people = range(12_000)
    rows = [
        {"instrument_id": "nmr", "source": "api", "external_id": f"s{k}", "user": f"c{k}",
         "start_ts": now - 5 * 86400 + k * 10, "end_ts": now - 5 * 86400 + k * 10 + 5,
         "created_at": now}
        for k in people
    ]  # fmt: skip
    with engines.write.begin() as conn:  # in bulk: the session store is not under test here
        conn.execute(tables.sessions.insert(), rows)
    entries = [
        DirectoryEntry(f"u{k}", "external", card=f"c{k}", email=f"u{k}@x.cn") for k in people
    ]
    assert store_entries(engines, entries, now, TZ) == 12_000
    with engines.read.connect() as conn:
        found = queries.sessions_in(conn, ["nmr"], now - 6 * 86400, now, now)["nmr"]
        assert unmatched_accounts(conn) == []
    assert len(found) == 12_000
    assert {s.user_type for s in found} == {"external"}
