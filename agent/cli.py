"""``jishi agent ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from jishi.agent.commands import run_agent

    return run_agent(args)


def _check(args: argparse.Namespace) -> int:
    from jishi.agent.check import check_agent

    return check_agent(args)


def _status(args: argparse.Namespace) -> int:
    from jishi.agent.commands import show_status

    return show_status(args)


def _install_service(args: argparse.Namespace) -> int:
    from jishi.agent.service import install_service

    return install_service(args)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent",
        help="run, check or inspect the instrument-side agent",
        description="The agent reads an instrument's run-state (Modbus meter, serial device, "
        "vendor logs, simulator) and publishes it over MQTT, keeping every observation in a "
        "durable outbox until the broker has it.",
    )
    agent.set_defaults(help_parser=agent)
    commands = agent.add_subparsers(dest="agent_command", metavar="COMMAND")
    _add_run(commands)
    _add_check(commands)
    _add_status(commands)
    _add_install_service(commands)


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="run the agent until stopped",
        description="Poll the configured sources, infer states and publish them. Stops cleanly "
        "on Ctrl-C / SIGTERM (sends online:false); anything not yet acknowledged by the broker "
        "stays in the outbox and is replayed on the next start.",
    )
    run.add_argument("-c", "--config", required=True, metavar="FILE", help="agent.toml")
    run.add_argument(
        "--broker", metavar="URL", help="override mqtt.broker, e.g. mqtt://127.0.0.1:1883"
    )
    run.add_argument(
        "--data-dir",
        metavar="DIR",
        help="outbox, offsets, status and logs (default: data_dir "
        "from the config, else a per-platform folder)",
    )
    run.set_defaults(handler=_run)


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="validate the config, read each source once, test the broker",
        description="For technicians on site: validates agent.toml, reads every source once "
        "and prints the raw readings and the state they give, then tests the broker connection "
        "and credentials. Exits non-zero with what to fix when anything fails.",
    )
    check.add_argument("-c", "--config", required=True, metavar="FILE", help="agent.toml")
    check.add_argument("--broker", metavar="URL", help="override mqtt.broker")
    check.add_argument("--no-broker", action="store_true", help="skip the broker test")
    check.add_argument(
        "--reads", type=int, default=1, metavar="N", help="read each source N times (default 1)"
    )
    check.set_defaults(handler=_check)


def _add_status(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="show outbox depth, last publish and source health",
        description="Reads the data dir (also while the agent runs): outbox depth and oldest "
        "unsent message, dropped heartbeats, last publish, per-source health.",
    )
    status.add_argument("-c", "--config", metavar="FILE", help="agent.toml (to find its data dir)")
    status.add_argument("--data-dir", metavar="DIR", help="the agent's data dir")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=_status)


def _add_install_service(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    service = commands.add_parser(
        "install-service",
        help="install the agent as a system service (systemd on Linux)",
        description="Writes a systemd unit that runs 'jishi agent run' at boot and restarts it "
        "if it stops. On Windows see docs/agent.md (WinSW).",
    )
    service.add_argument("-c", "--config", required=True, metavar="FILE", help="agent.toml")
    service.add_argument("--data-dir", metavar="DIR", help="data dir for the service")
    service.add_argument("--name", default="jishi-agent", help="unit name (default jishi-agent)")
    service.add_argument("--user", default=None, help="run as this user (default root)")
    service.add_argument(
        "--unit-dir",
        default="/etc/systemd/system",
        metavar="DIR",
        help="where to write the unit (default /etc/systemd/system)",
    )
    service.add_argument(
        "--no-enable", action="store_true", help="write the unit only; do not call systemctl"
    )
    service.set_defaults(handler=_install_service)
