"""Code nodes: Code (n8n's ``code`` v1/v2) in JavaScript or Python, and the legacy Function and
Function Item (JavaScript).

JavaScript runs in the expression sandbox (an isolated V8, see ``relayflow.expressions``), on V8's
own thread while the event loop stays free, with a time limit (the node's ``timeout`` or 60 s).
Python (``language`` "python" or "pythonNative") runs in a fresh sandboxed process from the pool of
``relayflow.sandbox``, with the same time limit; docs/code-node-python.md describes its API.

- Code, "Run Once for All Items" (default): ``$input.all()``, ``items``; return an array of
  items (``{json}`` or bare objects) or a single object.
- Code, "Run Once for Each Item": ``$json``, ``$input.item``, ``item``; return one object (an
  array is accepted: several items, all paired with the input item); ``null`` drops the item.
- Function: ``items`` (mutable), return items. Function Item: ``item`` is the item's json;
  return it (or nothing, keeping the changes made to ``item``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, NodeTimeout
from relayflow.expressions.code import CodeEngineMissing, CodeOutcome, Kind, run_js
from relayflow.expressions.sandbox import Limits
from relayflow.nodes.spec import N8nAlias, NodeSpec
from relayflow.sandbox import SandboxError, SandboxTimeout, run_python

# What n8n runs when an export omits the code (its editor's sample): add myNewField = 1.
DEFAULT_ALL_ITEMS = "for (const it of $input.all()) { it.json.myNewField = 1; }\nreturn $input.all();"
DEFAULT_EACH_ITEM = "$input.item.json.myNewField = 1;\nreturn $input.item;"
DEFAULT_FUNCTION = "for (const it of items) { it.json.myNewField = 1; }\nreturn items;"
DEFAULT_FUNCTION_ITEM = "item.myVariable = 1;\nreturn item;"
DEFAULT_PY_ALL_ITEMS = "for item in _input.all():\n    item.json.myNewField = 1\nreturn _input.all()"
DEFAULT_PY_EACH_ITEM = "_input.item.json.myNewField = 1\nreturn _input.item"
_ITEM_KEYS = ("json", "binary", "pairedItem", "error")


class CodeParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: Literal["runOnceForAllItems", "runOnceForEachItem"] = "runOnceForAllItems"
    language: Literal["javaScript", "python", "pythonNative"] = "javaScript"
    jsCode: str = DEFAULT_ALL_ITEMS
    pythonCode: str = ""


class FunctionParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    functionCode: str = DEFAULT_FUNCTION


class FunctionItemParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    functionCode: str = DEFAULT_FUNCTION_ITEM


def _code_from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    out: dict[str, Any] = {k: params[k] for k in ("mode", "language", "jsCode", "pythonCode") if k in params}
    if "jsCode" not in out and out.get("mode") == "runOnceForEachItem":
        out["jsCode"] = DEFAULT_EACH_ITEM
    return out


def _function_from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    return {k: params[k] for k in ("functionCode",) if k in params}


# ---- results → items ----------------------------------------------------------------------------
def _bad_return(ctx: NodeContext, what: str, index: int | None = None) -> NodeError:
    return NodeError(f"Code doesn't return items properly: {what}", node=ctx.node_name,
                     item_index=index, retryable=False)  # fmt: skip


def _to_item(ctx: NodeContext, value: Any, index: int | None) -> Item:
    if not isinstance(value, dict):
        raise _bad_return(ctx, "return objects ({json: {...}} or plain objects), "
                          f"not {_js_type(value)}", index)  # fmt: skip
    if "json" in value:
        if not isinstance(value["json"], dict):
            raise _bad_return(ctx, "an item's 'json' property must be an object", index)
        return {k: value[k] for k in _ITEM_KEYS if k in value and value[k] is not None}
    return {"json": value}


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return (
        type(value)
        .__name__.replace("str", "a string")
        .replace("int", "a number")
        .replace("float", "a number")
    )


def _all_items_output(ctx: NodeContext, result: Any) -> Items:
    if isinstance(result, dict):
        result = [result]
    if not isinstance(result, list):
        raise _bad_return(ctx, "return an array of objects, one per item, or a single object")
    return [_to_item(ctx, v, None) for v in result]


def _each_item_output(ctx: NodeContext, value: Any, index: int, kind: Kind, items: Items) -> Items:
    if value is None:
        return []
    if kind == "functionItem":
        if not isinstance(value, dict):
            raise _bad_return(ctx, "return the item (an object)", index)
        out: Item = {"json": value, "pairedItem": {"item": index}}
        binary = items[index].get("binary") if index < len(items) else None
        if binary is not None:
            out["binary"] = binary
        return [out]
    values = value if isinstance(value, list) else [value]
    made = [_to_item(ctx, v, index) for v in values]
    return [{**it, "pairedItem": {"item": index}} for it in made]


# ---- running ------------------------------------------------------------------------------------
def _timeout_s(ctx: NodeContext) -> float:
    if ctx.node.timeout:
        return float(ctx.node.timeout)
    limits = getattr(ctx.expressions, "limits", None)
    return limits.code_timeout_s if isinstance(limits, Limits) else Limits().code_timeout_s


def _error(ctx: NodeContext, outcome: CodeOutcome, each: bool) -> NodeError:
    where = []
    if outcome.line is not None:
        where.append(f"line {outcome.line}")
    if each and outcome.item_index is not None:
        where.append(f"for item {outcome.item_index}")
    suffix = f" [{', '.join(where)}]" if where else ""
    return NodeError(outcome.error + suffix, node=ctx.node_name, item_index=outcome.item_index if each else None,
                     retryable=False)  # fmt: skip


async def _run(
    ctx: NodeContext, code: str, mode: Literal["all", "each"], kind: Kind, start: int = 0
) -> CodeOutcome:
    try:
        outcome = await run_js(
            ctx.expressions, ctx.scope(), code, mode=mode, kind=kind, timeout_s=_timeout_s(ctx), start=start
        )
    except CodeEngineMissing as exc:
        raise NodeError(str(exc), node=ctx.node_name, retryable=False) from None
    for line in outcome.logs:
        ctx.print(line)
    if outcome.static_data is not None:
        target = ctx.static_data
        target.clear()
        target.update(outcome.static_data)
    return outcome


async def _run_all(ctx: NodeContext, code: str, kind: Kind) -> NodeOutput:
    outcome = await _run(ctx, code, "all", kind)
    if not outcome.ok:
        raise _error(ctx, outcome, each=False)
    return [_all_items_output(ctx, outcome.result)]


async def _run_each(ctx: NodeContext, items: Items, code: str, kind: Kind) -> NodeOutput:
    """Once per item; with onError set to continue, a failing item is handled and the rest run."""
    out: Items = []
    start = 0
    while start < len(items):
        outcome = await _run(ctx, code, "each", kind, start)
        for k, value in enumerate(outcome.result or []):
            out.extend(_each_item_output(ctx, value, start + k, kind, items))
        if outcome.ok:
            break
        if outcome.timed_out or outcome.item_index is None:
            raise _error(ctx, outcome, each=True)
        handled = ctx.fail_item(_error(ctx, outcome, each=True), outcome.item_index)
        if handled is not None:
            out.append(handled)
        start = outcome.item_index + 1
    return [out]


# ---- Python -------------------------------------------------------------------------------------
def _now(ctx: NodeContext) -> datetime:
    now: datetime = ctx.clock.now()
    tz = ctx.workflow.settings.timezone
    if tz:
        try:
            return now.astimezone(ZoneInfo(tz))
        except (ValueError, KeyError):
            pass
    return now


def _wire_item(item: Item) -> dict[str, Any]:
    """What the code sees of an item: its json, and its binary references as plain dicts."""
    binary = item.get("binary")
    return {"json": item.get("json", {}), "binary": binary} if binary else {"json": item.get("json", {})}


def _python_request(ctx: NodeContext, items: Items, params: CodeParams, timeout_s: float) -> dict[str, Any]:
    each = params.mode == "runOnceForEachItem"
    node, workflow = ctx.node, ctx.workflow
    return {
        "code": params.pythonCode or (DEFAULT_PY_EACH_ITEM if each else DEFAULT_PY_ALL_ITEMS),
        "mode": "each" if each else "all",
        "items": [_wire_item(it) for it in items],
        "node": {"name": node.name, "type": node.type, "typeVersion": node.typeVersion, "id": node.id},
        "workflow": {"id": workflow.id, "name": workflow.name, "active": workflow.active},
        "execution": {"id": ctx.execution_id, "mode": ctx.mode},
        "runIndex": ctx.run_index,
        "now": _now(ctx).isoformat(),
        "continueOnFail": ctx.continue_on_fail,
        "cpuSeconds": math.ceil(timeout_s) + 1,
    }


def _python_error(ctx: NodeContext, err: dict[str, Any], each: bool) -> NodeError:
    kind, message = str(err.get("type") or "Error"), str(err.get("message") or "")
    item = err.get("item")
    outcome = CodeOutcome(
        ok=False,
        error=f"{kind}: {message}" if message else kind,
        line=err["line"] if isinstance(err.get("line"), int) else None,
        item_index=item if isinstance(item, int) else None,
    )
    return _error(ctx, outcome, each)


def _well_formed(response: Any, each: bool, n_items: int) -> bool:
    """Whether the answer has the worker's shape (the code can write to its own pipes)."""
    if not isinstance(response, dict) or not isinstance(response.get("results", []), list):
        return False
    if not isinstance(response.get("logs", []), list) or not isinstance(response.get("err") or {}, dict):
        return False
    return not each or all(
        isinstance(e, dict) and isinstance(e.get("i"), int) and 0 <= e["i"] < n_items
        and isinstance(e.get("err") or {}, dict)
        for e in response["results"]
    )  # fmt: skip


