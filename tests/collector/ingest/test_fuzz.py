"""Property-based fuzzing of ingest: any input is stored or dead-lettered with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from jishi.collector.ingest.intake import Accepted, Limits, Reason, Rejected, classify
from jishi.collector.ingest.pipeline import Received
from jishi.collector.ledger import tables
from jishi.collector.ledger.db import migrate, open_engines

from support import messages as h
from support.ledger import make_pipeline

NOW = 1_750_000_000.0
LIMITS = Limits(max_payload_bytes=4096, max_future_s=600, max_age_s=400 * 86400)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def hostile(  # noqa: PLR0911 - one exit per kind of damage
    draw: st.DrawFn,
) -> tuple[str, bytes, set[Reason] | None]:
    """A message broken in one way (or valid), with the reasons it may be refused for."""
    seq = draw(st.integers(0, 10_000))
    ts = NOW + draw(st.floats(-3600, 60))
    body: dict[str, Any] = json.loads(h.payload("hb", "nmr", seq, ts, state="idle", since=ts))
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "garbage",
                "oversized",
                "wrong_type",
                "future",
                "past",
                "mismatch",
                "junk_field",
                "not_object",
            ]
        )
    )
    if kind == "garbage":
        return h.topic("nmr", "hb"), draw(st.binary(max_size=200)), None
    if kind == "oversized":
        return h.topic("nmr", "hb"), b"{" + b" " * 5000 + b"}", {Reason.OVERSIZED}
    if kind == "wrong_type":
        key = draw(st.sampled_from(["seq", "ts", "state", "since", "boot_id", "instrument"]))
        body[key] = draw(json_values)
        return h.topic("nmr", "hb"), json.dumps(body).encode(), None
    if kind in ("future", "past"):
        if kind == "future":
            shift = draw(st.floats(3600, 1e10))
        else:
            shift = -draw(st.floats(LIMITS.max_age_s + 3600, 1e10))
        moment = datetime.fromtimestamp(min(max(NOW + shift, 0), 253402300799), UTC)
        body["ts"] = body["since"] = moment.isoformat()
        return (
            h.topic("nmr", "hb"),
            json.dumps(body).encode(),
            {Reason.FUTURE_TS if kind == "future" else Reason.PAST_TS},
        )
    if kind == "mismatch":
        return h.topic("other", "hb"), json.dumps(body).encode(), {Reason.INSTRUMENT_MISMATCH}
    if kind == "junk_field":
        body["x_" + draw(st.text(max_size=10))] = draw(json_values)
    if kind == "not_object":
        return (
            h.topic("nmr", "hb"),
            json.dumps(draw(st.lists(json_values, max_size=5))).encode(),
            {Reason.MALFORMED_JSON, Reason.OVERSIZED},
        )
    return h.topic("nmr", "hb"), json.dumps(body).encode(), set()


@settings(max_examples=150, deadline=None)
@given(hostile())
def test_classify_never_raises_and_names_a_reason(
    case: tuple[str, bytes, set[Reason] | None],
) -> None:
    topic, payload, expected = case
    result = classify(topic, payload, datetime.fromtimestamp(NOW, UTC), LIMITS, h.ROOT)
    if expected is None:
        assert isinstance(result, Accepted | Rejected)
    elif expected:
        assert isinstance(result, Rejected)
        assert result.reason in expected
    else:
        assert isinstance(result, Accepted)
    if isinstance(result, Rejected):
        assert result.reason in Reason
        assert result.detail


@pytest.fixture(scope="module")
def fuzz_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    engines = open_engines(f"sqlite:///{tmp / 'ledger.sqlite3'}")
    migrate(engines)
    yield make_pipeline(engines, tmp, NOW), engines
    engines.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(hostile(), min_size=1, max_size=30))
def test_ingest_keeps_running_and_dead_letters_every_refusal(
    fuzz_pipeline: Any, batch: list[tuple[str, bytes, set[Reason] | None]]
) -> None:
    pipeline, engines = fuzz_pipeline
    with engines.read.connect() as conn:
        dead_before = conn.execute(select(func.count()).select_from(tables.dead_letters)).scalar()
    outcome = pipeline.process([Received(t, p, NOW) for t, p, _ in batch])
    with engines.read.connect() as conn:
        dead_after = conn.execute(select(func.count()).select_from(tables.dead_letters)).scalar()
        reasons = set(conn.execute(select(tables.dead_letters.c.reason)).scalars())
    refused = sum(outcome.dead.values())
    assert outcome.stored + outcome.duplicates + refused == len(batch)
    assert dead_after - dead_before == refused
    assert reasons <= {r.value for r in Reason}
    # Ingest is still alive: a fresh valid message goes through afterwards.
    seq = 10**9 + pipeline.metrics.batches
    ok = pipeline.process([Received(*h.hb("nmr", seq, NOW, "idle"), NOW)])
    assert ok.stored == 1
