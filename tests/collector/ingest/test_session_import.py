"""Session CSV imports (issue 14): files as Chinese Excel saves them (GBK / GB18030) and UTF-8
with or without BOM are read alike, and every bad row is reported in one answer, unknown
instruments included. Against a real ledger (SQLite file, and PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jishi.cli import main
from jishi.collector.config import InstrumentEntry
from jishi.collector.ingest.session_import import import_sessions_csv
from jishi.collector.ingest.sessions_csv import decode_csv
from jishi.collector.ledger import queries
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.ledger.session_input import SessionImportError

from support.paths import EXAMPLES

TZ = "Asia/Shanghai"
# 䶮 (U+4DAE) is in GB18030 but not in GBK: a name Excel's GB18030 export can carry.
CSV = """instrument,start,end,user,org,user_type,service_way
nmr,2025-06-15 08:00,2025-06-15 09:00,李四,化学学院,校外,委托测试
nmr,2025-06-15 10:00,2025-06-15 11:00,王䶮,物理学院,校内,占用共享
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_every_encoding_reads_the_same_text(encoding: str) -> None:
    assert decode_csv(CSV.encode(encoding)) == CSV


def test_gbk_as_excel_writes_it() -> None:
    text = CSV.replace("王䶮", "王五")  # GBK has no 䶮
    raw = text.replace("\n", "\r\n").encode("gbk")
    assert decode_csv(raw) == text.replace("\n", "\r\n")


def test_bytes_in_no_known_encoding_are_refused() -> None:
    with pytest.raises(SessionImportError, match="neither UTF-8 nor GBK/GB18030"):
        decode_csv(b"instrument,start,end\n\xff\xfe\xff,1,2\n")


def _register(engines: Engines, *ids: str) -> None:
    sync_registry(engines, {i: InstrumentEntry(id=i) for i in ids}, time.time())


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_import_stores_the_names_as_written(engines: Engines, encoding: str) -> None:
    _register(engines, "nmr")
    assert import_sessions_csv(engines, CSV.encode(encoding), TZ, time.time()) == 2
    with engines.read.connect() as conn:
        stored = queries.list_sessions(conn, "nmr", None, None, 10)
    assert sorted((s["user"], s["org"], s["user_type"]) for s in stored) == [
        ("李四", "化学学院", "external"),
        ("王䶮", "物理学院", "internal"),
    ]


BAD = """instrument,start,end,user_type,sample_count
nmr,2025-06-15 08:00,2025-06-15 09:00,external,2
nmr,2025-06-15 10:00,2025-06-15 09:00,external,2
ghost,2025-06-15 08:00,2025-06-15 09:00,external,2
nmr,2025-06-15 08:00,2025-06-15 09:00,visitor,2
phantom,2025-06-15 08:00,2025-06-15 09:00,external,2
nmr,2025-06-15 08:00,2025-06-15 09:00,external,two
"""


def test_every_bad_row_at_once(engines: Engines) -> None:
    _register(engines, "nmr")
    with pytest.raises(SessionImportError) as caught:
        import_sessions_csv(engines, BAD.encode("gbk"), TZ, time.time())
    problems = caught.value.problems
    assert [line for line, _ in problems] == [3, 4, 5, 6, 7]
    assert problems[1] == (4, "unknown instrument 'ghost'")
    assert problems[3] == (6, "unknown instrument 'phantom'")
    with engines.read.connect() as conn:
        assert queries.list_sessions(conn, None, None, None, 10) == []  # all or nothing


def test_a_broken_csv_is_a_line_not_a_crash(engines: Engines) -> None:
    with pytest.raises(SessionImportError) as caught:
        import_sessions_csv(engines, b"instrument,start,end\nnmr,\x00,x\n", TZ, time.time())
    assert caught.value.problems[0][0] == 2


def test_the_command_reads_a_gbk_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    path = tmp_path / "预约记录.csv"
    path.write_bytes(BAD.encode("gbk"))
    example = str(EXAMPLES / "collector.toml")
    assert main(["collector", "import-sessions", "-c", example, "--db", db, str(path)]) == 1
    err = capsys.readouterr().err
    assert "6 bad row(s)" in err  # nmr is not in this ledger either: line 2 too
    assert "line 3: end '2025-06-15 09:00' is not after start" in err
    assert "line 4: unknown instrument 'ghost'" in err and "line 7: sample_count" in err
