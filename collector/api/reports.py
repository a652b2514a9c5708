"""API routes for evaluation reports and adjustments under ``/api/v1/reports`` (issue 7).

Reports need the ``read`` role; creating or revoking an adjustment needs ``admin``, and the
adjustment records the name of the token that made it. Report errors become 400 (bad period,
bad parameters) or 404 (unknown unit, instrument, kind, adjustment).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from jishi.agent.wire import ID_PATTERN
from jishi.collector.api.auth import Admin, ApiContext, Ctx, Reader
from jishi.collector.api.bounded import Check
from jishi.collector.api.tokens import hash_token
from jishi.collector.ledger import tables
from jishi.collector.reports.adjust_store import (
    MAX_REASON,
    create_adjustment,
    list_adjustments,
    revoke_adjustment,
)
from jishi.collector.reports.errors import NotFoundError, ReportError
from jishi.collector.reports.make import (
    MEDIA_TYPES,
    Format,
    Rendered,
    ReportName,
    make_report,
    render,
)
from jishi.collector.reports.period import bounds_if_asked, resolve_period
from jishi.collector.reports.scope import ReportScope
from jishi.collector.reports.trail import trail_json
from jishi.collector.usage.timeline import STATES

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def _http(exc: ReportError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, NotFoundError) else 400, detail=str(exc))


def _actor(request: Request, by: str | None) -> str:
    """The name of the token that made the request (the admin token has no stored name), then
    the person the body names, if any."""
    ctx = request.app.state.ctx
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    t = tables.tokens
    with ctx.engines.read.connect() as conn:
        name = conn.execute(
            select(t.c.name).where(t.c.token_hash == hash_token(token), t.c.revoked_at.is_(None))
        ).scalar()
    token_name = f"token:{name}" if name else "admin token (JISHI_ADMIN_TOKEN)"
    return token_name + (f" / {by}" if by else "")


# Why an adjustment is made or revoked: every report's audit trail shows it.
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON)]
# Who asked for the correction or its revocation (a person), recorded beside the token's name.
AskedBy = Annotated[str, Field(max_length=60)] | None


class AdjustmentIn(BaseModel):
    """An adjustment posted to the API: the state a stretch of the timeline is taken to be in."""

    model_config = ConfigDict(extra="forbid")

    instrument: Annotated[str, Field(pattern=ID_PATTERN)]
    start: datetime
    end: datetime
    state: Annotated[str, Field(description=f"one of {', '.join(STATES)}")]
    reason: Reason
    by: AskedBy = None


class RevokeIn(BaseModel):
    """Why (and by whom) an adjustment is revoked."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    by: AskedBy = None


def _epoch(value: datetime, zone: ZoneInfo) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=zone)).timestamp()


@router.get("/adjustments")
def adjustments(
    c: Ctx,
    _role: Reader,
    instrument: Annotated[list[str] | None, Query()] = None,
    year: int | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Every adjustment (active and revoked) with its audit fields, optionally in a period."""
    try:
        lo, hi = bounds_if_asked(
            year=year, start=start, end=end, timezone=c.config.site.timezone, now=c.clock()
        )
    except ReportError as exc:
        raise _http(exc) from None
    with c.engines.read.connect() as conn:
        items = list_adjustments(conn, instrument, lo, hi)
    return {"adjustments": trail_json(items, c.config.site.timezone)}


@router.post("/adjustments", status_code=201)
def add_adjustment(body: AdjustmentIn, request: Request, c: Ctx, _role: Admin) -> dict[str, Any]:
    """Correct a stretch of an instrument's timeline; raw figures stay as measured."""
    zone = ZoneInfo(c.config.site.timezone)
    actor = _actor(request, body.by)
    try:
        made = create_adjustment(
            c.engines,
            instrument=body.instrument,
            start=_epoch(body.start, zone),
            end=_epoch(body.end, zone),
            state=body.state,
            reason=body.reason,
            actor=actor,
            now=c.clock(),
        )
    except ReportError as exc:
        raise _http(exc) from None
    return trail_json([made], c.config.site.timezone)[0]


@router.post("/adjustments/{adjustment_id}/revoke")
def revoke(
    adjustment_id: int, body: RevokeIn, request: Request, c: Ctx, _role: Admin
) -> dict[str, Any]:
    """Revoke an adjustment: it stops applying but stays in the ledger and the trail."""
    actor = _actor(request, body.by)
    try:
        done = revoke_adjustment(
            c.engines, adjustment_id, reason=body.reason, actor=actor, now=c.clock()
        )
    except ReportError as exc:
        raise _http(exc) from None
    return trail_json([done], c.config.site.timezone)[0]


def _made(  # noqa: PLR0917 - the report route's parameters, passed on
    c: ApiContext, name: ReportName, scope: ReportScope, fmt: Format, table: int, check: Check
) -> dict[str, Any] | Rendered:
    """The report's JSON document, or the report rendered (in the thread pool)."""
    try:
        with c.engines.read.connect() as conn:
            made = make_report(name, conn, c.config, scope)
        if fmt == "json":
            return made.document
        check()  # rendering a large XLSX takes a while too
        return render(made, fmt, scope.period, sheet=table)
    except ReportError as exc:
        raise _http(exc) from None


@router.get(
    "/{name}",
    response_model=None,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
async def report(  # noqa: PLR0917 - FastAPI passes query parameters by name; this is their list
    name: ReportName,
    request: Request,
    c: Ctx,
    _role: Reader,
    year: int | None = None,
    start: str | None = None,
    end: str | None = None,
    unit: str | None = None,
    instrument: Annotated[list[str] | None, Query()] = None,
    kind: str | None = None,
    format: Format = "json",  # noqa: A002 - the public query parameter's name
    table: Annotated[int, Query(ge=0, le=9)] = 0,
) -> dict[str, Any] | Response:
    """figures, service-records, low-utilization or saturation, as JSON, CSV or XLSX.

    The period is ``year`` or ``start``/``end`` (site time zone); none means last year.
    CSV holds one table (``table``: 0 is the main one); XLSX holds every table as a sheet.
    Made in the thread pool within ``api.max_request_s`` (else 503), and stopped when the
    client disconnects (api/bounded.py).
    """
    now = c.clock()
    try:
        period = resolve_period(
            year=year, start=start, end=end, timezone=c.config.site.timezone, now=now
        )
    except ReportError as exc:
        raise _http(exc) from None

    def work(check: Check) -> dict[str, Any] | Rendered:
        # The reports call progress once per instrument: a place to stop.
        scope = ReportScope(
            period, now, unit=unit, instruments=instrument, kind=kind, progress=lambda _n: check()
        )
        return _made(c, name, scope, format, table, check)

    advice = "ask for a shorter period, or one management unit (unit=) or a few instruments"
    done = await c.bounded(request, work, advice)
    if not isinstance(done, Rendered):
        return done
    return Response(
        done.body,
        media_type=done.media_type,
        headers={"Content-Disposition": f'attachment; filename="{done.filename}"'},
    )
