"""The fleet now (with its self-refreshing rows) and one instrument's day or week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from jishi.collector.api.bounded import Check
from jishi.collector.api.instruments import MAX_TIMELINE_SPANS
from jishi.collector.api.ranges import iso
from jishi.collector.console import data
from jishi.collector.console.catalog import Words
from jishi.collector.console.svg import Bar, Stretch, bars_svg, timeline_svg
from jishi.collector.console.web import (
    HEADERS,
    Formats,
    bounded,
    ctx_of,
    error_page,
    fragment,
    page,
    signed_in,
    words_for,
)
from jishi.collector.ledger import queries
from jishi.collector.reports.adjust_store import list_adjustments
from jishi.collector.reports.trail import trail_json
from jishi.collector.usage.engine import UsageFigures

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])
# The fleet's rows are fetched again every half of the fastest heartbeat shown, within these
# bounds: a state change shows within two heartbeats (it reaches the collector at once, as a
# state message), and a fleet on 30 s heartbeats costs one query every 10 s per open page.
REFRESH_S = (2, 10)
DEFAULT_REFRESH_S = 5  # when no shown instrument announced its heartbeat


def refresh_every(rows: list[tuple[dict[str, Any], UsageFigures]]) -> int:
    beats = [v["heartbeat_interval_s"] for v, _ in rows if v["heartbeat_interval_s"]]
    if not beats:
        return DEFAULT_REFRESH_S
    return int(min(max(min(beats) / 2, REFRESH_S[0]), REFRESH_S[1]))


Filter = Annotated[str | None, "an optional query filter; empty means none"]


def fleet_rows(
    items: list[tuple[dict[str, Any], UsageFigures]], fmt: Formats, t: Words
) -> list[dict[str, Any]]:
    """What one row of the fleet table shows, as text."""
    return [
        {
            "id": view["id"],
            "name": view["name"],
            "unit": view["unit"] or t("no_unit"),
            "category": t(f"category_{view['category']}"),
            "state": view["state"],
            "state_word": t(f"state_{view['state']}"),
            "online": view["online"],
            "since": fmt.when(data.epoch_of(view["since"])),
            "last_seen": fmt.when(data.epoch_of(view["last_seen"]), t("never")),
            "running_h": fmt.hours(today.running_s),
            "effective_h": fmt.hours(today.effective_s),
            "completeness": fmt.pct(today.completeness),
        }
        for view, today in items
    ]


@dataclass(frozen=True)
class Fleet:
    """The fleet table's rows (rendered), how many, and what the page around them shows."""

    rows: Markup
    count: int
    choices: tuple[list[str], list[str]]
    updated: str
    refresh_s: int


async def _fleet(request: Request, unit: str | None, category: str | None) -> Fleet | Response:
    c = ctx_of(request)
    now, words, fmt = c.clock(), words_for(request), Formats(c.config.site.timezone)

    def work(check: Check) -> Fleet:
        with c.engines.read.connect() as conn:
            items = data.fleet_now(
                conn, c.config, now, unit=unit or None, category=category or None, check=check
            )
            choices = data.choices(conn)
        rows = fragment("fleet_rows.html", words, rows=fleet_rows(items, fmt, words))
        return Fleet(rows, len(items), choices, fmt.when(now), refresh_every(items))

    return await bounded(request, work, "filter by management unit or category")


@router.get("/")
async def fleet(request: Request, unit: Filter = None, category: Filter = None) -> Response:
    got = await _fleet(request, unit, category)
    if isinstance(got, Response):
        return got
    units, categories = got.choices
    return page(
        request, "fleet.html", fleet=got, units=units, categories=categories, unit=unit or "",
        category=category or "",
    )  # fmt: skip


@router.get("/fleet/rows")
async def fleet_rows_now(
    request: Request, unit: Filter = None, category: Filter = None
) -> Response:
    """The table's rows alone, fetched by the page's script (see ``REFRESH_S``)."""
    got = await _fleet(request, unit, category)
    if isinstance(got, Response):
        return got
    return HTMLResponse(got.rows, headers={**HEADERS, "X-Jishi-Updated": got.updated})


