"""Set (n8n's "Edit Fields"): set fields on each item, keeping all, none or some of the others.

Hot path (S10 bench: a million items): the parameters are validated once; per-item values of
expressions come from ``ctx.param_columns()`` and are converted here, without a model per item.
Other parameters (include, options) that hold expressions use item 0's value.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, RelayflowError
from relayflow.nodes.conditions import js_string, to_number
from relayflow.nodes.conditions.coerce import to_boolean
from relayflow.nodes.fieldpath import field_list, omit, pick, set_path
from relayflow.nodes.spec import N8nAlias, NodeSpec

FieldType = Literal["string", "number", "boolean", "array", "object", "any"]
Include = Literal["all", "none", "selected", "except"]


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: Any = None
    # the value is converted to this type ("any": kept as it is)
    type: FieldType = "string"


class SetParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["manual", "raw"] = "manual"
    assignments: list[Assignment] = []
    # raw mode: an object, or a JSON string of one, whose fields are set
    json_output: Any = None
    # which input fields the output item starts from
    include: Include = "none"
    # comma-separated or a list; "selected" keeps these, "except" drops these
    include_fields: str | list[str] = []
    exclude_fields: str | list[str] = []
    # "a.b" sets field b inside a (and "a[0]" an array element); off: "a.b" is one field name
    dot_notation: bool = True
    # keep a value that does not convert to its type instead of failing the item
    ignore_conversion_errors: bool = False
    include_binary: bool = True


# type conversion ---------------------------------------------------------------------------------


class ConversionFailed(NodeError):
    code = "set_conversion_failed"


def _fail(name: str, value: Any, expected: str) -> ConversionFailed:
    shown = js_string(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ConversionFailed(
        f"'{name}' expects a {expected} but we got '{shown}'",
        retryable=False,
        description="Change the field's type, or enable 'Ignore Type Conversion Errors'.",
    )


def _json_of(value: Any, kind: type) -> Any:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, kind) else None
    return None


def _as_number(value: Any) -> Any:
    return to_number(value)


def _as_array(value: Any) -> Any:
    return value if isinstance(value, list) else _json_of(value, list)


def _as_object(value: Any) -> Any:
    return value if isinstance(value, dict) else _json_of(value, dict)


_CONVERT: dict[str, tuple[Callable[[Any], Any], str]] = {
    "number": (_as_number, "number"),
    "boolean": (to_boolean, "boolean"),
    "array": (_as_array, "array"),
    "object": (_as_object, "object"),
}


def convert(name: str, value: Any, type_: str, ignore_errors: bool) -> Any:
    """``value`` as ``type_`` with n8n's rules (``"5"`` -> 5, ``"true"`` -> True, JSON text -> object)."""
    if value is None or type_ == "any":
        return value
    if type_ == "string":
        return value if type(value) is str else js_string(value)
    fn, expected = _CONVERT[type_]
    converted = fn(value)
    if converted is None:
        if ignore_errors:
            return value
        raise _fail(name, value, expected)
    return converted


# execution ---------------------------------------------------------------------------------------


class _Base:
    """Builds the json an output item starts from (the fields ``include`` keeps)."""

    def __init__(self, p: SetParams) -> None:
        self.include = p.include
        self.dot = p.dot_notation
        self.selected = field_list(p.include_fields)
        self.excluded = field_list(p.exclude_fields)

    def __call__(self, src: dict[str, Any]) -> dict[str, Any]:
        if self.include == "all":
            return dict(src)
        if self.include == "none":
            return {}
        if self.include == "selected":
            return pick(src, self.selected, self.dot)
        return omit(src, self.excluded, self.dot)


class _Field:
    """One assignment: its static name/value, or the per-item columns of its expressions."""

    def __init__(self, index: int, a: Assignment, cols: dict[Any, list[Any]], p: SetParams) -> None:
        self.name = a.name
        self.names = cols.get(("assignments", index, "name"))
        self.values = cols.get(("assignments", index, "value"))
        self.type = a.type
        self.ignore = p.ignore_conversion_errors
        self.dot = p.dot_notation
        self.static: Any = None
        self.static_error: RelayflowError | None = None
        if self.values is None:
            try:
                self.static = convert(a.name, a.value, a.type, self.ignore)
            except RelayflowError as exc:
                self.static_error = exc
        self.copy_static = isinstance(self.static, (dict, list))

    def apply(self, data: dict[str, Any], i: int) -> None:
        name = self.name if self.names is None else js_string(self.names[i])
        if self.values is not None:
            value = convert(name, self.values[i], self.type, self.ignore)
        elif self.static_error is not None:
            raise self.static_error
        else:
            value = copy.deepcopy(self.static) if self.copy_static else self.static
        if self.dot and ("." in name or "[" in name):
            try:
                set_path(data, name, value)
            except ValueError as exc:
                raise NodeError(f"cannot set field {name!r}: {exc}", retryable=False) from exc
        else:
            data[name] = value


