"""What a batch for the ledger writer is made of, and what writing it gave.

Pure data: the ingest pipeline builds these from MQTT messages (``jishi.collector.ingest``), the
ledger writer stores them, the sink mirror reads the outcome.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from jishi.agent.wire import Message, MessageKind, build_topic, encode

if TYPE_CHECKING:
    from jishi.collector.ledger.instruments import InstrumentRecord


class Reason(StrEnum):
    """Why a message was dead-lettered (also the ``reason`` label of the metric)."""

    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    INVALID = "invalid"
    INSTRUMENT_MISMATCH = "instrument_mismatch"
    SITE_MISMATCH = "site_mismatch"
    KIND_MISMATCH = "kind_mismatch"
    FUTURE_TS = "future_ts"
    PAST_TS = "past_ts"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    # A schema 2 boot id already used by another instrument (each has its own).
    BOOT_MISMATCH = "boot_mismatch"
    # An instrument id that belongs to another site (ids are unique per collector).
    FOREIGN_SITE = "foreign_site"
    # Open registry: more new instruments than ingest.max_new_instruments_per_hour or
    # ingest.max_unregistered_instruments allow.
    REGISTRY_LIMIT = "registry_limit"
    # Valid by the schema but refused by the database (a value too large for a column).
    STORE_ERROR = "store_error"


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class DeadLetter:
    """A refused message, kept with the reason in ``dead_letters``."""

    received_at: float
    topic: str
    reason: Reason
    detail: str
    payload: bytes
    # Delivered as retained: the broker sends it again at every subscription, so it is kept
    # once per (topic, payload), not once per delivery (issue 17, 6).
    retained: bool = False

    def fingerprint(self) -> str | None:
        """The key retained dead letters are kept once by (None: not retained)."""
        if not self.retained:
            return None
        digest = hashlib.sha256(self.topic.encode("utf-8", "replace"))
        digest.update(b"\0")
        digest.update(self.payload)
        return digest.hexdigest()


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class Incoming:
    """An accepted wire message and when the collector received it."""

    message: Message
    received_at: float


def refuse(item: Incoming, reason: Reason, detail: str, topic_root: str) -> DeadLetter:
    """An accepted message that the ledger refuses after all, as a dead letter (its topic and
    payload rebuilt from the message)."""
    message = item.message
    topic = build_topic(message.site, message.instrument, MessageKind(message.kind), topic_root)
    return DeadLetter(item.received_at, topic, reason, detail, encode(message))


@dataclass
class BatchOutcome:
    """What storing a batch gave: counts, the stored messages, rows and stretches to mirror."""

    stored: int = 0
    duplicates: int = 0
    dead: Counter[str] = field(default_factory=Counter)
    # Stored messages in batch order and their instruments' rows after the batch (sink mirror).
    fresh: list[Incoming] = field(default_factory=list)
    rows: dict[str, InstrumentRecord] = field(default_factory=dict)
    # Stretches of the past the batch changed (late records, wills): the sink rewrites them.
    rewrites: list[tuple[str, float, float]] = field(default_factory=list)
