"""collector.toml: the example loads; errors name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from jishi.collector.config import apply_overrides, load_collector_config
from jishi.errors import ConfigError

from support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "collector.toml"


def test_the_example_loads_with_defaults() -> None:
    config = load_collector_config(EXAMPLE)
    assert config.site.timezone == "Asia/Shanghai"
    assert config.database_url.startswith("sqlite:///")
    assert config.database_url.endswith("ledger.sqlite3")
    assert config.registry()["seq-nextseq"].yearly_quota_h == 800
    assert config.registry()["nmr-600"].yearly_quota_h == 1400


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[mqtt]\nbrokr = "x"\n', "mqtt.brokr", "unknown key"),
        ('[site]\ntimezone = "Mars/Olympus"\n', "site.timezone", "unknown time zone"),
        ("[api]\nport = 70000\n", "api.port", "less than or equal"),
        ("[api]\nmax_request_s = 0\n", "api.max_request_s", "greater than 0"),
        ('[api]\nmax_request_s = "1 min"\n', "api.max_request_s", "number"),
        ('[[instruments]]\nid = "a b"\n', "instruments[0].id", "pattern"),
        ('[database]\nurl = "mysql://x"\n', "database.url", "sqlite"),
    ],
)
def test_errors_name_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_collector_config(path)
    assert str(path) in str(info.value)
    assert key in str(info.value)
    assert problem in str(info.value)


def test_command_line_overrides_are_validated(tmp_path: Path) -> None:
    config = load_collector_config(EXAMPLE)

    class Args:
        broker = "mqtt://127.0.0.1:1999"
        db = None
        api_port = 9999

    changed = apply_overrides(config, Args())  # type: ignore[arg-type]  # a minimal stand-in for argparse.Namespace
    assert (changed.mqtt.url.port, changed.api.port) == (1999, 9999)
    Args.broker = "ftp://nowhere"
    with pytest.raises(ConfigError, match=r"mqtt\.broker"):
        apply_overrides(config, Args())  # type: ignore[arg-type]  # a minimal stand-in for argparse.Namespace
