"""Rename Keys: rename fields by name (dot paths allowed) or by regular expression (n8n ``renameKeys``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.fieldpath import MISSING, delete_path, get_path, set_path
from relayflow.nodes.spec import N8nAlias, NodeSpec


class KeyRename(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    current_key: str
    new_key: str


class RegexRename(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    search_regex: str
    # JavaScript replacement syntax: $1, $<name>, $&, $$
    replace_regex: str = ""
    case_insensitive: bool = False
    # -1: every level; 0: top-level keys only; n: n levels below the top
    depth: int = -1


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[KeyRename] = []
    regex_replacements: list[RegexRename] = []


_JS_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
_JS_REPLACEMENT = re.compile(r"\$(\$|&|\d{1,2}|<[^>]*>)")


def _js_replacer(template: str) -> Any:
    """A ``re.sub`` callback applying a JavaScript replacement string."""

    def replace(m: re.Match[str]) -> str:
        def token(t: re.Match[str]) -> str:
            ref = t.group(1)
            if ref == "$":
                return "$"
            if ref == "&":
                return m.group(0)
            if ref.startswith("<"):
                return m.groupdict().get(ref[1:-1]) or ""
            n = int(ref)
            return (m.group(n) or "") if 0 < n <= (m.re.groups or 0) else t.group(0)

        return _JS_REPLACEMENT.sub(token, template)

    return replace


def _rename_regex(value: Any, rx: re.Pattern[str], repl: Any, depth: int, level: int = 0) -> Any:
    if isinstance(value, list):
        return [_rename_regex(v, rx, repl, depth, level) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        new_key = rx.sub(repl, key) if depth == -1 or level <= depth else key
        out[new_key] = _rename_regex(v, rx, repl, depth, level + 1) if depth == -1 or level < depth else v
    return out


def _compile(rules: Sequence[RegexRename], node: str) -> list[tuple[re.Pattern[str], Any, int]]:
    out = []
    for r in rules:
        try:
            source = _JS_NAMED_GROUP.sub("(?P<", r.search_regex)
            rx = re.compile(source, re.IGNORECASE if r.case_insensitive else 0)
        except re.error as exc:
            raise NodeError(
                f"invalid regular expression {r.search_regex!r}: {exc}", node=node, retryable=False
            ) from None
        out.append((rx, _js_replacer(r.replace_regex), r.depth))
    return out


def rename_json(
    json: dict[str, Any], p: Params, rules: list[tuple[re.Pattern[str], Any, int]]
) -> dict[str, Any]:
    out = dict(json)
    for k in p.keys:
        if not k.current_key or not k.new_key or k.current_key == k.new_key:
            continue
        value = get_path(out, k.current_key)
        if value is MISSING:
            continue
        set_path(out, k.new_key, value)
        delete_path(out, k.current_key)
    for rx, repl, depth in rules:
        out = cast(dict[str, Any], _rename_regex(out, rx, repl, depth))
    return out


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    all_params = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    compiled: dict[int, list[tuple[re.Pattern[str], Any, int]]] = {}
    for i, (it, ip) in enumerate(zip(items, all_params, strict=True)):
        p = cast(Params, ip)
        rules = compiled.get(id(p))
        if rules is None:
            rules = compiled[id(p)] = _compile(p.regex_replacements, ctx.node_name)
        out.append({**it, "json": rename_json(it["json"], p, rules), "pairedItem": {"item": i}})
    return [out]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    keys = (p.get("keys") or {}).get("key") or []
    regex = ((p.get("additionalOptions") or {}).get("regexReplacement") or {}).get("replacements") or []
    return {
        "keys": [{"current_key": k.get("currentKey", ""), "new_key": k.get("newKey", "")} for k in keys],
        "regex_replacements": [
            {
                "search_regex": r.get("searchRegex", ""),
                "replace_regex": r.get("replaceRegex", ""),
                "case_insensitive": (r.get("options") or {}).get("caseInsensitive", False),
                "depth": (r.get("options") or {}).get("depth", -1),
            }
            for r in regex
        ],
    }


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.renameKeys",
        version=1,
        title="Rename Keys",
        group="transform",
        description="Rename item fields, by name or by regular expression.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.renameKeys", (1,), translate=from_n8n),),
    ),
)