async def _run_python(ctx: NodeContext, items: Items, params: CodeParams) -> NodeOutput:
    timeout_s = _timeout_s(ctx)
    try:
        response = await run_python(_python_request(ctx, items, params, timeout_s), timeout_s=timeout_s)
    except SandboxTimeout:
        raise NodeTimeout(f"the Python code timed out after {timeout_s:g} s", node=ctx.node_name,
                          retryable=False) from None  # fmt: skip
    except SandboxError as exc:
        raise NodeError(exc.message, node=ctx.node_name, retryable=False) from None
    each = params.mode == "runOnceForEachItem"
    if not _well_formed(response, each, len(items)):
        raise NodeError("the Python code's worker gave a malformed answer (did the code write to its "
                        "pipes?)", node=ctx.node_name, retryable=False)  # fmt: skip
    for line in response.get("logs") or ():
        ctx.print(str(line))
    if response.get("err") is not None:
        raise _python_error(ctx, response["err"], each)
    results = response.get("results") or []
    if not each:
        return [_all_items_output(ctx, results[0] if results else None)]
    out: Items = []
    for entry in results:
        index = int(entry["i"])
        if "err" in entry:
            handled = ctx.fail_item(_python_error(ctx, entry["err"], each), index)
            if handled is not None:
                out.append(handled)
        else:
            out.extend(_each_item_output(ctx, entry.get("ok"), index, "code", items))
    return [out]


