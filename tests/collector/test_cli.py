"""``jishi collector token`` and ``import-sessions`` against a real ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.cli import main
from jishi.collector.api.tokens import TokenStore
from jishi.collector.ledger.db import open_engines

from support.paths import EXAMPLES

EXAMPLE = str(EXAMPLES / "collector.toml")


def test_token_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    assert (
        main(
            [
                "collector",
                "token",
                "create",
                "-c",
                EXAMPLE,
                "--db",
                db,
                "--name",
                "ops",
                "--role",
                "write",
            ]
        )
        == 0
    )
    clear = capsys.readouterr().out.strip().splitlines()[-1]
    engines = open_engines(db)
    try:
        assert TokenStore(engines).role_of(clear) == "write"
        assert main(["collector", "token", "list", "-c", EXAMPLE, "--db", db]) == 0
        listing = capsys.readouterr().out
        assert "ops" in listing
        assert clear not in listing
        assert main(["collector", "token", "revoke", "-c", EXAMPLE, "--db", db, "ops"]) == 0
        assert TokenStore(engines).role_of(clear) is None
        assert main(["collector", "token", "revoke", "-c", EXAMPLE, "--db", db, "ops"]) == 1
    finally:
        engines.dispose()


def test_import_sessions_reports_lines_and_imports_nothing_on_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    bad = tmp_path / "bad.csv"
    bad.write_text("instrument,start,end\nnmr,2025-01-01 10:00,2025-01-01 09:00\n")
    assert main(["collector", "import-sessions", "-c", EXAMPLE, "--db", db, str(bad)]) == 1
    assert "line 2: end" in capsys.readouterr().err
    # Unknown instrument (the ledger has none yet): refused with its line number.
    good = tmp_path / "good.csv"
    good.write_text("instrument,start,end,user_type\nnmr,2025-01-01 08:00,2025-01-01 09:00,校外\n")
    assert main(["collector", "import-sessions", "-c", EXAMPLE, "--db", db, str(good)]) == 1
    assert "line 2: unknown instrument 'nmr'" in capsys.readouterr().err
