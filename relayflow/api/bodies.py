"""Request bodies and the JSON shapes the API answers with."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relayflow.api.deps import NO_NUL
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import Issue, WorkflowInvalid
from relayflow.nodes.registry import Registry
from relayflow.store.ports import Page, StoredWorkflow, WorkflowVersion
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import parse_workflow

# Kept by the store, not by the workflow JSON a client sends (n8n exports carry them too).
META_FIELDS = ("id", "active", "versionId", "tags", "createdAt", "updatedAt", "projectId", "sharedWith")

# What the stores and the responses can write (orjson): 64-bit integers, finite numbers, UTF-8
# text, and at most 255 levels of nesting, of which a body may use this many (the responses
# and node outputs wrap it in a few more).
MIN_INT, MAX_INT = -(2**63), 2**64 - 1
MAX_DEPTH = 128


def unstorable(value: Any) -> tuple[str, str] | None:
    """The first place in decoded JSON ``value`` that cannot be stored as it is, as (path,
    problem), or None. The JSON a client sends may hold numbers, text and nesting beyond it."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path, f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                if not _utf8(key):
                    return path, "a key is not valid Unicode text (a lone surrogate)"
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{i}" if path else str(i), depth + 1) for i, child in enumerate(item)
            )
        elif isinstance(item, str):
            if not _utf8(item):
                return path, "not valid Unicode text (a lone surrogate)"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                return path, "an integer beyond 64 bits"
        elif isinstance(item, float) and not math.isfinite(item):
            return path, "not a finite number"
    return None


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _storable(value: Any) -> Any:
    """A pydantic validator: ``value`` if ``unstorable`` finds nothing in it."""
    found = unstorable(value)
    if found is not None:
        path, problem = found
        raise ValueError(f"{path}: {problem}" if path else problem)
    return value


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fromFailedNode: bool = Field(
        default=False,
        description="true: keep the nodes that finished and run again from the failed one, with "
        "their stored outputs; false: run the whole workflow again with the same trigger data.",
    )
    wait: bool = Field(default=False, description="true: answer 200 with the result; false: 202.")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Any = Field(default=None, description="Input items (like `relayflow run --input`).")
    pinData: dict[str, list[dict[str, Any]]] | None = Field(
        default=None, description="Outputs to use instead of running these nodes, by node name."
    )
    wait: bool = Field(
        default=False, description="true: answer 200 with the result; false: 202 once started."
    )
    startNode: str | None = Field(default=None, description="Start from this node.")

    _input_storable = field_validator("input", "pinData")(_storable)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    versionId: str = Field(pattern=NO_NUL)


class WorkflowBody:
    """A workflow sent by a client: its JSON without the store's fields, validated."""

    def __init__(self, raw: dict[str, Any], registry: Registry) -> None:
        found = unstorable(raw)
        if found is not None:
            path, problem = found
            issue = Issue(problem, field=path or None, code="unstorable")
            raise WorkflowInvalid([issue], "body")
        self.data = {k: v for k, v in raw.items() if k not in META_FIELDS}
        self.tags = _tags(raw["tags"]) if raw.get("tags") is not None else None
        version = raw.get("versionId")
        self.version_id = str(version) if version is not None else None
        if self.version_id is not None and "\x00" in self.version_id:
            raise WorkflowInvalid([Issue("holds a NUL character", field="versionId")], "body")
        self.workflow: Workflow = parse_workflow(self.data, source="body", registry=registry)


def _tags(raw: Any) -> list[str]:
    """Tag names, as strings or as n8n's ``{"id", "name"}`` objects."""
    if not isinstance(raw, list):
        raise _tags_invalid("tags must be a list of names")
    names = []
    for tag in raw:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if not isinstance(name, str) or not name.strip():
            raise _tags_invalid(f"invalid tag {tag!r}")
        names.append(name)
    return names


def _tags_invalid(message: str) -> WorkflowInvalid:
    return WorkflowInvalid([Issue(message, field="tags", code="invalid_field")], "body")


def strip_meta(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in META_FIELDS}


def workflow_json(wf: StoredWorkflow) -> dict[str, Any]:
    return {
        **wf.data,
        "id": wf.id,
        "name": wf.name,
        "active": wf.active,
        "versionId": wf.version_id,
        "tags": list(wf.tags),
        "createdAt": wf.created_at.isoformat(),
        "updatedAt": wf.updated_at.isoformat(),
    }


def export_json(wf: StoredWorkflow) -> dict[str, Any]:
    """n8n's export shape (tags as ``{"name"}`` objects)."""
    return {
        **wf.data,
        "id": wf.id,
        "name": wf.name,
        "active": wf.active,
        "versionId": wf.version_id,
        "tags": [{"name": t} for t in wf.tags],
    }


def version_json(v: WorkflowVersion, *, with_data: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "workflowId": v.workflow_id,
        "versionId": v.version_id,
        "name": v.name,
        "createdAt": v.created_at.isoformat(),
    }
    if with_data:
        d["workflow"] = v.data
    return d


def execution_summary(record: ExecutionRecord) -> dict[str, Any]:
    d = record.to_dict(with_data=False)
    d.pop("nodeRuns", None)
    return d


def page_json(page: Page[Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": items, "nextCursor": page.next_cursor}
