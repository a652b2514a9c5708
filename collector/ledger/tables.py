"""The ledger's tables (SQLAlchemy 2 Core). Alembic migrations in ``migrations/`` create them.

Times are stored as UTC epoch seconds in double precision: identical on SQLite and PostgreSQL,
cheap to compare and index, and exact to the microsecond for centuries.

What the agents said is kept as evidence (:mod:`jishi.collector.usage.evidence`): ``claims`` (a run
of consecutive same-state messages of one boot is one row) and ``wills``. ``spans`` are the
timeline those resolve to (its known pieces: sorted, disjoint, ``unknown`` is where no span
is), kept up to date by the writer so reads never resolve evidence themselves.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from jishi.collector.ledger.migrations.columns import ROLLUP_FIGURES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

EPOCH = Float(precision=53)

instruments = Table(
    "instruments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("name", String(200)),
    Column("unit", String(200)),
    Column("category", String(20), nullable=False, default="general"),
    Column("quota_h", EPOCH),
    Column("inner_id", String(100)),
    Column("stale_after_s", EPOCH),  # registry override
    Column("heartbeat_interval_s", EPOCH),  # from the birth message
    Column("announced_stale_after_s", EPOCH),  # from the birth message
    Column("registered", Boolean, nullable=False, default=False),
    Column("boot_id", String(64)),
    Column("online", Boolean),
    Column("online_changed_at", EPOCH),
    Column("state", String(20)),  # last state the agent reported (never "unknown")
    Column("state_since", EPOCH),
    Column("last_ts", EPOCH),  # when the agent knew the current state (newest on top)
    Column("last_seen", EPOCH),  # receive time of the newest message
    Column("created_at", EPOCH, nullable=False),
    # The highest-ranked evidence stored (evidence.Rank): a message ranked above it only paints
    # its claim over the spans; anything else makes the writer resolve the stretch again.
    Column("top_boot_key", EPOCH),
    Column("top_boot_id", String(64)),
    Column("top_phase", Integer),
    Column("top_seq", BigInteger),
    Column("top_claim_lo", BigInteger),  # seq_lo of the claims row holding top_seq (to extend)
    # How far the agent's clock is ahead of the collector's (seconds; estimated from live
    # messages, see jishi.collector.ledger.clocks).
    Column("clock_offset_s", EPOCH),
)

spans = Table(
    "spans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("state", String(20), nullable=False),
    Column("start", EPOCH, nullable=False),
    Column("end", EPOCH, nullable=False),
    Index("ix_spans_instrument_start", "instrument_id", "start"),
    Index("ix_spans_instrument_end", "instrument_id", "end"),
)

# One row per run of consecutive same-state claims of one boot (evidence.Claim).
claims = Table(
    "claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("boot_key", EPOCH, nullable=False),  # the boot's place in the order (first heard)
    Column("boot_id", String(64), nullable=False),
    Column("seq_lo", BigInteger, nullable=False),
    Column("seq_hi", BigInteger, nullable=False),
    Column("prev_seq", BigInteger),
    Column("linked", Boolean, nullable=False),
    Column("ts_lo", EPOCH, nullable=False),
    Column("ts_hi", EPOCH, nullable=False),
    Column("start", EPOCH, nullable=False),
    Column("end", EPOCH, nullable=False),
    Column("state", String(20), nullable=False),
    Column("closed", Boolean, nullable=False, default=False),
    Column("observations", Integer, nullable=False, default=1),
    Column("historical", Boolean, nullable=False, default=False),
    Index("ix_claims_instrument_end", "instrument_id", "end"),
    # A run is known by its first message: (instrument, boot, seq_lo) never changes.
    Index("ux_claims_run", "instrument_id", "boot_id", "seq_lo", unique=True),
)

# Last Wills and clean goodbyes (evidence.Will); ``withdrawn`` once the boot's chain of
# messages crossed the receive time (it only ever turns true).
wills = Table(
    "wills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("boot_key", EPOCH, nullable=False),
    Column("boot_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("received_at", EPOCH, nullable=False),
    Column("withdrawn", Boolean, nullable=False, default=False),
    Index("ix_wills_instrument_boot", "instrument_id", "boot_id"),
)

# Dedupe on (boot_id, seq): the seqs seen per boot as merged ranges "lo-hi,lo-hi" (one short
# row per agent start instead of one row per message).
boots = Table(
    "boots",
    metadata,
    Column("boot_id", String(64), primary_key=True),
    Column("ranges", Text, nullable=False, default=""),
    Column("first_seen", EPOCH, nullable=False),  # earliest receive time: orders the boots
    Column("last_seen", EPOCH, nullable=False),
    # When the boot began by the agent's clock (schema 2; NULL for schema 1): where the
    # instrument's previous boot ends. Boots are ordered by first_seen, the collector's clock.
    Column("boot_at", EPOCH),
    # The instrument a schema 2 boot speaks for (each instrument has its own boot id); a
    # message of another instrument with this boot id is refused.
    Column("instrument_id", String(64)),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    # (source, external_id) identifies a session across repeated imports and agent messages.
    Column("source", String(40), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("start_ts", EPOCH),
    Column("end_ts", EPOCH),
    Column("user", String(200)),
    Column("org", String(200)),
    Column("contact", String(200)),  # applicant phone or e-mail
    Column("user_type", String(20)),
    Column("service_way", String(100)),
    Column("direction", String(200)),
    Column("satisfaction", Float),
    Column("sample_count", Integer),
    # Why the session ended when not by the user (``forgot_sign_out``, ``replaced``,
    # ``logged_out``) and the sign-out feedback (``normal`` / ``fault``), from the agent (0009).
    Column("end_reason", String(64)),
    Column("outcome", String(10)),
    Column("created_at", EPOCH, nullable=False),
    UniqueConstraint("instrument_id", "source", "external_id", name="uq_sessions_key"),
    Index("ix_sessions_instrument_start", "instrument_id", "start_ts"),
    # Sessions near now by their ends (0010): queries.sessions_in(recent=True).
    Index("ix_sessions_instrument_end", "instrument_id", "end_ts"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", EPOCH, nullable=False),
    Column("topic", String(300), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # first ingest.dead_letter_max_bytes
    # sha256 of topic and whole payload, for retained messages only: kept once (0006).
    Column("fingerprint", String(64)),
    Index("ix_dead_letters_received", "received_at"),
    Index("ix_dead_letters_fingerprint", "fingerprint"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("created_at", EPOCH, nullable=False),
    Column("revoked_at", EPOCH),
)

# The usage figures a roll-up stores, in seconds: ``usage.engine.FIGURE_NAMES`` (a test keeps
# the two equal; the list is revision 0007's). Plain columns, so the database sums a fleet's
# years without parsing anything.
FIGURE_COLUMNS = ROLLUP_FIGURES


def _figure_columns() -> list[Column[float]]:
    return [Column(name, EPOCH, nullable=False, server_default="0") for name in FIGURE_COLUMNS]


daily_usage = Table(
    "daily_usage",
    metadata,
    Column("instrument_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD in the site time zone
    *_figure_columns(),
    Column("computed_at", EPOCH, nullable=False),
    Index("ix_daily_usage_day", "day"),
)

# A closed month's roll-up: the sum of its daily roll-ups from ``first_day`` (the month's first
# day, or the instrument's first observed day) to the month's end, written only when every one
# of those ``days`` has a daily roll-up. Valid while no day of the month is in ``dirty_days``.
monthly_usage = Table(
    "monthly_usage",
    metadata,
    Column("instrument_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM in the site time zone
    Column("first_day", String(10), nullable=False),
    Column("days", Integer, nullable=False),
    *_figure_columns(),
    Column("computed_at", EPOCH, nullable=False),
)

# The rules (a digest of the instrument's Policy) its roll-ups were computed under (0011):
# changed rules retire the roll-ups (ledger/rollup_rules.py).
rollup_rules = Table(
    "rollup_rules",
    metadata,
    Column("instrument_id", String(64), primary_key=True),
    Column("fingerprint", String(16), nullable=False),
    Column("since", EPOCH, nullable=False),
)

# Days whose roll-up must be recomputed because data touching them arrived after the last run.
dirty_days = Table(
    "dirty_days",
    metadata,
    Column("instrument_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("marked_at", EPOCH, nullable=False),
)

# Corrections of closed reporting periods and other manual changes (DESIGN.md audit trail).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", EPOCH, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("instrument_id", String(64)),
    Column("detail", Text, nullable=False),
)

# Manual corrections of a stretch of an instrument's timeline (issue 7: declared maintenance, a
# mis-set threshold). Reports apply active rows over the measured timeline and show raw and
# adjusted figures; rows are never deleted or edited, only revoked (the audit trail).
adjustments = Table(
    "adjustments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("start", EPOCH, nullable=False),
    Column("end", EPOCH, nullable=False),
    Column("state", String(20), nullable=False),  # the state the stretch is taken to be in
    Column("reason", Text, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", EPOCH, nullable=False),
    Column("revoked_at", EPOCH),
    Column("revoked_by", String(100)),
    Column("revoke_reason", Text),
    Index("ix_adjustments_instrument_start", "instrument_id", "start"),
)

# The user directory (issue 13, 0008): what a session's ``user`` (an account, a card number or
# an e-mail) stands for. Applied when figures are computed (ledger.directory), never copied
# into the sessions, so a corrected entry corrects past figures.
directory_users = Table(
    "directory_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(200), nullable=False),
    Column("card", String(100)),
    Column("email", String(200)),  # kept lower-cased: e-mail addresses match case-blind
    Column("person", String(200)),
    Column("org", String(200)),
    Column("unit", String(200)),
    Column("user_type", String(20), nullable=False),  # internal / external / staff
    Column("updated_at", EPOCH, nullable=False),
    UniqueConstraint("account", name="uq_directory_users_account"),
    Index("ix_directory_users_card", "card"),
    Index("ix_directory_users_email", "email"),
)

# Bookings from calendars and booking-system CSVs (issue 13, 0008), apart from sessions: a
# booking says who meant to use an instrument, a session who did. ``source`` is the feed
# (``ics:<name>``, ``csv``); ``external_id`` the event's UID with its occurrence.
bookings = Table(
    "bookings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False),
    Column("source", String(100), nullable=False),
    Column("external_id", String(300), nullable=False),
    Column("start_ts", EPOCH, nullable=False),
    Column("end_ts", EPOCH, nullable=False),
    Column("user", String(200)),
    Column("title", String(300)),
    Column("all_day", Boolean, nullable=False),
    Column("created_at", EPOCH, nullable=False),
    UniqueConstraint("instrument_id", "source", "external_id", name="uq_bookings_key"),
    Index("ix_bookings_instrument_start", "instrument_id", "start_ts"),
)
