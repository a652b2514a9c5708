"""The wire protocol's vocabulary and its messages as agents build them: dataclasses and JSON.

Theory of operation (DESIGN.md, "Wire protocol"):

* Topics are ``{root}/{site}/{instrument}/{kind}`` with ``root`` defaulting to ``jishi/v1`` and
  ``kind`` one of ``status``, ``state``, ``hb``, ``session``.
* Every message carries an envelope: ``schema`` (version), ``instrument``, ``site``, ``boot_id``
  (random per agent start), ``seq`` (strictly increasing per ``boot_id``), ``ts`` (UTC time the
  instrument was observed) and ``historical`` (true when replayed from the outbox).
* Two modules, one protocol. This one is what the sending side needs (the agent and the
  bridge): names, topics, and the messages as frozen dataclasses written out with :func:`encode`.
  :mod:`jishi.agent.wire` holds the same messages as pydantic models, which the collector parses
  untrusted input with and ``jishi schema`` exports. The agent does not import pydantic: it is
  half of the agent's memory (issue 14). The fields here mirror the models field for field, in
  the same order; ``tests/agent/test_messages.py`` proves that every message the agent builds
  is valid to the models and reads back as the same values.

Pure: no I/O, no clock; imports only the standard library and :mod:`jishi.states`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, Literal

from jishi.errors import JishiError
from jishi.states import InstrumentState as InstrumentState  # noqa: PLC0414 - re-exported (mypy)

SCHEMA_VERSION = 2
# Versions this code reads. Version 1 (no ``boot_at``, ``prev_seq``, ``until``; a state
# message's ``ts`` equal to its ``since``) is still accepted from older agents.
SUPPORTED_SCHEMAS = (1, 2)
DEFAULT_TOPIC_ROOT = "jishi/v1"
DEFAULT_HEARTBEAT_INTERVAL_S = 30.0
STALE_AFTER_FACTOR = 2.5
# Largest payload the collector will parse; larger ones are dead-lettered unread.
MAX_PAYLOAD_BYTES = 64 * 1024

# Identifiers become MQTT topic levels and database keys: no wildcards, no separators.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)

Reading = float | int | str | bool | None


class MessageKind(StrEnum):
    """The last topic level of each message kind (``status``, ``state``, ``hb``, ``session``)."""

    STATUS = "status"
    STATE = "state"
    HEARTBEAT = "hb"
    SESSION = "session"


class UserType(StrEnum):
    """Who a session served: internal or external users (the evaluation's 校内 / 校外) or staff."""

    INTERNAL = "internal"
    EXTERNAL = "external"
    STAFF = "staff"


class Evidence(StrEnum):
    """What a state message rests on (DESIGN.md, "Freshness, evidence and unknown time")."""

    # A polled reading (power, status word, process list): seen live at ``ts``.
    READING = "reading"
    # A record written by the instrument or its software (a log line, a marker or run file),
    # possibly read long after it was written: it holds from ``since`` until the source's next
    # transition, or exactly until ``until`` when the record carries both ends.
    RECORD = "record"


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and millisecond precision: compact and sortable."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- messages as the agent builds them ------------------------------------------------
# Field names, order and defaults are those of the models in jishi.agent.wire (kw_only: the
# envelope's defaults come before each message's required fields, as in the models).


@dataclass(frozen=True, slots=True, kw_only=True)
class _Envelope:
    """Fields every message carries (``schema_version`` is ``schema`` on the wire)."""

    kind: ClassVar[MessageKind]

    schema_version: int = SCHEMA_VERSION
    instrument: str
    site: str
    boot_id: str
    seq: int
    ts: datetime
    historical: bool = False
    boot_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusMessage(_Envelope):
    """Birth (``online: true``, retained, on connect) and last will (``online: false``)."""

    kind: ClassVar[MessageKind] = MessageKind.STATUS

    online: bool
    agent_version: str | None = None
    config_hash: str | None = None
    heartbeat_interval_s: float | None = None
    stale_after_s: float | None = None
    name: str | None = None
    unit: str | None = None
    category: str | None = None
    hostname: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMessage(_Envelope):
    """A state change (see :class:`jishi.agent.wire.StateMessage` for ``since``, ``until`` and
    ``prev_seq``); ``readings`` are the raw values that decided it."""

    kind: ClassVar[MessageKind] = MessageKind.STATE

    state: InstrumentState
    previous: InstrumentState | None = None
    since: datetime
    until: datetime | None = None
    evidence: Evidence = Evidence.READING
    source: str | None = None
    prev_seq: int | None = None
    reason: str = ""
    readings: dict[str, Reading] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceHealth:
    """Health of one source (driver) of the agent."""

    last_good_read: datetime | None = None
    read_errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentHealth:
    """Self-health reported in every heartbeat."""

    outbox_depth: int = 0
    oldest_unsent_s: float | None = None
    dropped: int = 0
    held_in_memory: int = 0
    last_good_read: datetime | None = None
    read_errors: int = 0
    clock_offset_s: float | None = None
    clock_jumps: int = 0
    sources: dict[str, SourceHealth] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatMessage(_Envelope):
    """Every ``heartbeat_interval``: the current state, since when, latest readings, health."""

    kind: ClassVar[MessageKind] = MessageKind.HEARTBEAT

    state: InstrumentState
    since: datetime
    prev_seq: int | None = None
    interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    readings: dict[str, Reading] = field(default_factory=dict)
    health: AgentHealth = field(default_factory=AgentHealth)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionMessage(_Envelope):
    """A user session seen by the agent (OS login, user field of a vendor log)."""

    kind: ClassVar[MessageKind] = MessageKind.SESSION

    event: Literal["start", "end"]
    session_id: str
    user: str | None = None
    org: str | None = None
    user_type: UserType | None = None
    source: str | None = None
    reason: str | None = None
    outcome: Literal["normal", "fault"] | None = None
    sample_count: int | None = None


Message = StatusMessage | StateMessage | HeartbeatMessage | SessionMessage


def encode(message: Message) -> bytes:
    """The message as wire JSON, as the models write it (``model_dump_json(by_alias=True,
    exclude_none=True)``): ``schema`` first, ``kind`` after the envelope, times in UTC with
    ``Z``, absent optional fields left out, non-finite numbers as ``null``."""
    out: dict[str, Any] = {}
    kind_after = "boot_at" if message.boot_at is not None else "historical"
    for name, value in _table(message).items():
        out["schema" if name == "schema_version" else name] = value
        if name == kind_after:  # the models write kind right after the envelope
            out["kind"] = message.kind.value
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _table(item: Any) -> dict[str, Any]:
    """A dataclass's fields that are not None as JSON data; an int in a ``float`` field (a
    string annotation here) is written as a float, as the models' validation makes it."""
    out: dict[str, Any] = {}
    for spec in fields(item):
        value = getattr(item, spec.name)
        if value is None:
            continue
        if spec.type in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[spec.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """One value as JSON data."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive time {value.isoformat()} on the wire (needs a time zone)")
        return iso_utc(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None  # pydantic writes inf and nan as null
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return _table(value)
    return value


_FLOAT_FIELDS = frozenset({"float", "float | None"})
_KINDS = frozenset(kind.value for kind in MessageKind)
_ENVELOPE_KEYS = frozenset({"instrument", "site", "boot_id", "seq", "ts"})


def with_historical(payload: bytes, historical: bool = True) -> bytes:
    """A stored payload with its ``historical`` flag set (outbox replay). Raises ``ValueError``
    when the payload is not a JSON message: a known kind and the envelope's keys."""
    data = json.loads(payload)
    if not (
        isinstance(data, dict) and data.get("kind") in _KINDS and data.keys() >= _ENVELOPE_KEYS
    ):
        raise ValueError("not a jishi message")
    data["historical"] = historical
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


# --- topics ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed jishi topic."""

    root: str
    site: str
    instrument: str
    kind: MessageKind

    def __str__(self) -> str:
        return f"{self.root}/{self.site}/{self.instrument}/{self.kind.value}"


class TopicError(JishiError, ValueError):
    """A topic that is not ``{root}/{site}/{instrument}/{kind}``."""


def is_identifier(value: str) -> bool:
    return bool(_ID_RE.match(value))


def build_topic(
    site: str, instrument: str, kind: MessageKind, root: str = DEFAULT_TOPIC_ROOT
) -> str:
    """The topic of one kind of message about one instrument."""
    for label, value in (("site", site), ("instrument", instrument)):
        if not is_identifier(value):
            raise TopicError(f"{label} {value!r} is not a valid identifier ({ID_PATTERN})")
    return f"{root.rstrip('/')}/{site}/{instrument}/{kind.value}"


def parse_topic(topic: str, root: str = DEFAULT_TOPIC_ROOT) -> Topic:
    """Split a topic into its parts; raises :class:`TopicError` if it is not a jishi topic."""
    root = root.rstrip("/")
    prefix = root + "/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is not under {root!r}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3:
        raise TopicError(f"topic {topic!r} is not {root}/<site>/<instrument>/<kind>")
    site, instrument, kind = parts
    if not (is_identifier(site) and is_identifier(instrument)):
        raise TopicError(f"topic {topic!r} has an invalid site or instrument id")
    try:
        message_kind = MessageKind(kind)
    except ValueError:
        raise TopicError(f"topic {topic!r} has unknown kind {kind!r}") from None
    return Topic(root=root, site=site, instrument=instrument, kind=message_kind)


def subscription(root: str = DEFAULT_TOPIC_ROOT, share_group: str | None = None) -> str:
    """The collector's subscription filter, optionally as an MQTT shared subscription."""
    base = f"{root.rstrip('/')}/#"
    return f"$share/{share_group}/{base}" if share_group else base
