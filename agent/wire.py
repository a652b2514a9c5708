"""The wire schema as pydantic models: what the collector parses untrusted input with and what
``jishi schema`` exports.

Theory of operation (DESIGN.md, "Wire protocol"): the names, topics and envelope are described
in :mod:`jishi.agent.messages`, which also holds the same messages as plain dataclasses for the
sending side (the agent does not import pydantic: issue 14, agent memory). The collector
dedupes on ``(boot_id, seq)``; it accepts unknown extra fields so that a newer agent can talk
to an older collector. Everything of :mod:`jishi.agent.messages` but its message classes is
re-exported here, so the collector reads one module.

This module has no I/O and imports only pydantic and the plain vocabulary.
"""

from __future__ import annotations

from datetime import UTC, datetime
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

from jishi.agent.messages import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    DEFAULT_TOPIC_ROOT,
    ID_PATTERN,
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    STALE_AFTER_FACTOR,
    SUPPORTED_SCHEMAS,
    Evidence,
    InstrumentState,
    MessageKind,
    Reading,
    Topic,
    TopicError,
    UserType,
    build_topic,
    is_identifier,
    iso_utc,
    parse_topic,
    subscription,
)

# Re-exported: the collector imports the protocol's names from this one module.
__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL_S",
    "DEFAULT_TOPIC_ROOT",
    "ID_PATTERN",
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "STALE_AFTER_FACTOR",
    "SUPPORTED_SCHEMAS",
    "AgentHealth",
    "Evidence",
    "HeartbeatMessage",
    "InstrumentState",
    "Message",
    "MessageKind",
    "Reading",
    "SessionMessage",
    "SourceHealth",
    "StateMessage",
    "StatusMessage",
    "Topic",
    "TopicError",
    "UserType",
    "build_topic",
    "decode",
    "decode_any",
    "encode",
    "is_identifier",
    "iso_utc",
    "json_schemas",
    "parse_topic",
    "subscription",
]

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]

Seq = Annotated[int, Field(ge=0, lt=2**63)]


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


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every message, keyed by message kind."""
    return {
        kind.value: model.model_json_schema(by_alias=True, mode="serialization")
        for kind, model in MODEL_BY_KIND.items()
    }
