"""Distributed mode: execution leases (one holder per execution, fencing tokens) and the
transactional outbox of jobs to publish.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# the migration spells its types out so later model changes cannot alter it
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNSENT = sa.text("sent_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "execution_leases",
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("crashes", sa.Integer(), nullable=False),
        sa.Column("swept_token", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_execution_leases")),
    )
    op.create_index(op.f("ix_execution_leases_expires_at"), "execution_leases", ["expires_at"])
    op.create_table(
        "outbox",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("job", JSON, nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["id"], sqlite_where=UNSENT, postgresql_where=UNSENT)


def downgrade() -> None:
    # dropping a table drops its indexes with it
    op.drop_table("outbox")
    op.drop_table("execution_leases")
