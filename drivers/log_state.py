"""What the log driver remembers across agent restarts: offsets by file identity, fired rules.

A file is known by its identity (device and inode; NTFS file index on Windows), not its name,
so a rotated (renamed) file keeps its offset and a re-created file starts at 0. A fingerprint
of the first bytes guards against the file system reusing an inode for a new file. The state is
a small JSON file written atomically (temp file + rename) in the agent's data dir.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEAD_BYTES = 256
# File-rule hits older than this below the newest are forgotten (bounded state; see logs.py).
FIRED_WINDOW_S = 86_400.0
VANISHED_KEEP_S = 7 * 86_400.0


def identity(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}"


def head_digest(head: bytes) -> str:
    return hashlib.sha1(head, usedforsecurity=False).hexdigest()


def read_head(path: Path, length: int = HEAD_BYTES) -> bytes:
    with path.open("rb") as handle:
        return handle.read(length)


@dataclass
class FileMemo:
    """Remembered position in one file."""

    path: str
    offset: int
    head_sha: str = ""
    head_len: int = 0
    last_seen: float = 0.0  # wall clock seconds, for forgetting vanished files


@dataclass
class LogState:
    """What the log driver keeps across restarts: offsets, fired rules, activity."""

    files: dict[str, FileMemo] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)  # "<identity>#<rule>" of once_per_file rules
    fired: dict[str, float] = field(default_factory=dict)  # "<identity>#<rule>" -> file mtime
    watermark: float = 0.0  # newest mtime of a file a file rule fired on
    activity: dict[str, Any] = field(default_factory=dict)
    started: bool = False  # a first scan happened (start_at applies only before it)

    def mark_fired(self, key: str, mtime: float) -> None:
        self.fired[key] = mtime
        self.watermark = max(self.watermark, mtime)

    def already_fired(self, key: str, mtime: float) -> bool:
        return key in self.fired or mtime < self.watermark - FIRED_WINDOW_S

    def prune(self, now_wall: float) -> None:
        floor = self.watermark - FIRED_WINDOW_S
        self.fired = {k: v for k, v in self.fired.items() if v >= floor}
        self.files = {
            k: v for k, v in self.files.items() if now_wall - v.last_seen < VANISHED_KEEP_S
        }
        live = set(self.files)
        self.once = {k for k in self.once if k.split("#", 1)[0] in live}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "files": {k: vars(v) for k, v in self.files.items()},
            "once": sorted(self.once),
            "fired": self.fired,
            "watermark": self.watermark,
            "activity": self.activity,
            "started": self.started,
        }

    @classmethod
    def from_json(cls, data: Any) -> LogState:
        state = cls()
        if not isinstance(data, dict) or data.get("version") != 1:
            return state
        for key, memo in (data.get("files") or {}).items():
            with contextlib.suppress(TypeError, KeyError):
                state.files[str(key)] = FileMemo(**memo)
        state.once = {str(k) for k in data.get("once") or []}
        state.fired = {str(k): float(v) for k, v in (data.get("fired") or {}).items()}
        state.watermark = float(data.get("watermark") or 0.0)
        state.activity = dict(data.get("activity") or {})
        state.started = bool(data.get("started"))
        return state


def state_path(state_dir: Path, source: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", source)
    return state_dir / f"logs-{safe}.json"


def load_state(path: Path | None) -> LogState:
    if path is None:
        return LogState()
    try:
        return LogState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return LogState()


def save_state(path: Path | None, state: LogState) -> str | None:
    """Write atomically; returns an error text instead of raising (a full disk is data)."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        with temp.open("w", encoding="utf-8") as handle:
            json.dump(state.to_json(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        return f"cannot save offsets to {path}: {exc.strerror}"
    return None