def _ticks(lo: float, hi: float, span: str, zone: ZoneInfo, t: Words) -> list[tuple[float, str]]:
    """Tick marks of the strip: every 3 hours of a day, every day of a week (date and the
    weekday in the page's language, not the server locale's)."""
    step = timedelta(days=1) if span == "week" else timedelta(hours=3)
    at = datetime.fromtimestamp(lo, zone)
    ticks = []
    while at.timestamp() < hi:
        day = f"{at:%m-%d} " + t(f"weekday_{at.weekday()}")
        ticks.append((at.timestamp(), day if span == "week" else f"{at:%H:%M}"))
        at = (at + step).astimezone(zone)  # wall-clock steps, true across a DST change
    return ticks


def _timeline_parts(  # noqa: PLR0917 - the page's period and its words, passed along
    got: dict[str, Any], lo: float, hi: float, span: str, fmt: Formats, t: Words
) -> dict[str, Any]:
    """The strip, and the stretches listed under it with the evidence behind each."""
    stretches, listed = [], []
    for i, iv in enumerate(got["intervals"]):
        word = t(f"state_{iv.state}")
        length = fmt.duration(iv.end - iv.start)
        title = f"{word}  {fmt.when(iv.start)} – {fmt.when(iv.end)}  ({length})"
        stretches.append(Stretch(iv.state, iv.start, iv.end, title))
        if i < data.MAX_LISTED:
            claims, wills = data.behind(iv, got["claims"], got["wills"])
            listed.append({"i": i, "iv": iv, "word": word, "claims": claims, "wills": wills})
    strip = timeline_svg(stretches, lo, hi, _ticks(lo, hi, span, fmt.zone, t), t("timeline"))
    return {"strip": strip, "listed": listed, "unlisted": max(0, len(stretches) - len(listed))}


def _daily_parts(days: list[tuple[str, UsageFigures]], fmt: Formats, t: Words) -> dict[str, Any]:
    bars = [
        Bar(
            day[5:],
            f.effective_s / 3600,
            f.completeness,
            f"{day}: {fmt.hours(f.effective_s)} h · {t('col_completeness')} "
            f"{fmt.pct(f.completeness)}",
        )
        for day, f in days
    ]
    return {"bars": bars_svg(bars, t("daily_effective"), "h"), "days": days}


def _instrument_work(request: Request, instrument_id: str, lo: float, hi: float, now: float) -> Any:
    c = ctx_of(request)

    def work(check: Check) -> dict[str, Any]:
        with c.engines.read.connect() as conn:
            row = queries.get_instrument(conn, instrument_id)
            if row is None:
                raise HTTPException(404, detail=words_for(request)("not_found", id=instrument_id))
            cut = queries.span_cut(conn, instrument_id, lo, hi, MAX_TIMELINE_SPANS)
            if cut is not None:
                raise HTTPException(400, detail=f"more than {MAX_TIMELINE_SPANS} spans; "
                                    f"choose a day before {iso(cut)}")  # fmt: skip
            claims, wills = data.evidence(conn, instrument_id, lo, hi)
            return {
                "view": queries.instrument_view(row, now),
                "intervals": queries.timeline(conn, instrument_id, lo, hi),
                "claims": claims,
                "wills": wills,
                "daily": data.daily(conn, row, c.config, now, check),
                "sessions": queries.list_sessions(conn, instrument_id, lo, hi, 500),
                "adjustments": trail_json(
                    list_adjustments(conn, [instrument_id], lo, hi), c.config.site.timezone
                ),
            }

    return work


@router.get("/instrument/{instrument_id}")
async def instrument(
    request: Request,
    instrument_id: str,
    day: str | None = None,
    span: Literal["day", "week"] = "day",
) -> Response:
    c = ctx_of(request)
    now, fmt, t = c.clock(), Formats(c.config.site.timezone), words_for(request)
    try:
        lo, hi, first = data.window(day, span, fmt.zone, now)
    except ValueError:
        return error_page(request, HTTPException(400, detail=f"day={day!r}: use YYYY-MM-DD"))
    if lo >= now:
        return error_page(request, HTTPException(400, detail=f"{first} is in the future"))
    until = min(hi, now)
    got = await bounded(request, _instrument_work(request, instrument_id, lo, until, now), "")
    if isinstance(got, Response):
        return got
    step = timedelta(days=7 if span == "week" else 1)
    return page(
        request, "instrument.html", view=got["view"], span=span, day=first.isoformat(),
        earlier=(first - step).isoformat(), later=(first + step).isoformat(),
        has_later=hi < now, partial=hi > now, fmt=fmt, sessions=got["sessions"],
        adjustments=got["adjustments"], **_timeline_parts(got, lo, hi, span, fmt, t),
        **_daily_parts(got["daily"], fmt, t),
    )  # fmt: skip
