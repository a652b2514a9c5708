"""Long requests bounded: a time budget, and a stop when the client leaves (issue 17, 4).

An 11-year monthly usage query over 10,000 instruments ran for minutes and went on computing
after its client had gone. The routes that can run long (usage, reports) therefore run their
work through :func:`run_bounded`: in the thread pool, never on the event loop, with a ``check``
that the work calls between pieces (``usage_grouped(check=...)``; a report's progress hook, once
per instrument). ``check`` raises :class:`Abandoned` once ``api.max_request_s`` is spent or the
client has disconnected, so the work unwinds (closing its database connection) instead of
computing an answer nobody will read. Meanwhile the event loop only polls
``request.is_disconnected()``; other requests, health included, are answered as usual.

The budget is checked between pieces of work, not preempted: a request stops at most one piece
(one instrument's figures) after its budget or its client's departure. An over-budget request
answers 503 with what to ask instead; each stop is counted in
``jishi_api_requests_abandoned_total`` and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import HTTPException, Request

log = logging.getLogger(__name__)

Check = Callable[[], None]
Why = Literal["over_budget", "client_left"]
WHYS: tuple[Why, ...] = ("over_budget", "client_left")
T = TypeVar("T")
# How often the event loop asks whether the client is still there (a cheap, non-blocking look
# at the ASGI receive channel).
DISCONNECT_POLL_S = 0.1


class Abandoned(Exception):  # noqa: N818 - what happened to the work, not a mistake
    """Raised by ``check`` inside the work: its budget is spent or its client left."""

    def __init__(self, why: Why) -> None:
        super().__init__(why)
        self.why: Why = why


class WorkBudget:
    """One request's ``check``: raises once its deadline passes or its client has left."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + budget_s
        self.client_left = threading.Event()  # set by the event loop, read by the work's thread

    def check(self) -> None:
        if self.client_left.is_set():
            raise Abandoned("client_left")
        if self._clock() > self.deadline:
            raise Abandoned("over_budget")


class AbandonedRequests:
    """How many requests were stopped, by why (``/api/v1/metrics``)."""

    def __init__(self) -> None:
        self._counts = dict.fromkeys(WHYS, 0)
        self._lock = threading.Lock()

    def count(self, why: Why) -> None:
        with self._lock:
            self._counts[why] += 1

    def snapshot(self) -> dict[Why, int]:
        with self._lock:
            return dict(self._counts)

    def metrics_text(self) -> str:
        """Prometheus text of the counter, every reason present (0 before the first stop)."""
        lines = [
            "# HELP jishi_api_requests_abandoned_total API requests stopped before they were "
            "answered: over api.max_request_s, or the client left.",
            "# TYPE jishi_api_requests_abandoned_total counter",
        ]
        lines += [
            f'jishi_api_requests_abandoned_total{{reason="{why}"}} {n}'
            for why, n in self.snapshot().items()
        ]
        return "\n".join(lines) + "\n"


async def run_bounded(
    request: Request,
    work: Callable[[Check], T],
    *,
    budget_s: float,
    abandoned: AbandonedRequests,
    advice: str,
) -> T:
    """``work(check)`` in the thread pool, stopped by ``check`` when ``budget_s`` is spent
    (503, the detail says what to do: ``advice`` or raising the budget) or when the client
    disconnects. An exception of the work (an HTTPException) is raised as it is."""
    budget = WorkBudget(budget_s)
    results: list[T] = []
    errors: list[Exception] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_watch_client, request, budget)
        try:
            results.append(await anyio.to_thread.run_sync(work, budget.check))
        except Exception as exc:  # raised below, outside the task group (not as a group)
            errors.append(exc)
        finally:
            tasks.cancel_scope.cancel()
    if results:
        return results[0]
    error = errors[0]
    if not isinstance(error, Abandoned):
        raise error
    abandoned.count(error.why)
    where = f"{request.method} {request.url.path}"
    if error.why == "client_left":
        log.info("%s stopped: the client disconnected", where)
        raise HTTPException(503, detail="the client disconnected; the work was stopped")
    log.warning("%s stopped after its budget of %g s (api.max_request_s)", where, budget_s)
    raise HTTPException(
        503,
        detail=(
            f"this request ran over its time budget of {budget_s:g} s (api.max_request_s) "
            f"and was stopped: {advice}, or ask the collector's operator to raise "
            "api.max_request_s in collector.toml"
        ),
    )


async def _watch_client(request: Request, budget: WorkBudget) -> None:
    # Polled: Starlette offers no event for a disconnect, only this look that never blocks.
    while not await request.is_disconnected():  # noqa: ASYNC110
        await anyio.sleep(DISCONNECT_POLL_S)
    budget.client_left.set()
