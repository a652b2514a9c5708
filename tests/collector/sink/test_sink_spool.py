"""The SQLite spool: order, persistence across reopen, bounded size, state marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.collector.sink.spool import Spool, SpoolError


def test_points_come_back_in_order_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    spool = Spool(path, max_points=1000)
    spool.append([f"m f={i}i {i}" for i in range(10)], [], now_s=1.0)
    spool.append(["m f=10i 10"], [("s1/a", 5)], now_s=2.0)
    batch = spool.peek(4)
    assert [line for _, line in batch] == [f"m f={i}i {i}" for i in range(4)]
    spool.delete_through(batch[-1][0])
    assert spool.depth == 7
    spool.close()

    reopened = Spool(path, max_points=1000)
    assert reopened.depth == 7
    assert next(line for _, line in reopened.peek(100)) == "m f=4i 4"
    assert reopened.oldest_enqueued_s() == 1.0
    assert reopened.marks_between("s1/a", 0, 10) == [5]
    reopened.close()


def test_a_full_spool_drops_the_oldest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", max_points=1000)
    assert spool.append([f"m f={i}i {i}" for i in range(990)], [], now_s=0.0) == 0
    assert spool.append([f"m f={i}i {i}" for i in range(990, 1010)], [], now_s=0.0) == 10
    assert spool.depth == 1000
    assert spool.peek(1)[0][1] == "m f=10i 10"
    spool.close()


def test_state_marks_are_per_series_and_pruned(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", max_points=1000)
    spool.append([], [("s1/a", 10), ("s1/a", 20), ("s1/b", 15), ("s1/a", 20)], now_s=0.0)
    assert spool.marks_between("s1/a", 10, 20) == [10]
    assert spool.marks_between("s1/a", 0, 100) == [10, 20]
    spool.prune_marks(before_ns=15)
    assert spool.marks_between("s1/a", 0, 100) == [20]
    assert spool.marks_between("s1/b", 0, 100) == [15]
    spool.close()


def test_an_unwritable_spool_is_an_error_by_cause(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpoolError, match="cannot open spool"):
        Spool(blocker / "spool.sqlite", max_points=1000)
