"""Tables with Chinese headers, written as CSV (UTF-8 with BOM, for Excel) or XLSX (openpyxl).

A report hands over :class:`Sheet` objects: columns (header, key, kind) and rows as dicts.
JSON is not made here: each report builds its own JSON with the platform's or jishi's names.

Text cells come from people outside (session CSVs, agents' session messages, the registry), and
the evaluation office opens these files in a spreadsheet. A text that a spreadsheet would read
as a formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``, ``@SUM(...)``, ``+``/``-`` first)
is neutralised: in CSV it gets a leading ``'`` (the OWASP rule), in XLSX it is stored as a
string cell with Excel's quote prefix, so the text shows exactly as given and never runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["text", "hours", "ratio", "int", "number"]
_XLSX_FORMATS: dict[str, str] = {"hours": "0.00", "ratio": "0.0000", "int": "0", "number": "0.00"}
_WIDTHS: dict[str, int] = {"text": 16, "hours": 12, "ratio": 10, "int": 8, "number": 10}
# First characters that make a spreadsheet evaluate a cell: formula, DDE and the full-width
# forms some CJK input methods give, plus tab and carriage return (which Excel skips).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a report table: header, the key of its value, and how to format it."""

    header: str
    key: str
    kind: Kind = "text"


@dataclass(frozen=True)
class Sheet:
    """One table; ``total`` (optional) is written last, its first column saying 合计."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    total: Mapping[str, Any] | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet would evaluate ``text`` typed into a cell."""
    return text.startswith(FORMULA_STARTS)


def neutralise(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet evaluates (a leading ``'`` where needed)."""
    return "'" + text if is_formula_like(text) else text


def _text(value: Any, kind: Kind) -> str:
    if value is None:
        return ""
    if kind == "hours":
        return f"{float(value):.2f}"
    if kind == "ratio":
        return f"{float(value):.4f}"
    if kind == "int":
        return str(int(value))
    return neutralise(str(value))


def render_csv(sheet: Sheet) -> bytes:
    """The sheet as CSV: a BOM so Excel reads the Chinese headers, then header, rows, total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.header for c in sheet.columns])
    rows = list(sheet.rows) + ([sheet.total] if sheet.total is not None else [])
    for row in rows:
        writer.writerow([_text(row.get(c.key), c.kind) for c in sheet.columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def render_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """All sheets in one workbook; numbers stay numbers (formats show 2 or 4 decimals)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for sheet in sheets:
        ws = workbook.create_sheet(title=sheet.title[:31])
        ws.append([c.header for c in sheet.columns])
        for cell in ws[1]:
            cell.font = bold
        width = len(sheet.columns)
        # Rows are counted here: ``ws.max_row`` scans every cell, quadratic for 10,000 rows.
        for number, row in enumerate(sheet.rows, start=2):
            ws.append([_cell(row.get(c.key), c.kind) for c in sheet.columns])
            _keep_as_text([ws.cell(number, k) for k in range(1, width + 1)])
        if sheet.total is not None:
            ws.append([_cell(sheet.total.get(c.key), c.kind) for c in sheet.columns])
            for k in range(1, width + 1):
                ws.cell(len(sheet.rows) + 2, k).font = bold
        for index, column in enumerate(sheet.columns, start=1):
            letter = get_column_letter(index)
            ws.column_dimensions[letter].width = max(_WIDTHS[column.kind], len(column.header) * 2)
            number_format = _XLSX_FORMATS.get(column.kind)
            if number_format is not None:
                for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = number_format
        ws.freeze_panes = "A2"
        for note in sheet.notes:
            ws.append([])
            ws.append([note])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _cell(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind in ("hours", "ratio", "number"):
        return float(value)
    if kind == "int":
        return int(value)
    return str(value)


def _keep_as_text(cells: Sequence[Any]) -> None:
    """openpyxl stores a string starting with ``=`` as a formula: make it a plain string cell
    with the quote prefix (shown as typed, never evaluated, also after editing)."""
    for cell in cells:
        if isinstance(cell.value, str) and is_formula_like(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True
