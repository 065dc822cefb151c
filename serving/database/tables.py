"""The service's tables, declared once with SQLAlchemy Core.

Core rather than the ORM: every caller writes and reads plain rows (a dict per prediction, one
statement per session check), and Core's `insert(...)` with a list of dicts is one executemany,
which is what group commit needs. There is no object graph to map, so the ORM's unit of work and
identity map would only add cost.

Migrations (`serving/database/migrations/versions/`) create these tables; `tests/database` checks
that the migrated schema equals this metadata on SQLite and PostgreSQL, so the two cannot drift apart.

Every timestamp the service stamps (`served_at`, session times, attempts) is a `UtcDateTime`: stored
as UTC without a zone (SQLite has no zone type, so both backends store the same thing) and given back
as an aware UTC datetime. `as_of` and `assigned_at` are business times of the raw-data contract,
naive like every timestamp in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from domain.vocabulary import ASSIGNMENTS


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime in, stored as naive UTC, an aware UTC datetime out; naive input is refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"UtcDateTime needs an aware datetime, got the naive {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_now() -> datetime:
    """The default clock of every store: now, aware, in UTC."""
    return datetime.now(UTC)


# Names of constraints and indexes follow one convention, so that migrations can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# An autoincrementing 64-bit key: BIGSERIAL-like on PostgreSQL, the rowid on SQLite (which only
# aliases the rowid for a column declared INTEGER).
_RowId: Any = BigInteger().with_variant(Integer(), "sqlite")
_Document: Any = JSON().with_variant(JSONB(), "postgresql")
_ASSIGNMENT_VALUES = ", ".join(f"'{value}'" for value in ASSIGNMENTS)


def _probability(name: str) -> CheckConstraint:
    return CheckConstraint(f"{name} >= 0 AND {name} <= 1", name=f"{name}_is_probability")


predictions = Table(
    "predictions",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=True, comment="X-Request-ID of the request served"),
    Column("customer_id", Text, nullable=False),
    Column("as_of", DateTime, nullable=False, comment="Cutoff of the prediction (naive, data contract)"),
    Column(
        "model_pair",
        _Document,
        nullable=False,
        comment='Models that answered: {"churn": {"version", "run_id"}, "value": {...}}',
    ),
    Column("population", String(32), nullable=False),
    Column("churn_probability", Float, nullable=True),
    Column("reactivation_probability", Float, nullable=True),
    Column("conversion_probability", Float, nullable=True),
    Column("predicted_value", Float, nullable=False),
    Column("value_at_risk", Float, nullable=True),
    Column("tier", String(8), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("action_id", String(128), nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("assignment", String(16), nullable=True),
    Column("served_at", UtcDateTime, nullable=False),
    _probability("churn_probability"),
    _probability("reactivation_probability"),
    _probability("conversion_probability"),
    CheckConstraint(f"assignment IN ({_ASSIGNMENT_VALUES})", name="assignment_is_known"),
    Index(None, "customer_id", "served_at"),
    Index(None, "served_at"),
    Index(None, "request_id"),
    comment="One row per served prediction, committed before the response is sent.",
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True, comment="SHA-256 hex of the cookie's token"),
    Column("key_digest", String(64), nullable=False, comment="SHA-256 hex of the API key that signed in"),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "key_digest"),
    Index(None, "expires_at"),
    comment="Server-side web sessions; the token itself is never stored.",
)

sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("client_address", String(64), nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Index(None, "client_address", "attempted_at"),
    Index(None, "attempted_at"),
    comment="Sign-ins in progress or failed within the throttle's window, per client address.",
)

actions = Table(
    "actions",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("customer_id", Text, nullable=False),
    Column("action_id", String(128), nullable=False),
    Column("assigned_at", DateTime, nullable=False),
    Column("assignment", String(16), nullable=False, comment="treatment (given the action) or control"),
    Column("rule_id", String(128), nullable=True),
    Column("taken_at", DateTime, nullable=True),
    Column("channel", String(64), nullable=True),
    Column("owner", String(128), nullable=True),
    Column("cost", Float, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("source", String(64), nullable=False, comment="Where the record came from, e.g. crm-import"),
    Column("tier", String(8), nullable=True, comment="The customer's tier when the action was assigned"),
    Column("lifecycle_stage", String(32), nullable=True, comment="The stage when the action was assigned"),
    Column("request_id", String(64), nullable=True, comment="X-Request-ID of the POST /v1/actions"),
    CheckConstraint(f"assignment IN ({_ASSIGNMENT_VALUES})", name="assignment_is_known"),
    CheckConstraint("cost IS NULL OR cost >= 0", name="cost_is_not_negative"),
    Index(None, "customer_id", "assigned_at"),
    Index(None, "action_id", "assigned_at"),
    Index(None, "customer_id", "action_id", "assigned_at", unique=True),
    comment="Retention actions assigned and taken, for measuring their effect (issue 14).",
)

service_state = Table(
    "service_state",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    comment="Small values every worker must agree on, e.g. a secret generated once.",
)
