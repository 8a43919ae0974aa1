"""Initial schema: workflows and their versions and tags, executions and node runs, and the
tables of webhooks, schedules, fired slots, waits and static data.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# the migration spells its types out so later model changes cannot alter it
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=True),
        sa.Column("workflow_name", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("last_node", sa.String(length=255), nullable=True),
        sa.Column("retry_of", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
    )
    op.create_index(op.f("ix_executions_started_at_id"), "executions", ["started_at", "id"])
    op.create_index(op.f("ix_executions_status_started_at"), "executions", ["status", "started_at"])
    op.create_index(op.f("ix_executions_workflow_id_started_at"), "executions", ["workflow_id", "started_at"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    op.create_index(op.f("ix_workflows_updated_at_id"), "workflows", ["updated_at", "id"])
    op.create_table(
        "fired_slots",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("slot", TIMESTAMP, nullable=False),
        sa.Column("fired_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_fired_slots_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "node", "slot", name=op.f("pk_fired_slots")),
    )
    op.create_table(
        "node_runs",
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("run_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("items_in", JSON, nullable=False),
        sa.Column("items_out", JSON, nullable=False),
        sa.Column("output", JSON, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("logs", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_node_runs_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", "seq", name=op.f("pk_node_runs")),
    )
    op.create_table(
        "schedules",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("rule", JSON, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("next_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_schedules_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "node", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_next_at"), "schedules", ["next_at"])
    op.create_table(
        "static_data",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_static_data_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "node", name=op.f("pk_static_data")),
    )
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
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_webhooks_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("method", "path", name=op.f("uq_webhooks_method_path")),
    )
    op.create_index(op.f("ix_webhooks_workflow_id"), "webhooks", ["workflow_id"])
    op.create_table(
        "workflow_tags",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_workflow_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_tags_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "tag_id", name=op.f("pk_workflow_tags")),
    )
    op.create_table(
        "workflow_versions",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_versions_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint(
            "workflow_id", "version_id", name=op.f("uq_workflow_versions_workflow_id_version_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("workflow_versions")
    op.drop_table("workflow_tags")
    op.drop_index(op.f("ix_webhooks_workflow_id"), table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index(op.f("ix_waits_due_at"), table_name="waits")
    op.drop_table("waits")
    op.drop_table("static_data")
    op.drop_index(op.f("ix_schedules_next_at"), table_name="schedules")
    op.drop_table("schedules")
    op.drop_table("node_runs")
    op.drop_table("fired_slots")
    op.drop_index(op.f("ix_workflows_updated_at_id"), table_name="workflows")
    op.drop_table("workflows")
    op.drop_table("tags")
    op.drop_index(op.f("ix_executions_workflow_id_started_at"), table_name="executions")
    op.drop_index(op.f("ix_executions_status_started_at"), table_name="executions")
    op.drop_index(op.f("ix_executions_started_at_id"), table_name="executions")
    op.drop_table("executions")
