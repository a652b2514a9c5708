"""Process driver (psutil): is the instrument software running, and is it busy?

Readings: ``process_running`` (bool), ``process_count``, ``process_cpu_percent`` (summed over
matching processes, 100 = one core) and ``process_rss_mb``. Rules turn them into states, e.g. a
discrete rule ``process_running: false -> off`` and a threshold on ``process_cpu_percent``.
psutil is imported on first poll; an access-denied process is skipped, not fatal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jishi.drivers.base import Reading
from jishi.drivers.options import Options
from jishi.errors import missing_package


class ProcessDriver:
    """Whether the instrument software runs, and how busy it is (psutil)."""

    def __init__(self, name: str, *, names: Sequence[str], cmdline: re.Pattern[str] | None) -> None:
        self.name = name
        self.names = {n.lower() for n in names}
        self.cmdline = cmdline
        self._procs: dict[
            int, Any
        ] = {}  # pid -> psutil.Process, kept so cpu_percent has a baseline

    @classmethod
    def from_options(cls, name: str, raw: Mapping[str, Any]) -> ProcessDriver:
        opts = Options(name, raw)
        names = opts.str_list("names")
        pattern = opts.opt_text("cmdline_pattern")
        if not names and pattern is None:
            raise opts.error(
                "names", "give process names (e.g. ['TopSpin.exe']) or cmdline_pattern"
            )
        try:
            compiled = re.compile(pattern) if pattern is not None else None
        except re.error as exc:
            raise opts.error("cmdline_pattern", f"not a valid regex: {exc}") from None
        opts.check_unused()
        return cls(name, names=names, cmdline=compiled)

    def _matches(self, proc: Any) -> bool:
        info = proc.info
        name = (info.get("name") or "").lower()
        if self.names and name not in self.names and name.removesuffix(".exe") not in self.names:
            return False
        if self.cmdline is not None:
            return bool(self.cmdline.search(" ".join(info.get("cmdline") or [])))
        return True

    def poll(self, now: datetime) -> Sequence[Reading]:
        try:
            import psutil
        except ImportError as exc:  # pragma: no cover - depends on the install
            return [Reading(ts=now, error=missing_package(exc, "agent"))]
        found: dict[int, Any] = {}
        try:
            for proc in psutil.process_iter(["name", "cmdline"]):
                try:
                    if self._matches(proc):
                        found[proc.pid] = self._procs.get(proc.pid, proc)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
        except Exception as exc:
            return [Reading(ts=now, error=f"cannot list processes: {exc}")]
        cpu = rss = 0.0
        for pid, proc in list(found.items()):
            try:
                cpu += proc.cpu_percent(None)  # since the previous poll (0.0 on the first)
                rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                found.pop(pid)
        self._procs = found
        values = {
            "process_running": bool(found),
            "process_count": len(found),
            "process_cpu_percent": round(cpu, 1),
            "process_rss_mb": round(rss / 1_048_576, 1),
        }
        names = sorted({str(p.info.get("name")) for p in found.values()})
        return [Reading(ts=now, values=values, raw=f"pids {sorted(found)} {names}")]

    def close(self) -> None:
        self._procs = {}
