"""``jishi agent install-service``: run the agent at boot as a systemd service (Linux).

Windows has no systemd; docs/agent.md explains running the agent under WinSW, which wraps any
console program as a Windows service. We generate the WinSW XML here as well
(:func:`winsw_xml`) so both service definitions come from one place and are tested.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from jishi.agent.paths import resolve_data_dir
from jishi.agent.sources import load_agent_config
from jishi.errors import JishiError
from jishi.i18n import _

SYSTEMD_UNIT_DIR = "/etc/systemd/system"


def jishi_command() -> list[str]:
    """How to start this jishi: the console script next to the interpreter, else ``-m``."""
    script = Path(sys.executable).with_name("jishi.exe" if sys.platform == "win32" else "jishi")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "jishi.cli"]


def systemd_unit(config: Path, data_dir: Path, user: str | None = None) -> str:
    """A unit that restarts the agent whenever it stops and gives it time to say goodbye."""
    command = shlex.join(
        [*jishi_command(), "agent", "run", "-c", str(config), "--data-dir", str(data_dir)]
    )
    lines = [
        "[Unit]",
        "Description=jishi instrument agent (machine-hours telemetry)",
        "Documentation=https://github.com/jishi/jishi/blob/main/docs/agent.md",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={command}",
        # SIGTERM makes the agent send online:false and close the outbox cleanly.
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30",
        "Restart=always",
        "RestartSec=5",
        # Never give up restarting: an instrument PC may run untouched for years.
        "StartLimitIntervalSec=0",
        f"WorkingDirectory={data_dir}",
    ]
    if user:
        lines.append(f"User={user}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def winsw_xml(config: Path, data_dir: Path, service_id: str = "jishi-agent") -> str:
    """A WinSW service definition (docs/agent.md, "Windows")."""
    command = jishi_command()
    arguments = " ".join(
        f'"{a}"'
        for a in [*command[1:], "agent", "run", "-c", str(config), "--data-dir", str(data_dir)]
    )
    return "\n".join(
        [
            "<service>",
            f"  <id>{escape(service_id)}</id>",
            "  <name>jishi instrument agent</name>",
            "  <description>Publishes this instrument's run-state for machine-hour reporting."
            "</description>",
            f"  <executable>{escape(command[0])}</executable>",
            f"  <arguments>{escape(arguments)}</arguments>",
            f"  <workingdirectory>{escape(str(data_dir))}</workingdirectory>",
            "  <startmode>Automatic</startmode>",
            "  <delayedAutoStart>true</delayedAutoStart>",
            '  <onfailure action="restart" delay="10 sec"/>',
            "  <resetfailure>1 hour</resetfailure>",
            # WinSW sends Ctrl+C first; the agent then sends online:false and exits.
            "  <stoptimeout>30 sec</stoptimeout>",
            '  <log mode="roll-by-size"><sizeThreshold>5120</sizeThreshold>'
            "<keepFiles>5</keepFiles></log>",
            "</service>",
            "",
        ]
    )


def install_service(args: argparse.Namespace) -> int:
    return install_for_platform(args, sys.platform)


def install_for_platform(args: argparse.Namespace, platform: str) -> int:
    """``install-service`` for ``platform`` (``sys.platform``; tests pass ``win32`` to check
    the Windows branch, which has no service manager to run here)."""
    config_path = Path(args.config).resolve()
    config, _digest = load_agent_config(config_path)  # refuse to install a broken config
    data_dir = resolve_data_dir(args.data_dir, config.data_dir, config_path)
    if platform == "win32":
        # WinSW wants the XML beside its renamed executable: --unit-dir, else this folder.
        xml_dir = Path(args.unit_dir or ".").resolve()
        xml_dir.mkdir(parents=True, exist_ok=True)
        xml = xml_dir / f"{args.name}.xml"
        xml.write_text(winsw_xml(config_path, data_dir, args.name), encoding="utf-8")
        print(
            _("wrote {file}; install it with WinSW as described in docs/agent.md (Windows)").format(
                file=xml
            )
        )
        return 0
    unit_dir = Path(args.unit_dir or SYSTEMD_UNIT_DIR)
    unit_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    unit = unit_dir / f"{args.name}.service"
    unit.write_text(systemd_unit(config_path, data_dir, args.user), encoding="utf-8")
    print(_("wrote {file}").format(file=unit))
    if args.no_enable:
        print(
            _("enable it with: systemctl daemon-reload && systemctl enable --now {name}").format(
                name=args.name
            )
        )
        return 0
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise JishiError(
            _(
                "systemctl not found: this machine does not run systemd; start the agent another "
                "way (see docs/agent.md) or rerun with --no-enable"
            )
        )
    for step in (["daemon-reload"], ["enable", "--now", args.name]):
        result = subprocess.run([systemctl, *step], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise JishiError(
                _("systemctl {step} failed: {error}").format(
                    step=" ".join(step), error=result.stderr.strip()
                )
            )
    print(
        _("service {name} enabled and started; check it with: systemctl status {name}").format(
            name=args.name
        )
    )
    return 0
