"""Switch: routes each item to one (or every) output whose rule matches, or to an output index.

Modes: ``rules`` (typed conditions per output, n8n v3), ``expression`` (``output`` gives the
index per item), and ``legacy`` (n8n v1/v2: ``value1`` compared with each rule's ``value2``).
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput, forward
from relayflow.errors import NodeError, RelayflowError
from relayflow.nodes.conditions import FilterConditions, evaluate_filter, legacy_compare, to_number
from relayflow.nodes.conditions.legacy import OPERATIONS, DataType
from relayflow.nodes.spec import N8nAlias, NodeSpec

_LEGACY_DEFAULT_OPERATION = {"boolean": "equal", "number": "equal", "string": "equal", "dateTime": "after"}
_LEGACY_DEFAULT_VALUE: dict[str, Any] = {"boolean": False, "number": 0, "string": "", "dateTime": ""}


class SwitchRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    conditions: FilterConditions = FilterConditions()
    # the output's name (n8n's outputKey when renameOutput is on); None: its index
    output_name: str | None = None


class LegacyRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value2: Any = None
    operation: str | None = None
    output: int = 0


class SwitchParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["rules", "expression", "legacy"] = "rules"
    rules: list[SwitchRule] = []
    # unmatched items: dropped ("none"), sent to an extra last output ("extra"), or to an index
    fallback_output: Literal["none", "extra"] | int = "none"
    fallback_name: str = "Fallback"
    all_matching_outputs: bool = False
    ignore_case: bool | None = None
    loose_type_validation: bool = False
    # expression mode (and legacy expression mode): the output index of each item
    output: Any = None
    number_outputs: int = Field(default=4, ge=1, le=64)
    # legacy mode: value1 compared with each rule's value2 as data_type
    data_type: DataType = "number"
    value1: Any = None
    legacy_rules: list[LegacyRule] = []

    @model_validator(mode="after")
    def _known_operations(self) -> SwitchParams:
        for rule in self.legacy_rules:
            if rule.operation is not None and rule.operation not in OPERATIONS[self.data_type]:
                raise ValueError(f"unknown {self.data_type} operation {rule.operation!r}")
        return self


def output_names(params: SwitchParams | None) -> tuple[str, ...]:
    if params is None or params.mode != "rules":
        count = params.number_outputs if params is not None else 4
        return tuple(str(i) for i in range(count))
    names = [r.output_name or str(i) for i, r in enumerate(params.rules)]
    if params.fallback_output == "extra":
        names.append(params.fallback_name)
    return tuple(names)


def _out_of_range(index: Any, count: int) -> NodeError:
    return NodeError(
        f"The output {index} is not allowed. It has to be between 0 and {count - 1}!", retryable=False
    )


def _targets(p: SwitchParams) -> list[int]:
    """The output indexes one item goes to under its evaluated parameters."""
    if p.mode == "expression":
        number = to_number(p.output)
        if number is None or not float(number).is_integer() or not 0 <= number < p.number_outputs:
            raise _out_of_range(p.output, p.number_outputs)
        return [int(number)]
    if p.mode == "legacy":
        for legacy in p.legacy_rules:
            op = legacy.operation or _LEGACY_DEFAULT_OPERATION[p.data_type]
            if legacy_compare(p.data_type, op, p.value1, legacy.value2):
                return [legacy.output]
        return [p.fallback_output] if isinstance(p.fallback_output, int) and p.fallback_output >= 0 else []
    matched: list[int] = []
    for index, rule in enumerate(p.rules):
        if evaluate_filter(rule.conditions, loose=p.loose_type_validation, ignore_case=p.ignore_case):
            matched.append(index)
            if not p.all_matching_outputs:
                break
    if matched or p.fallback_output == "none":
        return matched
    return [len(p.rules) if p.fallback_output == "extra" else int(p.fallback_output)]


async def execute(ctx: NodeContext, items: Items, params: SwitchParams) -> NodeOutput:
    width = len(output_names(params))
    outputs: NodeOutput = [[] for _ in range(width)]
    per_item = cast("list[SwitchParams]", await ctx.item_params())
    for i, (it, p) in enumerate(zip(items, per_item, strict=True)):
        try:
            targets = _targets(p)
            for k in targets:
                if not 0 <= k < width:
                    raise _out_of_range(k, width)
        except RelayflowError as exc:
            if ctx.fail_item(exc, i) is not None:
                outputs[0].append(forward(it, i))
            continue
        for k in targets:
            outputs[k].append(forward(it, i))
    return outputs


# n8n -> our parameters -------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _fallback(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and value < 0:
        return "none"
    return "none" if value is None else value


def _legacy_from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    outputs = params.get("outputsAmount", 4) if version >= 2 else 4
    if params.get("mode") == "expression":
        return {"mode": "expression", "output": params.get("output", 0), "number_outputs": outputs}
    data_type = params.get("dataType", "number")
    default = _LEGACY_DEFAULT_VALUE.get(str(data_type))
    rules = _dict(params.get("rules")).get("rules") or []
    legacy_rules = [
        {"value2": r.get("value2", default), "operation": r.get("operation"), "output": r.get("output", 0)}
        for r in rules
        if isinstance(r, dict)
    ]
    fallback = _fallback(params.get("fallbackOutput", -1))
    needed = max([r["output"] for r in legacy_rules if isinstance(r["output"], int)] + [3])
    if isinstance(fallback, int):
        needed = max(needed, fallback)
    return {
        "mode": "legacy",
        "data_type": data_type,
        "value1": params.get("value1", default),
        "legacy_rules": legacy_rules,
        "fallback_output": fallback,
        "number_outputs": needed + 1,
    }


def _from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    if version < 3:
        return _legacy_from_n8n(params, version)
    options = _dict(params.get("options"))
    if params.get("mode") == "expression":
        return {
            "mode": "expression",
            "output": params.get("output", 0),
            "number_outputs": params.get("numberOutputs", 4),
        }
    box = _dict(params.get("rules"))
    raw_rules = box.get("values", box.get("rules")) or []
    rules = [
        {
            "conditions": r.get("conditions", {}),
            "output_name": r.get("outputKey") if r.get("renameOutput") and r.get("outputKey") else None,
        }
        for r in raw_rules
        if isinstance(r, dict)
    ]
    out: dict[str, Any] = {
        "mode": "rules",
        "rules": rules,
        "fallback_output": _fallback(options.get("fallbackOutput")),
    }
    if options.get("renameFallbackOutput"):
        out["fallback_name"] = options["renameFallbackOutput"]
    for ours, theirs in (("all_matching_outputs", "allMatchingOutputs"), ("ignore_case", "ignoreCase")):
        if options.get(theirs) is not None:
            out[ours] = options[theirs]
    loose = params.get("looseTypeValidation", options.get("looseTypeValidation"))
    if loose is not None:
        out["loose_type_validation"] = loose
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.switch",
        version=1,
        title="Switch",
        group="flow",
        description="Route items to different outputs by rules or by an output index.",
        params=SwitchParams,
        execute=execute,
        outputs=output_names,
        aliases=(N8nAlias("n8n-nodes-base.switch", (1, 2, 3, 3.1, 3.2, 3.3, 3.4), translate=_from_n8n),),
    ),
)
