"""Build offline install bundles of the jishi agent (issue 14).

Instrument PCs are usually offline. This builds, on a machine that reaches PyPI, one folder
per target platform with the jishi wheel, every wheel ``jishi[agent]`` needs on that platform
(for each Python version given), the example configs and an ``INSTALL.txt``; ``--zip`` also
packs each folder into a zip to carry on a USB stick. On the instrument PC::

    python -m venv C:\\jishi
    C:\\jishi\\Scripts\\pip install --no-index --find-links wheels "jishi[agent]"

Usage (from the repository root, with the dev virtualenv)::

    .venv/bin/python scripts/bundle.py                       # all targets into dist/bundles
    .venv/bin/python scripts/bundle.py --target linux-x86_64 --python 3.11 --zip

Only binary wheels are taken (``--only-binary=:all:``): nothing is compiled on the PC.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("agent-sim.toml", "agent-sdm120-tcp.toml", "agent-logs.toml")


@dataclass(frozen=True)
class Target:
    """A platform the bundle is built for: pip's platform tags and the PEP 508 environment
    its dependency markers are evaluated in (pip download evaluates them on *this* machine)."""

    name: str
    platforms: tuple[str, ...]
    markers: dict[str, str]
    windows: bool = False


LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
TARGETS = {
    t.name: t
    for t in (
        # manylinux2014 = glibc 2.17: also the older Kylin and UOS releases.
        Target("linux-x86_64", ("manylinux2014_x86_64",), LINUX),
        Target("linux-aarch64", ("manylinux2014_aarch64",), LINUX),
        Target(
            "windows-amd64",
            ("win_amd64",),
            {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
            windows=True,
        ),
    )
}
# 3.11 and 3.12 install on Windows 8.1 / Server 2012 R2; 3.13 and later need Windows 10.
PYTHONS = ("3.11", "3.12", "3.13", "3.14")


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def build_wheel(workdir: Path) -> Path:
    """The jishi wheel, built from this checkout as a release would build it."""
    out = workdir / "wheel"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)])
    return next(out.glob("jishi-*.whl"))


def platform_requirements(target: Target) -> list[str]:
    """The agent extra's requirements whose markers hold on ``target`` but not necessarily
    here (tzdata on Windows): pip download would skip them, so they are asked for by name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = []
    for line in project["optional-dependencies"]["agent"]:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate(target.markers):
            requirement.marker = None
            wanted.append(str(requirement))
    return wanted


def download(
    target: Target, wheel: Path, pythons: list[str], dest: Path, cache: Path | None
) -> None:
    """Every wheel ``jishi[agent]`` needs on ``target`` for each Python version into ``dest``."""
    for python in pythons:
        command = [sys.executable, "-m", "pip", "download", "-q", "--dest", str(dest)]
        command += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
        for platform in target.platforms:
            command += ["--platform", platform]
        if cache is not None:
            command += ["--cache-dir", str(cache)]
        command += [f"jishi[agent] @ {wheel.as_uri()}", *platform_requirements(target)]
        run(command)


def install_text(target: Target, wheel: Path, pythons: list[str]) -> str:
    """INSTALL.txt of one bundle: the commands for its platform, nothing to download."""
    versions = ", ".join(pythons)
    if target.windows:
        steps = (
            "1. Install Python (64-bit, for all users) from its own offline installer. Windows\n"
            "   8.1 and Server 2012 R2 take Python 3.11 or 3.12 only; Windows 10/11 and Server\n"
            "   2016 or newer take any version this bundle has. Windows 7 cannot run it: see\n"
            "   docs/deployment.md (neighbour PC, Modbus gateway).\n"
            "2. In an administrator PowerShell, in this folder:\n"
            "     py -3 -m venv C:\\jishi\n"
            '     C:\\jishi\\Scripts\\pip install --no-index --find-links wheels "jishi[agent]"\n'
            "     C:\\jishi\\Scripts\\jishi agent --help\n"
            "3. Copy an example from examples\\ to C:\\ProgramData\\jishi\\agent.toml, edit\n"
            "   it, then\n"
            "     C:\\jishi\\Scripts\\jishi agent check -c C:\\ProgramData\\jishi\\agent.toml\n"
            "   and install the service as docs/agent.md says (WinSW).\n"
        )
    else:
        steps = (
            "1. Python 3.11 or newer with venv (Debian/Ubuntu: python3-venv; offline, from the\n"
            "   distribution's install media).\n"
            "2. In this folder:\n"
            "     sudo python3 -m venv /opt/jishi\n"
            "     sudo /opt/jishi/bin/pip install --no-index --find-links wheels 'jishi[agent]'\n"
            "     /opt/jishi/bin/jishi agent --help\n"
            "3. Copy an example from examples/ to /etc/jishi/agent.toml, edit it, then\n"
            "     sudo /opt/jishi/bin/jishi agent check -c /etc/jishi/agent.toml\n"
            "     sudo /opt/jishi/bin/jishi agent install-service -c /etc/jishi/agent.toml\n"
        )
    return (
        f"jishi agent, offline bundle for {target.name} ({wheel.name})\n"
        f"Wheels for CPython {versions}; nothing is downloaded while installing.\n\n"
        f"{steps}\n"
        "--no-index keeps pip off the network; --find-links wheels takes every package from\n"
        "this bundle. If pip says a package has no matching distribution, the PC's Python\n"
        "version is not among the ones above: install one of those.\n"
    )


def build_bundle(
    target: Target, wheel: Path, pythons: list[str], out: Path, cache: Path | None
) -> Path:
    """One bundle folder ``out/jishi-agent-VERSION-TARGET`` (replaced if it exists)."""
    version = wheel.name.split("-")[1]
    folder = out / f"jishi-agent-{version}-{target.name}"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "examples").mkdir(parents=True)
    download(target, wheel, pythons, folder / "wheels", cache)
    shutil.copy2(wheel, folder / "wheels" / wheel.name)  # pip saves a file URL only sometimes
    for name in EXAMPLES:
        shutil.copy2(ROOT / "examples" / name, folder / "examples" / name)
    text = install_text(target, wheel, pythons)
    if target.windows:
        text = text.replace("\n", "\r\n")  # Notepad on older Windows shows LF files as one line
    (folder / "INSTALL.txt").write_text(text, encoding="utf-8", newline="")
    return folder


def zip_folder(folder: Path) -> Path:
    archive = folder.parent / f"{folder.name}.zip"  # with_suffix would eat ".0-linux-..."
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(folder.parent))
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--target", action="append", choices=sorted(TARGETS), help="default: every target"
    )
    parser.add_argument(
        "--python", action="append", metavar="X.Y", help=f"default: {', '.join(PYTHONS)}"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "bundles")
    parser.add_argument("--cache-dir", type=Path, help="pip's download cache (default: pip's own)")
    parser.add_argument("--zip", action="store_true", help="also pack each folder into a zip")
    args = parser.parse_args(argv)
    targets = [TARGETS[name] for name in args.target or sorted(TARGETS)]
    pythons = args.python or list(PYTHONS)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        for target in targets:
            folder = build_bundle(target, wheel, pythons, args.out, args.cache_dir)
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            print(
                f"{folder}: {len(list((folder / 'wheels').iterdir()))} wheels, {size / 1e6:.1f} MB"
            )
            if args.zip:
                print(f"{zip_folder(folder)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