def _raw_fields(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise NodeError(f"'JSON Output' does not contain valid JSON: {exc}", retryable=False) from exc
    if not isinstance(value, dict):
        raise NodeError("'JSON Output' must be a JSON object", retryable=False)
    return value


def _fast_path(fields: list[_Field], p: SetParams) -> bool:
    """Plain field names and static values that need no copy: the bench's hot loop applies."""
    if p.mode != "manual" or p.include not in ("all", "none"):
        return False
    return all(
        f.names is None
        and f.static_error is None
        and not f.copy_static
        and not (p.dot_notation and ("." in f.name or "[" in f.name))
        for f in fields
    )


def _set_fast(items: Items, fields: list[_Field], include_all: bool, binary: bool) -> Items:
    specs = [(f.name, f.values, f.type, f.static) for f in fields]
    out: Items = []
    append = out.append
    for i, it in enumerate(items):
        data = dict(it["json"]) if include_all else {}
        for name, col, kind, static in specs:
            if col is None:
                data[name] = static
                continue
            value = col[i]
            if kind == "string" and value is not None and type(value) is not str:
                value = js_string(value)
            elif kind == "number" and (type(value) is int or type(value) is float):
                pass  # already a number
            elif kind != "string" and kind != "any":
                value = convert(name, value, kind, False)
            data[name] = value
        new: Item = {"json": data, "pairedItem": {"item": i}}
        if binary and "binary" in it:
            new["binary"] = it["binary"]
        append(new)
    return out


async def execute(ctx: NodeContext, items: Items, params: SetParams) -> NodeOutput:
    cols = await ctx.param_columns() if ctx.params_dynamic else {}
    fields = [_Field(k, a, cols, params) for k, a in enumerate(params.assignments)]
    if _fast_path(fields, params):
        try:
            return [_set_fast(items, fields, params.include == "all", params.include_binary)]
        except RelayflowError:
            pass  # a conversion failed: redo item by item, each failure handled per item
    return [_set_each(ctx, items, params, fields, cols)]


def _set_each(
    ctx: NodeContext, items: Items, params: SetParams, fields: list[_Field], cols: dict[Any, list[Any]]
) -> Items:
    base = _Base(params)
    raw = cols.get(("json_output",)) if params.mode == "raw" else None
    out: Items = []
    for i, it in enumerate(items):
        try:
            data = base(it["json"])
            if params.mode == "raw":
                data.update(_raw_fields(params.json_output if raw is None else raw[i]))
            else:
                for f in fields:
                    f.apply(data, i)
        except RelayflowError as exc:
            failed = ctx.fail_item(exc, i)
            if failed is not None:
                out.append(failed)
            continue
        new: Item = {"json": data, "pairedItem": {"item": i}}
        if params.include_binary and "binary" in it:
            new["binary"] = it["binary"]
        out.append(new)
    return out


# n8n -> our parameters ---------------------------------------------------------------------------

_V3_TYPES = {
    "stringValue": "string",
    "numberValue": "number",
    "booleanValue": "boolean",
    "arrayValue": "array",
    "objectValue": "object",
}
_V3_DEFAULTS: dict[str, Any] = {
    "stringValue": "",
    "numberValue": 0,
    "booleanValue": False,
    "arrayValue": [],
    "objectValue": {},
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _legacy_from_n8n(params: dict[str, Any]) -> dict[str, Any]:
    values = _dict(params.get("values"))
    assignments = [
        {"name": v.get("name", ""), "value": v.get("value"), "type": "any"}
        for group in ("boolean", "number", "string")  # n8n sets them in this order
        for v in values.get(group) or []
        if isinstance(v, dict)
    ]
    options = _dict(params.get("options"))
    return {
        "assignments": assignments,
        "include": "none" if params.get("keepOnlySet") else "all",
        "dot_notation": options.get("dotNotation", True),
    }


def _v3_fields(params: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for v in _dict(params.get("fields")).get("values") or []:
        if not isinstance(v, dict):
            continue
        kind = v.get("type", "stringValue")
        out.append(
            {
                "name": v.get("name", ""),
                "value": v.get(kind, _V3_DEFAULTS.get(kind)),
                "type": _V3_TYPES.get(kind, "string"),
            }
        )
    return out


def _v33_assignments(params: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for a in _dict(params.get("assignments")).get("assignments") or []:
        if isinstance(a, dict):
            kind = a.get("type") or "string"
            out.append(
                {
                    "name": a.get("name", ""),
                    "value": a.get("value"),
                    "type": kind if kind in _CONVERT or kind == "string" else "any",
                }
            )
    return out


def _include(params: dict[str, Any], version: float) -> str:
    if version >= 3.3 and not params.get("includeOtherFields", False):
        return "none"
    return str(params.get("include", "all" if version >= 3.3 else "none"))


def _binary(options: dict[str, Any], version: float) -> Any:
    if "includeBinary" in options:
        return options["includeBinary"]
    if version >= 3.4 and "stripBinary" in options:
        strip = options["stripBinary"]
        return not strip if isinstance(strip, bool) else True
    return True


def _from_n8n(params: dict[str, Any], version: float) -> dict[str, Any]:
    if version < 3:
        return _legacy_from_n8n(params)
    options = _dict(params.get("options"))
    out: dict[str, Any] = {
        "mode": params.get("mode", "manual"),
        "include": _include(params, version),
        "include_fields": params.get("includeFields", []),
        "exclude_fields": params.get("excludeFields", []),
        "dot_notation": options.get("dotNotation", True),
        "ignore_conversion_errors": options.get("ignoreConversionErrors", False),
        "include_binary": _binary(options, version),
    }
    if out["mode"] == "raw":
        out["json_output"] = params.get("jsonOutput", "{}")
    else:
        out["assignments"] = _v33_assignments(params) if version >= 3.3 else _v3_fields(params)
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.set",
        version=1,
        title="Edit Fields (Set)",
        group="transform",
        description="Set, add or overwrite item fields; keep all, none or some of the others.",
        params=SetParams,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.set", (1, 2, 3, 3.1, 3.2, 3.3, 3.4, 3.5), translate=_from_n8n),),
    ),
)
