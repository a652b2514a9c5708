"""API routes for timelines, usage figures, sessions and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from jishi.agent.wire import ID_PATTERN, iso_utc
from jishi.collector import queries, tables
from jishi.collector.api import Ctx, Reader, require
from jishi.collector.rollup import usage_grouped
from jishi.collector.session_store import store_sessions
from jishi.collector.sessions_csv import (
    SessionImportError,
    SessionRecord,
    parse_sessions_csv,
    parse_time,
)
from jishi.collector.usage import UsageFigures
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

Writer = Annotated[str, Depends(require("write"))]
Admin = Annotated[str, Depends(require("admin"))]
MAX_RANGE_S = 11 * 366 * 86_400
MAX_CSV_BYTES = 20 * 1024 * 1024


def _time(name: str, text: str, zone: ZoneInfo) -> float:
    try:
        return parse_time(text, zone)
    except ValueError:
        raise HTTPException(
            400, detail=f"{name}={text!r} is not an ISO 8601 date or time, e.g. 2025-01-01"
        ) from None


def _range(start: str, end: str, zone: ZoneInfo) -> tuple[float, float]:
    lo, hi = _time("start", start, zone), _time("end", end, zone)
    if hi <= lo:
        raise HTTPException(400, detail=f"end ({end}) must be after start ({start})")
    if hi - lo > MAX_RANGE_S:
        raise HTTPException(400, detail="the range may span at most 11 years")
    return lo, hi


def _until_now(lo: float, hi: float, now: float, start: str) -> tuple[float, bool]:
    """A period reaching past now ends now and is ``partial``, as in the reports
    (reports/period.py): the future is not unknown, it has not happened, and the quota is
    prorated over the time that has."""
    if lo >= now:
        raise HTTPException(
            400, detail=f"start ({start}) is in the future; nothing is measured there yet"
        )
    return min(hi, now), hi > now


def _iso(value: float) -> str:
    return iso_utc(datetime.fromtimestamp(value, UTC))


class SessionIn(BaseModel):
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


def register(app: FastAPI) -> None:
    """Add the timeline, usage, session and dead-letter routes to ``app``."""
    _register_reads(app)
    _register_sessions(app)


def _register_reads(app: FastAPI) -> None:

    @app.get("/api/v1/instruments/{instrument_id}/timeline")
    def timeline(
        instrument_id: str, c: Ctx, _role: Reader, *, start: str, end: str
    ) -> dict[str, Any]:
        """Contiguous intervals covering ``[start, end)``, unknown included; a range reaching
        past now ends now (``partial``)."""
        lo, asked = _range(start, end, ZoneInfo(c.config.site.timezone))
        hi, partial = _until_now(lo, asked, c.clock(), start)
        with c.engines.read.connect() as conn:
            if queries.get_instrument(conn, instrument_id) is None:
                raise HTTPException(404, detail=f"no instrument {instrument_id!r}")
            intervals = queries.timeline(conn, instrument_id, lo, hi)
        items = [
            {
                "state": i.state,
                "start": _iso(i.start),
                "end": _iso(i.end),
                "duration_s": i.duration_s,
            }
            for i in intervals
        ]
        return {
            "instrument": instrument_id,
            "start": _iso(lo),
            "end": _iso(hi),
            "requested_end": _iso(asked),
            "partial": partial,
            "intervals": items,
        }

    @app.get("/api/v1/usage")
    def usage(
        c: Ctx,
        _role: Reader,
        *,
        start: str,
        end: str,
        instrument: Annotated[list[str] | None, Query()] = None,
        unit: str | None = None,
        group_by: Literal["instrument", "unit", "day", "month"] = "instrument",
    ) -> dict[str, Any]:
        """The DESIGN usage figures (seconds and hours) grouped as asked."""
        zone = ZoneInfo(c.config.site.timezone)
        lo, asked = _range(start, end, zone)
        now = c.clock()
        hi, partial = _until_now(lo, asked, now, start)
        with c.engines.read.connect() as conn:
            rows = queries.instrument_rows(conn, ids=instrument, unit=unit)
            if instrument:
                missing = sorted(set(instrument) - {r["id"] for r in rows})
                if missing:
                    raise HTTPException(404, detail=f"no instrument(s) {', '.join(missing)}")
            sums = usage_grouped(conn, rows, c.config, lo, hi, now, group_by)
        results = _group(rows, sums, group_by)
        return {
            "start": _iso(lo),
            "end": _iso(hi),
            "requested_end": _iso(asked),
            "partial": partial,
            "group_by": group_by,
            "timezone": c.config.site.timezone,
            "results": results,
        }


def _register_sessions(app: FastAPI) -> None:
    @app.get("/api/v1/sessions")
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
        lo = None if start is None else _time("start", start, zone)
        hi = None if end is None else _time("end", end, zone)
        if lo is not None and hi is not None and hi <= lo:
            raise HTTPException(400, detail="end must be after start")
        with c.engines.read.connect() as conn:
            return queries.list_sessions(conn, instrument, lo, hi, limit)

    @app.post("/api/v1/sessions", status_code=201)
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
        record = SessionRecord(
            line=1,
            instrument=body.instrument,
            start=body.start.timestamp(),
            end=body.end.timestamp(),
            session_id=session_id,
            user=body.user,
            org=body.org,
            user_type=body.user_type,
            service_way=body.service_way,
            direction=body.direction,
            satisfaction=body.satisfaction,
            sample_count=body.sample_count,
            contact=body.contact,
        )
        try:
            store_sessions(c.engines, [record], "api", c.clock(), c.config.site.timezone)
        except SessionImportError:
            raise HTTPException(404, detail=f"no instrument {body.instrument!r}") from None
        return {"instrument": body.instrument, "session_id": session_id, "source": "api"}

    @app.post("/api/v1/sessions/import")
    async def import_sessions(request: Request, c: Ctx, _role: Writer) -> dict[str, Any]:
        """CSV body (text/csv), columns as docs/collector.md lists; all rows or none."""
        raw = await request.body()
        if len(raw) > MAX_CSV_BYTES:
            raise HTTPException(413, detail="CSV larger than 20 MB; split it")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(400, detail="the CSV is not UTF-8 text") from None
        try:
            records = parse_sessions_csv(text, c.config.site.timezone)
            count = store_sessions(c.engines, records, "import", c.clock(), c.config.site.timezone)
        except SessionImportError as exc:
            raise HTTPException(
                400,
                detail={
                    "message": "nothing imported",
                    "errors": [{"line": line, "error": err} for line, err in exc.problems],
                },
            ) from None
        return {"imported": count}

    @app.get("/api/v1/dead-letters")
    def dead_letters(
        c: Ctx, _role: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        d = tables.dead_letters
        with c.engines.read.connect() as conn:
            rows = conn.execute(select(d).order_by(d.c.id.desc()).limit(limit)).mappings().all()
        return [
            {
                "id": r["id"],
                "received_at": _iso(r["received_at"]),
                "topic": r["topic"],
                "reason": r["reason"],
                "detail": r["detail"],
                "size": r["size"],
                "payload": r["payload"].decode("utf-8", "replace"),
            }
            for r in rows
        ]
