"""Log tailing: lines written while tailed, rotation, truncation, re-creation, agent restarts,
UTF-16/GBK/GB18030 files and multi-line records; no line read twice, none skipped."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jishi.drivers.base import StateEvent
from jishi.drivers.log_text import LogStream
from jishi.drivers.logs import LogDriver

from support.driver_runs import FakeClock

NOW = datetime(2026, 3, 1, tzinfo=UTC)
RULES = [
    {"pattern": r"^(?P<ts>\S+ \S+) START.*", "state": "running"},
    {"pattern": r"^(?P<ts>\S+ \S+) STOP.*", "state": "idle"},
]


class Tail:
    """A log driver on ``folder`` with a state dir, restartable like the agent."""

    def __init__(self, folder: Path, state_dir: Path, **extra: Any) -> None:
        self.options = {"path": str(folder), "files": ["*.log*"], "rules": RULES,
                        "timezone": "UTC", "state_dir": str(state_dir), "scan_interval_s": 0,
                        **extra}  # fmt: skip
        self.clock = FakeClock()
        self.restart()

    def restart(self) -> None:
        self.driver = LogDriver.from_options("tail", self.options)
        self.driver._clock = self.clock

    def events(self, commit: bool = True) -> list[StateEvent]:
        """Poll once; ``commit`` as the agent does once the events are in its outbox."""
        self.clock.now += 10
        (reading,) = self.driver.poll(NOW)
        assert reading.ok, reading.error
        if commit:
            self.driver.commit()
        return list(reading.events)


def line(n: int, word: str = "START") -> str:
    return f"2026-01-01 10:{n // 60:02d}:{n % 60:02d} {word} #{n}\n"


def stamps(events: list[StateEvent]) -> list[int]:
    return [int(re.search(r"#(\d+)", e.reason).group(1)) for e in events]  # type: ignore[union-attr]  # every event reason carries '#n' in this test


def test_lines_written_in_pieces_are_read_once(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail(tmp_path, tmp_path / "state")
    seen: list[int] = []
    with log.open("a", encoding="utf-8") as writer:  # the writer keeps the file open
        for n in range(6):
            text = line(n, "START" if n % 2 == 0 else "STOP")
            writer.write(text[:10])
            writer.flush()
            seen += stamps(tail.events())
            writer.write(text[10:])
            writer.flush()
            seen += stamps(tail.events())
    assert seen == list(range(6))


def test_rotation_truncation_and_recreation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail(tmp_path, tmp_path / "state")
    log.write_text(line(1) + line(2), encoding="utf-8")
    assert stamps(tail.events()) == [1, 2]
    # Rotation: renamed away (still matched by the glob as app.log.1), new file at the name.
    with log.open("a", encoding="utf-8") as writer:
        writer.write(line(3))
    os.rename(log, tmp_path / "app.log.1")
    log.write_text(line(4), encoding="utf-8")
    assert sorted(stamps(tail.events())) == [3, 4]
    # Truncation in place (copytruncate), then new lines.
    log.write_text("", encoding="utf-8")
    tail.events()
    log.write_text(line(5), encoding="utf-8")
    assert stamps(tail.events()) == [5]
    # Deleted and re-created: a new file, read from its start.
    log.unlink()
    tail.events()
    log.write_text(line(6) + line(7), encoding="utf-8")
    assert stamps(tail.events()) == [6, 7]


def test_rotation_out_of_the_glob_reads_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail(tmp_path, tmp_path / "state", files=["app.log"])
    log.write_text(line(1), encoding="utf-8")
    assert stamps(tail.events()) == [1]
    with log.open("a", encoding="utf-8") as writer:
        writer.write(line(2))
    os.rename(log, tmp_path / "app.old")  # no longer matched by the glob
    log.write_text(line(3), encoding="utf-8")
    assert sorted(stamps(tail.events())) == [2, 3]


def test_agent_restart_resumes_at_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tail = Tail(tmp_path, tmp_path / "state")
    log.write_text(line(1) + line(2) + "2026-01-01 10:00:03 STA", encoding="utf-8")
    assert stamps(tail.events()) == [1, 2]
    tail.driver.close()
    with log.open("a", encoding="utf-8") as writer:
        writer.write("RT #3\n" + line(4))
    tail.restart()  # a new process: offsets come from the state dir
    assert stamps(tail.events()) == [3, 4]
    tail.restart()
    assert tail.events() == []


def test_start_at_end_skips_history_but_not_new_files(tmp_path: Path) -> None:
    (tmp_path / "old.log").write_text(line(1), encoding="utf-8")
    tail = Tail(tmp_path, tmp_path / "state", start_at="end")
    assert tail.events() == []
    with (tmp_path / "old.log").open("a", encoding="utf-8") as writer:
        writer.write(line(2))
    (tmp_path / "new.log").write_text(line(3), encoding="utf-8")
    assert sorted(stamps(tail.events())) == [2, 3]


@pytest.mark.parametrize(
    ("encoding", "bom", "configured"),
    [
        ("utf-16-le", b"\xff\xfe", "auto"),
        ("utf-16-be", b"\xfe\xff", "auto"),
        ("utf-8", b"\xef\xbb\xbf", "auto"),
        ("gbk", b"", "auto"),
        ("gb18030", b"", "gb18030"),
        ("utf-16-le", b"", "utf-16-le"),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, bom: bytes, configured: str) -> None:
    log = tmp_path / "仪器.log"
    rules = [{"pattern": r"^(?P<ts>\S+ \S+) 开始 (?P<who>.+)$", "state": "running"}]
    tail = Tail(tmp_path, tmp_path / "state", rules=rules, encoding=configured)
    text = "2026-01-01 10:00:00 开始 张三\r\n2026-01-01 10:00:05 开始 李四\r\n"
    data = bom + text.encode(encoding)
    log.write_bytes(data[:7])  # a partial first line (and, for UTF-16, half a code unit)
    assert tail.events() == []
    log.write_bytes(data)
    events = tail.events()
    assert [e.ts.second for e in events] == [0, 5]
    assert "张三" in events[0].reason
    assert "李四" in events[1].reason


def test_multiline_records_flush_when_quiet() -> None:
    stream = LogStream(record_start=re.compile(r"^\d{4}-"))
    first = stream.feed(b"2024-01-01 a\n  detail 1\n  detail 2\n2024-01-01 b\n  more")
    assert [r.text for r in first] == ["2024-01-01 a\n  detail 1\n  detail 2"]
    assert stream.committed == len(b"2024-01-01 a\n  detail 1\n  detail 2\n")
    assert stream.feed(b"\n") == []
    assert [r.text for r in stream.flush()] == ["2024-01-01 b\n  more"]
    assert stream.committed == stream.read_to


def test_offsets_are_byte_exact_for_utf16() -> None:
    data = "a\nbé\nc".encode("utf-16-le")
    stream = LogStream(encoding="utf-16-le")
    records = stream.feed(data)
    assert [r.text for r in records] == ["a", "bé"]
    assert stream.committed == len("a\nbé\n".encode("utf-16-le"))


def test_marker_file_rule_ends_the_run(tmp_path: Path) -> None:
    rules = [{"pattern": r"^(?P<ts>\S+ \S+) START.*", "state": "running"}]
    file_rules = [{"glob": "*/DONE", "state": "idle", "pattern": r"at (?P<ts>.+)$"}]
    tail = Tail(tmp_path, tmp_path / "state", files=["*/run.log"], rules=rules,
                file_rules=file_rules)  # fmt: skip
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "run.log").write_text(line(1), encoding="utf-8")
    assert [e.state for e in tail.events()] == ["running"]
    (tmp_path / "run1" / "DONE").write_text("finished at 2026-01-01 11:00:00", encoding="utf-8")
    (done,) = tail.events()
    assert (done.state, done.ts) == ("idle", datetime(2026, 1, 1, 11, tzinfo=UTC))
    tail.restart()
    assert tail.events() == []  # fired once, remembered across restarts


def test_events_not_committed_are_read_again_after_a_crash(tmp_path: Path) -> None:
    """The agent commits offsets only after storing what a poll produced; a kill in between
    must re-read those lines rather than skip them."""
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "a.log"
    log.write_text(line(1), encoding="utf-8")
    tail = Tail(tmp_path / "logs", tmp_path / "state")
    assert stamps(tail.events()) == [1]
    with log.open("a", encoding="utf-8") as writer:
        writer.write(line(2, "STOP"))
    assert stamps(tail.events(commit=False)) == [2]
    tail.restart()  # killed before commit: the STOP line comes again
    assert stamps(tail.events()) == [2]
    tail.restart()
    assert tail.events() == []


def test_missing_folder_is_an_error_reading(tmp_path: Path) -> None:
    driver = LogDriver.from_options("x", {"path": str(tmp_path / "nope"), "profile": "minknow"})
    (reading,) = driver.poll(NOW)
    assert not reading.ok
    assert "not found" in (reading.error or "")
