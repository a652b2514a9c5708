"""Timing the API and the report of benchmarks/fleet.py, and the collector's memory."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from fleet_data import ZONE
from usage import TOKEN

from jishi.collector.config import load_collector_config
from jishi.collector.service import start_collector

FLEET = Path(__file__).with_name("fleet.py")
JISHI = Path(sys.executable).with_name("jishi")
MB = 1024 * 1024
RSS_TARGET_MB = 500.0


def serve(config_path: Path, now: float) -> None:
    """The child process: the collector's API (no ingest) with its clock at ``now``, until
    this process's standard input closes."""
    config = load_collector_config(config_path)
    collector = start_collector(config, admin_token=TOKEN, ingest=False, clock=lambda: now)
    print(collector.api_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        collector.stop()


@dataclass
class Api:
    """The API in a child process, its RSS sampled every 0.2 s (peak over its lifetimes)."""

    config: Path
    now: float
    peak_mb: float = 0.0
    url: str = ""
    process: subprocess.Popen[str] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(FLEET), "serve", str(self.config), repr(self.now)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError(f"the collector's API did not start ({self.config})")
        self._stop.clear()
        threading.Thread(target=self._sample, args=(self.process.pid,), daemon=True).start()

    def _sample(self, pid: int) -> None:
        try:
            process = psutil.Process(pid)
            while not self._stop.wait(0.2):
                self.peak_mb = max(self.peak_mb, process.memory_info().rss / MB)
        except psutil.Error:
            return  # the process ended

    def stop(self) -> None:
        self._stop.set()
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def restart(self) -> None:
        """After a timeout the child is still computing: end it and start afresh."""
        self._stop.set()
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        self.start()


@dataclass
class Timed:
    name: str
    target_s: float
    timeout_s: float
    runs: list[float] = field(default_factory=list)
    timed_out: bool = False
    note: str = ""

    def figure(self) -> str:
        if not self.runs:
            return f"timeout>{self.timeout_s:g}"
        return f"{statistics.median(self.runs):.2f}"

    def row(self) -> str:
        if not self.runs:
            measured = f"timeout (no answer in {self.timeout_s:g} s)"
        else:
            runs = ", ".join(f"{r:.2f}" for r in self.runs)
            measured = f"median {self.figure()} s, max {max(self.runs):.2f} s (runs: {runs})"
            measured += "; then a timeout" if self.timed_out else ""
        met = bool(self.runs) and not self.timed_out and max(self.runs) <= self.target_s
        return f"{self.name:<34} <= {self.target_s:>4g} s  {'ok  ' if met else 'MISS'} {measured}"


def periods(now: float) -> dict[str, tuple[str, dict[str, str], float]]:
    """The requests timed: (path, query, target in seconds) by name."""
    today = datetime.fromtimestamp(now, ZONE).date()
    year = today.year
    day = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    return {
        "instruments": ("/api/v1/instruments", {}, 0.5),
        "day": ("/api/v1/usage", day, 0.5),
        "year_by_unit": (
            "/api/v1/usage",
            {"start": f"{year}-01-01", "end": f"{year + 1}-01-01", "group_by": "unit"},
            2.0,
        ),
        "11_years_by_month": (
            "/api/v1/usage",
            {"start": f"{year - 10}-01-01", "end": f"{year + 1}-01-01", "group_by": "month"},
            5.0,
        ),
    }


def describe(name: str, body: Any) -> str:
    """A line about the answer (so that two databases can be compared)."""
    if name == "instruments":
        return f"{len(body)} instruments"
    results = body["results"]
    hours = sum(r["effective_h"] for r in results)
    service = sum(r["service_h"] for r in results)
    return f"{len(results)} rows, {hours:,.1f} effective h, {service:,.1f} service h"


def time_request(
    api: Api, args: argparse.Namespace, name: str, spec: tuple[str, dict[str, str], float]
) -> Timed:
    path, params, target = spec
    timed = Timed(name, target, args.timeout)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(args.repeat):
        with httpx.Client(base_url=api.url, headers=headers, timeout=args.timeout) as client:
            t0 = time.perf_counter()
            try:
                response = client.get(path, params=params)
            except httpx.TimeoutException:
                timed.timed_out = True
                api.restart()
                break
            elapsed = time.perf_counter() - t0
        response.raise_for_status()
        timed.runs.append(elapsed)
        timed.note = describe(name, response.json())
        if elapsed > args.slow:
            break
    return timed


def time_report(args: argparse.Namespace, config: Path, now: float) -> tuple[Timed, float]:
    """``jishi report figures`` for the last complete year; (timing, the report's peak RSS)."""
    year = datetime.fromtimestamp(now, ZONE).year - 1
    timed = Timed(f"report figures {year}", 10.0, args.timeout)
    command = [str(JISHI), "report", "figures", "-c", str(config), "--year", str(year)]
    peak = 0.0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--no-progress", "-o", os.devnull], stderr=subprocess.PIPE, text=True
        )
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            elapsed = time.perf_counter() - t0
            if elapsed > args.timeout:
                process.kill()
                process.wait()
                timed.timed_out = True
                return timed, peak
            with contextlib.suppress(psutil.Error):
                peak = max(peak, watched.memory_info().rss / MB)
            time.sleep(0.05)
        if process.returncode != 0:
            assert process.stderr is not None
            raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read()}")
        timed.runs.append(time.perf_counter() - t0)
        if timed.runs[-1] > args.slow:
            break
    return timed, peak


def measure(args: argparse.Namespace, manifest: dict[str, Any], config: Path, db: str) -> str:
    """Time everything on one ledger; print the table; return the RESULT line's figures."""
    now = manifest["now"]
    api = Api(config, now)
    api.start()
    print(
        f"\n{db}: API at {api.url}, clock at {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"  RSS after start: {psutil.Process(api.process.pid).memory_info().rss / MB:.0f} MB")
    timings = []
    try:
        for name, spec in periods(now).items():
            timings.append(time_request(api, args, name, spec))
            print(f"  {timings[-1].row()}\n      {timings[-1].note}", flush=True)
        report, report_mb = time_report(args, config, now)
        print(f"  {report.row()}\n      report process peak RSS {report_mb:.0f} MB", flush=True)
    finally:
        api.stop()
    timings.append(report)
    print(f"\n{db}: {manifest['summary']}")
    print(f"  {'request':<34} target     measured")
    for timed in timings:
        print(f"  {timed.row()}")
    met = "ok  " if api.peak_mb <= RSS_TARGET_MB else "MISS"
    print(f"  {'collector RSS (peak)':<34} <= {RSS_TARGET_MB:g} MB {met} {api.peak_mb:.0f} MB")
    keys = ["instruments_s", "day_s", "year_unit_s", "month_11y_s", "report_year_s"]
    figures = " ".join(f"{k}={t.figure()}" for k, t in zip(keys, timings, strict=True))
    return f"instruments={len(manifest['registry'])} {figures} rss_mb={api.peak_mb:.0f}"
