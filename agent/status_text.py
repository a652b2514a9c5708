"""``jishi agent status`` as plain text that fits an 80-column console (issue 14).

Pure: takes the report of ``commands.status_report`` and the current time, returns lines. The
agent extra ships without rich (its pygments dependency alone was 9.5 MB on instrument PCs),
so the table is laid out here: times are local and to the second (``14:03:27`` today,
``12-01 14:03`` on other days), ages are short (``3 s``, ``12 min``, ``1.5 h``), a source's last
error goes on its own wrapped line under its row, and the two free-text columns (instrument,
source) give up width, cut with ``~``, when a row would pass 80 columns. Widths are counted in
console columns, not characters: a Chinese character takes two (issue 19).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jishi.i18n import N_, _, columns, cut, ljust, state_name, wrap

WIDTH = 80
HEADERS = (
    N_("instrument"),
    N_("state"),
    N_("since"),
    N_("link"),
    N_("published"),
    N_("source"),
    N_("last read"),
    N_("errors"),
)
# Columns that may be cut (instrument, source) and the narrowest they are cut to.
SHRINKABLE = (0, 5)
MIN_SHRINK = 6


def age(seconds: float | None) -> str:
    """A short age: ``3 s``, ``12 min``, ``1.5 h``; ``-`` for never."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return _("{n:.0f} s").format(n=max(seconds, 0))
    if seconds < 7200:
        return _("{n:.0f} min").format(n=seconds / 60)
    return _("{n:.1f} h").format(n=seconds / 3600)


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


def _wrap(text: str, first: str = "", rest: str = "  ", long_words: bool = False) -> list[str]:
    """A paragraph wrapped at 80 columns, its lines indented by ``first`` and ``rest``."""
    return wrap(text, WIDTH, first, rest, long_words) or [""]


def _agent_line(report: dict[str, Any]) -> str:
    if report["status_stale_but_running"]:
        text = _(
            "agent {name}: running, but its status file is stale (is the data dir's disk full?)"
        )
    elif report["running"]:
        text = _("agent {name}: running")
    else:
        text = _("agent {name}: not running (status file stale or missing)")
    return text.format(name=report["agent"] or "?")


def _held_line(report: dict[str, Any], now: float) -> str:
    since = report["outbox_unwritable_since"]
    head = (
        _("OUTBOX CANNOT BE WRITTEN")
        if since is None
        else _("OUTBOX CANNOT BE WRITTEN since {age} ago").format(age=age(now - since))
    )
    return head + _(
        ": {count} message(s) held in memory, lost if the agent is killed before the disk has "
        "room ({detail})"
    ).format(count=report["held_in_memory"], detail=report["outbox_error"] or _("no detail"))


def _outbox_line(report: dict[str, Any]) -> str:
    outbox = report["outbox"]
    if outbox is None:
        return _("outbox: {detail}").format(detail=report["outbox_error"] or _("none yet"))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(outbox["by_kind"].items())) or _("empty")
    oldest = outbox["oldest_unsent_age_s"]
    return _(
        "outbox: {depth} unsent ({bytes} bytes; {kinds}), oldest {oldest}, dropped heartbeats "
        "{dropped}"
    ).format(
        depth=outbox["depth"],
        bytes=outbox["bytes"],
        kinds=kinds,
        oldest="-" if oldest is None else _("{age} ago").format(age=age(oldest)),
        dropped=outbox["dropped"],
    )


def summary_lines(report: dict[str, Any], now: float) -> list[str]:
    """The agent, its broker, the data dir's disk and the outbox, one wrapped paragraph each."""
    free = report["disk_free_bytes"]
    data_dir = _("data dir {dir}").format(dir=report["data_dir"])
    if free is not None:
        data_dir += _(" ({free:.1f} MB free on its disk)").format(free=free / 1e6)
    paragraphs = [
        _agent_line(report),
        _("broker {url}").format(url=report["broker"] or "?"),
        data_dir,
    ]
    if report["outbox_unwritable_since"] is not None or report["held_in_memory"]:
        paragraphs.append(_held_line(report, now))
    paragraphs.append(_outbox_line(report))
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
            state_name(inst["state"]) if inst.get("state") else "-",
            local_time(inst.get("since"), now),
            _("yes") if inst.get("connected") else _("no"),
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
    widths = [max(columns(row[i]) for row in rows) for i in range(len(HEADERS))]
    while sum(widths) + len(widths) - 1 > WIDTH:
        column = max(SHRINKABLE, key=lambda i: widths[i])
        if widths[column] <= MIN_SHRINK:
            break  # nothing left to give; only absurd ids and names get here
        widths[column] -= 1
    return widths


def _cell(text: str, width: int) -> str:
    return text if columns(text) <= width else cut(text, width - 1) + "~"


def table_lines(report: dict[str, Any], now: float) -> list[str]:
    """The per-source table, each row within 80 columns, errors wrapped under their row."""
    rows = source_rows(report, now)
    headers = tuple(_(header) for header in HEADERS)
    widths = _fit_widths([headers, *(cells for cells, _error in rows)])

    def line(cells: tuple[str, ...]) -> str:
        return " ".join(ljust(_cell(c, w), w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(headers)]
    for cells, error in rows:
        lines.append(line(cells))
        if error:
            lines.extend(
                _wrap(_("last error: {error}").format(error=error), "  ", "    ", long_words=True)
            )
    return lines


def status_lines(report: dict[str, Any], now: float) -> list[str]:
    """Everything ``jishi agent status`` prints."""
    return [*summary_lines(report, now), *table_lines(report, now)]
