"""Pure rules that turn log records and appearing files into state events.

* A :class:`LineRule` matches a record (a line, or a multi-line record) with a regex. Its
  named group ``ts`` (or ``date`` + ``time``) gives the instrument time, parsed with the
  rule's formats in the configured time zone; groups named ``plus``, ``plus2``... are durations
  added to it (Illumina's post-run wash). ``once_per_file`` fires only on a file's first match.
* A :class:`FileRule` fires once per file (identity) whose relative path matches its glob and
  whose content matches one of its patterns; the time comes from the content, the file name or
  the file's modification time. ``parser = "fcs"`` reads an FCS file's $DATE/$BTIM/$ETIM.
* ``activity`` rules (SerialEM images, EPU exposures) are pulses: running from the first pulse;
  idle ``pulse_s`` after the last one once no pulse came for ``idle_after_s``.

Times are returned in UTC. No I/O: the driver shell passes record text, names and contents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from jishi.drivers.base import DriverConfigError, StateEvent
from jishi.states import OBSERVED

STATES = OBSERVED  # what a rule may give
# Tried in order for time_format = "auto" (after ISO 8601).
AUTO_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%d-%b-%y %H:%M:%S",
    "%d-%b-%Y %H:%M:%S",
    "%Y%m%d_%H%M%S",
    "%Y%m%d-%H%M%S",
    "%Y%m%d-%H%M",
)
_SPACES = re.compile(r"\s+")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_DURATION = re.compile(r"^(?:(?P<d>\d+)\.)?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)$")


def parse_time(text: str, formats: Sequence[str], zone: tzinfo) -> datetime | None:
    """Parse an instrument timestamp; naive times are in ``zone``. Returns UTC or None."""
    cleaned = _FRACTION.sub(r"\1", _SPACES.sub(" ", text.strip()))
    for fmt in formats:
        try:
            if fmt == "iso":
                moment = datetime.fromisoformat(cleaned)
            elif fmt == "epoch":
                moment = datetime.fromtimestamp(float(cleaned), UTC)
            else:
                moment = datetime.strptime(cleaned, _SPACES.sub(" ", fmt))  # noqa: DTZ007
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    return None


def parse_duration(text: str) -> timedelta | None:
    """``[d.]hh:mm:ss[.fff]`` (.NET TimeSpan, as Illumina writes it)."""
    match = _DURATION.match(_FRACTION.sub(r"\1", text.strip()))
    if not match:
        return None
    return timedelta(
        days=int(match["d"] or 0),
        hours=int(match["h"]),
        minutes=int(match["m"]),
        seconds=float(match["s"]),
    )


def _formats(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None or raw == "auto":
        return ("iso", *AUTO_FORMATS)
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise DriverConfigError(f"{where}: time_format must be text or a list of text")
    return tuple(items)


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise DriverConfigError(f"{where}: pattern must be text (a regular expression)")
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error as exc:
        raise DriverConfigError(
            f"{where}: pattern {pattern!r} is not a valid regex: {exc}"
        ) from None


def _state(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if raw not in STATES:
        raise DriverConfigError(f"{where}: state {raw!r} must be one of {', '.join(STATES)}")
    return str(raw)


@dataclass(frozen=True, slots=True)
class Activity:
    """Pulse settings of an activity rule: idle after this long without a pulse."""

    idle_after_s: float
    pulse_s: float = 0.0


def _activity(table: Mapping[str, Any], where: str) -> Activity | None:
    if not table.get("activity"):
        return None
    idle_after = table.get("idle_after_s", 600)
    pulse = table.get("pulse_s", 0)
    if not isinstance(idle_after, int | float) or idle_after <= 0:
        raise DriverConfigError(f"{where}: idle_after_s must be a number > 0")
    if not isinstance(pulse, int | float) or pulse < 0:
        raise DriverConfigError(f"{where}: pulse_s must be a number >= 0")
    return Activity(float(idle_after), float(pulse))


@dataclass(frozen=True, slots=True)
class Match:
    """A rule fired: when (UTC), to which state (None for a pure activity pulse), and why.
    ``until`` closes it when the same record or file also says when it ended."""

    ts: datetime
    state: str
    reason: str
    activity: Activity | None = None
    until: datetime | None = None
    user: str | None = None  # the record names who ran it (a ``user`` group), issue 13
    session: str | None = None  # the rule's ``session``: "start" or "end" (sign-in / out)


def close_pairs(matches: Sequence[Match]) -> list[Match]:
    """Matches of one record or one file, in time order, each closed by the next one.

    A record that names both ends of a run (TopSpin's audit entry: "started at" and its own
    time; an FCS file's ``$BTIM`` and ``$ETIM``; a NovaSeq ``RunCompletionStatus.xml``) is a
    closed interval (DESIGN.md): the first state held exactly until the next match's time, and
    the last one holds until the source's next event. Activity pulses are left alone.
    """
    ordered = sorted(matches, key=lambda m: m.ts)
    out: list[Match] = []
    for index, match in enumerate(ordered):
        after = ordered[index + 1] if index + 1 < len(ordered) else None
        closes = (
            after is not None
            and match.activity is None
            and after.activity is None
            and after.ts > match.ts
        )
        if closes and after is not None:
            out.append(replace(match, activity=None, until=after.ts))
        else:
            out.append(match)
    return out


@dataclass(frozen=True, slots=True)
class LineRule:
    """A regex on each log record that gives a state (and its time)."""

    patterns: tuple[re.Pattern[str], ...]
    state: str  # "" for a session-only rule
    formats: tuple[str, ...]
    name: str
    once_per_file: bool = False
    activity: Activity | None = None
    session: str | None = None  # "start" / "end": a sign-in / sign-out record (no state)

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], defaults: Mapping[str, Any], where: str
    ) -> LineRule:
        raw = table.get("pattern")
        patterns = tuple(_compile(p, where) for p in (raw if isinstance(raw, list) else [raw]))
        activity = _activity(table, where)
        session = table.get("session")
        if session not in (None, "start", "end"):
            raise DriverConfigError(f"{where}: session must be start or end")
        state = _state(table.get("state", "running" if activity else None), where)
        if state is None and session is None:
            raise DriverConfigError(f"{where}: give state (or activity = true, or session)")
        return cls(
            patterns=patterns,
            state=state or "",
            formats=_formats(table.get("time_format", defaults.get("time_format")), where),
            name=str(table.get("name") or patterns[0].pattern[:40]),
            once_per_file=bool(table.get("once_per_file", False)),
            activity=activity,
            session=session,
        )

    def apply(self, text: str, zone: tzinfo, fallback: datetime) -> Match | None:
        for pattern in self.patterns:
            found = pattern.search(text)
            if found is None:
                continue
            moment = time_of(found, self.formats, zone, fallback)
            if moment is None:
                return None
            reason = f"{self.name}: {found.group(0)[:120]}"
            user = account_of(found.groupdict().get("user"))
            return Match(moment, self.state, reason, self.activity, user=user, session=self.session)
        return None


def account_of(text: str | None) -> str | None:
    """The account a log names: ``NMRLAB\\nmr-user`` (TopSpin's WHO) -> ``nmr-user``, as the
    OS logins give it; None when empty."""
    if text is None:
        return None
    account = text.strip().strip("<>").rsplit("\\", 1)[-1].strip()
    return account or None


def time_of(
    found: re.Match[str], formats: Sequence[str], zone: tzinfo, fallback: datetime | None
) -> datetime | None:
    """The time a match names (``ts`` or ``date``+``time`` groups, plus durations), else
    ``fallback`` when the pattern has no time group."""
    groups = {k: v for k, v in found.groupdict().items() if v is not None}
    if "ts" in groups:
        moment = parse_time(groups["ts"], formats, zone)
    elif "date" in groups and "time" in groups:
        moment = parse_time(f"{groups['date']} {groups['time']}", formats, zone)
    elif any(k in found.re.groupindex for k in ("ts", "date")):
        return None
    else:
        moment = fallback
    if moment is None:
        return None
    for key, value in groups.items():
        if key.startswith("plus"):
            extra = parse_duration(value)
            if extra is not None:
                moment += extra
    return moment


@dataclass(frozen=True, slots=True)
class FileRule:
    """A rule on files that appear (marker files, run files, FCS): one event per file."""

    glob: str
    state: str
    patterns: tuple[re.Pattern[str], ...]
    name_pattern: re.Pattern[str] | None
    formats: tuple[str, ...]
    name: str
    parser: str = "text"
    use_mtime: bool = True
    activity: Activity | None = None
    max_bytes: int = 1_048_576

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], defaults: Mapping[str, Any], where: str
    ) -> FileRule:
        glob = table.get("glob")
        if not isinstance(glob, str) or not glob:
            raise DriverConfigError(f"{where}: glob is required (e.g. '*/RTAComplete.txt')")
        raw = table.get("pattern")
        patterns = tuple(
            _compile(p, where)
            for p in ([] if raw is None else raw if isinstance(raw, list) else [raw])
        )
        name_raw = table.get("name_pattern")
        parser = str(table.get("parser", "text"))
        if parser not in ("text", "fcs"):
            raise DriverConfigError(f"{where}: parser must be text or fcs")
        activity = _activity(table, where)
        state = _state(
            table.get("state", "running" if activity or parser == "fcs" else None), where
        )
        if state is None:
            raise DriverConfigError(f"{where}: give state (or activity = true)")
        return cls(
            glob=glob,
            state=state,
            patterns=patterns,
            name_pattern=_compile(name_raw, where) if name_raw is not None else None,
            formats=_formats(table.get("time_format", defaults.get("time_format")), where),
            name=str(table.get("name") or glob),
            parser=parser,
            use_mtime=bool(table.get("use_mtime", True)),
            activity=activity,
        )

    @property
    def needs_content(self) -> bool:
        return bool(self.patterns) or self.parser == "fcs"

    def apply(
        self, relative: str, content: str | None, mtime: datetime, zone: tzinfo
    ) -> Match | None:
        """Fire for one file; None means "not (yet) matching", try again when it changes."""
        fallback = mtime if self.use_mtime else None
        if self.name_pattern is not None:
            found_name = self.name_pattern.search(relative)
            if found_name is None:
                return None
            fallback = time_of(found_name, self.formats, zone, fallback)
        if not self.patterns:
            if fallback is None:
                return None
            return Match(fallback, self.state, f"{self.name}: {relative}", self.activity)
        for pattern in self.patterns:
            found = pattern.search(content or "")
            if found is None:
                continue
            moment = time_of(found, self.formats, zone, fallback)
            if moment is not None:
                reason = f"{self.name}: {relative}: {found.group(0)[:80]}"
                return Match(moment, self.state, reason, self.activity)
        return None


@dataclass
class ActivityTracker:
    """Turns activity pulses into running/idle events (see the module docstring)."""

    last_pulse: datetime | None = None
    active: bool = False
    settings: Activity | None = None
    pending: list[StateEvent] = field(default_factory=list)

    def pulse(self, match: Match) -> list[StateEvent]:
        assert match.activity is not None
        out: list[StateEvent] = []
        if self.active and self.last_pulse is not None and self.settings is not None:
            gap = (match.ts - self.last_pulse).total_seconds()
            if gap > self.settings.idle_after_s:
                out.append(self._end())
        if not self.active:
            out.append(StateEvent(match.ts, match.state, match.reason))
            self.active = True
        self.settings = match.activity
        if self.last_pulse is None or match.ts > self.last_pulse:
            self.last_pulse = match.ts
        return out

    def tick(self, now: datetime) -> list[StateEvent]:
        """Close the activity once ``now`` is past the idle window."""
        if not self.active or self.last_pulse is None or self.settings is None:
            return []
        if (now - self.last_pulse).total_seconds() <= self.settings.idle_after_s:
            return []
        return [self._end()]

    def _end(self) -> StateEvent:
        assert self.last_pulse is not None
        assert self.settings is not None
        self.active = False
        end = self.last_pulse + timedelta(seconds=self.settings.pulse_s)
        return StateEvent(end, "idle", f"no activity for {self.settings.idle_after_s:g} s")

    def to_json(self) -> dict[str, Any]:
        return {
            "last_pulse": self.last_pulse.isoformat() if self.last_pulse else None,
            "active": self.active,
            "idle_after_s": self.settings.idle_after_s if self.settings else None,
            "pulse_s": self.settings.pulse_s if self.settings else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActivityTracker:
        tracker = cls()
        try:
            if data.get("last_pulse"):
                tracker.last_pulse = datetime.fromisoformat(str(data["last_pulse"]))
            tracker.active = bool(data.get("active"))
            if data.get("idle_after_s") is not None:
                tracker.settings = Activity(
                    float(data["idle_after_s"]), float(data.get("pulse_s") or 0)
                )
        except (TypeError, ValueError):
            return cls()
        return tracker
