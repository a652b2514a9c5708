"""User sessions: list, add one, import a booking system's CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from jishi.agent.wire import ID_PATTERN
from jishi.collector.api.auth import ApiContext, Ctx, Reader, Writer
from jishi.collector.api.body import TOO_LARGE, import_error, read_limited
from jishi.collector.api.ranges import parse_param
from jishi.collector.ingest.session_import import import_sessions_csv
from jishi.collector.ledger import queries
from jishi.collector.ledger.session_input import SessionImportError, SessionRecord
from jishi.collector.ledger.sessions import store_sessions
from jishi.collector.usage.engine import Session

router = APIRouter(prefix="/api/v1", tags=["sessions"])


class SessionIn(BaseModel):
    """A user session posted to the API (times without an offset are site-local)."""

    model_config = ConfigDict(extra="forbid")

    instrument: Annotated[str, Field(pattern=ID_PATTERN)]
    start: datetime
    end: datetime
    session_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    user: Annotated[str, Field(max_length=200)] | None = None
    org: Annotated[str, Field(max_length=200)] | None = None
    contact: Annotated[str, Field(max_length=200)] | None = None
    user_type: Literal["internal", "external", "staff"] | None = None
    service_way: Annotated[str, Field(max_length=100)] | None = None
    direction: Annotated[str, Field(max_length=200)] | None = None
    satisfaction: float | None = None
    sample_count: Annotated[int, Field(ge=0)] | None = None


@router.get("/sessions")
def sessions(
    c: Ctx,
    _role: Reader,
    *,
    instrument: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    zone = ZoneInfo(c.config.site.timezone)
    lo = None if start is None else parse_param("start", start, zone)
    hi = None if end is None else parse_param("end", end, zone)
    if lo is not None and hi is not None and hi <= lo:
        raise HTTPException(400, detail="end must be after start")
    with c.engines.read.connect() as conn:
        return queries.list_sessions(conn, instrument, lo, hi, limit)


@router.post("/sessions", status_code=201)
def create_session(body: SessionIn, c: Ctx, _role: Writer) -> dict[str, Any]:
    if body.start.tzinfo is None or body.end.tzinfo is None:
        zone = ZoneInfo(c.config.site.timezone)
        body = body.model_copy(
            update={
                "start": body.start.replace(tzinfo=body.start.tzinfo or zone),
                "end": body.end.replace(tzinfo=body.end.tzinfo or zone),
            }
        )
    if body.end <= body.start:
        raise HTTPException(400, detail="end must be after start")
    session_id = body.session_id or f"api-{body.instrument}-{body.start.timestamp():.0f}"
    # The body's other fields are the session's, by the same names.
    details = body.model_dump(exclude={"instrument", "start", "end", "session_id"})
    session = Session(
        start=body.start.timestamp(), end=body.end.timestamp(), session_id=session_id, **details
    )
    record = SessionRecord(instrument=body.instrument, session=session)
    try:
        store_sessions(c.engines, [record], "api", c.clock(), c.config.site.timezone)
    except SessionImportError:
        raise HTTPException(404, detail=f"no instrument {body.instrument!r}") from None
    return {"instrument": body.instrument, "session_id": session_id, "source": "api"}


@router.post("/sessions/import", responses=TOO_LARGE)
async def import_sessions(request: Request, c: Ctx, _role: Writer) -> dict[str, Any]:
    """CSV body (text/csv), columns as docs/collector.md lists; all rows or none.

    Only reading the body happens on the event loop, and it stops at the size limit; parsing
    and the ledger write run in the thread pool, so a large import never holds up other
    requests (health included)."""
    raw = await read_limited(request)
    return await run_in_threadpool(_import_csv, raw, c)


def _import_csv(raw: bytes, c: ApiContext) -> dict[str, Any]:
    try:
        count = import_sessions_csv(c.engines, raw, c.config.site.timezone, c.clock())
    except SessionImportError as exc:
        raise import_error(exc.problems) from None
    return {"imported": count}
