"""An agent.toml with a sign-in point, for the tests of ``jishi agent sign-in`` / ``sign-out``."""

from __future__ import annotations

from pathlib import Path


def signin_config(tmp_path: Path, extra: str = "") -> Path:
    """One instrument ``nmr-1`` (a simulator that runs) with a ``signin`` source ``desk``;
    ``extra`` lines go into that source. Data dir: ``tmp_path/data``."""
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""site = "lab"
data_dir = "data"

[[instruments]]
id = "nmr-1"

[[instruments.rules.threshold]]
reading = "power_w"
running_above = 300

[[instruments.sources]]
driver = "simulated"
scenario = [["running", 60]]

[[instruments.sources]]
driver = "signin"
name = "desk"
{extra}
""",
        "utf-8",
    )
    return config
