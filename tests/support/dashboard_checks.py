"""What every dashboard query must return for the scenario of support/dashboard_scenario.py:
expansion as Grafana expands it, and one check per panel. Used by the dashboard tests (InfluxDB
loaded directly) and by the sink tests (InfluxDB loaded through the collector)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the dev environment

from jishi.collector.sink import STATE_CODES, InstrumentMeta

from support.dashboard_scenario import (
    DAILY,
    END_MIN,
    HEARTBEAT_MIN,
    MS,
    NMR,
    POWER_W,
    TRANSITIONS,
    XRD,
    XRD_POWER_W,
    Loaded,
    _health,
    at,
    fresh,
    state_at,
)
from support.grafana import (
    ALL,
    TimeRange,
    Variable,
    calculate_interval_ms,
    expand,
)
from support.influx import TEST_DB as DB
from support.paths import DASHBOARDS

ROOT = DASHBOARDS
DASHBOARD_FILES = sorted(ROOT.glob("*.json"))
PROVISIONING = yaml.safe_load((ROOT / "provisioning/datasources/jishi-influxdb.yaml").read_text())
MIN_INTERVAL = PROVISIONING["datasources"][0]["jsonData"]["timeInterval"]
INSTRUMENTS = [NMR, XRD, MS]
MIN_MS = 60_000


def ms(minute: float) -> int:
    return int(at(minute).timestamp() * 1000)


# Where each instrument ends up (state, online, since minute, last-seen minute).
FINAL = {NMR: ("running", 1, 210, 330), XRD: ("fault", 1, 240, 330), MS: ("unknown", 0, 300, 295)}


@dataclass(frozen=True)
class Ctx:
    name: str
    time_range: TimeRange
    variables: dict[str, Variable]
    selected: tuple[InstrumentMeta, ...]
    live: bool = False

    def covers(self, minute: float) -> bool:
        return self.time_range.from_ms <= ms(minute) <= self.time_range.to_ms

    @property
    def from_min(self) -> float:
        return (self.time_range.from_ms - ms(0)) / MIN_MS


def variables(
    site: object = ALL, unit: object = ALL, instrument: object = ALL
) -> dict[str, Variable]:
    return {
        "site": Variable("site", site, all_value=".*"),  # type: ignore[arg-type]  # plain strings stand in for the variable's typed values
        "unit": Variable("unit", unit, all_value=".*"),  # type: ignore[arg-type]  # plain strings stand in for the variable's typed values
        "instrument": Variable("instrument", instrument, all_value=".*"),  # type: ignore[arg-type]  # plain strings stand in for the variable's typed values
        "lookback": Variable("lookback", "90d"),
    }


WIDE = TimeRange(ms(-2 * 24 * 60), ms(END_MIN))
NARROW = TimeRange(ms(150), ms(END_MIN))
CONTEXTS = [
    Ctx("all-wide", WIDE, variables(), (NMR, XRD, MS)),
    Ctx("pick-narrow", NARROW, variables(instrument=["nmr-1", "xrd.2"]), (NMR, XRD)),
    Ctx("site-s2-wide", WIDE, variables(site="s2"), (MS,)),
    Ctx("unit-chem-wide", WIDE, variables(unit=["chem"]), (NMR, MS)),
]


def live_ctx() -> Ctx:
    now = int(time.time() * 1000)
    return Ctx("live", TimeRange(now - 3_600_000, now + 60_000), variables(), (), live=True)


# --- result helpers ---------------------------------------------------------------------


def series_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result["results"][0].get("series", []))


def rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(series["columns"], values, strict=True)) for values in series["values"]]


def by_instrument(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for series in series_of(result):
        name = series["tags"]["instrument"]
        assert name not in found, f"two series for {name}"
        found[name] = series
    return found


def single_value(result: dict[str, Any]) -> float | None:
    series = series_of(result)
    if not series:
        return None
    assert len(series) == 1, series
    assert len(series[0]["values"]) == 1, series
    value = series[0]["values"][0][1]
    return None if value is None else float(value)


def table_rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table-format results: one row per tag group, keyed by instrument (or unit)."""
    out: dict[str, dict[str, Any]] = {}
    for series in series_of(result):
        tags = series.get("tags", {})
        key = tags.get("instrument") or tags.get("unit") or tags.get("collector") or ""
        (row,) = rows(series)
        out[key] = {**tags, **row}
    return out


