"""The ``{{ }}`` expression engine: n8n-compatible JavaScript in an isolated V8 (mini-racer).

Invariants and limits (see README.md):

- A parameter string ``=...{{ code }}...`` is compiled once per distinct template (cached). A
  template that is exactly one ``{{ }}`` yields a typed value; mixed text interpolates values
  (objects and arrays as JSON, null/undefined as "").
- Simple templates run on a Python fast path with exact JavaScript semantics; whatever it cannot
  answer exactly falls back, item by item, to V8. Property tests check both agree.
- V8 runs one batched call per chunk of up to 50,000 items, shipping only the data the code
  references. Batches over 2,000 items are encoded and decoded in a worker thread; a small call
  blocks the event loop at most 0.5 ms, then its result is awaited (V8's thread wakes the loop).
- Time limit per V8 call: 1 s + 0.1 ms per item in the call (expressions); 60 s per Code node
  run unless the node sets ``timeout``. Memory limit: 512 MB per context. A context that hits a
  limit, or that user code changed in a way that cannot be undone, is discarded.
- The sandbox has no ``require``, ``process``, ``fetch``, file, network or environment access;
  intrinsics are frozen and globals created by a call are removed when it returns. ``$env`` is
  refused unless the operator allows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relayflow.expressions.engine import Template, V8ExpressionEngine
    from relayflow.expressions.sandbox import Limits

__all__ = ["Limits", "Template", "V8ExpressionEngine", "default_expression_engine"]


def default_expression_engine() -> V8ExpressionEngine:
    from relayflow.expressions.engine import V8ExpressionEngine

    return V8ExpressionEngine()


def __getattr__(name: str) -> Any:
    # the engine (and mini-racer with it) is imported when first named, not with the package:
    # node modules import ``relayflow.expressions.code`` and must not pay for it
    if name in ("Template", "V8ExpressionEngine"):
        from relayflow.expressions import engine

        return getattr(engine, name)
    if name == "Limits":
        from relayflow.expressions.sandbox import Limits

        return Limits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
