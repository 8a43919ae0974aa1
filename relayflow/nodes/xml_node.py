"""XML: convert an XML string to JSON or an item's JSON to XML (n8n ``xml`` v1).

n8n builds on xml2js, so workflows depend on xml2js's JSON shape; this module reproduces it for
the options n8n exposes. Parsing uses the standard library's expat parser directly (not
ElementTree) because xml2js keeps namespace prefixes and ``xmlns`` attributes as written, and
ElementTree would rewrite them to ``{uri}name``. Any document type declaration is refused before
it takes effect, which rules out entity expansion (billion laughs) and external entities (XXE).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal, cast
from xml.parsers import expat

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.nodes.spec import N8nAlias, NodeSpec, renamed_options

# above this size parsing or building may take more than a millisecond: do it off the event loop
_THREAD_THRESHOLD = 64 * 1024
_WHITESPACE_ONLY = re.compile(r"^\s*$")
_WHITESPACE_RUN = re.compile(r"\s{2,}")
_NEEDS_CDATA = re.compile(r"[<&>]")
# characters XML 1.0 cannot carry at all, and lone surrogates (allowed only on request, as in n8n)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["xmlToJson", "jsonToXml"] = "xmlToJson"
    data_property_name: str = "data"
    # xmlToJson (n8n's defaults, which differ from xml2js's own for explicit_array and merge_attrs)
    explicit_array: bool = False
    explicit_root: bool = True
    ignore_attrs: bool = False
    merge_attrs: bool = True
    normalize: bool = False
    normalize_tags: bool = False
    trim: bool = False
    attrkey: str = "$"
    charkey: str = "_"
    # jsonToXml
    root_name: str = "root"
    headless: bool = False
    allow_surrogate_chars: bool = False
    cdata: bool = False


class XmlRefused(ValueError):
    """The document declares a DTD; entity expansion is never allowed."""


class _Element:
    __slots__ = ("name", "obj", "text")

    def __init__(self, name: str, obj: dict[str, Any]) -> None:
        self.name = name
        self.obj = obj
        self.text: list[str] = []


def _assign_or_push(obj: dict[str, Any], key: str, value: Any, explicit_array: bool) -> None:
    """xml2js's rule: a key seen once holds the value (or ``[value]``), a repeated key a list.

    Parsed values are strings or dicts, so a list here is always one this function made.
    """
    if key not in obj:
        obj[key] = [value] if explicit_array else value
    elif isinstance(obj[key], list):
        obj[key].append(value)
    else:
        obj[key] = [obj[key], value]


def xml_to_json(text: str, p: Params) -> Any:
    """Parse ``text`` into xml2js's JSON shape; raises ValueError on malformed or refused input."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    stack: list[_Element] = []
    result: list[Any] = []

    def refuse(*_: Any) -> None:
        raise XmlRefused("XML with a DOCTYPE or entity declarations is not accepted")

    def refuse_external(*_: Any) -> int:
        raise XmlRefused("XML with external entities is not accepted")

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = name.lower() if p.normalize_tags else name
        obj: dict[str, Any] = {}
        if not p.ignore_attrs and attrs:
            if p.merge_attrs:
                for key, value in attrs.items():
                    _assign_or_push(obj, key, value, p.explicit_array)
            else:
                obj[p.attrkey] = dict(attrs)
        stack.append(_Element(tag, obj))

    def chars(data: str) -> None:
        if stack:
            stack[-1].text.append(data)

    def end(_name: str) -> None:
        el = stack.pop()
        obj: Any = el.obj
        text = "".join(el.text)
        empty_text = ""
        if _WHITESPACE_ONLY.match(text):
            empty_text = text
        else:
            if p.trim:
                text = text.strip()
            if p.normalize:
                text = _WHITESPACE_RUN.sub(" ", text).strip()
            obj[p.charkey] = text
            if len(obj) == 1:
                obj = text
        if isinstance(obj, dict) and not obj:
            obj = empty_text
        if stack:
            _assign_or_push(stack[-1].obj, el.name, obj, p.explicit_array)
        else:
            result.append({el.name: obj} if p.explicit_root else obj)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise ValueError(f"invalid XML: {exc}") from None
    return result[0] if result else None


def _escape_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def _escape_attr(s: str) -> str:
    return (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace('"', "&quot;")
        .replace("\t", "&#x9;")
        .replace("\n", "&#xA;")
        .replace("\r", "&#xD;")
    )


def _scalar(value: Any, p: Params) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    s = str(value)
    bad = _ILLEGAL.search(s) or (None if p.allow_surrogate_chars else _SURROGATE.search(s))
    if bad:
        raise ValueError(f"character U+{ord(bad.group()):04X} cannot be written to XML")
    return s


