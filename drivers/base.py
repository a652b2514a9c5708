"""The driver contract: a driver turns one source's raw signals into readings.

A driver is constructed from its config section by a factory registered in
:mod:`jishi.drivers.registry`, then polled by the agent with the current time. It never raises
for a failed read: the failure becomes a :class:`Reading` with ``error`` set (STYLE.md 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from jishi.errors import JishiError

Value = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class StateEvent:
    """An explicit state transition a source observed (a log line, a marker file).

    ``state`` is one of the wire states (``off``, ``idle``, ``running``, ``fault``,
    ``maintenance``); ``ts`` is when it happened at the instrument, which may be in the past (a
    record read late) or, for a record that announces it, in the future (a post-run wash).
    ``until`` closes the interval when the record carries both ends (an FCS file's
    ``$BTIM``/``$ETIM``, a TopSpin audit entry). ``record`` is true for records written by the
    instrument or its software (log lines, marker and run files), which hold until the source's
    next event however late they are read; false for a live report (a serial status frame).
    ``source`` names the driver that saw it.
    """

    ts: datetime
    state: str
    reason: str = ""
    until: datetime | None = None
    record: bool = False
    source: str | None = None


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A user session start or end seen by a source (an OS login, a log record naming the user,
    a sign-in at the agent or a card reader).

    ``user_type`` (``internal``, ``external``, ``staff``) when the source knows it; ``reason``
    says why a session ended when it was not the user (``forgot_sign_out``, ``replaced``,
    ``logged_out``); ``outcome`` (``normal`` / ``fault``, 正常 / 故障) and ``sample_count`` are
    the feedback a user gives at sign-out.
    """

    ts: datetime
    event: str  # "start" | "end"
    session_id: str
    user: str | None = None
    org: str | None = None
    user_type: str | None = None
    reason: str | None = None
    outcome: str | None = None
    sample_count: int | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What one poll of one source saw.

    ``values`` are named numeric or text readings (``power_w``, ``status_word``), ``raw`` the
    bytes or text they came from (kept so a wrong rule can be seen and re-run), ``events`` any
    explicit state transitions, ``sessions`` user sessions seen, and ``error`` a description
    when the read failed.
    """

    ts: datetime
    values: Mapping[str, Value] = field(default_factory=dict)
    raw: str | None = None
    events: Sequence[StateEvent] = ()
    sessions: Sequence[SessionEvent] = ()
    error: str | None = None
    # False for sources that say who used the instrument, not what it does (sign-in points,
    # login lists): their good reads must not keep vouching for a state nobody observes.
    vouches: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Driver(Protocol):
    """One source of readings. ``poll`` must not raise for I/O failures; it returns an error
    reading instead. ``close`` releases ports, files and sockets."""

    name: str

    def poll(self, now: datetime) -> Sequence[Reading]: ...

    def close(self) -> None: ...


@runtime_checkable
class Committable(Protocol):
    """A driver that keeps a position (log offsets). The agent calls ``commit`` once what the
    last poll returned is durable in its outbox; only then may the position be saved, so a
    crash in between re-reads rather than skips."""

    def commit(self) -> None: ...


class DriverError(JishiError):
    """Base of driver errors (bad configuration). Read failures are data, not exceptions."""


class DriverConfigError(DriverError):
    """A driver's config section is invalid; the message names the key and the problem."""
