"""The distribution's hand-kept package list (pyproject.toml) matches the folders, so a new
sub-package cannot be left out of the wheel; the typed instrument record matches its table."""

from __future__ import annotations

import tomllib
from pathlib import Path

from jishi.collector.ledger.instruments import check_fields

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
    assert found == listed, f"missing: {sorted(found - listed)}, stale: {sorted(listed - found)}"


def test_the_instrument_record_has_the_table_columns_in_order() -> None:
    check_fields()
