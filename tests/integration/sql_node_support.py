"""What the PostgreSQL and MySQL node tests share: a vault holding one credential, a run of the
node through the engine in n8n's shape, and readers of its output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayflow.engine.items import normalize_items
from relayflow.engine.run import ExecutionRecord
from relayflow.testing import make_engine, node_workflow
from relayflow.workflow.parse import parse_workflow


class FakeVault:
    """Hands out one credential, checking the node asked for exactly it."""

    def __init__(self, type_: str, ref: Mapping[str, Any], creds: Mapping[str, Any]) -> None:
        self.type_, self.ref, self.creds = type_, dict(ref), dict(creds)

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        assert type_ == self.type_ and ref == self.ref
        return dict(self.creds)


async def run_sql_node(
    vault: FakeVault,
    node_type: str,
    parameters: dict[str, Any],
    items: Any = None,
    *,
    version: float,
    node_fields: dict[str, Any] | None = None,
) -> ExecutionRecord:
    wf = node_workflow(
        node_type,
        parameters,
        type_version=version,
        node_fields={"credentials": {vault.type_: vault.ref}, **(node_fields or {})},
    )
    engine = make_engine(credentials=vault)
    return await engine.run(
        parse_workflow(wf), input_items=normalize_items(items if items is not None else [{}])
    )


def rows(record: ExecutionRecord) -> list[dict[str, Any]]:
    assert record.status.value == "succeeded", record.error
    output = record.runs_of("Node")[-1].output
    assert output is not None
    return [it["json"] for it in output[0]]


def rl(value: str) -> dict[str, Any]:
    """n8n's resource-locator value (a table picked from the list)."""
    return {"__rl": True, "value": value, "mode": "list", "cachedResultName": value}
