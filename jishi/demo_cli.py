"""``jishi demo``: every part on this machine, no external service."""

from __future__ import annotations

from jishi.cli_parts import Commands, command


def register(sub: Commands) -> None:
    demo = command(
        sub,
        "demo",
        summary="run broker, collector, agent and API on this machine",
        handler="jishi.demo:run_demo",
        description="Starts an embedded MQTT broker (amqtt), the collector on SQLite under "
        "./.jishi-demo/, an agent with simulated instruments of different scenarios and the "
        "REST API on localhost, and shows a live table of instrument states. Ctrl-C stops "
        "every part cleanly.",
    )
    demo.add_argument("--port", type=int, default=8765, help="API port (default 8765)")
    demo.add_argument(
        "--mqtt-port", type=int, default=0, help="embedded broker port (default: a free port)"
    )
    demo.add_argument(
        "--instruments", type=int, default=5, metavar="N", help="simulated instruments (default 5)"
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="time acceleration of the scenarios (default 1)",
    )
    demo.add_argument(
        "--token", metavar="T", help="API bearer token (default: generated and printed)"
    )
    demo.add_argument(
        "--dir",
        default=".jishi-demo",
        metavar="DIR",
        help="where the demo keeps its files (default ./.jishi-demo)",
    )
    demo.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop by itself after S seconds"
    )
    demo.add_argument(
        "--no-table", action="store_true", help="print log lines instead of the live table"
    )
