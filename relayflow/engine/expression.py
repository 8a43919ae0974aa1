"""The expression port: what the engine needs from a ``{{ }}`` evaluator.

The scope is plain data: the evaluator reads it, never the executor's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from relayflow.engine.items import Item, Items


@dataclass(frozen=True)
class NodeRunView:
    """One finished run of a node, as expressions see it."""

    outputs: list[Items]
    # per input: (source node, output index, run index) or None
    source: list[tuple[str, int, int] | None]
    inputs: list[Items] = field(default_factory=list)


@dataclass
class ExpressionScope:
    node: str
    items: Items
    run_index: int = 0
    inputs: list[Items] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    # node name -> its finished runs, oldest first
    run_data: dict[str, list[NodeRunView]] = field(default_factory=dict)
    prev_node: str | None = None
    prev_output: int = 0
    prev_run: int = 0
    execution: dict[str, Any] = field(default_factory=dict)
    workflow: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    # None: $env is refused (the default); a dict: what $env exposes
    env: dict[str, str] | None = None
    timezone: str = "UTC"
    now: Callable[[], datetime] | None = None
    static_data: dict[str, Any] | None = None
    # per-node state of this execution (n8n's $node["X"].context, e.g. noItemsLeft)
    node_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    # item index -> (node name, item) resolver for $('Node').item; filled by the engine
    paired: Callable[[str, int], Item | None] | None = None
    # values of the variables a node adds for its own deferred parameters (``NodeContext.evaluate``):
    # ``$response``, ``$request``, ``$pageCount`` (HTTP Request pagination); absent: undefined
    extra: dict[str, Any] = field(default_factory=dict)

    def item_json(self, index: int) -> dict[str, Any]:
        if 0 <= index < len(self.items):
            j = self.items[index].get("json")
            return j if isinstance(j, dict) else {}
        return {}


class Compiled(Protocol):
    source: str
    # True when the template is exactly one {{ }} (yields a typed value)
    single: bool


class ExpressionEngine(Protocol):
    def compile(self, template: str) -> Compiled:
        """Compile a parameter string without its leading ``=``; raises ExpressionError."""

    async def evaluate(self, compiled: Compiled, scope: ExpressionScope, indexes: Sequence[int]) -> list[Any]:
        """One value per item index, in order; raises ExpressionError naming the item."""

    def close(self) -> None: ...
