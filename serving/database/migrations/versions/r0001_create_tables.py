"""Create the prediction log, web sessions, sign-in attempts, actions and service state.

Revision ID: 0001
Revises:
Create Date: 2025-06-01

Written out in full rather than from `serving.database.tables`, so that later changes to the tables
cannot change what this revision did; the tests check the two agree. Constraint names are final
(`op.f`): the naming convention of the tables' metadata must not prefix them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ASSIGNMENTS = "'treatment', 'control'"


def _probability(name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{name} >= 0 AND {name} <= 1", name=op.f(f"ck_predictions_{name}_is_probability")
    )


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=True, comment="X-Request-ID of the request served"),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column(
            "as_of",
            sa.DateTime(),
            nullable=False,
            comment="Cutoff of the prediction (naive, data contract)",
        ),
        sa.Column(
            "model_pair",
            DOCUMENT,
            nullable=False,
            comment='Models that answered: {"churn": {"version", "run_id"}, "value": {...}}',
        ),
        sa.Column("population", sa.String(32), nullable=False),
        sa.Column("churn_probability", sa.Float(), nullable=True),
        sa.Column("reactivation_probability", sa.Float(), nullable=True),
        sa.Column("conversion_probability", sa.Float(), nullable=True),
        sa.Column("predicted_value", sa.Float(), nullable=False),
        sa.Column("value_at_risk", sa.Float(), nullable=True),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("action_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("assignment", sa.String(16), nullable=True),
        sa.Column("served_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        _probability("churn_probability"),
        _probability("reactivation_probability"),
        _probability("conversion_probability"),
        sa.CheckConstraint(f"assignment IN ({ASSIGNMENTS})", name=op.f("ck_predictions_assignment_is_known")),
        comment="One row per served prediction, committed before the response is sent.",
    )
    op.create_index("ix_predictions_customer_id_served_at", "predictions", ["customer_id", "served_at"])
    op.create_index("ix_predictions_served_at", "predictions", ["served_at"])
    op.create_index("ix_predictions_request_id", "predictions", ["request_id"])

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), nullable=False, comment="SHA-256 hex of the cookie's token"),
        sa.Column(
            "key_digest", sa.String(64), nullable=False, comment="SHA-256 hex of the API key that signed in"
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        comment="Server-side web sessions; the token itself is never stored.",
    )
    op.create_index("ix_sessions_key_digest", "sessions", ["key_digest"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])

    op.create_table(
        "sign_in_attempts",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sign_in_attempts"),
        comment="Sign-ins in progress or failed within the throttle's window, per client address.",
    )
    op.create_index(
        "ix_sign_in_attempts_client_address_attempted_at",
        "sign_in_attempts",
        ["client_address", "attempted_at"],
    )
    op.create_index("ix_sign_in_attempts_attempted_at", "sign_in_attempts", ["attempted_at"])

    op.create_table(
        "actions",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("action_id", sa.String(128), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column(
            "assignment", sa.String(16), nullable=False, comment="treatment (given the action) or control"
        ),
        sa.Column("rule_id", sa.String(128), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column(
            "source", sa.String(64), nullable=False, comment="Where the record came from, e.g. crm-import"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_actions"),
        sa.CheckConstraint(f"assignment IN ({ASSIGNMENTS})", name=op.f("ck_actions_assignment_is_known")),
        sa.CheckConstraint("cost IS NULL OR cost >= 0", name=op.f("ck_actions_cost_is_not_negative")),
        comment="Retention actions assigned and taken, for measuring their effect (issue 14).",
    )
    op.create_index("ix_actions_customer_id_assigned_at", "actions", ["customer_id", "assigned_at"])
    op.create_index("ix_actions_action_id_assigned_at", "actions", ["action_id", "assigned_at"])

    op.create_table(
        "service_state",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_service_state"),
        comment="Small values every worker must agree on, e.g. a secret generated once.",
    )


def downgrade() -> None:
    for table in ("service_state", "actions", "sign_in_attempts", "sessions", "predictions"):
        op.drop_table(table)
