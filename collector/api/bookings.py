"""The user directory and bookings (issue 13): list, add, import, and the unmatched accounts.

Reading needs the ``read`` role, changing the directory or importing bookings ``write``.
Imports run in the thread pool once their body is read (as the session import does). The
reconciliation report is ``GET /api/v1/reports/reconciliation`` (api/reports.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from jishi.agent.wire import ID_PATTERN
from jishi.collector.api.auth import ApiContext, Ctx, Reader, Writer
from jishi.collector.api.body import TOO_LARGE, import_error, read_limited
from jishi.collector.api.ranges import parse_param
from jishi.collector.ingest.booking_import import import_bookings_csv, import_calendar
from jishi.collector.ingest.directory_import import import_directory_csv
from jishi.collector.ledger import tables
from jishi.collector.ledger.bookings import bookings_in
from jishi.collector.ledger.directory import (
    delete_entry,
    list_entries,
    store_entries,
    unmatched_accounts,
)
from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.reports.trail import iso_local
from jishi.collector.usage.users import DirectoryEntry

router = APIRouter(prefix="/api/v1", tags=["directory and bookings"])
Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class DirectoryEntryIn(BaseModel):
    """One person of the user directory, keyed by account."""

    model_config = ConfigDict(extra="forbid")

    account: Text200
    user_type: Literal["internal", "external", "staff"]
    card: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)] | None = None
    person: Text200 | None = None
    org: Text200 | None = None
    unit: Text200 | None = None


def _range(c: ApiContext, start: str | None, end: str | None) -> tuple[float | None, float | None]:
    zone = ZoneInfo(c.config.site.timezone)
    lo = None if start is None else parse_param("start", start, zone)
    hi = None if end is None else parse_param("end", end, zone)
    if lo is not None and hi is not None and hi <= lo:
        raise HTTPException(400, detail="end must be after start")
    return lo, hi


@router.get("/directory")
def directory(c: Ctx, _role: Reader) -> list[dict[str, Any]]:
    """Every directory entry, by account."""
    with c.engines.read.connect() as conn:
        return [
            {"account": e.account, "card": e.card, "email": e.email, "person": e.person,
             "org": e.org, "unit": e.unit, "user_type": e.user_type}
            for e in list_entries(conn)
        ]  # fmt: skip


@router.post("/directory")
def add_directory(body: list[DirectoryEntryIn], c: Ctx, _role: Writer) -> dict[str, Any]:
    """Add or correct entries (by account); figures computed from now on use them, past
    periods included."""
    entries = [DirectoryEntry(**item.model_dump()) for item in body]
    accounts = [e.account for e in entries]
    if len(set(accounts)) != len(accounts):
        raise HTTPException(400, detail="an account appears twice in the body")
    return {"stored": store_entries(c.engines, entries, c.clock(), c.config.site.timezone)}


@router.delete("/directory/{account}")
def remove_directory(account: str, c: Ctx, _role: Writer) -> dict[str, Any]:
    if not delete_entry(c.engines, account, c.clock(), c.config.site.timezone):
        raise HTTPException(404, detail=f"no account {account!r} in the directory")
    return {"deleted": account}


@router.post("/directory/import", responses=TOO_LARGE)
async def import_directory(request: Request, c: Ctx, _role: Writer) -> dict[str, Any]:
    """CSV body (UTF-8 or GBK), columns as docs/sessions.md lists; all rows or none."""
    raw = await read_limited(request)

    def work() -> dict[str, Any]:
        try:
            return {
                "imported": import_directory_csv(c.engines, raw, c.config.site.timezone, c.clock())
            }
        except SessionImportError as exc:
            raise import_error(exc.problems) from None

    return await run_in_threadpool(work)


@router.get("/directory/unmatched")
def unmatched(
    c: Ctx, _role: Reader, start: str | None = None, end: str | None = None
) -> list[dict[str, Any]]:
    """Session users the directory does not know (their use cannot be classed as service)."""
    lo, hi = _range(c, start, end)
    with c.engines.read.connect() as conn:
        return unmatched_accounts(conn, lo, hi)


@router.get("/bookings")
def bookings(
    c: Ctx,
    _role: Reader,
    start: str,
    end: str,
    instrument: Annotated[list[str] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Bookings overlapping ``[start, end)`` (site-local times without an offset)."""
    lo, hi = _range(c, start, end)
    if lo is None or hi is None:  # both are required parameters: never
        raise HTTPException(400, detail="start and end are required")
    tz = c.config.site.timezone
    with c.engines.read.connect() as conn:
        ids = instrument or list(
            conn.execute(
                tables.instruments.select().with_only_columns(tables.instruments.c.id)
            ).scalars()
        )
        found = bookings_in(conn, ids, lo, hi)
    return [
        {"instrument": i, "booking_id": b.booking_id, "start": iso_local(b.start, tz),
         "end": iso_local(b.end, tz), "user": b.user, "title": b.title, "all_day": b.all_day}
        for i in ids
        for b in found[i]
    ]  # fmt: skip


@router.post("/bookings/import", responses=TOO_LARGE)
async def import_bookings(
    request: Request,
    c: Ctx,
    _role: Writer,
    instrument: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    feed: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> dict[str, Any]:
    """A booking CSV (text/csv), or an iCalendar file (text/calendar) of one ``instrument``
    named ``feed``: its occurrences from 30 days ago to 90 days ahead replace that feed's."""
    raw = await read_limited(request)
    calendar = request.headers.get("content-type", "").startswith("text/calendar")
    if calendar and (instrument is None or feed is None):
        raise HTTPException(400, detail="an iCalendar import needs instrument= and feed=")

    def work() -> dict[str, Any]:
        tz, now = c.config.site.timezone, c.clock()
        try:
            if calendar:
                count = import_calendar(c.engines, raw, str(instrument), str(feed), tz, now)
            else:
                count = import_bookings_csv(c.engines, raw, tz, now)
        except SessionImportError as exc:
            raise import_error(exc.problems) from None
        return {"imported": count}

    return await run_in_threadpool(work)
