"""Keeping the dead-letter table bounded: by age, then by total size, oldest first.

Dead letters are for an operator looking at what went wrong lately; junk keeps coming from a
misconfigured or hostile publisher, so without a bound the table grows with it (issue 17: 5,000
junk messages were 24 MB, never pruned). Size is the bytes kept per row (payload, detail,
topic) plus a fixed overhead for the row and its index entry. "Oldest" is insertion order (the
id): receive times are nearly in that order, and the id is the index we delete by.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select

from jishi.collector.ledger import tables

# Row header, id, received_at, reason, size and the index entry: roughly, per row.
ROW_OVERHEAD_BYTES = 64


def prune_dead_letters(conn: Connection, now: float, max_age_s: float, max_total_bytes: int) -> int:
    """Delete dead letters received before ``now - max_age_s``, then the oldest ones until the
    rest take at most ``max_total_bytes``. Returns how many rows were deleted."""
    d = tables.dead_letters
    deleted = conn.execute(delete(d).where(d.c.received_at < now - max_age_s)).rowcount or 0
    row_bytes = (
        func.length(d.c.payload) + func.length(d.c.detail) + func.length(d.c.topic)
    ) + ROW_OVERHEAD_BYTES
    # Running total from the newest down: the first row past the bound and all older go.
    running = select(
        d.c.id.label("id"), func.sum(row_bytes).over(order_by=d.c.id.desc()).label("total")
    ).subquery()
    cut = conn.execute(
        select(func.max(running.c.id)).where(running.c.total > max_total_bytes)
    ).scalar_one()
    if cut is not None:
        deleted += conn.execute(delete(d).where(d.c.id <= cut)).rowcount or 0
    return deleted
