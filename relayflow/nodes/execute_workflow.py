"""Execute Workflow (Execute Sub-workflow): run another workflow and return its result.

The sub-workflow starts at its Execute Workflow Trigger with the items given. The node's output is
the output of the sub-workflow's last executed node (n8n's rule). ``mode: each`` runs the
sub-workflow once per item; ``options.waitForSubWorkflow: false`` starts it and passes the input
items through. ``workflowInputs`` (n8n 1.1+) maps each item onto the sub-workflow's inputs.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput, passthrough
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import NodeError, RelayflowError
from relayflow.nodes.spec import N8nAlias, NodeSpec
from relayflow.workflow.model import Workflow

Source = Literal["database", "localFile", "parameter", "url"]


class ResourceLocator(BaseModel):
    """n8n's resource locator value: ``{"__rl": true, "value": ..., "mode": "id"|"list"|...}``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    rl: bool = Field(default=True, alias="__rl")
    value: str | int = ""
    mode: str = "id"
    cachedResultName: str | None = None
    cachedResultUrl: str | None = None


class MappedField(BaseModel):
    """One entry of a resource mapper's schema (as n8n's editor writes it)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    displayName: str = ""
    type: str = "string"
    required: bool = False
    removed: bool = False


class WorkflowInputs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    mappingMode: Literal["defineBelow", "autoMapInputData"] = "defineBelow"
    value: dict[str, Any] | None = None
    matchingColumns: list[str] = []
    fields: list[MappedField] = Field(default=[], alias="schema")
    attemptToConvertTypes: bool = False
    convertFieldsToString: bool = False
    options: dict[str, Any] = {}


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    waitForSubWorkflow: bool = True


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source = "database"
    workflowId: str | int | ResourceLocator = ""
    workflowPath: str = ""
    workflowJson: str | dict[str, Any] = ""
    workflowUrl: str = ""
    mode: Literal["once", "each"] = "once"
    workflowInputs: WorkflowInputs | None = None
    options: Options = Options()


def _reference(params: Params) -> Any:
    if params.source == "localFile":
        return params.workflowPath
    if params.source == "parameter":
        return params.workflowJson
    ref = params.workflowId
    if isinstance(ref, ResourceLocator):
        return ref.model_dump(by_alias=True, exclude_none=True)
    return str(ref)


def _missing_reference(params: Params) -> str | None:
    if params.source == "url":
        return "loading a sub-workflow from a URL is not supported (use localFile, parameter or database)"
    ref = _reference(params)
    value = ref.get("value") if params.source == "database" and isinstance(ref, dict) else ref
    if value in ("", None, {}):
        field = {"localFile": "workflowPath", "parameter": "workflowJson"}.get(params.source, "workflowId")
        return f"no sub-workflow given: set '{field}'"
    return None


async def _load(ctx: NodeContext, params: Params) -> Workflow:
    problem = _missing_reference(params)
    if problem is not None:
        raise NodeError(problem, node=ctx.node_name, retryable=False)
    try:
        return await ctx.load_workflow(params.source, _reference(params))
    except NodeError:
        raise
    except RelayflowError as exc:
        raise NodeError(
            f"cannot load the sub-workflow: {exc.message}", node=ctx.node_name, retryable=False
        ) from exc


def _convert(value: Any, type_: str) -> Any:
    """``attemptToConvertTypes``: best effort; a value that does not convert is passed as it is."""
    if value is None or type_ not in ("number", "boolean", "string"):
        return value
    if type_ == "string":
        return value if isinstance(value, str) else str(value)
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return {"true": True, "false": False, "1": True, "0": False}.get(text, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    for number in (int, float):
        try:
            return number(str(value).strip())
        except ValueError:
            continue
    return value


def _child_item(it: Item, params: Params) -> Item:
    """The item the sub-workflow receives for input item ``it``."""
    child: Item = {"json": dict(it.get("json", {}))}
    if "binary" in it:
        child["binary"] = it["binary"]
    mapping = params.workflowInputs
    if mapping is None or mapping.mappingMode == "autoMapInputData":
        return child
    values = dict(mapping.value or {})
    if mapping.attemptToConvertTypes:
        # the editor keys values by field id; hand-written exports sometimes by display name
        types = {f.displayName: f.type for f in mapping.fields} | {f.id: f.type for f in mapping.fields}
        values = {k: _convert(v, types.get(k, "any")) for k, v in values.items()}
    return {"json": values}


def _result(record: ExecutionRecord) -> Items:
    """Items of the sub-workflow's last executed node (main output, last run)."""
    if record.last_node is None:
        return []
    runs = record.runs_of(record.last_node)
    if runs and runs[-1].output is not None:
        return list(runs[-1].output[0]) if runs[-1].output else []
    out = record.result.get(record.last_node)
    return list(out[0]) if out else []


async def _call(ctx: NodeContext, wf: Workflow, items: Items, wait: bool) -> Items:
    record = await ctx.execute_workflow(wf, items, wait=wait)
    if record is None:
        return []
    if record.status.value != "succeeded":
        err = record.error or {}
        where = f" (sub-workflow {wf.name!r}, node {err['node']!r})" if err.get("node") else ""
        raise NodeError(
            str(err.get("message") or f"the sub-workflow ended {record.status.value}"),
            node=ctx.node_name,
            description=f"the sub-workflow failed{where}",
        )
    return [{k: v for k, v in it.items() if k != "pairedItem"} for it in _result(record)]


async def _run_each(ctx: NodeContext, items: Items, per_item: list[Params]) -> Items:
    """One sub-workflow run per item (the workflow reference may differ per item)."""
    loaded: dict[str, Workflow] = {}
    out: Items = []
    for i, (it, p) in enumerate(zip(items, per_item, strict=True)):
        try:
            key = repr((p.source, _reference(p)))
            if key not in loaded:
                loaded[key] = await _load(ctx, p)
            result = await _call(ctx, loaded[key], [_child_item(it, p)], p.options.waitForSubWorkflow)
        except NodeError as exc:
            err_item = ctx.fail_item(exc, i)
            if err_item is not None:
                out.append(err_item)
            continue
        out.extend({**r, "pairedItem": {"item": i}} for r in result)
    return out


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    wait = params.options.waitForSubWorkflow
    per_item = cast("list[Params]", await ctx.item_params())
    if params.mode == "each":
        out = await _run_each(ctx, items, per_item)
        return [out if wait else passthrough(items)]
    wf = await _load(ctx, params)
    children = [_child_item(it, p) for it, p in zip(items, per_item, strict=True)]
    result = await _call(ctx, wf, children, wait)
    return [result if wait else passthrough(items)]


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.executeWorkflow",
        version=1,
        title="Execute Workflow",
        group="flow",
        description="Runs another workflow (from a file, inline JSON or by id) and returns the "
        "output of its last node.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.executeWorkflow", (1, 1.1, 1.2, 1.3)),),
    ),
)
