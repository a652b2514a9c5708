"""Expected figures from the scenario's hand-worked minutes (independent of the engine)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from collector.reports import scenario as sc

STATES = ("running", "idle", "off", "fault", "maintenance", "unknown")
YEAR_S = 365 * 86_400.0
QUOTA_H = {"nmr-1": 1400.0, "sem-1": 1400.0, "sem-2": 800.0, "xrd-1": 1000.0}


def seconds(instrument: str) -> dict[str, float]:
    inst = next(i for i in sc.INSTRUMENTS if i.id == instrument)
    minutes = sc.truth_minutes(inst, date(2025, 1, 1), date(2026, 1, 1))
    return figures_from(minutes, QUOTA_H[instrument] * 3600.0)


def figures_from(minutes: Counter[str], quota_s: float) -> dict[str, float]:
    out = {f"{k}_s": float(minutes.get(k, 0)) * 60 for k in STATES}
    for k in ("effective", "service", "external_service"):
        out[f"{k}_s"] = float(minutes.get(k, 0)) * 60
    out["period_s"] = YEAR_S
    out["quota_s"] = quota_s
    return out


def summed(instruments: list[str]) -> dict[str, float]:
    total: Counter[str] = Counter()
    for i in instruments:
        total.update(seconds(i))
    return dict(total)


def ratios(f: dict[str, float]) -> dict[str, float | None]:
    observed = f["period_s"] - f["unknown_s"]
    return {
        "completeness": 1 - f["unknown_s"] / f["period_s"],
        "utilization": f["effective_s"] / f["quota_s"],
        "share_rate": f["external_service_s"] / f["effective_s"] if f["effective_s"] else None,
        "availability": 1 - (f["fault_s"] + f["maintenance_s"]) / observed,
    }
