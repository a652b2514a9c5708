"""Options of the log/run-folder driver, merged with a log profile (drivers/profiles/logs.toml)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from jishi.drivers.base import DriverConfigError
from jishi.drivers.log_rules import FileRule, LineRule
from jishi.drivers.log_text import ENCODINGS
from jishi.drivers.options import Options, load_profile_tables

PROFILE_FILE = "logs.toml"


@dataclass(frozen=True, slots=True)
class LogConfig:
    """A log source's options, checked, with its profile's defaults applied."""

    path: Path
    files: tuple[str, ...]
    rules: tuple[LineRule, ...]
    file_rules: tuple[FileRule, ...]
    record_start: re.Pattern[str] | None
    encoding: str
    zone: tzinfo
    zone_name: str
    start_at: str
    scan_interval_s: float
    record_flush_s: float
    max_bytes_per_poll: int
    state_dir: Path | None
    profile: str | None


def local_zone() -> tzinfo:
    """The machine's time zone (instrument PCs log in local time)."""
    from datetime import datetime

    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def parse_zone(name: str | None, where: str) -> tuple[tzinfo, str]:
    if name is None or name == "local":
        return local_zone(), "local"
    # Imported here: zoneinfo brings sysconfig, half a megabyte of agent memory that a log in
    # local time (most instrument PCs) never needs.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        raise DriverConfigError(
            f"{where}: timezone {name!r} is not an IANA zone such as Asia/Shanghai "
            "(on Windows install the tzdata package)"
        ) from None


def log_config(name: str, raw: Mapping[str, Any]) -> LogConfig:
    """A log source's options (and its profile's defaults), checked; errors name the key."""
    opts = Options(name, raw)
    where = f"source {name!r}"
    profile_name = opts.opt_text("profile")
    profile = _profile(opts, profile_name, where)
    path = opts.path("path")
    if path is None:
        raise opts.error("path", "is required: the folder holding the logs or run folders")

    def pick(key: str, default: Any) -> Any:
        return opts.get(key, profile.get(key, default))

    files = opts.str_list("files", profile.get("files", []))
    defaults = {"time_format": pick("time_format", None)}
    rules = tuple(
        LineRule.from_table(t, defaults, f"{where}: rules[{i}]")
        for i, t in enumerate([*profile.get("rules", []), *opts.table_list("rules")])
    )
    file_rules = tuple(
        FileRule.from_table(t, defaults, f"{where}: file_rules[{i}]")
        for i, t in enumerate([*profile.get("file_rules", []), *opts.table_list("file_rules")])
    )
    if not files and not file_rules:
        raise opts.error("files", "give files (globs of logs to tail) or file_rules (or a profile)")
    if files and not rules:
        raise opts.error("rules", "logs are tailed but no rule turns a line into a state")
    zone, zone_name = _zone(opts, pick("timezone", None), where)
    config = LogConfig(
        path=path,
        files=tuple(files),
        rules=rules,
        file_rules=file_rules,
        record_start=_record_start(opts, pick("record_start", None)),
        encoding=_encoding(opts, pick("encoding", "auto")),
        zone=zone,
        zone_name=zone_name,
        start_at=_start_at(opts, pick("start_at", "beginning")),
        scan_interval_s=opts.number("scan_interval_s", 10.0, lo=0, hi=3600),
        record_flush_s=opts.number("record_flush_s", 2.0, lo=0, hi=3600),
        max_bytes_per_poll=opts.integer("max_bytes_per_poll", 4 * 1024 * 1024, lo=4096),
        state_dir=opts.state_dir(),
        profile=profile_name,
    )
    for key in ("time_format", "record_start", "encoding", "timezone", "start_at"):
        opts.get(key)
    opts.check_unused()
    return config


def _profile(opts: Options, name: str | None, where: str) -> dict[str, Any]:
    if name is None:
        return {}
    tables = load_profile_tables(PROFILE_FILE, opts.path("profiles_file"), where)
    if name not in tables:
        raise opts.error(
            "profile", f"unknown log profile {name!r}; available: {', '.join(sorted(tables))}"
        )
    return dict(tables[name])


def _record_start(opts: Options, raw: Any) -> re.Pattern[str] | None:
    try:
        return re.compile(raw) if raw else None
    except re.error as exc:
        raise opts.error("record_start", f"not a valid regex: {exc}") from None


def _encoding(opts: Options, raw: Any) -> str:
    encoding = str(raw).lower()
    if encoding not in ENCODINGS:
        raise opts.error("encoding", f"{encoding!r} is not one of {', '.join(ENCODINGS)}")
    return encoding


def _zone(opts: Options, raw: Any, where: str) -> tuple[tzinfo, str]:
    if raw is not None and not isinstance(raw, str):
        raise opts.error("timezone", "expected an IANA name such as Asia/Shanghai")
    return parse_zone(raw, f"{where}: timezone")


def _start_at(opts: Options, raw: Any) -> str:
    start_at = str(raw)
    if start_at not in ("beginning", "end"):
        raise opts.error("start_at", "must be beginning or end")
    return start_at
