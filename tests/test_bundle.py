"""The offline install bundle (scripts/bundle.py, issue 14): the Linux x86_64 bundle installs
into a fresh virtualenv with pip kept off the network, and the agent it installs runs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def offline_env() -> dict[str, str]:
    """pip with no configuration at all: no index, find-links or constraints of this machine
    can supply what the bundle lacks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    cache = tmp_path_factory.mktemp("pip-cache")  # downloads shared by the session's tests
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bundle.py"), "--target", "linux-x86_64",
         "--python", PYTHON, "--out", str(out), "--cache-dir", str(cache), "--zip"],
        check=True, timeout=600,
    )  # fmt: skip
    (folder,) = (p for p in out.iterdir() if p.is_dir())
    return folder


def test_the_bundle_holds_every_wheel_and_install_instructions(bundle: Path) -> None:
    wheels = {p.name.split("-")[0].lower() for p in (bundle / "wheels").glob("*.whl")}
    assert {
        "jishi",
        "pydantic",
        "pydantic_core",
        "paho_mqtt",
        "pyserial",
        "psutil",
    } <= wheels
    # The agent only (its Modbus driver speaks Modbus itself: no pymodbus).
    assert not {"rich", "pygments", "fastapi", "sqlalchemy", "pymodbus"} & wheels
    assert all(p.suffix == ".whl" for p in (bundle / "wheels").iterdir())  # nothing to compile
    core = next((bundle / "wheels").glob("pydantic_core-*.whl")).name
    assert f"cp{PYTHON.replace('.', '')}" in core and "x86_64" in core
    text = (bundle / "INSTALL.txt").read_text()
    assert "pip install --no-index --find-links wheels 'jishi[agent]'" in text
    assert (bundle / "examples" / "agent-sim.toml").is_file()
    assert (bundle.parent / f"{bundle.name}.zip").stat().st_size > 1_000_000


def test_the_bundle_installs_offline_and_the_agent_runs(bundle: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    install = subprocess.run(
        [str(bin_dir / "pip"), "install", "--no-index", "--find-links", "wheels", "jishi[agent]"],
        cwd=bundle, env=offline_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    jishi = str(bin_dir / "jishi")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [jishi, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )

    help_text = run("agent", "--help")
    assert help_text.returncode == 0 and "install-service" in help_text.stdout
    check = run("agent", "check", "-c", str(bundle / "examples" / "agent-sim.toml"),
                "--no-broker", "--reads", "2")  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "check passed" in check.stdout and "nmr-600" in check.stdout
    (tmp_path / "data").mkdir()
    status = run("agent", "status", "--data-dir", str(tmp_path / "data"))
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("agent ?: not running")
    # The agent extra leaves out the collector's and the demo's libraries.
    python = str(bin_dir / "python")
    for module in ("rich", "fastapi", "sqlalchemy"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert probe.returncode != 0, f"{module} was installed with jishi[agent]"
