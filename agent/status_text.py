"""``jishi agent status`` as plain text that fits an 80-column console (issue 14).

Pure: takes the report of ``commands.status_report`` and the current time, returns lines. The
agent extra ships without rich (its pygments dependency alone was 9.5 MB on instrument PCs),
so the table is laid out here: times are local and to the second (``14:03:27`` today,
``12-01 14:03`` on other days), ages are short (``3 s``, ``12 min``, ``1.5 h``), a source's last
error goes on its own wrapped line under its row, and the two free-text columns (instrument,
source) give up width, cut with ``~``, when a row would pass 80 columns.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

WIDTH = 80
HEADERS = ("instrument", "state", "since", "link", "published", "source", "last read", "errors")
# Columns that may be cut (instrument, source) and the narrowest they are cut to.
SHRINKABLE = (0, 5)
MIN_SHRINK = 6


def age(seconds: float | None) -> str:
    """A short age: ``3 s``, ``12 min``, ``1.5 h``; ``-`` for never."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def local_time(iso: str | None, now: float) -> str:
    """An ISO timestamp as local time to the second, with the date only when not today."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso[:19]
    today = datetime.fromtimestamp(now).astimezone().date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%m-%d %H:%M")


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    ) or [""]


def summary_lines(report: dict[str, Any], now: float) -> list[str]:
    """The agent, its broker, the data dir's disk and the outbox, one wrapped paragraph each."""
    running = "running" if report["running"] else "not running (status file stale or missing)"
    if report["status_stale_but_running"]:
        running = "running, but its status file is stale (is the data dir's disk full?)"
    free = report["disk_free_bytes"]
    paragraphs = [
        f"agent {report['agent'] or '?'}: {running}",
        f"broker {report['broker'] or '?'}",
        f"data dir {report['data_dir']}"
        + ("" if free is None else f" ({free / 1e6:.1f} MB free on its disk)"),
    ]
    if report["outbox_unwritable_since"] is not None or report["held_in_memory"]:
        since = report["outbox_unwritable_since"]
        paragraphs.append(
            "OUTBOX CANNOT BE WRITTEN"
            f"{'' if since is None else ' since ' + age(now - since) + ' ago'}: "
            f"{report['held_in_memory']} message(s) held in memory, lost if the agent is "
            f"killed before the disk has room ({report['outbox_error'] or 'no detail'})"
        )
    outbox = report["outbox"]
    if outbox is None:
        paragraphs.append(f"outbox: {report['outbox_error'] or 'none yet'}")
    else:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(outbox["by_kind"].items())) or "empty"
        oldest = outbox["oldest_unsent_age_s"]
        paragraphs.append(
            f"outbox: {outbox['depth']} unsent ({outbox['bytes']} bytes; {kinds}), oldest "
            f"{'-' if oldest is None else age(oldest) + ' ago'}, "
            f"dropped heartbeats {outbox['dropped']}"
        )
    return [line for text in paragraphs for line in _wrap(text)]


def source_rows(report: dict[str, Any], now: float) -> list[tuple[tuple[str, ...], str]]:
    """One row per source of each instrument (the instrument's cells on its first row only),
    each with the source's last error (empty when none)."""
    rows: list[tuple[tuple[str, ...], str]] = []
    for inst in report["instruments"]:
        sources = inst.get("sources") or {"-": {}}
        published = inst.get("last_publish")
        first: tuple[str, ...] = (
            inst["id"],
            inst.get("state") or "-",
            local_time(inst.get("since"), now),
            "yes" if inst.get("connected") else "no",
            age(None if published is None else now - published),
        )
        for index, (name, src) in enumerate(sources.items()):
            lead = first if index == 0 else ("",) * len(first)
            cells = (
                *lead,
                name,
                local_time(src.get("last_good_read"), now),
                str(src.get("read_errors", 0)),
            )
            rows.append((cells, src.get("last_error") or ""))
    return rows


def _fit_widths(rows: list[tuple[str, ...]]) -> list[int]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    while sum(widths) + len(widths) - 1 > WIDTH:
        column = max(SHRINKABLE, key=lambda i: widths[i])
        if widths[column] <= MIN_SHRINK:
            break  # nothing left to give; only absurd ids and names get here
        widths[column] -= 1
    return widths


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def table_lines(report: dict[str, Any], now: float) -> list[str]:
    """The per-source table, each row within 80 columns, errors wrapped under their row."""
    rows = source_rows(report, now)
    widths = _fit_widths([HEADERS, *(cells for cells, _ in rows)])

    def line(cells: tuple[str, ...]) -> str:
        return " ".join(_cell(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(HEADERS)]
    for cells, error in rows:
        lines.append(line(cells))
        if error:
            lines.extend(
                textwrap.wrap(
                    f"last error: {error}",
                    WIDTH,
                    initial_indent="  ",
                    subsequent_indent="    ",
                    break_long_words=True,
                )
            )
    return lines


def status_lines(report: dict[str, Any], now: float) -> list[str]:
    """Everything ``jishi agent status`` prints."""
    return [*summary_lines(report, now), *table_lines(report, now)]
