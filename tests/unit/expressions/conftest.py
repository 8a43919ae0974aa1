from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from relayflow.engine.expression import ExpressionScope, NodeRunView
from relayflow.expressions import V8ExpressionEngine

NOW = datetime(2024, 3, 10, 15, 30, 45, 123000, tzinfo=UTC)


@pytest.fixture(scope="session")
def engine() -> Iterator[V8ExpressionEngine]:
    eng = V8ExpressionEngine()
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def v8_only() -> Iterator[V8ExpressionEngine]:
    """The same engine without its fast path: every template goes to V8."""
    eng = V8ExpressionEngine(fast_path=False)
    yield eng
    eng.close()


def scope(items: list[dict[str, Any]] | None = None, **kw: Any) -> ExpressionScope:
    data = [{"json": j} if "json" not in j else j for j in (items if items is not None else [{}])]
    kw.setdefault("now", lambda: NOW)
    kw.setdefault(
        "execution", {"id": "exec-1", "mode": "manual", "resumeUrl": "http://h/webhook-waiting/exec-1"}
    )
    kw.setdefault("workflow", {"id": "wf-1", "name": "My flow", "active": False})
    return ExpressionScope(node="Current", items=data, **kw)


def run_view(*outputs: list[dict[str, Any]], inputs: list[list[dict[str, Any]]] | None = None) -> NodeRunView:
    return NodeRunView(
        outputs=[[{"json": j} if "json" not in j else j for j in out] for out in outputs],
        source=[None],
        inputs=inputs or [],
    )


async def ev(
    eng: V8ExpressionEngine, template: str, s: ExpressionScope | None = None, n: int | None = None
) -> list[Any]:
    sc = s if s is not None else scope()
    return await eng.evaluate(eng.compile(template), sc, range(len(sc.items) if n is None else n))


async def one(eng: V8ExpressionEngine, template: str, s: ExpressionScope | None = None) -> Any:
    return (await ev(eng, template, s, 1))[0]
