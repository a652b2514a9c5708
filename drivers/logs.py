"""Log and run-folder driver: tails vendor logs and watches for marker files (the I/O shell).

Each poll: re-glob every ``scan_interval_s``; for every log file (known by identity, see
log_state.py) read the bytes added since its offset and feed them to its :class:`LogStream`
(truncated: start again at 0; re-created: new identity, start at 0; rotated away: read the rest
of the renamed file, then forget it); apply line rules to complete records; apply file rules to
new files; close activity windows; save offsets. Files are opened only while being read, so the
writer can rotate or delete them (Windows refuses to rename a file someone holds open).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jishi.drivers.base import Reading, SessionEvent, StateEvent
from jishi.drivers.fcs import FcsError, acquisition_span, parse_fcs
from jishi.drivers.log_config import LogConfig, log_config
from jishi.drivers.log_rules import ActivityTracker, FileRule, Match, close_pairs
from jishi.drivers.log_sessions import LogSessions
from jishi.drivers.log_state import (
    HEAD_BYTES,
    FileMemo,
    LogState,
    head_digest,
    identity,
    load_state,
    save_state,
    state_path,
)
from jishi.drivers.log_text import LogStream, Record, decode_text, resolve_encoding


@dataclass
class _Track:
    """A log file being tailed in this process."""

    ident: str
    path: Path
    stream: LogStream
    memo: FileMemo
    last_growth: float


class LogDriver:
    """Tails vendor logs and watches run folders (the I/O shell around log_rules)."""

    def __init__(
        self, name: str, config: LogConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._state_file = state_path(config.state_dir, name) if config.state_dir else None
        self._state: LogState | None = None
        self._save_problem: str | None = None
        self._tracks: dict[str, _Track] = {}
        self._log_paths: list[Path] = []
        self._rule_paths: list[tuple[int, Path]] = []
        self._next_scan = 0.0
        self._attempts: dict[str, tuple[int, float]] = {}
        self._activity = ActivityTracker()
        self._log_sessions = LogSessions(name)
        self._sessions: list[SessionEvent] = []

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, Any]) -> LogDriver:
        return cls(name, log_config(name, options))

    # -- poll -------------------------------------------------------------------------------

    def poll(self, now: datetime) -> Sequence[Reading]:
        base = self.config.path
        if not base.is_dir():
            return [Reading(ts=now, error=f"folder {base} not found or not a folder")]
        state = self._load()
        mono = self._clock()
        first_scan = not state.started
        if mono >= self._next_scan:
            self._scan()
            self._next_scan = mono + self.config.scan_interval_s
        matches: list[Match] = []
        events: list[StateEvent] = []
        problems: list[str] = []
        if self._save_problem:
            problems.append(self._save_problem)
            self._save_problem = None
        raw: list[str] = []
        records = 0
        seen: set[str] = set()
        for path in self._log_paths:
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished between glob and stat; the next scan drops it
            ident = identity(stat)
            seen.add(ident)
            try:
                track = self._track(ident, path, stat.st_size, first_scan, state)
                got = self._read(track, stat.st_size, mono, flush_now=False)
            except OSError as exc:
                problems.append(f"{path.name}: {exc.strerror or exc}")
                continue
            records += len(got)
            matches.extend(self._apply_records(track, got, now, raw))
        for ident in [i for i in self._tracks if i not in seen]:
            matches.extend(self._finish_rotated(self._tracks.pop(ident), mono, now, raw))
        matches.extend(self._apply_file_rules(now, first_scan, state, raw, problems))
        # Files are read in name order, not time order: activity windows need time order.
        for match in sorted(matches, key=lambda m: m.ts):
            events.extend(self._emit(match))
        events.extend(self._record(e) for e in self._activity.tick(now))
        state.activity = self._activity.to_json()
        state.started = True
        state.prune(time.time())
        # Offsets are saved in commit(), after the agent stored what this poll produced.
        if problems and not records and not events and len(problems) >= len(self._log_paths):
            return [Reading(ts=now, raw="; ".join(raw) or None, error="; ".join(problems))]
        values = {"log_files": len(self._tracks), "log_records": records, "log_events": len(events)}
        text = " | ".join([*raw[-3:], *(f"problem: {p}" for p in problems)]) or None
        sessions, self._sessions = self._sessions, []
        return [Reading(ts=now, values=values, raw=text, events=tuple(events), sessions=sessions)]

    def commit(self) -> None:
        """Save offsets now that the agent has stored what the last poll returned."""
        if self._state is not None:
            problem = save_state(self._state_file, self._state)
            if problem:
                self._save_problem = problem

    def close(self) -> None:
        if self._state is not None:
            save_state(self._state_file, self._state)

    # -- helpers ----------------------------------------------------------------------------

    def _load(self) -> LogState:
        if self._state is None:
            self._state = load_state(self._state_file)
            self._activity = ActivityTracker.from_json(self._state.activity)
        return self._state

    def _scan(self) -> None:
        base = self.config.path
        found: dict[Path, None] = {}
        for pattern in self.config.files:
            for path in sorted(base.glob(pattern)):
                if path.is_file():
                    found[path] = None
        self._log_paths = list(found)
        self._rule_paths = [
            (index, path)
            for index, rule in enumerate(self.config.file_rules)
            for path in sorted(base.glob(rule.glob))
            if path.is_file()
        ]

    def _track(
        self, ident: str, path: Path, size: int, first_scan: bool, state: LogState
    ) -> _Track:
        track = self._tracks.get(ident)
        memo = state.files.get(ident)
        replaced = (
            track is not None
            and size > track.stream.read_to
            and not _same_head(track.memo, _head(path))
        )
        if track is None or size < track.stream.read_to or replaced:
            head = _head(path)
            if memo is not None and not _same_head(memo, head):
                memo = None  # inode reused for another file, or truncated and rewritten
            codec, skip = resolve_encoding(self.config.encoding, head)
            if memo is None:
                start = size if first_scan and self.config.start_at == "end" else skip
                memo = FileMemo(str(path), start)
            elif memo.offset > size:
                memo.offset = skip  # truncated in place (copytruncate)
            memo.head_len = len(head)
            memo.head_sha = head_digest(head)
            stream = LogStream(
                encoding=codec, record_start=self.config.record_start, offset=max(memo.offset, skip)
            )
            track = _Track(ident, path, stream, memo, self._clock())
            self._tracks[ident] = track
            state.files[ident] = memo
        elif track.memo.head_len < HEAD_BYTES and size > track.memo.head_len:
            head = _head(path)
            track.memo.head_len, track.memo.head_sha = len(head), head_digest(head)
        track.path = path
        track.memo.path = str(path)
        track.memo.last_seen = time.time()
        return track

    def _read(self, track: _Track, size: int, mono: float, *, flush_now: bool) -> list[Record]:
        stream = track.stream
        got: list[Record] = []
        if size > stream.read_to:
            with track.path.open("rb") as handle:
                handle.seek(stream.read_to)
                chunk = handle.read(min(size - stream.read_to, self.config.max_bytes_per_poll))
            got = stream.feed(chunk)
            track.last_growth = mono
        if stream.has_pending and (
            flush_now
            or (size <= stream.read_to and mono - track.last_growth >= self.config.record_flush_s)
        ):
            got.extend(stream.flush())
        track.memo.offset = stream.committed
        return got

    def _finish_rotated(
        self, track: _Track, mono: float, now: datetime, raw: list[str]
    ) -> list[Match]:
        """A tracked file left the glob: if it was renamed in its folder, read what remains."""
        try:
            for entry in os.scandir(track.path.parent):
                if entry.is_file() and identity(entry.stat()) == track.ident:
                    track.path = Path(entry.path)
                    got = self._read(track, entry.stat().st_size, mono, flush_now=True)
                    return self._apply_records(track, got, now, raw)
        except OSError:
            pass
        return []

    def _apply_records(
        self, track: _Track, records: list[Record], now: datetime, raw: list[str]
    ) -> list[Match]:
        found: list[Match] = []
        state = self._load()
        for record in records:
            in_record: list[Match] = []
            for index, rule in enumerate(self.config.rules):
                key = f"{track.ident}#{index}"
                if rule.once_per_file and key in state.once:
                    continue
                match = rule.apply(record.text, self.config.zone, now)
                if match is None:
                    continue
                if rule.once_per_file:
                    state.once.add(key)
                in_record.append(match)
                raw.append(f"{track.path.name}: {record.text[:200]}")
            self._sessions.extend(self._log_sessions.record(in_record))
            found.extend(close_pairs([m for m in in_record if m.state]))
        return found

    def _emit(self, match: Match) -> list[StateEvent]:
        if match.activity is not None:
            return [self._record(e) for e in self._activity.pulse(match)]
        return [
            StateEvent(
                match.ts,
                match.state,
                match.reason,
                until=match.until,
                record=True,
                source=self.name,
            )
        ]

    def _record(self, event: StateEvent) -> StateEvent:
        """An event of this source's records (activity windows too)."""
        return StateEvent(
            event.ts, event.state, event.reason, until=event.until, record=True, source=self.name
        )

    def _apply_file_rules(
        self, now: datetime, first_scan: bool, state: LogState, raw: list[str], problems: list[str]
    ) -> list[Match]:
        by_file: dict[Path, list[Match]] = {}
        for index, path in self._rule_paths:
            rule = self.config.file_rules[index]
            try:
                stat = path.stat()
            except OSError:
                continue
            key = f"{identity(stat)}#{index}"
            if state.already_fired(key, stat.st_mtime):
                continue
            if first_scan and self.config.start_at == "end":
                state.mark_fired(key, stat.st_mtime)
                continue
            attempt = (stat.st_size, stat.st_mtime)
            if self._attempts.get(key) == attempt:
                continue  # unchanged since it last failed to match
            self._attempts[key] = attempt
            try:
                found = self._file_events(rule, path, stat)
            except OSError as exc:
                problems.append(f"{path.name}: {exc.strerror or exc}")
                continue
            if found:
                state.mark_fired(key, stat.st_mtime)
                self._attempts.pop(key, None)
                by_file.setdefault(path, []).extend(found)
                raw.append(f"{path.relative_to(self.config.path).as_posix()} -> {found[-1].state}")
        # The rules that fired on one file in this poll tell one story (a run's start and end).
        return [match for found in by_file.values() for match in close_pairs(found)]

    def _file_events(self, rule: FileRule, path: Path, stat: os.stat_result) -> list[Match]:
        relative = path.relative_to(self.config.path).as_posix()
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        if rule.parser == "fcs":
            return _fcs_events(path, relative, self.config)
        content = None
        if rule.needs_content:
            with path.open("rb") as handle:
                data = handle.read(rule.max_bytes)
            codec, skip = resolve_encoding(self.config.encoding, data[:4])
            content = decode_text(data[skip:], codec)
        match = rule.apply(relative, content, mtime, self.config.zone)
        return [match] if match is not None else []


def _fcs_events(path: Path, relative: str, config: LogConfig) -> list[Match]:
    with path.open("rb") as handle:
        data = handle.read(1_048_576)
    try:
        span = acquisition_span(parse_fcs(data))
    except FcsError:
        return []
    if span is None:
        return []
    start, end = span
    found = [
        Match(start.replace(tzinfo=config.zone).astimezone(UTC), "running", f"fcs {relative} $BTIM")
    ]
    if end is not None:
        found.append(
            Match(end.replace(tzinfo=config.zone).astimezone(UTC), "idle", f"fcs {relative} $ETIM")
        )
    return found


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(HEAD_BYTES)


def _same_head(memo: FileMemo, head: bytes) -> bool:
    if not memo.head_len:
        return True
    if len(head) < memo.head_len:
        return False
    return head_digest(head[: memo.head_len]) == memo.head_sha
