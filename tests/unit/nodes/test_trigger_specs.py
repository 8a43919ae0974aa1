"""Specs the server will read: Webhook, Respond to Webhook, Schedule Trigger, Cron; their manual runs;
and every corpus node of the types in this issue validates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from relayflow.errors import WorkflowInvalid
from relayflow.nodes.registry import default_registry
from relayflow.nodes.triggers import CronParams, RespondParams, ScheduleParams, WebhookParams
from relayflow.testing import output_json, run_node, run_workflow
from relayflow.workflow.model import Node
from relayflow.workflow.parse import check_node


def validate(type_: str, version: float, params: dict[str, Any]) -> Any:
    resolved = default_registry().resolve(type_, version)
    return resolved.spec.params.model_validate(resolved.parameters(params))


def trigger_only(type_: str, version: float, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodes": [{"name": "T", "type": type_, "typeVersion": version, "parameters": params}],
        "connections": {},
    }


# --- Webhook ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [1, 1.1, 2, 2.1])
def test_webhook_shapes_of_every_version_validate(version: float) -> None:
    p = validate(
        "n8n-nodes-base.webhook",
        version,
        {"httpMethod": "POST", "path": "/tool/csv-to-json", "responseMode": "responseNode", "options": {}},
    )
    assert isinstance(p, WebhookParams)
    assert p.methods() == ["POST"] and p.path == "tool/csv-to-json" and p.responseMode == "responseNode"


def test_webhook_defaults() -> None:
    p = validate("n8n-nodes-base.webhook", 2, {"path": "abc"})
    assert (p.methods(), p.responseMode, p.responseCode, p.responseData) == (
        ["GET"],
        "onReceived",
        200,
        "firstEntryJson",
    )


def test_webhook_with_several_methods() -> None:
    p = validate(
        "n8n-nodes-base.webhook", 2.1, {"multipleMethods": True, "httpMethod": ["GET", "POST"], "path": "x"}
    )
    assert p.methods() == ["GET", "POST"]
    # a list without the flag is still several methods
    assert validate("n8n-nodes-base.webhook", 2, {"httpMethod": ["PUT"], "path": "x"}).multipleMethods


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"httpMethod": "FETCH", "path": "x"}, "httpMethod"),
        ({"path": "a b"}, "path"),
        ({"path": "x", "responseMode": "sometimes"}, "responseMode"),
        ({"path": "x", "responseCode": 42}, "responseCode"),
        ({"path": "x", "authentication": "magic"}, "authentication"),
        ({"path": "x", "unknown": 1}, "unknown"),
    ],
)
def test_webhook_refuses_bad_values_naming_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(WorkflowInvalid, match=field):
        from relayflow.workflow.parse import parse_workflow

        parse_workflow(trigger_only("n8n-nodes-base.webhook", 2, params))


def test_webhook_options_keep_unknown_keys_and_type_known_ones() -> None:
    p = validate(
        "n8n-nodes-base.webhook", 1.1, {"path": "x", "options": {"binaryPropertyName": "file", "newer": 1}}
    )
    assert p.options.binaryPropertyName == "file"
    assert p.options.model_extra == {"newer": 1}
    with pytest.raises(ValueError, match="rawBody"):
        validate("n8n-nodes-base.webhook", 2, {"path": "x", "options": {"rawBody": "maybe"}})


async def test_webhook_run_by_hand_emits_the_run_input() -> None:
    record = await run_workflow(
        trigger_only("n8n-nodes-base.webhook", 2, {"path": "x"}), input=[{"body": {"a": 1}}]
    )
    assert record.output_json() == [{"body": {"a": 1}}]
    record = await run_workflow(trigger_only("relayflow.webhook", 1, {"path": "x"}))
    assert record.output_json() == [{}]


# --- Respond to Webhook ----------------------------------------------------------------------------
@pytest.mark.parametrize("version", [1, 1.1, 1.4, 1.5])
def test_respond_to_webhook_shapes_validate(version: float) -> None:
    p = validate(
        "n8n-nodes-base.respondToWebhook",
        version,
        {
            "respondWith": "json",
            "responseBody": '={\n "status": "ok"\n}',
            "options": {
                "responseCode": 500,
                "responseHeaders": {"entries": [{"name": "content-type", "value": 1}]},
            },
        },
    )
    assert isinstance(p, RespondParams)
    assert p.options.responseCode == 500 and p.options.responseHeaders.entries[0].value == "1"


def test_respond_to_webhook_refuses_unknown_modes() -> None:
    with pytest.raises(ValueError, match="respondWith"):
        validate("n8n-nodes-base.respondToWebhook", 1.1, {"respondWith": "everything"})


async def test_respond_to_webhook_passes_items_through_in_a_manual_run() -> None:
    out = await run_node("n8n-nodes-base.respondToWebhook", {"respondWith": "noData"}, [{"a": 1}, {"a": 2}])
    assert output_json(out) == [{"a": 1}, {"a": 2}]


async def test_respond_to_webhook_response_output_is_empty_in_a_manual_run() -> None:
    params = {"respondWith": "allIncomingItems", "options": {"enableResponseOutput": True}}
    out = await run_node("n8n-nodes-base.respondToWebhook", params, [{"a": 1}], type_version=1.5, outputs=2)
    assert output_json(out, 0) == [{"a": 1}] and output_json(out, 1) == []


# --- Schedule Trigger and Cron ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "rule", "expected"),
    [
        (1, {}, ("days", 0, 0)),
        (1.1, {"field": "cronExpression", "expression": "0 8 * * *"}, ("cronExpression", 0, 0)),
        (1.2, {"triggerAtHour": 1, "triggerAtMinute": 33}, ("days", 1, 33)),
        (1.2, {"field": "minutes", "minutesInterval": 5}, ("minutes", 0, 0)),
    ],
)
def test_schedule_rules_validate(
    version: float, rule: dict[str, Any], expected: tuple[str, int, int]
) -> None:
    p = validate("n8n-nodes-base.scheduleTrigger", version, {"rule": {"interval": [rule]}})
    assert isinstance(p, ScheduleParams)
    r = p.rule.interval[0]
    assert (r.field, r.triggerAtHour, r.triggerAtMinute) == expected


@pytest.mark.parametrize(
    "rule", [{"field": "fortnights"}, {"triggerAtHour": 24}, {"field": "minutes", "minutesInterval": 0}]
)
def test_schedule_refuses_impossible_rules(rule: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="interval"):
        validate("n8n-nodes-base.scheduleTrigger", 1.2, {"rule": {"interval": [rule]}})


def test_cron_trigger_times_validate() -> None:
    params = {
        "triggerTimes": {
            "item": [{"mode": "everyMinute"}, {"mode": "custom", "cronExpression": "* */6 * * *"}]
        }
    }
    p = validate("n8n-nodes-base.cron", 1, params)
    assert isinstance(p, CronParams)
    assert [t.mode for t in p.triggerTimes.item] == ["everyMinute", "custom"]
    with pytest.raises(ValueError, match="mode"):
        validate("n8n-nodes-base.cron", 1, {"triggerTimes": {"item": [{"mode": "everyFullMoon"}]}})


@pytest.mark.parametrize(
    ("type_", "version"), [("n8n-nodes-base.scheduleTrigger", 1.2), ("n8n-nodes-base.cron", 1)]
)
async def test_schedule_triggers_run_by_hand_emit_one_empty_item(type_: str, version: float) -> None:
    record = await run_workflow(trigger_only(type_, version, {}))
    assert record.status.value == "succeeded" and record.output_json() == [{}]


# --- the corpus ------------------------------------------------------------------------------------
MY_TYPES = {
    f"n8n-nodes-base.{t}"
    for t in [
        "webhook",
        "respondToWebhook",
        "scheduleTrigger",
        "cron",
        "executeWorkflow",
        "executeWorkflowTrigger",
        "splitInBatches",
        "wait",
        "stopAndError",
        "httpRequest",
    ]
}
CORPUS = Path(
    os.environ.get("RELAYFLOW_N8N_CORPUS", Path(__file__).resolve().parents[4] / "shared" / "n8n-corpus")
)


def _corpus_nodes() -> list[Any]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        for node in data.get("nodes") or []:
            if node.get("type") in MY_TYPES:
                found.append(pytest.param(node, id=f"{path.stem[:40]}:{node['name'][:30]}"))
    return found


CORPUS_NODES = _corpus_nodes()


@pytest.mark.skipif(not CORPUS_NODES, reason=f"n8n corpus not found at {CORPUS}")
@pytest.mark.parametrize("node", CORPUS_NODES)
def test_every_corpus_node_of_these_types_validates(node: dict[str, Any]) -> None:
    issues = check_node(Node.model_validate(node), default_registry())
    assert issues == []
