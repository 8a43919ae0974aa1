"""Merge: combines the items of several inputs (append, join by fields or position, cross
product, or one chosen input).

Merged items point at every item they were made from (``pairedItem`` is a list, with
``"input": k`` for input k > 0), so ``$('Node').item`` keeps working downstream.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput, forward
from relayflow.errors import NodeError
from relayflow.nodes.conditions import js_string
from relayflow.nodes.fieldpath import MISSING, get_path
from relayflow.nodes.spec import N8nAlias, NodeSpec

Mode = Literal["append", "combineByFields", "combineByPosition", "combineAll", "chooseBranch", "combineBySql"]
Join = Literal["keepMatches", "keepNonMatches", "keepEverything", "enrichInput1", "enrichInput2"]


class FieldPair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field1: str
    field2: str


class ClashHandling(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # which value wins when inputs share a field; addSuffix renames every field to name_<input>
    resolve: Literal["preferLast", "preferInput1", "addSuffix"] = "preferLast"
    merge_mode: Literal["deepMerge", "shallowMerge"] = "deepMerge"
    # an empty winning value (null, "") gives way to a non-empty one
    override_empty: bool = False


class MergeParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "append"
    # n8n's editor offers up to 10 inputs; relayflow accepts wide fan-in (benchmark S4: 400)
    number_inputs: int = Field(default=2, ge=1, le=1024)
    # combineByFields: field1 of input 1 must equal field2 of input 2 (every pair)
    fields: list[FieldPair] = []
    join: Join = "keepMatches"
    output_data_from: Literal["both", "input1", "input2"] = "both"
    multiple_matches: Literal["all", "first"] = "all"
    fuzzy_compare: bool = False
    dot_notation: bool = True
    # combineByPosition: inner (shortest input), left (input 1's length) or outer (longest)
    position_join: Literal["inner", "left", "outer"] = "inner"
    clash: ClashHandling = ClashHandling()
    # chooseBranch: output the items of input ``choose_input`` (1-based), or one empty item
    choose_input: int = Field(default=1, ge=1, le=1024)
    choose_output: Literal["input", "empty"] = "input"


def input_names(params: MergeParams | None) -> tuple[str, ...]:
    count = 2 if params is None or params.mode == "combineByFields" else params.number_inputs
    return tuple(f"input{k + 1}" for k in range(count))


# merging json ----------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _merge_into(target: dict[str, Any], source: dict[str, Any], clash: ClashHandling) -> None:
    for key, value in source.items():
        if key not in target:
            target[key] = value
            continue
        old = target[key]
        if clash.merge_mode == "deepMerge" and isinstance(old, dict) and isinstance(value, dict):
            merged = dict(old)
            _merge_into(merged, value, clash)
            target[key] = merged
            continue
        if clash.resolve == "preferLast":
            take_new = not (clash.override_empty and _empty(value) and not _empty(old))
        else:
            take_new = clash.override_empty and _empty(old) and not _empty(value)
        if take_new:
            target[key] = value


def merge_json(parts: list[tuple[int, dict[str, Any]]], clash: ClashHandling) -> dict[str, Any]:
    """One json from ``(input index, json)`` parts, clashes resolved per ``clash``."""
    out: dict[str, Any] = {}
    for k, data in parts:
        if clash.resolve == "addSuffix":
            out.update({f"{key}_{k + 1}": value for key, value in data.items()})
        else:
            _merge_into(out, data, clash)
    return out


def merged_item(parts: list[tuple[int, int, Item]], clash: ClashHandling) -> Item:
    """A new item from ``(input index, item index, item)`` parts."""
    if len(parts) == 1:
        k, j, it = parts[0]
        return forward(it, j, k)
    data = merge_json([(k, it.get("json", {})) for k, _, it in parts], clash)
    new: Item = {
        "json": data,
        "pairedItem": [{"item": j, "input": k} if k else {"item": j} for k, j, _ in parts],
    }
    binaries = [it["binary"] for _, _, it in parts if it.get("binary")]
    if binaries:
        binary: dict[str, Any] = {}
        for b in binaries if clash.resolve != "preferInput1" else reversed(binaries):
            binary.update(b)
        new["binary"] = binary
    return new


# modes -----------------------------------------------------------------------------------------


def _append(inputs: list[Items]) -> Items:
    return [forward(it, j, k) for k, items in enumerate(inputs) for j, it in enumerate(items)]


def _by_position(inputs: list[Items], p: MergeParams) -> Items:
    lengths = [len(items) for items in inputs]
    if p.position_join == "outer":
        count = max(lengths, default=0)
    elif p.position_join == "left":
        count = lengths[0] if lengths else 0
    else:
        count = min(lengths, default=0)
    return [
        merged_item([(k, j, items[j]) for k, items in enumerate(inputs) if j < len(items)], p.clash)
        for j in range(count)
    ]


def _combine_all(inputs: list[Items], p: MergeParams) -> Items:
    indexed = [list(enumerate(items)) for items in inputs]
    return [
        merged_item([(k, j, it) for k, (j, it) in enumerate(combo)], p.clash)
        for combo in itertools.product(*indexed)
    ]


def _choose(inputs: list[Items], p: MergeParams) -> Items:
    if p.choose_output == "empty":
        return [{"json": {}, "pairedItem": {"item": 0}}]
    k = p.choose_input - 1
    items = inputs[k] if k < len(inputs) else []
    return [forward(it, j, k) for j, it in enumerate(items)]


def _key_part(value: Any, fuzzy: bool) -> Any:
    if fuzzy:
        return js_string(value)
    if isinstance(value, (bool, str)):
        return (type(value).__name__, value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _keys(items: Items, paths: list[str], p: MergeParams) -> list[tuple[Any, ...] | None]:
    out: list[tuple[Any, ...] | None] = []
    for it in items:
        values = [get_path(it.get("json", {}), path, p.dot_notation) for path in paths]
        missing = any(v is None or v is MISSING for v in values)
        out.append(None if missing else tuple(_key_part(v, p.fuzzy_compare) for v in values))
    return out


def _index(keys: list[tuple[Any, ...] | None]) -> dict[tuple[Any, ...], list[int]]:
    index: dict[tuple[Any, ...], list[int]] = {}
    for j, key in enumerate(keys):
        if key is not None:
            index.setdefault(key, []).append(j)
    return index


def _by_fields(in1: Items, in2: Items, p: MergeParams) -> Items:
    if not p.fields:
        raise NodeError("Merge: set at least one pair of fields to match", retryable=False)
    keys1 = _keys(in1, [f.field1 for f in p.fields], p)
    keys2 = _keys(in2, [f.field2 for f in p.fields], p)
    if p.join == "enrichInput2":
        return _enrich(in2, keys2, 1, in1, _index(keys1), 0, p)
    index2 = _index(keys2)
    matches = [index2.get(key, []) if key is not None else [] for key in keys1]
    if p.multiple_matches == "first":
        matches = [m[:1] for m in matches]
    matched2 = sorted({j for m in matches for j in m})
    unmatched2 = [j for j in range(len(in2)) if j not in set(matched2)]
    if p.join in ("enrichInput1", "keepEverything"):
        out = _enrich(in1, keys1, 0, in2, index2, 1, p)
        return out + ([forward(in2[j], j, 1) for j in unmatched2] if p.join == "keepEverything" else [])
    if p.join == "keepNonMatches":
        rest1 = [forward(it, i, 0) for i, it in enumerate(in1) if not matches[i]]
        rest2 = [forward(in2[j], j, 1) for j in unmatched2]
        return {"input1": rest1, "input2": rest2}.get(p.output_data_from, rest1 + rest2)
    if p.output_data_from == "input1":
        return [forward(it, i, 0) for i, it in enumerate(in1) if matches[i]]
    if p.output_data_from == "input2":
        return [forward(in2[j], j, 1) for j in matched2]
    return [
        merged_item([(0, i, in1[i]), (1, j, in2[j])], p.clash) for i in range(len(in1)) for j in matches[i]
    ]


def _enrich(
    base: Items,
    keys: list[tuple[Any, ...] | None],
    base_k: int,
    other: Items,
    other_index: dict[tuple[Any, ...], list[int]],
    other_k: int,
    p: MergeParams,
) -> Items:
    """Every ``base`` item, merged with each matching ``other`` item (input order kept)."""
    out: Items = []
    for i, it in enumerate(base):
        key = keys[i]
        found = other_index.get(key, []) if key is not None else []
        if p.multiple_matches == "first":
            found = found[:1]
        if not found:
            out.append(forward(it, i, base_k))
        for j in found:
            parts = [(base_k, i, it), (other_k, j, other[j])]
            out.append(merged_item(sorted(parts, key=lambda part: part[0]), p.clash))
    return out


async def execute(ctx: NodeContext, items: Items, params: MergeParams) -> NodeOutput:
    width = max(len(input_names(params)), len(ctx.inputs))
    inputs = [ctx.input(k) for k in range(width)]
    mode = params.mode
    if mode == "combineBySql":
        raise NodeError(
            "Merge mode 'SQL Query' (combineBySql) is not supported by relayflow; use a Code node instead",
            retryable=False,
        )
    if mode == "append":
        return [_append(inputs)]
    if mode == "combineByPosition":
        return [_by_position(inputs, params)]
    if mode == "combineAll":
        return [_combine_all(inputs, params)]
    if mode == "chooseBranch":
        return [_choose(inputs, params)]
    return [_by_fields(inputs[0], inputs[1], params)]


# n8n -> our parameters -------------------------------------------------------------------------

_V1_MODES: dict[str, dict[str, Any]] = {
    "append": {"mode": "append"},
    "keepKeyMatches": {
        "mode": "combineByFields",
        "join": "keepMatches",
        "output_data_from": "input1",
        "multiple_matches": "first",
        "fuzzy_compare": True,
    },
    "removeKeyMatches": {
        "mode": "combineByFields",
        "join": "keepNonMatches",
        "output_data_from": "input1",
        "fuzzy_compare": True,
    },
    "mergeByKey": {
        "mode": "combineByFields",
        "join": "enrichInput1",
        "multiple_matches": "first",
        "fuzzy_compare": True,
    },
    "mergeByIndex": {"mode": "combineByPosition"},
    "multiplex": {"mode": "combineAll"},
    "passThrough": {"mode": "chooseBranch"},
    "wait": {"mode": "chooseBranch", "choose_output": "empty"},
}
# mergeByKey's "overwrite": when a field of input 2 replaces the one of input 1
_V1_OVERWRITE = {
    "always": {"resolve": "preferLast", "merge_mode": "shallowMerge"},
    "undefined": {"resolve": "preferInput1", "merge_mode": "shallowMerge"},
    "blank": {"resolve": "preferInput1", "merge_mode": "shallowMerge", "override_empty": True},
}
_V2_COMBINE = {
    "mergeByFields": "combineByFields",
    "mergeByPosition": "combineByPosition",
    "multiplex": "combineAll",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _v1(params: dict[str, Any]) -> dict[str, Any]:
    mode = str(params.get("mode", "append"))
    out: dict[str, Any] = dict(_V1_MODES.get(mode, {"mode": mode}))
    if out["mode"] == "combineByFields":
        out["fields"] = [
            {"field1": params.get("propertyName1", ""), "field2": params.get("propertyName2", "")}
        ]
        out["clash"] = _V1_OVERWRITE.get(str(params.get("overwrite", "always")), _V1_OVERWRITE["always"])
    elif out["mode"] in ("combineByPosition", "combineAll"):
        out["clash"] = {"merge_mode": "shallowMerge"}
        out["position_join"] = params.get("join", "inner")
    elif mode == "passThrough":
        out["choose_input"] = 2 if params.get("output") == "input2" else 1
    return out


def _clash(options: dict[str, Any]) -> dict[str, Any]:
    values = _dict(_dict(options.get("clashHandling")).get("values"))
    resolve = values.get("resolveClash", "preferLast")
    return {
        "resolve": "preferLast" if resolve == "preferInput2" else resolve,
        "merge_mode": values.get("mergeMode", "deepMerge"),
        "override_empty": values.get("overrideEmpty", False),
    }


def _fields(params: dict[str, Any], version: float) -> list[dict[str, Any]]:
    if version >= 3 and not params.get("advanced") and "fieldsToMatchString" in params:
        text = params.get("fieldsToMatchString") or ""
        names = [n.strip() for n in str(text).split(",") if n.strip()]
        return [{"field1": n, "field2": n} for n in names]
    pairs = _dict(params.get("mergeByFields")).get("values") or []
    return [
        {"field1": v.get("field1", ""), "field2": v.get("field2", "")} for v in pairs if isinstance(v, dict)
    ]


def _choose_from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    output = params.get("output", "specifiedInput" if version >= 3 else "input1")
    if output == "empty":
        return {"mode": "chooseBranch", "choose_output": "empty"}
    chosen = params.get("useDataOfInput", 1) if version >= 3 else (2 if output == "input2" else 1)
    return {"mode": "chooseBranch", "choose_input": chosen}


def _from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    if version < 2:
        return _v1(params)
    mode = params.get("mode", "append")
    out: dict[str, Any] = {"number_inputs": params.get("numberInputs", 2)} if version >= 3 else {}
    if mode == "chooseBranch":
        return {**out, **_choose_from_n8n(params, version)}
    if mode != "combine":
        return {**out, "mode": mode}
    options = _dict(params.get("options"))
    combine = (
        params.get("combineBy", "combineByFields")
        if version >= 3
        else _V2_COMBINE.get(params.get("combinationMode", "mergeByFields"), "combineByFields")
    )
    out.update(
        mode=combine,
        clash=_clash(options),
        join=params.get("joinMode", "keepMatches"),
        output_data_from=params.get("outputDataFrom", "both"),
        fields=_fields(params, version),
        fuzzy_compare=options.get("fuzzyCompare", False),
        dot_notation=not options.get("disableDotNotation", False),
        multiple_matches=options.get("multipleMatches", "all"),
        position_join="outer" if options.get("includeUnpaired") else "inner",
    )
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.merge",
        version=1,
        title="Merge",
        group="flow",
        description="Combine the items of several inputs: append, join, pair by position or choose one.",
        params=MergeParams,
        execute=execute,
        inputs=input_names,
        aliases=(N8nAlias("n8n-nodes-base.merge", (1, 2, 2.1, 3, 3.1, 3.2), translate=_from_n8n),),
    ),
)
