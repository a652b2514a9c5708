"""Usage figures: the DESIGN figures in seconds and hours, grouped as asked."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from jishi.collector.api.auth import Ctx, Reader
from jishi.collector.api.bounded import Check
from jishi.collector.api.ranges import iso, parse_range, until_now
from jishi.collector.ledger import queries
from jishi.collector.ledger.fleet import usage_grouped
from jishi.collector.usage.engine import UsageFigures

router = APIRouter(prefix="/api/v1", tags=["usage"])


def _group(
    rows: list[dict[str, Any]], sums: dict[str, UsageFigures], group_by: str
) -> list[dict[str, Any]]:
    """The response rows: per instrument in registry order, else per group key in order."""
    if group_by == "instrument":
        return [
            {
                "instrument": r["id"],
                "name": r["name"],
                "unit": r["unit"],
                **sums.get(r["id"], UsageFigures()).as_dict(),
            }
            for r in rows
        ]
    return [{group_by: key or None, **sums[key].as_dict()} for key in sorted(sums)]


@router.get("/usage", response_model=dict[str, Any])
async def usage(
    request: Request,
    c: Ctx,
    _role: Reader,
    *,
    start: str,
    end: str,
    instrument: Annotated[list[str] | None, Query()] = None,
    unit: str | None = None,
    group_by: Literal["instrument", "unit", "day", "month"] = "instrument",
) -> JSONResponse:
    """The DESIGN usage figures (seconds and hours) grouped as asked.

    Computed in the thread pool within ``api.max_request_s`` (else 503), and stopped when the
    client disconnects (api/bounded.py)."""
    zone = ZoneInfo(c.config.site.timezone)
    lo, asked = parse_range(start, end, zone)
    now = c.clock()
    hi, partial = until_now(lo, asked, now, start)

    def work(check: Check) -> JSONResponse:
        with c.engines.read.connect() as conn:
            rows = queries.instrument_rows(
                conn, ids=instrument, unit=unit, columns=queries.USAGE_COLUMNS
            )
            if instrument:
                missing = sorted(set(instrument) - {r["id"] for r in rows})
                if missing:
                    raise HTTPException(404, detail=f"no instrument(s) {', '.join(missing)}")
            sums = usage_grouped(conn, rows, c.config, lo, hi, now, group_by, check=check)
        body = {
            "start": iso(lo),
            "end": iso(hi),
            "requested_end": iso(asked),
            "partial": partial,
            "group_by": group_by,
            "timezone": c.config.site.timezone,
            "results": _group(rows, sums, group_by),
        }
        # Rendered here, in the worker thread: plain JSON types already, and FastAPI's generic
        # encoder would spend about a second of the event loop on 10,000 instruments.
        return JSONResponse(body)

    advice = "ask for a shorter period, or fewer instruments (instrument=, unit=)"
    return await c.bounded(request, work, advice)
