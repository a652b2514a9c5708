"""The distribution's hand-kept package list (pyproject.toml) matches the folders, so a new
sub-package cannot be left out of the wheel; the typed instrument record matches its table."""

from __future__ import annotations

import tomllib
from pathlib import Path

from jishi.collector.ledger.claims import CLAIM_COLUMNS, ClaimRow
from jishi.collector.ledger.instruments import check_fields
from jishi.collector.usage.evidence import Claim

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_in_the_distribution() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    for package, folder in setuptools["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base)
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                continue
            found.add(".".join([package, *relative.parts]))
    # Folders of data only (templates, static files, message catalogs) are listed with their
    # files in package-data, so setuptools ships them without a warning at every install.
    for name, patterns in setuptools["package-data"].items():
        if name in listed and name not in found:
            folder = ROOT / name.replace("jishi.collector", "collector").replace(".", "/")
            assert all(list(folder.glob(p)) for p in patterns), (name, patterns)
            found.add(name)
    assert found == listed, f"missing: {sorted(found - listed)}, stale: {sorted(listed - found)}"


def test_the_instrument_record_has_the_table_columns_in_order() -> None:
    check_fields()


def test_a_claim_row_stores_the_instrument_its_claim_and_the_run_in_column_order() -> None:
    """The SQL relies on CLAIM_COLUMNS; ClaimRow.values and from_values on this order."""
    assert CLAIM_COLUMNS[1 : 1 + len(Claim._fields)] == Claim._fields
    assert CLAIM_COLUMNS[1 + len(Claim._fields) :] == ("observations", "historical")
    claim = Claim(5.0, "b", 3, 4, 2, True, 10.0, 11.0, 9.0, 12.0, "running", closed=True)
    row = ClaimRow.new("nmr-1", claim, historical=True)
    assert row.values() == ("nmr-1", *claim, 1, True)
    assert ClaimRow.from_values(row.values()).claim == claim
