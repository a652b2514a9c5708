"""The agent's messages against the collector's models: what one writes, the other reads.

The agent builds messages as dataclasses (:mod:`jishi.agent.messages`, no pydantic); the
collector parses them with the pydantic models of :mod:`jishi.agent.wire`. These helpers say
whether the two agree on one message."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from jishi.agent import messages, wire


def plain_values(message: messages.Message) -> dict[str, Any]:
    """The dataclass's fields as the models would hold them (``kind`` included; a non-finite
    number is ``None``, as pydantic writes it; times to the millisecond, as the wire has them)."""
    return _finite(dataclasses.asdict(message) | {"kind": message.kind.value})


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):  # the wire keeps milliseconds
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def model_values(value: Any) -> Any:
    """A model's fields by name, nested models too (``model_dump`` would write times as text)."""
    if isinstance(value, BaseModel):
        return {name: model_values(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {key: model_values(item) for key, item in value.items()}
    return value


def read_back(message: messages.Message) -> wire.Message:
    """The agent's message as the collector reads it; fails unless the model holds the same
    values and writes the same JSON back: the same keys in the same order and equal values
    (the text of a number may differ: pydantic writes 2.5e-05 as 0.000025)."""
    payload = messages.encode(message)
    model = wire.decode(message.kind, payload)
    assert wire.decode_any(payload) == model
    assert model_values(model) == plain_values(message), payload
    again = json.loads(wire.encode(model))
    assert again == json.loads(payload)
    assert list(again) == list(json.loads(payload))
    return model
