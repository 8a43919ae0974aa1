"""Corpus workflows made only of implemented nodes run end to end without an internal error.

Network calls fail here (no outside network), sub-workflows by database id are not found and
waits run on a fake clock, so a run may end ``failed`` — but only with a clear node error,
never a Python exception leaking out of a node or the engine.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest

from relayflow.testing import make_engine
from relayflow.workflow.parse import parse_workflow
from tests.compat.test_n8n_corpus import FILES, _implemented

LEAK = re.compile(r"\b(TypeError|KeyError|AttributeError|IndexError|ValueError|AssertionError|NameError)\b")
RUNNABLE = [p for p in FILES if _implemented(orjson.loads(p.read_bytes()))]

pytestmark = pytest.mark.skipif(not RUNNABLE, reason="n8n corpus not found or nothing implemented")


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
async def test_corpus_workflow_runs_without_internal_errors(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = parse_workflow(orjson.loads(path.read_bytes()), source=path.name)  # noqa: ASYNC240
    engine = make_engine(fake_clock=True, base_dir=path.parent)
    try:
        record = await asyncio.wait_for(engine.run(wf), 30)
    finally:
        if engine.expressions is not None:
            engine.expressions.close()
    assert record.status.value in ("succeeded", "failed"), record.status
    user_js = {n.name for n in wf.nodes if n.type.split(".")[-1] in ("code", "function", "functionItem")}
    for run in record.node_runs:
        if run.error:
            assert run.error.get("code") != "internal_error", (run.node, run.error)
            if run.error.get("code") == "expression_error" or run.node in user_js:
                continue  # JavaScript's own TypeError in the workflow author's code is a user error
            assert not LEAK.search(run.error.get("message", "")), (run.node, run.error)
    if record.error:
        assert record.error.get("node"), record.error
