"""Code nodes in JavaScript: Code (n8n's ``code`` v1/v2), and the legacy Function and Function Item.

The code runs in the expression sandbox (an isolated V8, see ``relayflow.expressions``), on V8's
own thread while the event loop stays free, with a time limit (the node's ``timeout`` or 60 s).

- Code, "Run Once for All Items" (default): ``$input.all()``, ``items``; return an array of
  items (``{json}`` or bare objects) or a single object.
- Code, "Run Once for Each Item": ``$json``, ``$input.item``, ``item``; return one object (an
  array is accepted: several items, all paired with the input item); ``null`` drops the item.
- Function: ``items`` (mutable), return items. Function Item: ``item`` is the item's json;
  return it (or nothing, keeping the changes made to ``item``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.expressions.code import CodeEngineMissing, CodeOutcome, Kind, run_js
from relayflow.expressions.sandbox import Limits
from relayflow.nodes.spec import N8nAlias, NodeSpec

# What n8n runs when an export omits the code (its editor's sample): add myNewField = 1.
DEFAULT_ALL_ITEMS = "for (const it of $input.all()) { it.json.myNewField = 1; }\nreturn $input.all();"
DEFAULT_EACH_ITEM = "$input.item.json.myNewField = 1;\nreturn $input.item;"
DEFAULT_FUNCTION = "for (const it of items) { it.json.myNewField = 1; }\nreturn items;"
DEFAULT_FUNCTION_ITEM = "item.myVariable = 1;\nreturn item;"
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


async def execute_code(ctx: NodeContext, items: Items, params: CodeParams) -> NodeOutput:
    if params.language != "javaScript":
        raise NodeError("Python Code nodes arrive in a later release", node=ctx.node_name, retryable=False)
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
    description="Runs JavaScript once for all items or once for each item.",
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
