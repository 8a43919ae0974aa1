"""Durable waits: the waits table holds each parked execution's timer, whether its resume URL
is open, and its parked nodes (the first schema's waits table was never used).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.drop_index(op.f("ix_waits_due_at"), table_name="waits")
    op.drop_table("waits")
    op.create_table(
        "waits",
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=True),
        sa.Column("version_id", sa.String(length=32), nullable=True),
        sa.Column("due_at", TIMESTAMP, nullable=True),
        sa.Column("webhook", sa.Boolean(), nullable=False),
        sa.Column("nodes", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_waits_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_waits")),
    )
    op.create_index(op.f("ix_waits_due_at"), "waits", ["due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_waits_due_at"), table_name="waits")
    op.drop_table("waits")
    op.create_table(
        "waits",
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=True),
        sa.Column("resume_token", sa.String(length=64), nullable=True),
        sa.Column("node", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_waits_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_waits")),
        sa.UniqueConstraint("resume_token", name=op.f("uq_waits_resume_token")),
    )
    op.create_index(op.f("ix_waits_due_at"), "waits", ["due_at"])
