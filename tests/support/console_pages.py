"""Reading the web console's pages in tests: its figure cells, and the API's figures shown the
same way (two decimals of hours, ratios as percent to one decimal)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

ROW_KEYS = ("data-key", "data-instrument", "data-day")


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def shown(figures: dict[str, Any]) -> dict[str, str]:
    """The usage API's figures as the console's tables show them."""
    out = {name: hours(figures[name]) for name in figures if name.endswith("_h")}
    for ratio in ("completeness", "share_rate", "utilization", "utilization_upper_bound"):
        if ratio in figures:
            out[ratio] = pct(figures[ratio])
    return out


class _Rows(HTMLParser):
    """Rows of one table (by its class) keyed by their data attribute, cells by data-figure."""

    def __init__(self, table_class: str) -> None:
        super().__init__()
        self.table_class = table_class
        self.depth = 0  # > 0 inside the wanted table
        self.rows: dict[str, dict[str, str]] = {}
        self._row: str | None = None
        self._cell: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and (self.depth or self.table_class in (a.get("class") or "").split()):
            self.depth += 1
        if not self.depth:
            return
        if tag == "tr":
            self._row = next((a[k] for k in ROW_KEYS if a.get(k) is not None), None)
            if self._row is not None:
                self.rows[self._row] = {}
        elif tag in ("td", "th") and self._row is not None and a.get("data-figure"):
            self._cell, self._text = a["data-figure"], ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self.rows[self._row][self._cell] = self._text.strip()
            self._cell = None
        elif tag == "table" and self.depth:
            self.depth -= 1


def figure_rows(html: str, table_class: str) -> dict[str, dict[str, str]]:
    """``{row key: {figure: text}}`` of the table with class ``table_class``."""
    parser = _Rows(table_class)
    parser.feed(html)
    return parser.rows
