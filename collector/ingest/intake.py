"""Validation of one received MQTT message: accepted as a wire message, or a dead letter with a
reason. Pure: the receive time is an argument, nothing is read or written here."""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from pydantic import ValidationError

from jishi.agent.wire import (
    MODEL_BY_KIND,
    HeartbeatMessage,
    Message,
    SessionMessage,
    StateMessage,
    StatusMessage,
    Topic,
    TopicError,
    parse_topic,
)
from jishi.collector.ledger.batch import Reason

__all__ = ["Accepted", "Limits", "Reason", "Rejected", "classify"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What the collector accepts: payload size, time bounds and (optionally) the registry."""

    max_payload_bytes: int
    max_future_s: float
    max_age_s: float
    # None: open registry (any instrument is welcome); else the ids allowed.
    known_instruments: Container[str] | None = None
    # The two time bounds as timedeltas, made once rather than per message.
    future: timedelta = field(init=False, repr=False, compare=False)
    age: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "future", timedelta(seconds=self.max_future_s))
        object.__setattr__(self, "age", timedelta(seconds=self.max_age_s))


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class Accepted:
    """A message that passed every check."""

    message: Message
    received_at: datetime


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class Rejected:
    """A message to dead-letter, with the reason and a detail for the operator."""

    reason: Reason
    detail: str


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(message)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def classify(  # noqa: PLR0911 - a decision table: one exit per refusal reason
    topic: str, payload: bytes, received_at: datetime, limits: Limits, root: str
) -> Accepted | Rejected:
    """Decide what one message is. Never raises for any input."""
    if len(payload) > limits.max_payload_bytes:
        return Rejected(
            Reason.OVERSIZED, f"{len(payload)} bytes > limit {limits.max_payload_bytes}"
        )
    try:
        parsed_topic = _parse_topic(topic, root)
    except TopicError as exc:
        return Rejected(Reason.BAD_TOPIC, str(exc))
    model = MODEL_BY_KIND[parsed_topic.kind]
    # Fast path: pydantic parses and validates the JSON in one pass (several times cheaper than
    # json.loads + model_validate). It accepts only what the slow path below accepts (a
    # missing ``kind`` defaults to the topic's, another one fails the model's literal); anything
    # it refuses goes through the slow path, which finds the exact reason.
    try:
        fast = model.model_validate_json(payload)
    except (ValueError, TypeError, OverflowError, RecursionError):
        fast = None
    if fast is not None:
        assert isinstance(fast, StatusMessage | StateMessage | HeartbeatMessage | SessionMessage)
        return _check_accepted(fast, parsed_topic, received_at, limits)
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
        return Rejected(Reason.MALFORMED_JSON, str(exc)[:200])
    if not isinstance(raw, dict):
        return Rejected(Reason.MALFORMED_JSON, f"top level is {type(raw).__name__}, not an object")
    kind = raw.get("kind", parsed_topic.kind.value)
    if kind != parsed_topic.kind.value:
        return Rejected(
            Reason.KIND_MISMATCH, f"payload kind {kind!r} on a {parsed_topic.kind.value} topic"
        )
    try:
        message = model.model_validate(raw)
    except ValidationError as exc:
        return Rejected(Reason.INVALID, _first_error(exc))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        return Rejected(Reason.INVALID, str(exc)[:200])
    assert isinstance(message, StatusMessage | StateMessage | HeartbeatMessage | SessionMessage)
    return _check_accepted(message, parsed_topic, received_at, limits)


_TIMED = (StateMessage, HeartbeatMessage)  # messages with a ``since`` as well as a ``ts``


@lru_cache(maxsize=100_000)
def _parse_topic(topic: str, root: str) -> Topic:
    """Topics repeat (a few per instrument): parse each once. Errors are not cached."""
    return parse_topic(topic, root)


def _check_accepted(
    message: Message, parsed_topic: Topic, received_at: datetime, limits: Limits
) -> Accepted | Rejected:
    """The checks after schema validation: topic agreement, time bounds, the registry."""
    # DESIGN.md "Security": a payload naming another instrument than its topic is refused.
    if message.instrument != parsed_topic.instrument:
        return Rejected(
            Reason.INSTRUMENT_MISMATCH,
            f"payload instrument {message.instrument!r} on topic of {parsed_topic.instrument!r}",
        )
    if message.site != parsed_topic.site:
        return Rejected(
            Reason.SITE_MISMATCH, f"payload site {message.site!r} on topic of {parsed_topic.site!r}"
        )
    refused = _check_times(message, received_at, limits)
    if refused is not None:
        return refused
    if limits.known_instruments is not None and message.instrument not in limits.known_instruments:
        return Rejected(
            Reason.UNKNOWN_INSTRUMENT, f"{message.instrument!r} is not in the closed registry"
        )
    return Accepted(message=message, received_at=received_at)


def _check_times(message: Message, received_at: datetime, limits: Limits) -> Rejected | None:
    """Every time a message names within the collector's bounds (None: all are)."""
    times = (message.ts, message.since) if isinstance(message, _TIMED) else (message.ts,)
    if isinstance(message, StateMessage) and message.until is not None:
        times = (*times, message.until)
    latest = received_at + limits.future
    earliest = received_at - limits.age
    # A boot may have begun long ago, never in the future: a boot dated ahead would rank above
    # every later boot (DESIGN.md: a later boot is later knowledge).
    if message.boot_at is not None and message.boot_at > latest:
        return Rejected(
            Reason.FUTURE_TS,
            f"boot_at {message.boot_at.isoformat()} is after receive time "
            f"{received_at.isoformat()}",
        )
    for value in times:
        if value > latest:
            return Rejected(
                Reason.FUTURE_TS,
                f"{value.isoformat()} is after receive time {received_at.isoformat()}",
            )
        if value < earliest:
            return Rejected(
                Reason.PAST_TS,
                f"{value.isoformat()} is older than {limits.max_age_s / 86400:g} days",
            )
    return None
