"""Static data changed by production executions is kept for the next ones; manual runs leave it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import API
from tests.api.test_webhooks import activate

COUNT = "const s = $getWorkflowStaticData('global'); s.calls = (s.calls || 0) + 1; return [{json: {calls: s.calls}}];"

COUNTER: dict[str, Any] = {
    "name": "Counter",
    "nodes": [
        {
            "name": "Hook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "parameters": {"httpMethod": "POST", "path": "count", "responseMode": "lastNode"},
        },
        {"name": "Count", "type": "n8n-nodes-base.code", "typeVersion": 2, "parameters": {"jsCode": COUNT}},
    ],
    "connections": {"Hook": {"main": [[{"node": "Count", "type": "main", "index": 0}]]}},
}


async def test_static_data_carries_from_one_execution_to_the_next(client: httpx.AsyncClient) -> None:
    workflow_id = await activate(client, COUNTER)
    answers = [(await client.post("/webhook/count", json={})).json() for _ in range(3)]
    assert answers == [{"calls": 1}, {"calls": 2}, {"calls": 3}]
    stored = (await client.get(f"{API}/workflows/{workflow_id}")).json()
    assert stored["staticData"] == {"global": {"calls": 3}}
    # a manual run sees it but does not keep its change (as in n8n)
    manual = await client.post(f"{API}/workflows/{workflow_id}/run", json={"wait": True})
    assert manual.json()["data"] == [{"calls": 4}]
    assert (await client.get(f"{API}/workflows/{workflow_id}")).json()["staticData"] == {
        "global": {"calls": 3}
    }
    assert (await client.post("/webhook/count", json={})).json() == {"calls": 4}