class _Node:
    """One element of the document being built; children are ``_Node``s or text."""

    __slots__ = ("attrs", "children", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.attrs: list[tuple[str, str]] = []
        self.children: list[_Node | tuple[str]] = []


def _text_child(value: Any, p: Params) -> tuple[str]:
    s = _scalar(value, p)
    if p.cdata and _NEEDS_CDATA.search(s):
        return ("<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>",)
    return (_escape_text(s),)


def _fill(node: _Node, value: Any, p: Params) -> None:
    """Build ``value`` into ``node`` the way xml2js's Builder does."""
    if isinstance(value, list):
        for entry in value:
            if isinstance(entry, dict):
                for key, child in entry.items():
                    node.children.append(_element(key, child, p))
        return
    if not isinstance(value, dict):
        node.children.append(_text_child(value, p))
        return
    for key, child in value.items():
        if key == p.attrkey and isinstance(child, dict):
            node.attrs.extend((k, _escape_attr(_scalar(v, p))) for k, v in child.items())
        elif key == p.charkey:
            node.children.append(_text_child(child, p))
        elif isinstance(child, list):
            node.children.extend(_element(key, entry, p) for entry in child)
        else:
            node.children.append(_element(key, child, p))


def _element(name: str, value: Any, p: Params) -> _Node:
    node = _Node(name)
    _fill(node, value, p)
    return node


def _render(node: _Node, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    attrs = "".join(f' {k}="{v}"' for k, v in node.attrs)
    if not node.children:
        out.append(f"{pad}<{node.name}{attrs}/>")
        return
    if len(node.children) == 1 and isinstance(node.children[0], tuple):
        out.append(f"{pad}<{node.name}{attrs}>{node.children[0][0]}</{node.name}>")
        return
    out.append(f"{pad}<{node.name}{attrs}>")
    for child in node.children:
        if isinstance(child, tuple):
            out.append("  " * (depth + 1) + child[0])
        else:
            _render(child, depth + 1, out)
    out.append(f"{pad}</{node.name}>")


def json_to_xml(value: dict[str, Any], p: Params) -> str:
    """Render an item's JSON as xml2js's Builder would (pretty, two-space indent)."""
    # xml2js: a single top-level key names the root unless a root name other than the default was set
    if len(value) == 1 and p.root_name == "root":
        name, body = next(iter(value.items()))
    else:
        name, body = p.root_name or "root", value
    out: list[str] = [] if p.headless else [_DECLARATION]
    try:
        _render(_element(name, body, p), 0, out)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to write as XML") from None
    return "\n".join(out)


async def _convert(fn: Any, value: Any, p: Params, size: int) -> Any:
    return await asyncio.to_thread(fn, value, p) if size > _THREAD_THRESHOLD else fn(value, p)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (it, ip) in enumerate(zip(items, per_item, strict=True)):
        p = cast(Params, ip)
        try:
            if p.mode == "jsonToXml":
                xml = await _convert(json_to_xml, it["json"], p, 0)
                out.append({"json": {p.data_property_name: xml}, "pairedItem": {"item": i}})
                continue
            source = it["json"].get(p.data_property_name)
            if not isinstance(source, str):
                raise ValueError(f"the item has no property {p.data_property_name!r} holding an XML string")
            parsed = await _convert(xml_to_json, source, p, len(source))
            out.append({"json": parsed if isinstance(parsed, dict) else {}, "pairedItem": {"item": i}})
        except ValueError as exc:
            failed = ctx.fail_item(NodeError(str(exc), node=ctx.node_name, item_index=i, retryable=False), i)
            if failed is not None:
                out.append(failed)
    return [out]


_MODES = {"xmlToJson": "xmlToJson", "jsonToxml": "jsonToXml", "jsonToXml": "jsonToXml"}
_OPTION_KEYS = {
    "explicitArray": "explicit_array",
    "explicitRoot": "explicit_root",
    "ignoreAttrs": "ignore_attrs",
    "mergeAttrs": "merge_attrs",
    "normalize": "normalize",
    "normalizeTags": "normalize_tags",
    "trim": "trim",
    "attrkey": "attrkey",
    "charkey": "charkey",
    "rootName": "root_name",
    "headless": "headless",
    "allowSurrogateChars": "allow_surrogate_chars",
    "cdata": "cdata",
}


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    mode = p.get("mode", "xmlToJson")
    out: dict[str, Any] = {
        "mode": _MODES.get(mode, mode),
        "data_property_name": p.get("dataPropertyName", "data"),
    }
    out.update(renamed_options(p.get("options"), _OPTION_KEYS))
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.xml",
        version=1,
        title="XML",
        group="transform",
        description="Convert XML in a field to JSON, or an item's JSON to XML.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.xml", (1,), translate=from_n8n),),
    ),
)
