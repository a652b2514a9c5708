"""``jishi agent check``: what a technician runs on site before leaving the instrument.

Validates the config, reads every source, prints raw readings and the state the rules give,
then tests the broker connection and credentials, and says how much room the data dir's disk
has. Exit status 0 only if everything worked (little room is a warning, not a failure).
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jishi.agent.config import AgentConfig, MqttConfig
from jishi.agent.inference import StateInferrer
from jishi.agent.paths import resolve_data_dir
from jishi.agent.sources import build_drivers, load_agent_config, read_source
from jishi.drivers.base import Reading, SessionEvent
from jishi.errors import ConfigError, says_missing_package
from jishi.i18n import N_, _, ngettext, state_name
from jishi.mqtt_client import probe


def _format_values(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    ) or _("(no values)")


def _report(name: str, readings: list[Reading], out: list[str]) -> int:
    """Append what one source read; returns how many readings were good."""
    good = 0
    if not readings:
        out.append("  " + _("source {name}: nothing new this time").format(name=name))
    for reading in readings:
        if not reading.ok:
            out.append(
                "  "
                + _("source {name}: READ FAILED: {error}").format(name=name, error=reading.error)
            )
            continue
        good += 1
        values = _format_values(dict(reading.values))
        out.append("  " + _("source {name}: {values}").format(name=name, values=values))
        if reading.raw:
            out.append("    " + _("raw: {raw}").format(raw=reading.raw[:200]))
        out.extend(
            "    "
            + _("event: {time} -> {state} ({reason})").format(
                time=event.ts.isoformat(), state=state_name(event.state), reason=event.reason
            )
            for event in reading.events
        )
        out.extend(_session_line(s) for s in reading.sessions)
    return good


def _session_line(s: SessionEvent) -> str:
    line = _("session: {event} {session} user={user} type={type} at {time}").format(
        event=s.event, session=s.session_id, user=s.user, type=s.user_type, time=s.ts.isoformat()
    )
    return "    " + line + (f" ({s.reason})" if s.reason else "")


def check_sources(
    config: AgentConfig, reads: int, out: list[str], config_dir: Path | None = None
) -> bool:
    """Read each instrument's sources ``reads`` times; append report lines to ``out``."""
    ok = True
    for instrument in config.instruments:
        out.append(
            _("instrument {id} ({name}):").format(
                id=instrument.id, name=instrument.name or _("no name")
            )
        )
        drivers = build_drivers(instrument, config_dir=config_dir)
        inferrer = StateInferrer(instrument.rules.to_rules())
        good = {driver.name: 0 for driver in drivers}
        names, sources = instrument.source_names(), instrument.all_sources()
        kinds = {name: source.driver for name, source in zip(names, sources, strict=True)}
        uninstalled: set[str] = set()
        try:
            for attempt in range(reads):
                if attempt:
                    time.sleep(config.poll_of(instrument))
                for driver in drivers:
                    readings = read_source(driver, datetime.now(UTC))
                    good[driver.name] += _report(driver.name, readings, out)
                    if any(says_missing_package(r.error) for r in readings):
                        uninstalled.add(driver.name)
                    for reading in readings:
                        inferrer.feed(reading)
        finally:
            for driver in drivers:
                driver.close()
        for name, count in good.items():
            if count == 0:
                ok = False
                out.append(
                    "  "
                    + _("problem: source {name} gave no good reading; {advice}").format(
                        name=name, advice=_fix(name, kinds.get(name), uninstalled)
                    )
                )
        if inferrer.state is None:
            ok = False
            out.append(
                "  "
                + _(
                    "state: none (no rule matched the readings); add a threshold or discrete "
                    "rule under [instruments.rules]"
                )
            )
        else:
            state = state_name(inferrer.state.value)
            out.append(
                "  " + _("state: {state}  ({reason})").format(state=state, reason=inferrer.reason)
            )
    return ok


# What to look at when a source gave no good reading, by driver kind (drivers/builtin.py).
_ADVICE = {
    "modbus": N_(
        "check wiring, the host or serial port, the unit id and the register map in docs/drivers.md"
    ),
    "serial": N_(
        "check the cable, the port name, the baud rate and the protocol options in docs/drivers.md"
    ),
    "simulated": N_("check the simulator's scenario and options in docs/drivers.md"),
    "logs": N_(
        "check that the folder exists and that the agent's account can read it (a network "
        "share: docs/deployment.md), and the profile or rules in docs/drivers.md"
    ),
    "process": N_("check the process pattern in docs/drivers.md (is the program running?)"),
    "os-logins": N_("check that the agent's account can read the login records (docs/drivers.md)"),
    "signin": N_("check the spool folder of the sign-in point (docs/drivers.md)"),
}
_DEFAULT_ADVICE = N_("check wiring, port, address and the driver options in docs/drivers.md")


def _fix(name: str, kind: str | None, uninstalled: set[str]) -> str:
    if name in uninstalled:
        return _("a package it needs is not installed (see the read error above)")
    return _(_ADVICE.get(kind or "", _DEFAULT_ADVICE))


def check_broker(mqtt: MqttConfig, out: list[str], timeout: float = 10.0) -> bool:
    """Connect once with the configured credentials and TLS; report what the broker said."""
    try:
        settings = mqtt.settings(f"jishi-check-{int(time.time())}")
    except ConfigError as exc:
        out.append(_("broker {url}: {said}").format(url=mqtt.url, said=exc))
        return False
    ok, said = probe(settings, timeout)
    out.append(_("broker {url}: {said}").format(url=mqtt.url, said=said))
    return ok


def check_data_dir(data_dir: Path, outbox_max_bytes: int, out: list[str]) -> None:
    """Room on the data dir's disk: on a full one the agent holds new messages in memory only
    (issue 17, 5; docs/agent.md, "What a full disk costs")."""
    existing = next((p for p in [data_dir, *data_dir.parents] if p.exists()), None)
    if existing is None:
        return
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        out.append(
            _("data dir {dir}: cannot tell the free space ({error})").format(
                dir=data_dir, error=exc
            )
        )
        return
    line = _("data dir {dir}: {free:.0f} MB free").format(dir=data_dir, free=free / 1e6)
    if free < outbox_max_bytes:
        line += _(
            "; warning: less than the outbox may use ({size:.0f} MB). On a full disk the agent "
            "keeps new messages in memory only, lost if it is killed"
        ).format(size=outbox_max_bytes / 1e6)
    out.append(line)


def check_agent(args: argparse.Namespace) -> int:
    path = Path(args.config)
    config, digest = load_agent_config(path)
    config = config.with_broker(args.broker or None)
    count = len(config.instruments)
    lines = [
        ngettext(
            "config {path}: valid ({count} instrument, hash {hash})",
            "config {path}: valid ({count} instruments, hash {hash})",
            count,
        ).format(path=path, count=count, hash=digest)
    ]
    ok = check_sources(config, max(1, args.reads), lines, path.resolve().parent)
    check_data_dir(
        resolve_data_dir(getattr(args, "data_dir", None), config.data_dir, path),
        config.outbox.max_bytes,
        lines,
    )
    if not args.no_broker:
        ok = check_broker(config.mqtt, lines) and ok
    for line in lines:
        print(line)
    print(
        _("check passed")
        if ok
        else _("check FAILED: fix the problems above and run the check again")
    )
    return 0 if ok else 1
