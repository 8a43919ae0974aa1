"""The tables. Migrations (sql/migrations) must produce exactly this schema: a test compares them.

Later issues use webhooks, schedules, fired_slots, waits and static_data; they are created by the
first migration so that it is complete.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from relayflow.store.sql.types import UTCDateTime, json_type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)
NAME = String(255)


def _workflow_fk(primary_key: bool = False) -> Column[str]:
    return Column(
        "workflow_id",
        ID,
        ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


workflows = Table(
    "workflows",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version_id", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("data", json_type(), nullable=False),
    Index(None, "updated_at", "id"),
)

workflow_versions = Table(
    "workflow_versions",
    metadata,
    # orders versions even when two saves share a timestamp
    Column("seq", Integer, primary_key=True, autoincrement=True),
    _workflow_fk(),
    Column("version_id", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("name", NAME, nullable=False),
    Column("data", json_type(), nullable=False),
    UniqueConstraint("workflow_id", "version_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
)

workflow_tags = Table(
    "workflow_tags",
    metadata,
    _workflow_fk(primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)

executions = Table(
    "executions",
    metadata,
    Column("id", ID, primary_key=True),
    # no foreign key: executions outlive their workflow, and file-based runs have none
    Column("workflow_id", ID, nullable=True),
    Column("workflow_name", NAME, nullable=False),
    Column("mode", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("error", json_type(nullable=True), nullable=True),
    Column("last_node", NAME, nullable=True),
    Column("retry_of", ID, nullable=True),
    Index(None, "started_at", "id"),
    Index(None, "workflow_id", "started_at"),
    Index(None, "status", "started_at"),
)

node_runs = Table(
    "node_runs",
    metadata,
    Column("execution_id", ID, ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("node", NAME, nullable=False),
    Column("run_index", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("items_in", json_type(), nullable=False),
    Column("items_out", json_type(), nullable=False),
    # NULL when the node's output is not saved
    Column("output", json_type(nullable=True), nullable=True),
    Column("error", json_type(nullable=True), nullable=True),
    Column("tries", Integer, nullable=False),
    Column("source", json_type(), nullable=False),
    Column("logs", json_type(), nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("method", String(16), nullable=False),
    Column("path", String(512), nullable=False),
    _workflow_fk(),
    Column("node", NAME, nullable=False),
    UniqueConstraint("method", "path"),
    Index(None, "workflow_id"),
)

schedules = Table(
    "schedules",
    metadata,
    _workflow_fk(primary_key=True),
    Column("node", NAME, primary_key=True),
    Column("rule", json_type(), nullable=False),
    Column("timezone", String(64), nullable=True),
    Column("next_at", UTCDateTime, nullable=True, index=True),
)

fired_slots = Table(
    "fired_slots",
    metadata,
    # the primary key is the rule: a slot fires at most once, whatever the number of schedulers
    _workflow_fk(primary_key=True),
    Column("node", NAME, primary_key=True),
    Column("slot", UTCDateTime, primary_key=True),
    Column("fired_at", UTCDateTime, nullable=False),
)

# one row per parked (waiting) execution; deleting the row is what claims the resume
waits = Table(
    "waits",
    metadata,
    Column("execution_id", ID, ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True),
    Column("workflow_id", ID, nullable=True),
    # the workflow version it started on (it resumes on it)
    Column("version_id", String(32), nullable=True),
    # the earliest time a timer resumes it; NULL: only a call to its resume URL does
    Column("due_at", UTCDateTime, nullable=True, index=True),
    Column("webhook", Boolean, nullable=False),
    # the parked nodes: [{"node", "runIndex", "until", "webhook"}]
    Column("nodes", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

static_data = Table(
    "static_data",
    metadata,
    _workflow_fk(primary_key=True),
    # "" holds the workflow's global static data, a node name that node's
    Column("node", NAME, primary_key=True),
    Column("data", json_type(), nullable=False),
)

# --- access (relayflow/access/sql.py): users, projects, ownership, credentials, keys, audit ---

# the one instance owner: a partial unique index (both databases have them), so of two racing
# creates of an owner one fails
_ONE_OWNER = text("role = 'owner'")


def _owning_project() -> Column[str]:
    # no ON DELETE: a project that still owns something cannot be deleted
    return Column("project_id", ID, ForeignKey("projects.id"), nullable=False)


users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    # stored lower-cased, so the unique constraint compares e-mails case-insensitively
    Column("email", String(320), nullable=False, unique=True),
    Column("name", NAME, nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False),
    # no foreign key: the project refers back to the user (and goes with it)
    Column("personal_project_id", ID, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("uq_users_owner", "role", unique=True, sqlite_where=_ONE_OWNER, postgresql_where=_ONE_OWNER),
)

projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # the user a personal project belongs to: deleting the user deletes it
    Column("owner_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Index(None, "user_id"),
)

# the owning project of each workflow; no foreign key to workflows, so that the access store
# works on its own (the API forgets a deleted workflow's rows)
object_owners = Table(
    "object_owners",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("object_id", String(64), primary_key=True),
    _owning_project(),
    Index(None, "project_id"),
)

object_shares = Table(
    "object_shares",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("object_id", String(64), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "project_id"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", NAME, nullable=False),
    Column("type", String(128), nullable=False),
    _owning_project(),
    # the fields as JSON, sealed (relayflow/security/secrets.py)
    Column("sealed", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "project_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", NAME, nullable=False),
    # SHA-256 of the secret part, hex
    Column("secret_hash", String(128), nullable=False),
    Column("scopes", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    # the current refresh token's hash: a refresh swaps it only if it is still the one presented
    Column("refresh_hash", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# append-only; no foreign key to users: the log outlives them
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("actor_id", ID, nullable=True, index=True),
    Column("actor", String(320), nullable=False),
    Column("target_kind", String(32), nullable=True),
    Column("target_id", String(255), nullable=True, index=True),
    Column("ip", String(64), nullable=True),
    Column("detail", json_type(), nullable=False),
)

# --- distributed mode (relayflow/cluster): execution leases and the transactional outbox ---

# one row per execution ever leased, kept after release so its fencing token only grows; no
# foreign key: a lease may be taken before the execution row is visible to its worker
execution_leases = Table(
    "execution_leases",
    metadata,
    Column("execution_id", ID, primary_key=True),
    # NULL: free (released or swept)
    Column("holder", NAME, nullable=True),
    Column("token", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    # how many holders died (their lease expired) so far
    Column("crashes", Integer, nullable=False),
    # the token a sweeper took back last
    Column("swept_token", BigInteger, nullable=True),
)

_UNSENT = text("sent_at IS NULL")

# written in the transaction of the execution row it announces; the relay publishes, then marks
outbox = Table(
    "outbox",
    metadata,
    # 64 bits on PostgreSQL (a busy instance passes 2**31 rows); SQLite's rowid is 64 bits anyway
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("execution_id", ID, nullable=False),
    Column("job", json_type(), nullable=False),
    Column("shard", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    # the relay's scan: only the unsent rows, in id order
    Index("ix_outbox_unsent", "id", sqlite_where=_UNSENT, postgresql_where=_UNSENT),
)

# --- webhook idempotency (api/webhooks.py): the execution an ``Idempotency-Key`` started ---

webhook_idempotency = Table(
    "webhook_idempotency",
    metadata,
    _workflow_fk(primary_key=True),
    Column("key", NAME, primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("execution_id", ID, nullable=False),
    # the pruner's pass drops the keys older than RELAYFLOW_IDEMPOTENCY_TTL_HOURS
    Column("created_at", UTCDateTime, nullable=False, index=True),
)
