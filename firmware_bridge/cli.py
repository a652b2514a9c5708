"""``jishi bridge ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

from jishi.cli_parts import Commands, broker_option, command, config_option, group


def register(sub: Commands) -> None:
    commands = group(
        sub,
        "bridge",
        summary="turn sensor nodes and Sparkplug B edge nodes into instruments",
        description="The bridge receives frames from current/power sensing nodes (serial, UDP) "
        "and Sparkplug B payloads from edge nodes, infers each instrument's state with the "
        "agent's rules and publishes it like an agent.",
        dest="bridge_command",
    )
    run = command(
        commands,
        "run",
        summary="run the bridge until stopped",
        description="Listen on the configured serial ports, UDP port and Sparkplug broker and "
        "publish each instrument's status, state and heartbeats through the durable outbox.",
        handler="jishi.firmware_bridge.commands:run_bridge",
    )
    config_option(run, "bridge.toml")
    broker_option(run)
    run.add_argument("--data-dir", metavar="DIR", help="outbox, status file and logs")
    run.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    _register_simulate(commands)


def _register_simulate(commands: Commands) -> None:
    sim = command(
        commands,
        "simulate-node",
        summary="send frames like a sensor node (to try the bridge without hardware)",
        description="Send sensor-node frames (docs/firmware-protocol.md) following a scenario "
        "of states, optionally damaging some frames and rebooting, to a serial port (COBS) or a "
        "UDP address (one frame per datagram).",
        handler="jishi.firmware_bridge.commands:simulate_node",
    )
    sim.add_argument("--node-id", required=True, metavar="ID", help="e.g. 0x1A2B3C4D")
    target = sim.add_mutually_exclusive_group(required=True)
    target.add_argument("--serial", metavar="PORT", help="serial port or pyserial URL")
    target.add_argument("--udp", metavar="HOST:PORT", help="send datagrams to this address")
    sim.add_argument("--baudrate", type=int, default=115_200)
    sim.add_argument(
        "--scenario",
        default="idle:10,running:30,off:10",
        help="state:seconds steps, repeated (default: %(default)s)",
    )
    sim.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    sim.add_argument("--count", type=int, default=None, help="stop after this many frames")
    sim.add_argument(
        "--damage-every",
        type=int,
        default=0,
        metavar="N",
        help="spoil every Nth frame (bad CRC, truncated, garbage in turn)",
    )
    sim.add_argument(
        "--reboot-every", type=int, default=0, metavar="N", help="reboot after every N frames"
    )
    sim.add_argument("--seed", type=int, default=1)
