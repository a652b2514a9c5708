"""Who may call what, and what the routes get: the request context and bearer-token roles.

Tokens are checked on every request against the hashed token store (``tokens``); a route
declares the role it needs with ``Reader``, ``Writer`` or ``Admin``. Nothing here reads the
environment: the context is built by the service and injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, HTTPException, Request

from jishi.collector.api.bounded import AbandonedRequests, Check, run_bounded
from jishi.collector.api.tokens import TokenStore, allows
from jishi.collector.config import CollectorConfig
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ledger.db import Engines

T = TypeVar("T")


class SinkView(Protocol):
    """What the API shows of the InfluxDB sink (``jishi.collector.sink.InfluxSink``)."""

    def status(self) -> dict[str, Any]: ...

    def metrics_text(self) -> str: ...


class FeedsView(Protocol):
    """The calendar feeds' last pulls (``jishi.collector.ingest.booking_feeds.FeedPuller``)."""

    def status(self) -> list[dict[str, Any]]: ...


@dataclass
class ApiContext:
    """Everything the routes need, injected (no globals, no environment reads)."""

    config: CollectorConfig
    engines: Engines
    tokens: TokenStore
    metrics: IngestMetrics
    clock: Callable[[], float] = time.time
    # Extra health checks by name (e.g. the InfluxDB sink): True when healthy.
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    # The InfluxDB mirror, when [influx] is configured: ``sink`` in health, jishi_sink_* metrics.
    sink: SinkView | None = None
    # The booking calendar feeds, when [[bookings]] are configured: ``booking_feeds`` in health.
    feeds: FeedsView | None = None
    # Requests stopped over their time budget or because their client left (api/bounded.py).
    abandoned: AbandonedRequests = field(default_factory=AbandonedRequests)

    async def bounded(self, request: Request, work: Callable[[Check], T], advice: str) -> T:
        """``work(check)`` in the thread pool within ``api.max_request_s``, stopped when the
        client leaves; ``advice`` says what to ask instead when over budget (api/bounded.py)."""
        budget_s = self.config.api.max_request_s
        return await run_bounded(
            request, work, budget_s=budget_s, abandoned=self.abandoned, advice=advice
        )


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(role: str) -> Callable[[Request], str]:
    """A dependency: the request must carry a bearer token whose role allows ``role``."""

    def check(request: Request) -> str:
        ctx: ApiContext = request.app.state.ctx
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        return token_role(ctx, token.strip(), role)

    return check


def token_role(ctx: ApiContext, token: str, role: str) -> str:
    """The role of ``token`` if it allows ``role``: else 401 (unknown or revoked) or 403.

    The one check behind the bearer header and the web console's sign-in cookie."""
    held = ctx.tokens.role_of(token)
    if held is None:
        raise _unauthorized("unknown or revoked token")
    if not allows(held, role):
        raise HTTPException(403, detail=f"this route needs the {role!r} role; token has {held!r}")
    return held


Reader = Annotated[str, Depends(require("read"))]


def ctx_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(ctx_of)]
Writer = Annotated[str, Depends(require("write"))]
Admin = Annotated[str, Depends(require("admin"))]