async def execute_code(ctx: NodeContext, items: Items, params: CodeParams) -> NodeOutput:
    if params.language != "javaScript":
        return await _run_python(ctx, items, params)
    if params.mode == "runOnceForEachItem":
        return await _run_each(ctx, items, params.jsCode, "code")
    return await _run_all(ctx, params.jsCode, "code")


async def execute_function(ctx: NodeContext, items: Items, params: FunctionParams) -> NodeOutput:
    return await _run_all(ctx, params.functionCode, "function")


async def execute_function_item(ctx: NodeContext, items: Items, params: FunctionItemParams) -> NodeOutput:
    return await _run_each(ctx, items, params.functionCode, "functionItem")


CODE = NodeSpec(
    type="relayflow.code",
    version=1,
    title="Code",
    group="transform",
    description="Runs JavaScript or Python once for all items or once for each item.",
    params=CodeParams,
    execute=execute_code,
    aliases=(N8nAlias("n8n-nodes-base.code", (1, 2), translate=_code_from_n8n),),
)
FUNCTION = NodeSpec(
    type="relayflow.function",
    version=1,
    title="Function (legacy)",
    group="transform",
    description="n8n's legacy Function node: JavaScript over all items (`items`).",
    params=FunctionParams,
    execute=execute_function,
    aliases=(N8nAlias("n8n-nodes-base.function", (1,), translate=_function_from_n8n),),
)
FUNCTION_ITEM = NodeSpec(
    type="relayflow.functionItem",
    version=1,
    title="Function Item (legacy)",
    group="transform",
    description="n8n's legacy Function Item node: JavaScript once per item (`item`).",
    params=FunctionItemParams,
    execute=execute_function_item,
    aliases=(N8nAlias("n8n-nodes-base.functionItem", (1,), translate=_function_from_n8n),),
)

SPECS: tuple[NodeSpec, ...] = (CODE, FUNCTION, FUNCTION_ITEM)
