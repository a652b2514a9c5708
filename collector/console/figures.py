"""Usage by management unit and by month (with its download), and the warning lists."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from jishi.collector.api.bounded import Check
from jishi.collector.api.ranges import parse_range, until_now
from jishi.collector.console import data
from jishi.collector.console.tables import usage_sheets
from jishi.collector.console.web import (
    HEADERS,
    Formats,
    bounded,
    ctx_of,
    error_page,
    page,
    signed_in,
)
from jishi.collector.reports.errors import ReportError
from jishi.collector.reports.make import MEDIA_TYPES, Rendered, make_report, render
from jishi.collector.reports.output import render_csv, render_xlsx
from jishi.collector.reports.period import ReportPeriod, resolve_period
from jishi.collector.reports.scope import ReportScope

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])
ADVICE = "choose a shorter period, or one management unit"


def _default_period(now: float, zone: ZoneInfo) -> tuple[str, str]:
    """This year so far: from 1 January to tomorrow (the figures end now)."""
    today = datetime.fromtimestamp(now, zone).date()
    return date(today.year, 1, 1).isoformat(), (today + timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class Usage:
    """What the usage page shows: its period (as asked and as computed) and its tables."""

    start: str
    end: str
    lo: float
    hi: float
    partial: bool
    tables: data.UsageTables
    units: list[str]


async def _usage(
    request: Request, start: str | None, end: str | None, unit: str | None
) -> Usage | Response:
    """The usage tables of the period asked (this year so far by default), or the refusal
    as a page."""
    c = ctx_of(request)
    now, zone = c.clock(), ZoneInfo(c.config.site.timezone)
    first, last = _default_period(now, zone)
    start, end = start or first, end or last
    try:
        lo, asked = parse_range(start, end, zone)
        hi, partial = until_now(lo, asked, now, start)
    except HTTPException as exc:
        return error_page(request, exc)

    def work(check: Check) -> Usage:
        with c.engines.read.connect() as conn:
            tables = data.usage_tables(conn, c.config, lo, hi, now, unit, check)
            units = data.choices(conn)[0]
        return Usage(start, end, lo, hi, partial, tables, units)

    return await bounded(request, work, ADVICE)


@router.get("/usage")
async def usage(
    request: Request, start: str | None = None, end: str | None = None, unit: str | None = None
) -> Response:
    """The figures of ``GET /api/v1/usage?group_by=unit`` and ``group_by=month``."""
    got = await _usage(request, start, end, unit or None)
    if isinstance(got, Response):
        return got
    fmt = Formats(ctx_of(request).config.site.timezone)
    return page(
        request, "usage.html", tables=got.tables, units=got.units, unit=unit or "",
        start=got.start, end=got.end, partial=got.partial, fmt=fmt,
        shown_start=fmt.when(got.lo), shown_end=fmt.when(got.hi),
    )  # fmt: skip


@router.get("/usage/tables")
async def usage_tables(  # noqa: PLR0917 - FastAPI passes query parameters by name
    request: Request,
    format: Literal["xlsx", "csv"] = "xlsx",  # noqa: A002 - as the API's reports name it
    table: Annotated[int, Query(ge=0, le=1)] = 0,
    start: str | None = None,
    end: str | None = None,
    unit: str | None = None,
) -> Response:
    """The page's two tables, written by the report code (CSV: ``table`` 0 by unit, 1 by
    month; XLSX: both)."""
    got = await _usage(request, start, end, unit or None)
    if isinstance(got, Response):
        return got
    sheets = usage_sheets(got.tables)
    body = render_xlsx(sheets) if format == "xlsx" else render_csv(sheets[table])
    stem = re.sub(r"[^0-9A-Za-z_-]", "", f"jishi-usage-{got.start}_{got.end}")
    disposition = {"Content-Disposition": f'attachment; filename="{stem}.{format}"'}
    return Response(body, media_type=MEDIA_TYPES[format], headers={**HEADERS, **disposition})


def _period(start: str | None, end: str | None, year: int | None, now: float, tz: str) -> Any:
    try:
        return resolve_period(year=year, start=start, end=end, timezone=tz, now=now)
    except ReportError as exc:
        return HTTPException(400, detail=str(exc))


@router.get("/usage/download")
async def download(
    request: Request,
    format: Literal["xlsx", "csv"] = "xlsx",  # noqa: A002 - the API's parameter name
    start: str | None = None,
    end: str | None = None,
    unit: str | None = None,
) -> Response:
    """The evaluation figures report (``jishi report figures``) of the page's period."""
    c = ctx_of(request)
    now = c.clock()
    period = _period(start, end, None, now, c.config.site.timezone)
    if isinstance(period, HTTPException):
        return error_page(request, period)

    def work(check: Check) -> Rendered:
        scope = ReportScope(period, now, unit=unit or None, progress=lambda _n: check())
        with c.engines.read.connect() as conn:
            made = make_report("figures", conn, c.config, scope)
        return render(made, format, period)

    done = await bounded(request, work, ADVICE)
    if isinstance(done, Response):
        return done
    disposition = {"Content-Disposition": f'attachment; filename="{done.filename}"'}
    return Response(done.body, media_type=done.media_type, headers={**HEADERS, **disposition})


def _warning_lists(request: Request, period: ReportPeriod, unit: str | None, now: float) -> Any:
    c = ctx_of(request)

    def work(check: Check) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        scope = ReportScope(period, now, unit=unit, progress=lambda _n: check())
        with c.engines.read.connect() as conn:
            low = make_report("low-utilization", conn, c.config, scope).document
            full = make_report("saturation", conn, c.config, scope).document
            return low, full, data.choices(conn)[0]

    return work


@router.get("/warnings")
async def warnings(request: Request, year: int | None = None, unit: str | None = None) -> Response:
    """The low-utilization and saturation lists of ``jishi report`` for a year (this year so
    far by default)."""
    c = ctx_of(request)
    now, fmt = c.clock(), Formats(c.config.site.timezone)
    this_year = datetime.fromtimestamp(now, fmt.zone).year
    period = _period(None, None, year or this_year, now, c.config.site.timezone)
    if isinstance(period, HTTPException):
        return error_page(request, period)
    done = await bounded(request, _warning_lists(request, period, unit or None, now), ADVICE)
    if isinstance(done, Response):
        return done
    low, full, units = done
    return page(
        request, "warnings.html", low=low, saturation=full, units=units, unit=unit or "",
        year=period.year, years=list(range(this_year, this_year - 6, -1)), fmt=fmt,
        partial=period.partial,
    )  # fmt: skip
