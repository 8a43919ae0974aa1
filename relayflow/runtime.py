"""The composition root for in-process runs: picks the port implementations."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from relayflow.engine.executor import Engine, EngineServices
from relayflow.engine.expression import Compiled, ExpressionScope
from relayflow.engine.memory import MemoryRunStore, SystemClock
from relayflow.errors import InputInvalid, WorkflowInvalid
from relayflow.nodes.registry import Registry, default_registry
from relayflow.workflow.model import Workflow
from relayflow.workflow.parse import load_workflow, parse_workflow

if TYPE_CHECKING:
    from relayflow.expressions import V8ExpressionEngine


class FileWorkflowLoader:
    """Sub-workflows from files (relative to ``base_dir``), inline JSON, or a folder scanned by id."""

    def __init__(self, base_dir: Path | None = None, registry: Registry | None = None) -> None:
        self.base_dir = base_dir or Path.cwd()
        self.registry = registry

    async def load(self, source: str, ref: Any) -> Workflow:
        if source == "parameter":
            data = ref if isinstance(ref, (dict, list)) else orjson.loads(ref) if ref else None
            return parse_workflow(data, source="workflowJson", registry=self.registry)
        if source in ("localFile", "file"):
            path = Path(str(ref))
            if not path.is_absolute():
                path = self.base_dir / path
            return load_workflow(path, registry=self.registry)
        if source == "database":
            wanted = str(ref.get("value") if isinstance(ref, dict) else ref)
            for path in sorted(self.base_dir.glob("*.json")):
                try:
                    data = orjson.loads(path.read_bytes())
                except (OSError, orjson.JSONDecodeError):
                    continue
                if isinstance(data, dict) and str(data.get("id")) == wanted:
                    return parse_workflow(data, source=str(path), registry=self.registry)
            raise InputInvalid(
                f"workflow {wanted!r} not found: without a server, sub-workflows by id are looked up "
                f"among the JSON files in {self.base_dir}"
            )
        raise InputInvalid(f"unsupported sub-workflow source {source!r}")


DEFAULT_GC_THRESHOLD = (100_000, 50, 100)
# the server's: a young generation of 100,000 objects takes 100-160 ms to scan, a pause every
# few hundred requests that set S6's p99 (180 ms at 100 exec/s; 40 ms with these)
SERVER_GC_THRESHOLD = (10_000, 20, 100)
_gc_tuned = False


def tune_gc(default: tuple[int, int, int] = DEFAULT_GC_THRESHOLD) -> None:
    """Collect cyclic garbage less often than CPython's default (700, 10, 10); the first call
    in a process decides (the server asks for ``SERVER_GC_THRESHOLD`` before anything else).

    Workflow items are acyclic dicts, freed by reference counting; the default thresholds make
    the cyclic collector rescan every live item over and over, which halves throughput when
    many executions run at once (benchmark S4: 10 concurrent runs 614 ms → 227 ms). Override
    with RELAYFLOW_GC_THRESHOLD="700,10,10" (CPython's default) or any three integers.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    raw = os.environ.get("RELAYFLOW_GC_THRESHOLD", "")
    try:
        values = tuple(int(v) for v in raw.split(",")) if raw else default
        if len(values) != 3 or min(values) < 0:
            raise ValueError(raw)
    except ValueError:
        raise InputInvalid(
            f"RELAYFLOW_GC_THRESHOLD must be three integers like 700,10,10, not {raw!r}"
        ) from None
    gc.set_threshold(*values)


def env_access() -> Mapping[str, str] | None:
    """``$env`` is refused unless the operator sets RELAYFLOW_EXPRESSIONS_ALLOW_ENV=1."""
    if os.environ.get("RELAYFLOW_EXPRESSIONS_ALLOW_ENV", "") in ("1", "true", "yes"):
        return dict(os.environ)
    return None


class LazyExpressionEngine:
    """The V8 expression engine, imported and made when the first expression needs it.

    A server that has not evaluated anything yet has not loaded V8 nor the evaluator (S11).
    Anything beyond the ``ExpressionEngine`` protocol (``run_code``, ``limits``) is the real
    engine's.
    """

    def __init__(self) -> None:
        self._engine: V8ExpressionEngine | None = None

    @property
    def engine(self) -> V8ExpressionEngine:
        if self._engine is None:
            from relayflow.expressions import default_expression_engine

            self._engine = default_expression_engine()
        return self._engine

    def compile(self, template: str) -> Compiled:
        return self.engine.compile(template)

    async def evaluate(self, compiled: Compiled, scope: ExpressionScope, indexes: Sequence[int]) -> list[Any]:
        return await self.engine.evaluate(compiled, scope, indexes)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy/pickle probes, or ``_engine`` before __init__ set it
            raise AttributeError(name)
        return getattr(self.engine, name)


def build_engine(
    *,
    registry: Registry | None = None,
    base_dir: Path | None = None,
    **overrides: Any,
) -> Engine:
    tune_gc()
    reg = registry or default_registry()
    services = EngineServices(
        store=overrides.pop("store", None) or MemoryRunStore(),
        clock=overrides.pop("clock", None) or SystemClock(),
        registry=reg,
        expressions=overrides.pop("expressions", None) or LazyExpressionEngine(),
        workflows=overrides.pop("workflows", None) or FileWorkflowLoader(base_dir, reg),
        env=overrides.pop("env", env_access()),
        **overrides,
    )
    return Engine(services)


__all__ = [
    "FileWorkflowLoader",
    "LazyExpressionEngine",
    "WorkflowInvalid",
    "build_engine",
    "env_access",
    "tune_gc",
]
