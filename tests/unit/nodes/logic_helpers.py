"""Shared by the Set / IF / Switch / Filter / Merge tests: a registry, a fake expression engine
(so the per-item parameter paths run before the real one lands) and the golden-workflow runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from relayflow.engine.expression import ExpressionScope
from relayflow.engine.items import Items
from relayflow.expressions import default_expression_engine
from relayflow.nodes import filter_node, flow, if_node, merge_node, set_node, switch_node, triggers
from relayflow.nodes.registry import Registry
from relayflow.testing import make_engine, run_node, run_workflow
from relayflow.workflow.parse import parse_workflow

WORKFLOWS = Path(__file__).parents[2] / "fixtures" / "workflows"

# only the nodes these tests need: other built-ins are written in parallel
REGISTRY = Registry(
    [
        *triggers.SPECS,
        *flow.SPECS,
        *set_node.SPECS,
        *if_node.SPECS,
        *switch_node.SPECS,
        *filter_node.SPECS,
        *merge_node.SPECS,
    ]
)
HAVE_EXPRESSIONS = default_expression_engine() is not None


@dataclass
class _Compiled:
    source: str
    single: bool = True


class FieldExpressions:
    """A stand-in evaluator that understands only ``{{ $json.<field> }}``."""

    def compile(self, template: str) -> _Compiled:
        return _Compiled(template.strip().removeprefix("{{").removesuffix("}}").strip())

    async def evaluate(
        self, compiled: _Compiled, scope: ExpressionScope, indexes: Sequence[int]
    ) -> list[Any]:
        field = compiled.source.removeprefix("$json.")
        return [scope.item_json(i).get(field) for i in indexes]

    def close(self) -> None:
        pass


async def run(
    type_: str,
    parameters: dict[str, Any],
    items: Any = None,
    *,
    fake_expressions: bool = False,
    **kwargs: Any,
) -> list[Items]:
    engine = make_engine(
        registry=REGISTRY, **({"expressions": FieldExpressions()} if fake_expressions else {})
    )
    return await run_node(type_, parameters, items, engine=engine, **kwargs)


def golden_names(prefix: str) -> list[Any]:
    """Workflow files ``<prefix>_*.json`` (``.n8n.json`` variants included), minus expected/input files.

    Workflows holding ``{{ }}`` expressions are skipped until the expression engine lands.
    """
    names = sorted(
        p.name
        for p in WORKFLOWS.glob(f"{prefix}_*.json")
        if not p.name.endswith((".expected.json", ".input.json"))
    )
    no_engine = pytest.mark.skipif(not HAVE_EXPRESSIONS, reason="needs the expression engine")
    return [pytest.param(n, marks=no_engine) if "{{" in (WORKFLOWS / n).read_text() else n for n in names]


async def run_golden(file_name: str) -> tuple[Any, Any]:
    """(what ``<name>.json`` outputs, what ``<name>.expected.json`` says it should).

    Same layout as tests/test_golden.py: ``x.n8n.json`` pairs with ``x.n8n.expected.json``.
    """
    path = WORKFLOWS / file_name
    wf = parse_workflow(orjson.loads(path.read_bytes()), registry=REGISTRY)
    input_path = path.with_suffix(".input.json")
    data = orjson.loads(input_path.read_bytes()) if input_path.exists() else None
    record = await run_workflow(wf, input=data, engine=make_engine(registry=REGISTRY))
    assert record.status.value == "succeeded", record.error
    return record.output_json(), orjson.loads(path.with_suffix(".expected.json").read_bytes())
