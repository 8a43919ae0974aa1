"""What every store implementation shares: ids, cursors, the workflow JSON kept in sync with its
row, and query validation. Pure functions, no I/O."""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from relayflow.engine.run import ExecutionRecord
from relayflow.errors import InputInvalid
from relayflow.store.ports import ParkedExecution

WORKFLOW_ID_LENGTH = 16
MAX_PAGE_SIZE = 1000
MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 64
DEFAULT_WORKFLOW_NAME = "My workflow"
_ALPHABET = string.ascii_letters + string.digits


def new_workflow_id() -> str:
    """16 random alphanumerics, like n8n's workflow ids."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(WORKFLOW_ID_LENGTH))


def new_version_id() -> str:
    return uuid.uuid4().hex


def encode_cursor(at: datetime, id_: str) -> str:
    """An opaque position after the row sorted at (``at``, ``id_``), newest first."""
    raw = orjson.dumps([at.astimezone(UTC).isoformat(), id_])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, id_ = orjson.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is not None:
            when = when.astimezone(UTC)  # OverflowError at the ends of the calendar
    except (binascii.Error, ValueError, TypeError, OverflowError, orjson.JSONDecodeError) as exc:
        raise InputInvalid(f"invalid cursor {cursor!r}") from exc
    # PostgreSQL text holds no NUL character
    if not isinstance(id_, str) or "\x00" in id_ or when.tzinfo is None:
        raise InputInvalid(f"invalid cursor {cursor!r}")
    return when, id_


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InputInvalid(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}")
    return limit


def workflow_name(data: dict[str, Any]) -> str:
    name = data.get("name")
    if name is None or name == "":
        return DEFAULT_WORKFLOW_NAME
    if not isinstance(name, str):
        raise InputInvalid("the workflow name must be a string")
    if len(name) > MAX_NAME_LENGTH:
        raise InputInvalid(f"the workflow name is longer than {MAX_NAME_LENGTH} characters")
    if "\x00" in name:  # PostgreSQL text holds no NUL character
        raise InputInvalid("the workflow name holds a NUL character")
    return name


def synced_data(
    data: dict[str, Any], *, id_: str, name: str, active: bool, version_id: str
) -> dict[str, Any]:
    """A shallow copy of ``data`` whose ``id``, ``name``, ``active`` and ``versionId`` match the row."""
    if not isinstance(data, dict):
        raise InputInvalid("a workflow must be a JSON object")
    return {**data, "id": id_, "name": name, "active": active, "versionId": version_id}


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Stripped, unique and sorted; empty names are refused."""
    if isinstance(tags, str):
        raise InputInvalid("tags must be a list of names")
    out: set[str] = set()
    for tag in tags:
        if (
            not isinstance(tag, str)
            or not tag.strip()
            or len(tag.strip()) > MAX_TAG_LENGTH
            or "\x00" in tag  # PostgreSQL text holds no NUL character
        ):
            raise InputInvalid(f"invalid tag {tag!r} (1 to {MAX_TAG_LENGTH} characters)")
        out.add(tag.strip())
    return tuple(sorted(out))


def utc(at: datetime) -> datetime:
    """Aware UTC; a naive value is taken as UTC (SQLite hands them back naive)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parked_of(record: ExecutionRecord, now: datetime) -> ParkedExecution:
    """The wait a WAITING record stores."""
    return ParkedExecution(
        execution_id=record.id,
        workflow_id=record.workflow_id,
        version_id=record.workflow_version,
        due_at=utc(record.wait_till) if record.wait_till is not None else None,
        webhook=any(n.get("webhook") is not None for n in record.waiting),
        nodes=[dict(n) for n in record.waiting],
        created_at=now,
    )


def accepts_call(wait: ParkedExecution, method: str | None) -> bool:
    """Whether a call with ``method`` may resume the wait (any wait, without a method)."""
    if method is None:
        return True
    return any((n.get("webhook") or {}).get("httpMethod", "GET") == method for n in wait.nodes)


def waiting_from(record: ExecutionRecord, wait: ParkedExecution | None) -> None:
    """Fill a stored WAITING record's ``wait_till`` and ``waiting`` from its wait."""
    if wait is not None:
        record.wait_till = wait.due_at
        record.waiting = [dict(n) for n in wait.nodes]
