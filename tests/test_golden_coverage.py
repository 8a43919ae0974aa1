"""Every built-in node type runs in at least one golden workflow (``tests/fixtures/workflows/``),
unless it needs an outside service, the network or the disk: those are listed in ``EXEMPT`` with
the reason, and are tested against real services under ``tests/integration/`` instead.

A node counts as covered when a golden workflow (or a sub-workflow it runs from a file or from
an inline ``workflowJson``) has a node that resolves to it, by our type or an n8n alias and
typeVersion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry
from tests.test_golden import CASES, FIXTURES

EXEMPT: dict[str, str] = {
    "relayflow.httpRequest": "network: sends HTTP requests",
    "relayflow.redis": "service: needs a Redis server",
    "relayflow.postgres": "service: needs a PostgreSQL server",
    "relayflow.mySql": "service: needs a MySQL/MariaDB server",
    "relayflow.emailSend": "service: needs an SMTP server",
    "relayflow.slack": "network: calls the Slack API",
    "relayflow.rssFeedRead": "network: fetches a feed URL",
    "relayflow.rssFeedReadTrigger": "network: polls a feed URL, even when run by hand",
    "relayflow.readWriteFile": "disk: needs RELAYFLOW_FILES_ROOT",
    "relayflow.readBinaryFile": "disk: needs RELAYFLOW_FILES_ROOT",
    "relayflow.readBinaryFiles": "disk: needs RELAYFLOW_FILES_ROOT",
    "relayflow.writeBinaryFile": "disk: needs RELAYFLOW_FILES_ROOT",
}

REGISTRY = Registry(BUILTIN_SPECS)


def _nodes(workflow: Any, base: Path, depth: int = 0) -> Iterator[dict[str, Any]]:
    """The workflow's nodes, and those of the sub-workflows it names by file or inline JSON."""
    if depth > 5 or not isinstance(workflow, dict):
        return
    for node in workflow.get("nodes", []):
        yield node
        params = node.get("parameters") or {}
        sub: Any = None
        if params.get("source") == "parameter":
            sub = params.get("workflowJson")
            sub = orjson.loads(sub) if isinstance(sub, str) and sub.strip() else sub
        elif params.get("source") == "localFile" and isinstance(params.get("workflowPath"), str):
            path = base / params["workflowPath"]
            sub = orjson.loads(path.read_bytes()) if path.is_file() else None
        yield from _nodes(sub, base, depth + 1)


def covered_types() -> dict[str, list[str]]:
    """Built-in type -> the golden workflows that run it."""
    covered: dict[str, list[str]] = {}
    for case in CASES:
        for node in _nodes(orjson.loads(case.read_bytes()), FIXTURES):
            resolved = REGISTRY.resolve(node["type"], node.get("typeVersion", 1))
            names = covered.setdefault(resolved.spec.type, [])
            if case.name not in names:
                names.append(case.name)
    return covered


def test_every_builtin_node_has_a_golden_workflow() -> None:
    covered = covered_types()
    missing = sorted({s.type for s in BUILTIN_SPECS} - covered.keys() - EXEMPT.keys())
    assert not missing, (
        f"built-in nodes without a golden workflow in {FIXTURES}: {missing}; add one "
        "(<name>.n8n.json + .n8n.input.json + .n8n.expected.json), or, if the node needs a "
        "service, the network or the disk, list it in EXEMPT with the reason"
    )


def test_exemptions_are_builtin_nodes_without_a_golden() -> None:
    builtin = {s.type for s in BUILTIN_SPECS}
    unknown = sorted(EXEMPT.keys() - builtin)
    assert not unknown, f"EXEMPT names node types that are not built in: {unknown}"
    covered = covered_types()
    stale = sorted(t for t in EXEMPT if t in covered)
    assert not stale, f"these nodes now have a golden workflow; drop them from EXEMPT: {stale}"
    assert all(reason.strip() for reason in EXEMPT.values())


def test_coverage_sees_sub_workflows_and_aliases() -> None:
    covered = covered_types()
    # only inside an inline workflowJson
    assert "execute_workflow_trigger_inline.n8n.json" in covered["relayflow.executeWorkflowTrigger"]
    # n8n-nodes-base.dateTime v1 and v2 resolve to different built-ins
    assert covered["relayflow.dateTimeLegacy"] and covered["relayflow.dateTime"]
