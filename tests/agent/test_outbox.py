"""The durable outbox: order, acknowledgement, bounds and persistence across reopen."""

from __future__ import annotations

from pathlib import Path

from jishi.agent.outbox import Outbox
from jishi.agent.outbox_stats import read_stats


def put(outbox: Outbox, seq: int, kind: str = "hb", instrument: str = "i1", size: int = 100) -> int:
    return outbox.put(
        instrument=instrument,
        kind=kind,
        topic=f"jishi/v1/lab/{instrument}/{kind}",
        payload=b"x" * size,
        boot_id="b" * 16,
        seq=seq,
    )


def test_pending_in_order_per_instrument(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    for seq in range(6):
        put(outbox, seq, instrument="i1" if seq % 2 == 0 else "i2")
    assert [r.seq for r in outbox.pending("i1")] == [0, 2, 4]
    assert [r.seq for r in outbox.pending("i2")] == [1, 3, 5]
    first = outbox.pending("i1")[0]
    assert [r.seq for r in outbox.pending("i1", after_id=first.id)] == [2, 4]
    assert [r.seq for r in outbox.pending("i1", limit=1)] == [0]


def test_ack_deletes_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    ids = [put(outbox, seq) for seq in range(5)]
    outbox.ack(ids[:3])
    outbox.ack([ids[0], 999_999])  # already gone or unknown: ignored
    assert outbox.stats().depth == 2
    assert outbox.stats().bytes == 200
    outbox.close()
    reopened = Outbox(path)
    assert [r.seq for r in reopened.pending("i1")] == [3, 4]
    assert reopened.stats().bytes == 200


def test_full_outbox_thins_heartbeats_oldest_first_and_keeps_states(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=2000)
    seq = 0
    for round_ in range(10):
        put(outbox, seq, kind="state")
        seq += 1
        for _ in range(3):
            put(outbox, seq, kind="hb")
            seq += 1
        assert round_ >= 0
    kinds = [r.kind for r in outbox.pending("i1", limit=100)]
    assert kinds.count("state") == 10  # never dropped
    stats = outbox.stats()
    assert stats.bytes <= 2000 or kinds.count("hb") == 0
    assert stats.dropped == 30 - kinds.count("hb") > 0
    # The newest heartbeats survive: thinning takes the oldest first.
    survivors = [r.seq for r in outbox.pending("i1", limit=100) if r.kind == "hb"]
    assert survivors == sorted(survivors)
    assert survivors[-1] == seq - 1
    outbox.close()
    assert read_stats(tmp_path / "o.sqlite").dropped == stats.dropped  # persisted


def test_states_alone_may_exceed_the_bound(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=300)
    for seq in range(5):
        put(outbox, seq, kind="state")
    assert outbox.stats().depth == 5
    assert outbox.dropped == 0


def test_read_stats_while_open(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    put(outbox, 0, kind="state")
    put(outbox, 1, kind="hb")
    stats = read_stats(path)
    assert stats is not None
    assert stats.depth == 2
    assert stats.depth_by_kind == {"state": 1, "hb": 1}
    assert read_stats(tmp_path / "missing.sqlite") is None
