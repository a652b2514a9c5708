"""Where the files in vendor formats are: the real vendor samples beside the repository
(``../shared/samples``, or ``$JISHI_SAMPLES_DIR``), which a clone on its own does not have, and our
own small files in the same formats (``tests/fixtures``, written here, invented content), which
every clone has.

A test of the vendor samples calls :func:`vendor_samples`: when they are absent it is skipped and
says where it looked and how to get them, so a clone without ../shared never passes silently nor
fails. Our own files are never skipped: :func:`own_fixture` fails loudly when one is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.paths import REPO

# The vendor files live beside the repository, not in it (they are not ours to copy).
DEFAULT_SAMPLES = REPO.parent / "shared" / "samples"
SAMPLES_ENV = "JISHI_SAMPLES_DIR"
FIXTURES = REPO / "tests" / "fixtures"


def samples_root() -> Path:
    """The folder of vendor samples: ``$JISHI_SAMPLES_DIR`` if set, else ../shared/samples."""
    return Path(os.environ.get(SAMPLES_ENV) or DEFAULT_SAMPLES)


def vendor_samples(folder: str = "") -> Path:
    """The real vendor files in ``folder`` of the samples (read there, never copied); skip the
    calling test, with the path and the remedy, when they are not present."""
    root = samples_root()
    path = root / folder if folder else root
    if not path.is_dir():
        pytest.skip(
            f"vendor samples not present at {path}: put the samples at {DEFAULT_SAMPLES} or set "
            f"{SAMPLES_ENV}; our own files in the same format (tests/fixtures) still run"
        )
    return path


def own_fixture(relative: str) -> Path:
    """One of our own files or folders in a vendor's format under tests/fixtures."""
    path = FIXTURES / relative
    if not path.exists():
        raise FileNotFoundError(f"our own fixture {path} is missing from the repository")
    return path
