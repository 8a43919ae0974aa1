"""Static data: kept through the StaticDataStore port for production runs, shared by every parse
of the same workflow in one engine, copied (not kept) for manual runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayflow.testing import make_engine
from relayflow.workflow.parse import parse_workflow

COUNT = "const s = $getWorkflowStaticData('global'); s.n = (s.n || 0) + 1; return [{json: {n: s.n}}];"


class Kept:
    def __init__(self) -> None:
        self.saved: list[tuple[str, dict[str, Any]]] = []

    async def save_static_data(self, workflow_id: str, data: Mapping[str, Any]) -> None:
        self.saved.append((workflow_id, dict(data)))

    async def load_static_data(self, workflow_id: str) -> dict[str, Any] | None:
        mine = [data for wid, data in self.saved if wid == workflow_id]
        return dict(mine[-1]) if mine else None


def counter() -> Any:
    return parse_workflow(
        {
            "id": "wf1",
            "name": "Counter",
            "nodes": [
                {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
                {
                    "name": "Count",
                    "type": "n8n-nodes-base.code",
                    "typeVersion": 2,
                    "parameters": {"jsCode": COUNT},
                },
            ],
            "connections": {"Start": {"main": [[{"node": "Count", "type": "main", "index": 0}]]}},
        }
    )


async def test_production_runs_keep_and_share_it_across_parses() -> None:
    kept = Kept()
    engine = make_engine(static_data=kept)
    first = await engine.run(counter(), mode="webhook")
    second = await engine.run(counter(), mode="trigger")  # another parse of the same workflow
    assert (first.output_json(), second.output_json()) == ([{"n": 1}], [{"n": 2}])
    assert kept.saved == [("wf1", {"global": {"n": 1}}), ("wf1", {"global": {"n": 2}})]


async def test_a_manual_run_sees_it_but_keeps_nothing() -> None:
    kept = Kept()
    engine = make_engine(static_data=kept)
    await engine.run(counter(), mode="webhook")
    manual = await engine.run(counter(), mode="manual")
    after = await engine.run(counter(), mode="webhook")
    assert (manual.output_json(), after.output_json()) == ([{"n": 2}], [{"n": 2}])
    assert [data for _, data in kept.saved] == [{"global": {"n": 1}}, {"global": {"n": 2}}]


async def test_an_unchanged_static_data_is_not_written() -> None:
    kept = Kept()
    wf = parse_workflow(
        {
            "id": "wf2",
            "nodes": [
                {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}}
            ],
            "connections": {},
        }
    )
    await make_engine(static_data=kept).run(wf, mode="webhook")
    assert kept.saved == []


async def test_a_new_process_continues_from_what_was_kept() -> None:
    """After a restart the first execution starts from the kept static data, even when its
    workflow was read without it (the scheduler reads workflows from a listing)."""
    kept = Kept()
    await make_engine(static_data=kept).run(counter(), mode="trigger")
    await make_engine(static_data=kept).run(counter(), mode="trigger")  # "restarted"
    third = await make_engine(static_data=kept).run(counter(), mode="trigger")
    assert third.output_json() == [{"n": 3}]
    assert kept.saved[-1] == ("wf1", {"global": {"n": 3}})
