"""Messages held in memory while the outbox cannot be written (a full disk; issue 17, 5).

Theory of operation. When SQLite or the file system refuses a write, the outbox hands the
message here instead of losing it, and every later message queues behind it, so order is kept.
The queue is bounded the way the outbox is: ``state`` and ``session`` messages are never
dropped (they carry the usage arithmetic); of the heartbeats only each instrument's latest is
kept, since a heartbeat only extends coverage and the next one says the same, newer. The outbox
writes the queue out front first as soon as a write succeeds again. What is held here is lost
if the process dies before that: the honest limit, documented in docs/agent.md.

Pure: no I/O, no clock; the outbox calls it under its lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """One message waiting for the outbox, with everything its outbox row will hold."""

    instrument: str
    kind: str
    topic: str
    payload: bytes
    boot_id: str
    seq: int
    created: float


class HeldMessages:
    """A FIFO of messages that could not be stored yet; thins heartbeats, never the rest."""

    def __init__(self, thinnable: Iterable[str] = ("hb",)) -> None:
        self.thinnable = frozenset(thinnable)
        self._queue: deque[HeldMessage] = deque()
        self.bytes = 0
        self.dropped = 0  # heartbeats replaced by a newer one while held

    def __len__(self) -> int:
        return len(self._queue)

    def hold(self, message: HeldMessage) -> None:
        """Queue ``message`` last; an older held heartbeat of its instrument gives way."""
        if message.kind in self.thinnable:
            older = [
                m
                for m in self._queue
                if m.kind == message.kind and m.instrument == message.instrument
            ]
            for stale in older:
                self._queue.remove(stale)
                self.bytes -= len(stale.payload)
                self.dropped += 1
        self._queue.append(message)
        self.bytes += len(message.payload)

    def first(self) -> HeldMessage | None:
        return self._queue[0] if self._queue else None

    def pop_first(self) -> HeldMessage:
        """Remove the first message, once it is stored."""
        message = self._queue.popleft()
        self.bytes -= len(message.payload)
        return message

    def count(self, instrument: str | None = None) -> int:
        if instrument is None:
            return len(self._queue)
        return sum(1 for m in self._queue if m.instrument == instrument)

    def oldest_created(self, instrument: str | None = None) -> float | None:
        for message in self._queue:
            if instrument is None or message.instrument == instrument:
                return message.created
        return None
