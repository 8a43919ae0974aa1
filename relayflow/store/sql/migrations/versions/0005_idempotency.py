"""Webhook idempotency keys: the execution a production webhook's ``Idempotency-Key`` started.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# the migration spells its types out so later model changes cannot alter it
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_idempotency",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_webhook_idempotency_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "key", name=op.f("pk_webhook_idempotency")),
    )
    op.create_index(op.f("ix_webhook_idempotency_created_at"), "webhook_idempotency", ["created_at"])


def downgrade() -> None:
    op.drop_table("webhook_idempotency")
