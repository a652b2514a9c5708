"""The part of one instrument's stored spans a batch changes: paint, replace a window, diff.

Theory of operation. The ledger's ``spans`` are the resolved timeline's known pieces
(:func:`jishi.collector.evidence.known_pieces`): sorted, disjoint, adjacent pieces of one state
merged. A :class:`SpanCanvas` holds every stored span that ends after its *floor* (so the spans
it holds are exactly the ledger's from the floor on) and asks its loader for older ones when an
operation reaches below the floor. Two operations:

* :meth:`SpanCanvas.paint`: a claim ranked above everything stored (the usual in-order
  message) sets ``[start, end)`` to its state;
* :meth:`SpanCanvas.replace`: the pure engine recomputed ``[lo, hi)`` (late data, wills);
  its pieces replace what was there.

Rows are reused where they can be (an update rather than a delete and an insert); :meth:`diff`
says what to write. No SQL here: the loader is a callable.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from jishi.collector.usage.timeline import Interval


@dataclass(slots=True)
class Span:
    """One stored span; ``stored`` is what the row holds now (None: not stored yet)."""

    id: int | None
    start: float
    end: float
    state: str
    stored: tuple[float, float, str] | None = None

    @property
    def changed(self) -> bool:
        return self.stored != (self.start, self.end, self.state)


# Loader: every stored span with ``end >= lo`` and ``start < hi``, for the canvas's instrument
# (a span ending exactly at ``lo`` is held too, so a piece of its state continues it).
Loader = Callable[[float, float], list[Span]]


@dataclass(frozen=True, slots=True)
class Diff:
    """What to write after a batch: spans to insert, to update and ids to delete."""

    inserts: list[Span]
    updates: list[Span]
    deleted: list[int]


class SpanCanvas:
    """Stored spans of one instrument from ``floor`` on (see the module docstring)."""

    def __init__(
        self, spans: Iterable[Span], floor: float, loader: Loader | None, *, closed: bool = False
    ) -> None:
        self.spans = sorted(spans, key=lambda s: s.start)
        self.floor = floor
        # Whether the spans ending exactly at the floor are held too.
        self._closed = closed
        self._loader = loader
        self.deleted: list[int] = []
        # Ranges whose state may have changed: closed days to recompute, sink ranges to rewrite.
        self.touched: list[tuple[float, float]] = []

    @classmethod
    def from_latest(cls, latest: Span | None, loader: Loader | None) -> SpanCanvas:
        """A canvas holding only the instrument's newest span (or nothing stored)."""
        if latest is None:
            return cls([], -math.inf, loader, closed=True)
        return cls([latest], latest.start, loader)

    def _reach(self, lo: float) -> None:
        """Make sure every stored span ending at or after ``lo`` is held."""
        if lo > self.floor or (lo == self.floor and self._closed) or self._loader is None:
            return
        found = self._loader(lo, self.floor + 1e-6 if lo == self.floor else self.floor)
        held = {s.id for s in self.spans}
        older = [s for s in found if s.id not in held and s.id not in self.deleted]
        self.spans = sorted([*older, *self.spans], key=lambda s: s.start)
        self.floor, self._closed = lo, True

    def paint(self, start: float, end: float, state: str) -> None:
        """``[start, end)`` is ``state`` now, whatever was there."""
        if end <= start:
            return
        spans = self.spans
        if spans and start >= spans[-1].start and start >= self.floor:
            last = spans[-1]
            if last.state == state and start <= last.end:
                # The usual heartbeat: the newest run goes on (a shorter claim leaves the
                # rest of the run, which has the same state).
                self.touched.append((start, end))
                last.end = max(last.end, end)
                return
            if start >= last.end:  # after everything stored, a gap or a change between
                self.touched.append((start, end))
                spans.append(Span(None, start, end, state))
                return
            if last.start < start and end >= last.end:  # a change inside the newest run
                self.touched.append((start, end))
                last.end = start
                spans.append(Span(None, start, end, state))
                return
        self.replace(start, end, [Interval(start, end, state)])

    def replace(self, lo: float, hi: float, pieces: Iterable[Interval]) -> None:
        """``[lo, hi)`` becomes exactly ``pieces`` (known states, inside the window); what is
        outside the window stays, merged with the pieces where the state continues."""
        if hi <= lo:
            return
        self._reach(lo)
        self.touched.append((lo, hi))
        spans = self.spans
        first = bisect.bisect_right([s.end for s in spans], lo)  # first span ending after lo
        kept_before: list[Span] = spans[:first]
        kept_after: list[Span] = []
        reusable: list[Span] = []
        for span in spans[first:]:
            if span.start >= hi:
                kept_after.append(span)
                continue
            if span.start < lo:  # crosses lo: keep the part before the window
                if span.end > hi:  # and crosses hi too: the part after becomes a new span
                    kept_after.append(Span(None, hi, span.end, span.state))
                span.end = lo
                kept_before.append(span)
            elif span.end > hi:  # crosses hi: keep the part after the window
                span.start = hi
                kept_after.append(span)
            else:
                reusable.append(span)
        middle = self._place(pieces, reusable)
        kept_after.sort(key=lambda s: s.start)
        self.spans = self._merged([*kept_before, *middle, *kept_after])

    def _place(self, pieces: Iterable[Interval], reusable: list[Span]) -> list[Span]:
        """Spans for ``pieces``, reusing the rows of the spans they replace."""
        middle: list[Span] = []
        for piece in pieces:
            if piece.end <= piece.start:
                continue
            if reusable:
                span = reusable.pop(0)
                span.start, span.end, span.state = piece.start, piece.end, piece.state
            else:
                span = Span(None, piece.start, piece.end, piece.state)
            middle.append(span)
        self.deleted.extend(span.id for span in reusable if span.id is not None)
        return middle

    def _merged(self, spans: list[Span]) -> list[Span]:
        """Adjacent spans of one state become one (the earlier row keeps it)."""
        out: list[Span] = []
        for span in spans:
            if out and out[-1].state == span.state and out[-1].end == span.start:
                out[-1].end = span.end
                if span.id is not None:
                    self.deleted.append(span.id)
                continue
            out.append(span)
        return out

    def pieces(self) -> list[Interval]:
        return [Interval(s.start, s.end, s.state) for s in self.spans]

    def view(self, lo: float, hi: float) -> list[Interval]:
        """The known pieces inside ``[lo, hi)``, clipped to it."""
        self._reach(lo)
        return [
            Interval(max(s.start, lo), min(s.end, hi), s.state)
            for s in self.spans
            if s.end > lo and s.start < hi
        ]

    def diff(self) -> Diff:
        inserts = [s for s in self.spans if s.id is None]
        updates = [s for s in self.spans if s.id is not None and s.changed]
        return Diff(inserts, updates, list(self.deleted))
