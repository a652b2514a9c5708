"""Charts as inline SVG, drawn on the server: a state timeline strip and a bar chart.

Pure: numbers and already translated strings in, markup out; every text is escaped. No script
and no style attribute (the console's Content-Security-Policy allows neither inline): colours
come from the console's stylesheet by class (``st-running``, ...), so ``unknown`` is drawn
hatched and grey wherever a state is drawn, never in a state's colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 1000.0
STRIP_H = 40.0
AXIS_H = 18.0
BAR_AREA_H = 120.0


@dataclass(frozen=True, slots=True)
class Stretch:
    """One interval of the timeline and the text shown when hovering it."""

    state: str
    start: float
    end: float
    title: str


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its value, the completeness (0..1) drawn under it, its label and hover text."""

    label: str
    value: float
    completeness: float
    title: str


def _x(value: float, lo: float, hi: float) -> float:
    return (value - lo) / (hi - lo) * WIDTH if hi > lo else 0.0


def _hatch() -> str:
    return (
        '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" class="hatch-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="8" class="hatch-line"/></pattern></defs>'
    )


def timeline_svg(
    stretches: Sequence[Stretch],
    lo: float,
    hi: float,
    ticks: Sequence[tuple[float, str]],
    label: str,
) -> Markup:
    """The strip over ``[lo, hi)``: one rectangle per stretch (``data-i`` = its index, for the
    evidence list), grid lines and labels at ``ticks``; time after the last stretch is blank."""
    height = STRIP_H + AXIS_H
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH:g} {height:g}" '
        f'preserveAspectRatio="none" role="img" aria-label="{escape(label)}">',
        _hatch(),
        f'<rect class="future" x="0" y="0" width="{WIDTH:g}" height="{STRIP_H:g}"/>',
    ]
    for i, s in enumerate(stretches):
        x0, x1 = _x(max(s.start, lo), lo, hi), _x(min(s.end, hi), lo, hi)
        parts.append(
            f'<rect class="st st-{escape(s.state)}" data-i="{i}" x="{x0:.2f}" y="0" '
            f'width="{max(x1 - x0, 0.6):.2f}" height="{STRIP_H:g}">'
            f"<title>{escape(s.title)}</title></rect>"
        )
    for at, text in ticks:
        x = _x(at, lo, hi)
        anchor = "start" if x < 1 else ("end" if x > WIDTH - 1 else "middle")
        parts.append(
            f'<line class="tick" x1="{x:.2f}" y1="0" x2="{x:.2f}" y2="{STRIP_H + 4:g}"/>'
            f'<text class="tick-label" x="{x:.2f}" y="{height - 3:g}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built above from escaped parts


def bars_svg(bars: Sequence[Bar], label: str, unit: str) -> Markup:
    """Bars scaled to the largest value (at least 1 ``unit``), a completeness strip under each,
    every fifth label shown and the last."""
    top = max([1.0, *(b.value for b in bars)])
    height = BAR_AREA_H + 10 + AXIS_H + 8
    slot = WIDTH / max(len(bars), 1)
    parts = [
        f'<svg class="bars" viewBox="0 0 {WIDTH:g} {height:g}" role="img" '
        f'aria-label="{escape(label)}">',
        f'<line class="axis" x1="0" y1="{BAR_AREA_H:g}" x2="{WIDTH:g}" y2="{BAR_AREA_H:g}"/>',
        f'<text class="tick-label" x="2" y="10">{top:.1f} {escape(unit)}</text>',
    ]
    for i, b in enumerate(bars):
        h = b.value / top * (BAR_AREA_H - 14)
        x = i * slot + slot * 0.15
        w = slot * 0.7
        done = max(0.0, min(1.0, b.completeness)) * w
        parts.append(
            f'<g class="bar" data-i="{i}"><title>{escape(b.title)}</title>'
            f'<rect class="bar-value" x="{x:.2f}" y="{BAR_AREA_H - h:.2f}" width="{w:.2f}" '
            f'height="{h:.2f}"/>'
            f'<rect class="bar-gap" x="{x:.2f}" y="{BAR_AREA_H + 3:g}" width="{w:.2f}" height="5"/>'
            f'<rect class="bar-complete" x="{x:.2f}" y="{BAR_AREA_H + 3:g}" width="{done:.2f}" '
            'height="5"/></g>'
        )
        if i % 5 == 0 or i == len(bars) - 1:
            parts.append(
                f'<text class="tick-label" x="{x + w / 2:.2f}" y="{height - 4:g}" '
                f'text-anchor="middle">{escape(b.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built above from escaped parts
