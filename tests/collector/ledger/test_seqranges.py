"""Sequence-number sets as merged ranges (the dedupe on ``(boot_id, seq)``) against a set."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from jishi.collector.ledger import seqranges


@given(st.lists(st.integers(0, 60), max_size=80))
def test_ranges_behave_as_a_set_and_survive_the_text_form(seqs: list[int]) -> None:
    ranges: seqranges.Ranges = []
    seen: set[int] = set()
    for seq in seqs:
        assert seqranges.add(ranges, seq) is (seq not in seen)
        seen.add(seq)
        ranges = seqranges.parse(seqranges.format_ranges(ranges))
    assert [n for lo, hi in ranges for n in range(lo, hi + 1)] == sorted(seen)
    assert all(b[0] > a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert all(seqranges.contains(ranges, n) == (n in seen) for n in range(-1, 62))


def test_text_form() -> None:
    assert seqranges.parse("") == []
    assert seqranges.parse("7-7") == [(7, 7)]
    assert seqranges.parse("0-41,43-50") == [(0, 41), (43, 50)]
    assert seqranges.format_ranges([(0, 41), (43, 50)]) == "0-41,43-50"
