"""Handlers of ``jishi bridge run`` and ``jishi bridge simulate-node``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from jishi.errors import ConfigError


def _data_dir(cli: str | None, configured: Path | None, config_file: Path) -> Path:
    from jishi.agent.paths import default_data_dir, resolve_data_dir

    if cli is None and configured is None:
        return default_data_dir().with_name(default_data_dir().name.replace("agent", "bridge"))
    return resolve_data_dir(cli, configured, config_file)


def run_bridge(args: argparse.Namespace) -> int:
    from jishi.files import own_data_dir
    from jishi.firmware_bridge.config import load_bridge_config
    from jishi.firmware_bridge.service import Bridge
    from jishi.logs import setup_logging

    config_path = Path(args.config)
    config, digest = load_bridge_config(config_path)
    if config.serial:
        # pyserial is opened in the ports' threads; missing, say so now (and which extra
        # brings it, jishi/cli.py) rather than in a thread's traceback.
        import serial  # noqa: F401
    data_dir = _data_dir(args.data_dir, config.data_dir, config_path)
    own_data_dir(data_dir)
    setup_logging("debug" if args.verbose else config.log_level, data_dir / "logs" / "bridge.log")
    bridge = Bridge(config, config_hash=digest, data_dir=data_dir, broker=args.broker)

    def _stop(signum: int, frame: FrameType | None) -> None:
        bridge.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    bridge.run()
    return 0


def simulate_node(args: argparse.Namespace) -> int:
    from jishi.firmware_bridge.simulate import open_writer, parse_scenario, run_simulation

    try:
        node_id = int(args.node_id, 0)
        scenario = parse_scenario(args.scenario)
    except ValueError as exc:
        raise ConfigError("command line", None, str(exc)) from None
    if (args.serial is None) == (args.udp is None):
        raise ConfigError(
            "command line", None, "give exactly one of --serial PORT, --udp HOST:PORT"
        )
    try:
        write = open_writer(args.serial, args.udp, args.baudrate)
    except (OSError, ValueError) as exc:
        print(f"error: cannot open the output: {exc}", file=sys.stderr)
        return 1
    sent = run_simulation(
        node_id=node_id,
        write=write,
        scenario=scenario,
        interval_s=args.interval,
        count=args.count,
        damage_every=args.damage_every,
        reboot_every=args.reboot_every,
        seed=args.seed,
    )
    print(f"sent {sent} frame(s) as node 0x{node_id:08X}")
    return 0
