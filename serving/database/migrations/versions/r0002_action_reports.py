"""Actions reported by POST /v1/actions: the segment at assignment, the request, one row per assignment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

`tier` and `lifecycle_stage` are the actions file's optional columns (what the prediction said when the
action was assigned), which `clvchurn evaluate actions` breaks its figures down by; `request_id` ties a
row to the request that reported it. The unique index on (customer_id, action_id, assigned_at) makes a
report idempotent: the CRM may report the same assignment again (retried, or later with `taken_at`),
and the row is updated instead of counted twice, as the actions file rejects a repeated assignment.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNIQUE_INDEX = "ix_actions_customer_id_action_id_assigned_at"


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(
            sa.Column(
                "tier",
                sa.String(8),
                nullable=True,
                comment="The customer's tier when the action was assigned",
            )
        )
        batch.add_column(
            sa.Column(
                "lifecycle_stage",
                sa.String(32),
                nullable=True,
                comment="The stage when the action was assigned",
            )
        )
        batch.add_column(
            sa.Column(
                "request_id", sa.String(64), nullable=True, comment="X-Request-ID of the POST /v1/actions"
            )
        )
    op.create_index(UNIQUE_INDEX, "actions", ["customer_id", "action_id", "assigned_at"], unique=True)


def downgrade() -> None:
    op.drop_index(UNIQUE_INDEX, table_name="actions")
    with op.batch_alter_table("actions") as batch:
        for column in ("request_id", "lifecycle_stage", "tier"):
            batch.drop_column(column)
