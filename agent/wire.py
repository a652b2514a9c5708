"""The wire schema: every MQTT message between agents, bridges and collectors, with topic helpers.

Theory of operation (DESIGN.md, "Wire protocol"):

* Topics are ``{root}/{site}/{instrument}/{kind}`` with ``root`` defaulting to ``jishi/v1`` and
  ``kind`` one of ``status``, ``state``, ``hb``, ``session``.
* Every message carries an envelope: ``schema`` (version), ``instrument``, ``site``, ``boot_id``
  (random per agent start), ``seq`` (strictly increasing per ``boot_id``), ``ts`` (UTC time the
  instrument was observed) and ``historical`` (true when replayed from the outbox).
* The collector dedupes on ``(boot_id, seq)``; it accepts unknown extra fields so that a newer
  agent can talk to an older collector. Agents build messages from these typed models only, so
  what they emit is exactly the schema.

This module has no I/O and imports only pydantic, so the agent, bridge and collector share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    field_validator,
    model_validator,
)

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

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
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


Seq = Annotated[int, Field(ge=0, lt=2**63)]


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and millisecond precision: compact and sortable."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A time on the wire: timezone-aware when read, ISO 8601 UTC with ``Z`` when written.
WireTime = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str)]


class _Envelope(BaseModel):
    """Fields every message carries."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    schema_version: int = Field(default=SCHEMA_VERSION, alias="schema", ge=1)
    instrument: Identifier
    site: Identifier
    boot_id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
    seq: Seq
    ts: WireTime
    historical: bool = False
    # Schema 2: when this boot (agent start) began. A later boot is later knowledge: where its
    # messages and an earlier boot's disagree, the later boot wins (DESIGN.md, "Freshness").
    boot_at: WireTime | None = None

    @field_validator("ts", "boot_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)


class StatusMessage(_Envelope):
    """Birth (``online: true``, retained, on connect) and last will (``online: false``)."""

    kind: Literal["status"] = "status"
    online: bool
    agent_version: str | None = None
    config_hash: str | None = None
    heartbeat_interval_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    stale_after_s: Annotated[float, Field(gt=0, le=7 * 86_400)] | None = None
    name: str | None = None
    unit: str | None = None
    category: str | None = None
    hostname: str | None = None


class Evidence(StrEnum):
    """What a state message rests on (DESIGN.md, "Freshness, evidence and unknown time")."""

    # A polled reading (power, status word, process list): seen live at ``ts``.
    READING = "reading"
    # A record written by the instrument or its software (a log line, a marker or run file),
    # possibly read long after it was written: it holds from ``since`` until the source's next
    # transition, or exactly until ``until`` when the record carries both ends.
    RECORD = "record"


class StateMessage(_Envelope):
    """Sent at every state change, immediately; ``readings`` are the raw values that decided it.

    ``since`` is when the state began at the instrument, ``ts`` when the agent knew it (schema
    2; schema 1 agents sent ``ts == since``). ``until`` closes the interval: the state held over
    ``[since, until)`` exactly (a record with both ends read after the fact, such as an FCS file
    or a TopSpin audit entry). ``prev_seq`` is the ``seq`` of this instrument's previous ``state``
    or ``hb`` message in the same boot (absent on its first): a gap in the chain shows the
    collector that something is missing."""

    kind: Literal["state"] = "state"
    state: InstrumentState
    previous: InstrumentState | None = None
    since: WireTime
    until: WireTime | None = None
    evidence: Evidence = Evidence.READING
    source: Annotated[str, Field(max_length=64)] | None = None
    prev_seq: Seq | None = None
    reason: str = ""
    readings: dict[str, Reading] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _until_after_since(self) -> StateMessage:
        if self.until is not None and self.until < self.since:
            raise ValueError("until must not be before since")
        return self


class SourceHealth(BaseModel):
    """Health of one source (driver) of the agent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    last_good_read: WireTime | None = None
    read_errors: int = 0
    last_error: str | None = None


class AgentHealth(BaseModel):
    """Self-health reported in every heartbeat."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    outbox_depth: int = 0
    oldest_unsent_s: float | None = None
    dropped: int = 0
    # Messages the agent could not write to its outbox yet (full disk) and keeps in memory;
    # optional, so older agents and collectors read each other's heartbeats (issue 17, 5).
    held_in_memory: int = 0
    last_good_read: WireTime | None = None
    read_errors: int = 0
    clock_offset_s: float | None = None
    clock_jumps: int = 0
    sources: dict[str, SourceHealth] = Field(default_factory=dict)


class HeartbeatMessage(_Envelope):
    """Every ``heartbeat_interval``: the current state, since when, latest readings, health.
    ``prev_seq`` as in :class:`StateMessage`."""

    kind: Literal["hb"] = "hb"
    state: InstrumentState
    since: WireTime
    prev_seq: Seq | None = None
    interval_s: Annotated[float, Field(gt=0, le=86_400)] = DEFAULT_HEARTBEAT_INTERVAL_S
    readings: dict[str, Reading] = Field(default_factory=dict)
    health: AgentHealth = Field(default_factory=AgentHealth)


class SessionMessage(_Envelope):
    """A user session seen by the agent (OS login, user field of a vendor log)."""

    kind: Literal["session"] = "session"
    event: Literal["start", "end"]
    session_id: Annotated[str, Field(min_length=1, max_length=128)]
    user: str | None = None
    org: str | None = None
    user_type: UserType | None = None
    source: str | None = None
    # Optional (issue 13): why an ``end`` was not the user's own (``forgot_sign_out`` when the
    # instrument stayed off or idle too long), and the feedback given at sign-out.
    reason: Annotated[str, Field(max_length=64)] | None = None
    outcome: Literal["normal", "fault"] | None = None
    sample_count: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


Message = StatusMessage | StateMessage | HeartbeatMessage | SessionMessage
_MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(
    Annotated[Message, Field(discriminator="kind")]
)
MODEL_BY_KIND: dict[MessageKind, type[_Envelope]] = {
    MessageKind.STATUS: StatusMessage,
    MessageKind.STATE: StateMessage,
    MessageKind.HEARTBEAT: HeartbeatMessage,
    MessageKind.SESSION: SessionMessage,
}


def encode(message: _Envelope) -> bytes:
    """Serialise a message for the wire (JSON, field ``schema`` under its wire name)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def decode(kind: MessageKind | str, payload: bytes | str) -> Message:
    """Parse a payload of the given kind; raises ``pydantic.ValidationError`` on bad input."""
    model = MODEL_BY_KIND[MessageKind(kind)]
    message = model.model_validate_json(payload)
    assert isinstance(message, StatusMessage | StateMessage | HeartbeatMessage | SessionMessage)
    return message


def decode_any(payload: bytes | str) -> Message:
    """Parse a payload whose ``kind`` field says what it is."""
    return _MESSAGE_ADAPTER.validate_json(payload)


def with_historical(payload: bytes, historical: bool = True) -> bytes:
    """Re-encode a stored payload with the ``historical`` flag set (used on outbox replay)."""
    message = decode_any(payload)
    return encode(message.model_copy(update={"historical": historical}))


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


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every message, keyed by message kind."""
    return {
        kind.value: model.model_json_schema(by_alias=True, mode="serialization")
        for kind, model in MODEL_BY_KIND.items()
    }
