"""Instruments now, one instrument, and an instrument's timeline."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from jishi.collector.api.auth import Ctx, Reader
from jishi.collector.api.ranges import iso, parse_range, until_now
from jishi.collector.ledger import queries

router = APIRouter(prefix="/api/v1", tags=["instruments"])
# A timeline is bounded by what it holds, not by its range: 11 years of an idle instrument are
# a few intervals, a month of one flapping every minute 40,000. Beyond this many spans (about
# 10 MB of JSON with the unknown gaps between them) the range is refused with an end to ask.
MAX_TIMELINE_SPANS = 50_000


@router.get("/instruments", response_model=list[dict[str, Any]])
def instruments(c: Ctx, _role: Reader, unit: str | None = None) -> JSONResponse:
    """Every instrument with its current state (unknown when data is not fresh)."""
    with c.engines.read.connect() as conn:
        rows = queries.list_instruments(conn, c.clock(), unit=unit)
    # Plain JSON types already: FastAPI's generic encoder would take a second for 10,000.
    return JSONResponse(rows)


@router.get("/instruments/{instrument_id}")
def instrument(instrument_id: str, c: Ctx, _role: Reader) -> dict[str, Any]:
    with c.engines.read.connect() as conn:
        row = queries.get_instrument(conn, instrument_id)
    if row is None:
        raise HTTPException(404, detail=f"no instrument {instrument_id!r}")
    return queries.instrument_view(row, c.clock())


@router.get("/instruments/{instrument_id}/timeline")
def timeline(instrument_id: str, c: Ctx, _role: Reader, *, start: str, end: str) -> dict[str, Any]:
    """Contiguous intervals covering ``[start, end)``, unknown included; a range reaching
    past now ends now (``partial``). A range holding more than ``MAX_TIMELINE_SPANS`` state
    spans is refused (400) with an end that would be answered."""
    lo, asked = parse_range(start, end, ZoneInfo(c.config.site.timezone))
    hi, partial = until_now(lo, asked, c.clock(), start)
    with c.engines.read.connect() as conn:
        if queries.get_instrument(conn, instrument_id) is None:
            raise HTTPException(404, detail=f"no instrument {instrument_id!r}")
        cut = queries.span_cut(conn, instrument_id, lo, hi, MAX_TIMELINE_SPANS)
        if cut is not None:
            raise HTTPException(
                400,
                detail=(
                    f"the timeline of {instrument_id} from {start} holds more than "
                    f"{MAX_TIMELINE_SPANS} state spans; ask for a shorter range, e.g. up to "
                    f"end={iso(cut)}, and go on from there"
                ),
            )
        intervals = queries.timeline(conn, instrument_id, lo, hi)
    items = [
        {
            "state": i.state,
            "start": iso(i.start),
            "end": iso(i.end),
            "duration_s": i.duration_s,
        }
        for i in intervals
    ]
    return {
        "instrument": instrument_id,
        "start": iso(lo),
        "end": iso(hi),
        "requested_end": iso(asked),
        "partial": partial,
        "intervals": items,
    }
