"""``jishi agent ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

from jishi.cli_parts import Commands, broker_option, command, config_option, group
from jishi.i18n import N_, _


def register(sub: Commands) -> None:
    commands = group(
        sub,
        "agent",
        summary=_("run, check or inspect the instrument-side agent"),
        description=_(
            "The agent reads an instrument's run-state (Modbus meter, serial device, "
            "vendor logs, simulator) and publishes it over MQTT, keeping every observation in a "
            "durable outbox until the broker has it."
        ),
        dest="agent_command",
    )
    _add_run(commands)
    _add_check(commands)
    _add_status(commands)
    _add_install_service(commands)
    _add_sign_in(commands)


def _add_sign_in(commands: Commands) -> None:
    for name, summary in (
        ("sign-in", N_("sign a user in at the instrument (account or card number)")),
        ("sign-out", N_("sign the user out, with optional feedback (normal/fault, samples)")),
    ):
        cmd = command(
            commands,
            name,
            summary=_(summary),
            description=_(
                "The sign-in point for PCs without per-user accounts: the request is "
                "queued in the data dir of the instrument's 'signin' source and sent by the agent "
                "as a session (docs/drivers.md). Without an account, sign-in reads one line from "
                "the keyboard, which is what a USB card reader types."
            ),
            handler=f"jishi.agent.signin_cli:{name.replace('-', '_')}",
        )
        config_option(cmd, "agent.toml")
        cmd.add_argument("account", nargs="?", help=_("account or card number"))
        cmd.add_argument("--instrument", metavar="ID", help=_("needed if several have a sign-in"))
        cmd.add_argument("--data-dir", metavar="DIR", help=_("the agent's data dir"))
        if name == "sign-in":
            cmd.add_argument("--user-type", choices=("internal", "external", "staff"))
            cmd.add_argument("--org", metavar="ORG", help=_("the user's organisation"))
        else:
            cmd.add_argument(
                "--outcome", choices=("normal", "fault"), help=_("normal or fault (正常 / 故障)")
            )
            cmd.add_argument("--samples", type=int, metavar="N", help=_("samples measured"))
            cmd.add_argument("--ask", action="store_true", help=_("ask for the feedback"))


def _add_run(commands: Commands) -> None:
    run = command(
        commands,
        "run",
        summary=_("run the agent until stopped"),
        description=_(
            "Poll the configured sources, infer states and publish them. Stops cleanly "
            "on Ctrl-C / SIGTERM (sends online:false); anything not yet acknowledged by the broker "
            "stays in the outbox and is replayed on the next start."
        ),
        handler="jishi.agent.commands:run_agent",
    )
    config_option(run, "agent.toml")
    broker_option(run)
    run.add_argument(
        "--data-dir",
        metavar="DIR",
        help=_(
            "outbox, offsets, status and logs (default: data_dir "
            "from the config, else a per-platform folder)"
        ),
    )


def _add_check(commands: Commands) -> None:
    check = command(
        commands,
        "check",
        summary=_("validate the config, read each source once, test the broker"),
        description=_(
            "For technicians on site: validates agent.toml, reads every source once "
            "and prints the raw readings and the state they give, then tests the broker connection "
            "and credentials. Exits non-zero with what to fix when anything fails."
        ),
        handler="jishi.agent.check:check_agent",
    )
    config_option(check, "agent.toml")
    broker_option(check)
    check.add_argument("--no-broker", action="store_true", help=_("skip the broker test"))
    check.add_argument(
        "--reads", type=int, default=1, metavar="N", help=_("read each source N times (default 1)")
    )


def _add_status(commands: Commands) -> None:
    status = command(
        commands,
        "status",
        summary=_("show outbox depth, last publish and source health"),
        description=_(
            "Reads the data dir (also while the agent runs): outbox depth and oldest "
            "unsent message, dropped heartbeats, last publish, per-source health."
        ),
        handler="jishi.agent.commands:show_status",
    )
    config_option(status, _("agent.toml (to find its data dir)"), required=False)
    status.add_argument("--data-dir", metavar="DIR", help=_("the agent's data dir"))
    status.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))


def _add_install_service(commands: Commands) -> None:
    service = command(
        commands,
        "install-service",
        summary=_("install the agent as a system service (systemd on Linux)"),
        description=_(
            "Writes a systemd unit that runs 'jishi agent run' at boot and restarts it "
            "if it stops. On Windows see docs/agent.md (WinSW)."
        ),
        handler="jishi.agent.service:install_service",
    )
    config_option(service, "agent.toml")
    service.add_argument("--data-dir", metavar="DIR", help=_("data dir for the service"))
    service.add_argument("--name", default="jishi-agent", help=_("unit name (default jishi-agent)"))
    service.add_argument("--user", default=None, help=_("run as this user (default root)"))
    service.add_argument(
        "--unit-dir",
        default=None,
        metavar="DIR",
        help=_(
            "where to write the systemd unit (default /etc/systemd/system) or, on Windows, "
            "the WinSW XML (default the current folder)"
        ),
    )
    service.add_argument(
        "--no-enable", action="store_true", help=_("write the unit only; do not call systemctl")
    )
