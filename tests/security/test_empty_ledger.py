"""An empty or foreign ledger file (issue 17, 6): a 0-byte ``ledger.sqlite3`` was silently
made a fresh ledger, history and tokens gone. The collector refuses to start on an existing
file that is not an SQLite database, names it and says what to do; only when asked
(``--create-ledger``) does it set the bad file aside and create a new ledger. A missing file is
a first start and is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.collector.ledger.db import DatabaseError
from jishi.collector.service import start_collector

from support.cli import run_jishi
from support.ledger import make_config


@pytest.mark.parametrize("content", [b"", b"not a database at all, a text file\n" * 10])
def test_an_existing_empty_or_foreign_file_is_refused(tmp_path: Path, content: bytes) -> None:
    config = make_config(tmp_path)
    ledger = config.data_dir / "ledger.sqlite3"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(content)
    with pytest.raises(DatabaseError, match="--create-ledger") as refused:
        start_collector(config, ingest=False, api=False)
    assert str(ledger) in str(refused.value)
    assert ledger.read_bytes() == content  # untouched
    assert sorted(p.name for p in ledger.parent.iterdir()) == ["ledger.sqlite3"]


def test_a_missing_file_is_a_first_start(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    start_collector(config, ingest=False, api=False).stop()
    assert (config.data_dir / "ledger.sqlite3").read_bytes().startswith(b"SQLite format 3\0")


@pytest.mark.integration
def test_the_commands_refuse_then_create_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ledger = data / "ledger.sqlite3"
    ledger.write_bytes(b"")
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{data}"\n[api]\nport = 0\n')
    for command in ("run", "check"):
        # check stops at the ledger, before its broker test
        result = run_jishi("collector", command, "-c", str(config))
        assert result.returncode != 0
        assert f"{ledger} is empty (0 bytes)" in result.stderr
        assert "--create-ledger" in result.stderr
        assert ledger.stat().st_size == 0
    created = run_jishi("collector", "check", "-c", str(config), "--create-ledger", "--no-broker")
    assert created.returncode == 0, created.stderr
    assert ledger.read_bytes().startswith(b"SQLite format 3\0")
    (kept,) = data.glob("ledger.sqlite3.bad-*")
    assert kept.stat().st_size == 0  # set aside, never deleted