def approx_equal(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return actual == pytest.approx(expected, rel=1e-9, abs=1e-9)


# --- expectations from the scenario -------------------------------------------------------


def heartbeats(meta: InstrumentMeta) -> list[int]:
    return [m for m in range(0, END_MIN, HEARTBEAT_MIN) if fresh(meta, m)]


def power(meta: InstrumentMeta, minute: int) -> float:
    return (XRD_POWER_W if meta == XRD else POWER_W)[state_at(meta, minute)]


def bucketed(
    ctx: Ctx, interval_ms: int, values: dict[int, float], how: Callable[[list[float]], float]
) -> dict[int, float]:
    groups: dict[int, list[float]] = {}
    for minute, value in values.items():
        if ctx.covers(minute):
            t = ms(minute)
            groups.setdefault(t - t % interval_ms, []).append(value)
    return {start: how(vals) for start, vals in groups.items()}


def check_buckets(
    series: dict[str, Any] | None, expected: dict[int, float], column: int = 1
) -> None:
    got = (
        {}
        if series is None
        else {v[0]: v[column] for v in series["values"] if v[column] is not None}
    )
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for start, value in expected.items():
        assert approx_equal(float(got[start]), value), (start, got[start], value)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def expected_runs(meta: InstrumentMeta, ctx: Ctx) -> list[tuple[float, int]]:
    """(start minute, code) of the state runs the timeline must show; a run that began before
    the range is reported at the range start."""
    runs: list[tuple[float, int]] = []
    for minute, state, _ in TRANSITIONS[meta]:
        if ms(minute) > ctx.time_range.to_ms:
            break
        start = max(float(minute), ctx.from_min)
        if runs and runs[-1][0] == start:
            runs.pop()
        runs.append((start, STATE_CODES[state]))
    return runs


def check_timeline(result: dict[str, Any], ctx: Ctx) -> None:
    got = by_instrument(result)
    assert set(got) == {m.instrument for m in ctx.selected}
    for meta in ctx.selected:
        points = [(t, code) for t, code in got[meta.instrument]["values"]]
        assert points == sorted(points), "state points out of order"
        runs: list[tuple[float, int]] = []
        for t, code in points:
            if not runs or runs[-1][1] != code:
                runs.append(((t - ms(0)) / MIN_MS, code))
        expected = expected_runs(meta, ctx)
        assert [code for _, code in runs] == [code for _, code in expected], meta
        # The first run may start before the range (the state in force at its start)...
        assert runs[0][0] <= expected[0][0]
        # ...every later change is exactly where the scenario put it, unknown included.
        assert runs[1:] == expected[1:], meta


def check_count(
    condition: Callable[[InstrumentMeta], bool],
) -> Callable[[dict[str, Any], Ctx], None]:
    def check(result: dict[str, Any], ctx: Ctx) -> None:
        expected = sum(1 for meta in ctx.selected if condition(meta))
        assert (single_value(result) or 0) == expected

    return check


def daily_sum(ctx: Ctx, metas: list[InstrumentMeta], field: str) -> float:
    total = 0.0
    for meta in metas:
        for offset, figures in DAILY[meta].items():
            if ctx.covers(offset * 24 * 60):
                total += figures.get(field, 0.0)
    return total


def days_in(ctx: Ctx) -> bool:
    return ctx.covers(-24 * 60)


def usage_figures(ctx: Ctx, metas: list[InstrumentMeta]) -> dict[str, float]:
    eff = daily_sum(ctx, metas, "effective_s")
    quota = daily_sum(ctx, metas, "quota_s")
    ext = daily_sum(ctx, metas, "external_service_s")
    unknown = daily_sum(ctx, metas, "unknown_s")
    period = 86_400.0 * sum(1 for m in metas for o in DAILY[m] if ctx.covers(o * 24 * 60))
    return {
        "effective h": eff / 3600,
        "quota h": quota / 3600,
        "utilization": eff / quota if quota else 0.0,
        "external service h": ext / 3600,
        "external share": ext / eff if eff else 0.0,
        "completeness": 1 - unknown / period if period else 0.0,
    }


def check_usage_table(key: str) -> Callable[[dict[str, Any], Ctx], None]:
    def check(result: dict[str, Any], ctx: Ctx) -> None:
        got = table_rows(result)
        groups: dict[str, list[InstrumentMeta]] = {}
        if days_in(ctx):
            for meta in ctx.selected:
                groups.setdefault(getattr(meta, key), []).append(meta)
        assert set(got) == set(groups)
        for name, metas in groups.items():
            for column, value in usage_figures(ctx, metas).items():
                assert approx_equal(got[name][column], value), (name, column)

    return check


def check_usage_stat(column: str) -> Callable[[dict[str, Any], Ctx], None]:
    def check(result: dict[str, Any], ctx: Ctx) -> None:
        if not days_in(ctx) or not ctx.selected:
            assert single_value(result) is None
            return
        assert approx_equal(single_value(result), usage_figures(ctx, list(ctx.selected))[column])

    return check


def check_instruments_table(result: dict[str, Any], ctx: Ctx) -> None:
    got = table_rows(result)
    assert set(got) == {m.instrument for m in ctx.selected}
    for meta in ctx.selected:
        state, online, since, seen = FINAL[meta]
        row = got[meta.instrument]
        assert (row["site"], row["unit"], row["category"]) == (meta.site, meta.unit, meta.category)
        assert (row["state"], row["online"]) == (state, online)
        assert (row["since"], row["last seen"]) == (ms(since), ms(seen))


def check_series_buckets(
    column: str,
    values_of: Callable[[InstrumentMeta], dict[int, float]],
    how: Callable[[list[float]], float],
) -> Callable[[dict[str, Any], Ctx, int], None]:
    def check(result: dict[str, Any], ctx: Ctx, interval_ms: int) -> None:
        got = by_instrument(result)
        assert set(got) <= {m.instrument for m in ctx.selected}
        for meta in ctx.selected:
            expected = bucketed(ctx, interval_ms, values_of(meta), how)
            series = got.get(meta.instrument)
            index = 1 if series is None else series["columns"].index(column)
            check_buckets(series, expected, index)

    return check


def health_values(name: str) -> Callable[[InstrumentMeta], dict[int, float]]:
    def values(meta: InstrumentMeta) -> dict[int, float]:
        out: dict[int, float] = {}
        for minute in heartbeats(meta):
            value = _health(meta, minute).get(name)
            if isinstance(value, int | float):
                out[minute] = float(value)
        return out

    return values


def power_values(meta: InstrumentMeta) -> dict[int, float]:
    return {m: power(meta, m) for m in heartbeats(meta)}


def check_read_errors(result: dict[str, Any], ctx: Ctx, interval_ms: int) -> None:
    got = by_instrument(result)
    for meta in ctx.selected:
        seen = [v for m, v in health_values("read_errors")(meta).items() if ctx.covers(m)]
        total = sum(v for _, v in got[meta.instrument]["values"] if v is not None)
        assert total == (max(seen) - min(seen) if seen else 0)


def check_health_table(
    column: str, value: float, meta: InstrumentMeta, minute: int
) -> Callable[[dict[str, Any], Ctx], None]:
    def check(result: dict[str, Any], ctx: Ctx) -> None:
        got = table_rows(result)
        expected = {meta.instrument} if meta in ctx.selected and ctx.covers(minute) else set()
        assert set(got) == expected
        for name in expected:
            assert got[name][column] == value

    return check


def check_silent_table(result: dict[str, Any], ctx: Ctx) -> None:
    got = table_rows(result)
    silent = [m for m in ctx.selected if FINAL[m][0] == "unknown"]
    assert set(got) == {m.instrument for m in silent}
    for meta in silent:
        assert got[meta.instrument]["last seen"] == ms(FINAL[meta][3])
        assert got[meta.instrument]["online"] == FINAL[meta][1]


def daily_by_instrument(result: dict[str, Any], ctx: Ctx) -> dict[str, dict[str, Any]]:
    """A daily panel's series by instrument: every selected one when the range holds a day,
    none otherwise."""
    got = by_instrument(result)
    assert set(got) == ({m.instrument for m in ctx.selected} if days_in(ctx) else set())
    return got


def check_hours_by_state(result: dict[str, Any], ctx: Ctx) -> None:
    got = daily_by_instrument(result, ctx)
    for meta in ctx.selected if days_in(ctx) else []:
        (row,) = rows(got[meta.instrument])
        for state in ("running", "idle", "off", "fault", "maintenance", "unknown"):
            assert approx_equal(row[state], daily_sum(ctx, [meta], f"{state}_s") / 3600), state


def check_daily(
    column: str, value_of: Callable[[dict[str, float]], float]
) -> Callable[[dict[str, Any], Ctx], None]:
    def check(result: dict[str, Any], ctx: Ctx) -> None:
        got = daily_by_instrument(result, ctx)
        for meta in ctx.selected if days_in(ctx) else []:
            points = dict(got[meta.instrument]["values"])
            expected = {ms(o * 24 * 60): value_of(f) for o, f in DAILY[meta].items()}
            assert set(points) == set(expected)
            for t, v in expected.items():
                assert approx_equal(points[t], v)

    return check


def check_live_sink(result: dict[str, Any], ctx: Ctx) -> None:
    series = series_of(result)
    if not ctx.live:
        assert series == []
        return
    assert series, "the sink's self-report is missing"
    assert all(v[1] is None or v[1] >= 0 for s in series for v in s["values"])


def daily_completeness(f: dict[str, float]) -> float:
    return 1 - f.get("unknown_s", 0.0) / 86_400


Check = Callable[..., None]
# (dashboard uid, panel title) -> check(result, ctx[, interval_ms]).
EXPECT: dict[tuple[str, str], Check] = {
    ("jishi-fleet", "Online"): check_count(lambda m: FINAL[m][1] == 1),
    ("jishi-fleet", "Offline"): check_count(lambda m: FINAL[m][1] == 0),
    ("jishi-fleet", "Running"): check_count(lambda m: FINAL[m][0] == "running"),
    ("jishi-fleet", "Idle"): check_count(lambda m: FINAL[m][0] == "idle"),
    ("jishi-fleet", "Fault"): check_count(lambda m: FINAL[m][0] == "fault"),
    ("jishi-fleet", "Unknown"): check_count(lambda m: FINAL[m][0] == "unknown"),
    ("jishi-fleet", "Instruments"): check_instruments_table,
    ("jishi-fleet", "State timeline"): check_timeline,
    ("jishi-instrument", "State"): check_timeline,
    ("jishi-instrument", "Power"): check_series_buckets("mean", power_values, mean),
    ("jishi-instrument", "All numeric readings"): check_series_buckets(
        "mean_power_w", power_values, mean
    ),
    ("jishi-instrument", "Agent health"): check_series_buckets(
        "dropped", health_values("dropped"), max
    ),
    ("jishi-instrument", "Hours by state (daily roll-ups)"): check_hours_by_state,
    ("jishi-utilization", "Effective hours"): check_usage_stat("effective h"),
    ("jishi-utilization", "Utilization"): check_usage_stat("utilization"),
    ("jishi-utilization", "External share"): check_usage_stat("external share"),
    ("jishi-utilization", "Completeness"): check_usage_stat("completeness"),
    ("jishi-utilization", "By instrument"): check_usage_table("instrument"),
    ("jishi-utilization", "By unit"): check_usage_table("unit"),
    ("jishi-agents", "Silent"): check_count(lambda m: FINAL[m][0] == "unknown"),
    ("jishi-agents", "Buffering"): lambda r, c: check_count(lambda m: m == XRD and c.covers(355))(
        r, c
    ),
    ("jishi-agents", "Dropping"): lambda r, c: check_count(lambda m: m == MS and c.covers(200))(
        r, c
    ),
    ("jishi-agents", "Mirror backlog"): check_live_sink,
    ("jishi-agents", "Silent instruments"): check_silent_table,
    ("jishi-agents", "Buffering agents"): check_health_table("outbox depth", 5, XRD, 355),
    ("jishi-agents", "Dropping agents"): check_health_table("dropped", 3, MS, 200),
    ("jishi-agents", "Outbox depth"): check_series_buckets(
        "max", health_values("outbox_depth"), max
    ),
    ("jishi-agents", "Read errors per interval"): check_read_errors,
    ("jishi-agents", "Clock offset"): check_series_buckets(
        "mean", health_values("clock_offset_s"), mean
    ),
}
DAILY_CHECKS = {
    "A": check_daily("effective h", lambda f: f.get("effective_s", 0.0) / 3600),
    "B": check_daily("completeness", daily_completeness),
}


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def run_panel(
    loaded: Loaded,
    dashboard: dict[str, Any],
    panel: dict[str, Any],
    target: dict[str, Any],
    ctx: Ctx,
) -> None:
    uid, title = dashboard["uid"], panel["title"]
    query = expand(
        target["query"],
        ctx.variables,
        ctx.time_range,
        max_data_points=panel["maxDataPoints"],
        min_interval=panel.get("interval") or MIN_INTERVAL,
    )
    assert not re.search(r"\$\w|\$\{|\[\[", query), f"unexpanded macro in {uid}/{title}: {query}"
    result = loaded.influx.query(query, db=DB)
    interval_ms = calculate_interval_ms(
        ctx.time_range.from_ms, ctx.time_range.to_ms, panel["maxDataPoints"], MIN_INTERVAL
    )
    if ctx.live and "jishi_sink" not in query:
        assert series_of(result) == [], f"{uid}/{title} found 2024 data in a live range"
        return
    if uid == "jishi-utilization" and title.startswith("Effective hours per day"):
        DAILY_CHECKS[target["refId"]](result, ctx)
        return
    check = EXPECT[(uid, title)]
    try:
        if check.__code__.co_argcount == 3:
            check(result, ctx, interval_ms)
        else:
            check(result, ctx)
    except AssertionError as exc:
        raise AssertionError(f"{uid} / {title} / {ctx.name}: {exc}\n{query}") from exc


def tag_values(loaded: Loaded, query: str, ctx: Ctx) -> list[str]:
    result = loaded.influx.query(expand(query, ctx.variables, ctx.time_range), db=DB)
    return sorted(v[1] for s in series_of(result) for v in s["values"])


def check_template_variables(loaded_influx: Loaded, path: Path) -> None:
    """The site/unit/instrument variables list what the scenario holds and cascade."""
    queries = {
        v["name"]: v["query"] for v in load(path)["templating"]["list"] if v["type"] == "query"
    }
    assert set(queries) == {"site", "unit", "instrument"}
    every = CONTEXTS[0]
    assert tag_values(loaded_influx, queries["site"], every) == ["s1", "s2"]
    assert tag_values(loaded_influx, queries["unit"], every) == ["chem", "phys"]
    assert tag_values(loaded_influx, queries["instrument"], every) == ["ms-3", "nmr-1", "xrd.2"]
    s2 = CONTEXTS[2]
    assert tag_values(loaded_influx, queries["unit"], s2) == ["chem"]
    assert tag_values(loaded_influx, queries["instrument"], s2) == ["ms-3"]
    chem = CONTEXTS[3]
    assert tag_values(loaded_influx, queries["instrument"], chem) == ["ms-3", "nmr-1"]
    # Two sites picked: Grafana sends (s1|s2); a regex metacharacter in a value is escaped.
    picked = Ctx("two", WIDE, variables(site=["s1", "s2"], unit=["phys"]), (XRD,))
    assert tag_values(loaded_influx, queries["instrument"], picked) == ["xrd.2"]
