"""Golden workflows: each ``tests/fixtures/workflows/<name>.json`` with ``<name>.expected.json``
runs through the real executor and must print exactly the expected output."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from relayflow.engine.items import normalize_items
from relayflow.testing import make_engine
from relayflow.workflow.parse import load_workflow

FIXTURES = Path(__file__).parent / "fixtures" / "workflows"
CASES = sorted(
    p
    for p in FIXTURES.glob("*.json")
    if p.with_suffix(".expected.json").exists() and not p.name.endswith((".expected.json", ".input.json"))
)


def test_there_are_golden_workflows() -> None:
    assert len(CASES) >= 1


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_golden(path: Path) -> None:
    expected = orjson.loads(path.with_suffix(".expected.json").read_bytes())
    input_path = path.with_suffix(".input.json")
    items = normalize_items(orjson.loads(input_path.read_bytes())) if input_path.exists() else None
    engine = make_engine(fake_clock=True, base_dir=path.parent)
    record = await engine.run(load_workflow(path), input_items=items)
    assert record.status.value == "succeeded", record.error
    assert record.output_json() == expected


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_golden_is_the_same_in_sequential_order(path: Path) -> None:
    """Pure workflows give the same result whichever order their independent branches ran in."""
    expected = orjson.loads(path.with_suffix(".expected.json").read_bytes())
    input_path = path.with_suffix(".input.json")
    items = normalize_items(orjson.loads(input_path.read_bytes())) if input_path.exists() else None
    wf = load_workflow(path)
    wf = wf.model_copy(update={"settings": wf.settings.model_copy(update={"executionOrder": "sequential"})})
    engine = make_engine(fake_clock=True, base_dir=path.parent)
    record = await engine.run(wf, input_items=items)
    assert record.status.value == "succeeded", record.error
    assert record.output_json() == expected
