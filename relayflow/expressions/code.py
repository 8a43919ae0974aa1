"""Running Code-node JavaScript in the expression sandbox.

``run_js`` returns the raw outcome; the Code, Function and Function Item nodes turn it into items.
n8n's variables are available (``$input``, ``$json``, ``$('Node')``, ``$node``, ``$items``,
``DateTime``, ``$jmespath``, ``$getWorkflowStaticData``...) plus ``items`` / ``item``; the data
transformation functions (``.isEmpty()``...) are not, as in n8n.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

from relayflow.engine.expression import ExpressionScope
from relayflow.expressions.hoist import hoistable
from relayflow.expressions.lexer import LexError, tokenize
from relayflow.expressions.sandbox import SandboxFailure
from relayflow.expressions.template import Needs, analyse

Kind = Literal["code", "function", "functionItem"]


@dataclass
class CodeOutcome:
    ok: bool
    result: Any = None
    logs: list[str] = field(default_factory=list)
    static_data: dict[str, Any] | None = None
    error: str = ""
    item_index: int | None = None
    line: int | None = None
    timed_out: bool = False


class CodeEngineMissing(Exception):
    pass


@dataclass(frozen=True)
class _Analysis:
    needs: Needs
    is_async: bool
    uses_now: bool
    # top-level functions created once per V8 context (see hoist.py): [name, start, end]
    hoist: tuple[tuple[str, int, int], ...] = ()


@functools.lru_cache(maxsize=512)
def _analyse(code: str) -> _Analysis:
    try:
        tokens = tokenize(code)
    except LexError:
        return _Analysis(Needs.everything(), True, True)
    needs = analyse(tokens)
    needs.json = needs.binary = needs.all_items = True
    names = {t.value for t in tokens if t.kind == "ident"}
    needs.static_data |= "getWorkflowStaticData" in names
    return _Analysis(
        needs, "await" in names, bool(names & {"$now", "$today"}), tuple(hoistable(code, tokens))
    )


async def run_js(
    engine: Any,
    scope: ExpressionScope,
    code: str,
    *,
    mode: Literal["all", "each"],
    kind: Kind,
    timeout_s: float,
    start: int = 0,
) -> CodeOutcome:
    """Run ``code`` over ``scope.items`` (all at once, or once per item from item ``start``)."""
    run = getattr(engine, "run_code", None)
    if run is None:
        raise CodeEngineMissing("JavaScript code needs relayflow's expression engine")
    a = _analyse(code)
    request = {
        "src": code,
        "async": a.is_async,
        "usesNow": a.uses_now,
        "mode": mode,
        "kind": kind,
        "from": start,
    }
    if a.hoist:
        request["hoist"] = a.hoist
    try:
        result: dict[str, Any] = await run(scope, request, a.needs, timeout_s)
    except SandboxFailure as exc:
        what = "ran out of memory" if exc.kind == "memory" else exc.message
        return CodeOutcome(ok=False, error=f"the code {what}" if exc.kind == "memory" else what,
                           timed_out=exc.kind == "timeout")  # fmt: skip
    if "err" in result:
        message = str(result["err"])
        if result.get("kind") == "syntax" and not message.startswith("SyntaxError"):
            message = f"SyntaxError: {message}"
        pos = result.get("pos")
        return CodeOutcome(
            ok=False,
            result=result.get("partial"),
            error=message,
            item_index=pos if isinstance(pos, int) else None,
            line=result.get("line") if isinstance(result.get("line"), int) else None,
            logs=list(result.get("logs") or []),
        )
    return CodeOutcome(
        ok=True,
        result=result.get("ok"),
        logs=list(result.get("logs") or []),
        static_data=result.get("staticData"),
    )
