"""A guessable admin token (issue 17, 6): ``jishi collector run`` refuses to start with one,
and says how to make a good one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jishi.collector.run import check_admin_token
from jishi.errors import ConfigError

from support.cli import run_jishi

WEAK = [
    "change-me",
    "CHANGE-ME",
    "t0k",
    "aaaaaaaaaaaaaaaaaaaaaaaa",
    "abababababababababab",
    "secret",
]


@pytest.mark.parametrize("token", WEAK)
def test_weak_admin_tokens_are_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="openssl rand"):
        check_admin_token(token)


def test_a_random_token_is_accepted() -> None:
    check_admin_token(os.urandom(24).hex())


@pytest.mark.integration
def test_the_collector_does_not_start_with_the_examples_placeholder(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[api]\nport = 0\n')
    result = run_jishi(
        "collector", "run", "-c", str(config), env={**os.environ, "JISHI_ADMIN_TOKEN": "change-me"}
    )
    assert result.returncode != 0
    assert "JISHI_ADMIN_TOKEN" in result.stderr
    assert "too easy to guess" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created
