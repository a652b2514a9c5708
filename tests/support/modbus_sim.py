"""A pymodbus server (TCP, or RTU on a serial port) whose register images a test changes.

Run as ``python modbus_sim.py --images images.json (--tcp PORT | --serial /dev/pts/N)``. The
JSON maps device id -> {"input": {address: value}, "holding": {address: value}}; it is re-read
whenever it changes, so a test drives the meters by rewriting it. Device ids listed in
``--devices`` are served; any other id on the bus is dead (never answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

SIZE = 400  # SDM total kWh lives at 0x0156
_cache: dict[str, Any] = {"mtime": None, "images": {}}


def images(path: Path) -> dict[str, Any]:
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return dict(_cache["images"])
    if mtime != _cache["mtime"]:
        try:
            _cache["images"] = json.loads(path.read_text(encoding="utf-8"))
            _cache["mtime"] = mtime
        except ValueError:
            pass  # caught mid-write; keep the previous image
    return dict(_cache["images"])


async def action(  # noqa: PLR0917 - the signature pymodbus calls with
    path: Path,
    device_id: int,
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    current_registers: list[int],
    set_values: Any,
) -> None:
    table = {3: "holding", 4: "input"}.get(function_code)
    if table is None:
        return
    image = images(path).get(str(device_id), {}).get(table, {})
    for offset in range(len(current_registers)):
        current_registers[offset] = int(image.get(str(start_address + offset), 0))


def device(device_id: int, path: Path) -> SimDevice:
    registers = [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)]
    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    return SimDevice(
        device_id,
        simdata=(bits, list(bits), registers, list(registers)),
        action=partial(action, path, device_id),
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--devices", type=int, nargs="+", required=True)
    parser.add_argument("--tcp", type=int)
    parser.add_argument("--serial")
    parser.add_argument("--rtu-over-tcp", action="store_true")
    args = parser.parse_args()
    devices = [device(d, args.images) for d in args.devices]
    server: Any
    if args.tcp:
        framer = FramerType.RTU if args.rtu_over_tcp else FramerType.SOCKET
        server = ModbusTcpServer(devices, framer=framer, address=("127.0.0.1", args.tcp))
    else:
        server = ModbusSerialServer(devices, port=args.serial, baudrate=19200)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
