from __future__ import annotations

from typing import Any

import pytest

from relayflow.errors import WorkflowInvalid
from relayflow.workflow import parse_workflow


def wf(nodes: list[dict[str, Any]], connections: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"nodes": nodes, "connections": connections or {}}


def issues(data: Any) -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(WorkflowInvalid) as exc:
        parse_workflow(data)
    return [(i.node, i.field, i.message) for i in exc.value.issues]


def test_invalid_json() -> None:
    [(node, _field, msg)] = issues(b"{nodes: ")
    assert node is None and "invalid JSON" in msg


def test_not_an_object() -> None:
    assert "JSON object" in issues(b"[1, 2]")[0][2]


def test_missing_required_fields_name_the_node() -> None:
    found = issues(wf([{"name": "A"}]))
    assert found[0][:2] == ("A", "type")


def test_duplicate_names() -> None:
    found = issues(wf([{"name": "A", "type": "relayflow.noOp"}, {"name": "A", "type": "relayflow.noOp"}]))
    assert ("A", "name", "duplicate node name") in found


def test_connection_to_missing_node() -> None:
    found = issues(
        wf(
            [{"name": "A", "type": "relayflow.noOp"}],
            {"A": {"main": [[{"node": "Ghost", "type": "main", "index": 0}]]}},
        )
    )
    assert found[0][0] == "A" and "Ghost" in found[0][2]


def test_connection_from_missing_node() -> None:
    found = issues(
        wf(
            [{"name": "A", "type": "relayflow.noOp"}],
            {"Ghost": {"main": [[{"node": "A", "type": "main", "index": 0}]]}},
        )
    )
    assert "Ghost" in found[0][2]


def test_unknown_type_and_version() -> None:
    found = issues(
        wf(
            [
                {"name": "A", "type": "acme.nope"},
                {"name": "B", "type": "n8n-nodes-base.noOp", "typeVersion": 7},
            ]
        )
    )
    assert found[0][:2] == ("A", "type")
    assert found[1][:2] == ("B", "type") and "supported: 1" in found[1][2]


def test_unknown_fields_are_kept() -> None:
    w = parse_workflow({**wf([{"name": "A", "type": "relayflow.noOp", "webhookId": "x"}]), "meta": {"k": 1}})
    dumped = w.to_json()
    assert dumped["meta"] == {"k": 1}
    assert dumped["nodes"][0]["webhookId"] == "x"


def test_n8n_nulls_are_accepted() -> None:
    w = parse_workflow(
        {
            "nodes": [{"name": "A", "type": "relayflow.noOp", "parameters": None, "typeVersion": None}],
            "connections": None,
            "settings": None,
        }
    )
    assert w.nodes[0].parameters == {} and w.nodes[0].typeVersion == 1


def test_bad_parameters_name_node_and_field() -> None:
    found = issues(
        wf(
            [
                {
                    "name": "Cap",
                    "type": "n8n-nodes-base.limit",
                    "typeVersion": 1,
                    "parameters": {"maxItems": "many"},
                }
            ]
        )
    )
    assert found[0][0] == "Cap" and found[0][1] is not None and "max" in found[0][1].lower()


def test_expression_values_are_checked_at_run_time_not_rejected() -> None:
    w = parse_workflow(
        wf(
            [
                {
                    "name": "Cap",
                    "type": "n8n-nodes-base.limit",
                    "typeVersion": 1,
                    "parameters": {"maxItems": "={{ 1 + 1 }}"},
                }
            ]
        )
    )
    assert w.nodes[0].parameters["maxItems"] == "={{ 1 + 1 }}"
