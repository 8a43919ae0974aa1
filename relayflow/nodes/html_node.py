"""HTML: extract content by CSS selector, generate HTML from a template, or turn items into an
HTML table (n8n ``html`` v1-1.2; the legacy ``htmlExtract`` v1 is its extract operation).

n8n uses cheerio; we use BeautifulSoup with the standard library's parser and soupsieve for CSS.
The values follow cheerio's: ``text`` of a selection is the text of every match joined, ``html``
is the first match's inner HTML, ``attribute`` and ``value`` the first match's; with
``returnArray`` each match gives one entry. No match gives "" for text, null otherwise (an empty
list with ``returnArray``). ``trimValues`` strips each value; ``cleanUpText`` (v1.2, on by default
there) also turns every run of whitespace into one space. ``skipSelectors`` (comma-separated)
drops matching elements before the text is taken.

Convert to HTML Table escapes the values (n8n writes them as they are) and adds no default
styling. Generate HTML Template outputs ``{"html": ...}``; the template's ``{{ }}`` expressions
were evaluated by the engine like any parameter's.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any, Literal, cast

import orjson
from bs4 import BeautifulSoup, Tag
from pydantic import BaseModel, ConfigDict
from soupsieve import SelectorSyntaxError

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, ParameterInvalid
from relayflow.nodes.fieldpath import MISSING, get_path
from relayflow.nodes.spec import N8nAlias, NodeSpec

# above this size parsing may take more than a millisecond: do it off the event loop
_THREAD_THRESHOLD = 64 * 1024
_WHITESPACE = re.compile(r"\s+")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExtractionValue(_Model):
    key: str = ""
    cssSelector: str = ""
    returnValue: Literal["attribute", "html", "text", "value"] = "text"
    attribute: str = ""
    returnArray: bool = False
    skipSelectors: str = ""


class ExtractionValues(_Model):
    values: list[ExtractionValue] = []


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    # extractHtmlContent
    trimValues: bool = True
    cleanUpText: bool = False
    # convertToHtmlTable
    capitalize: bool = False
    customStyling: bool = False
    caption: str = ""
    tableAttributes: str = ""
    headerAttributes: str = ""
    rowAttributes: str = ""
    cellAttributes: str = ""


class Params(_Model):
    operation: Literal["generateHtmlTemplate", "extractHtmlContent", "convertToHtmlTable"] = (
        "generateHtmlTemplate"
    )
    html: Any = ""
    sourceData: Literal["json", "binary"] = "json"
    dataPropertyName: str = "data"
    extractionValues: ExtractionValues = ExtractionValues()
    options: Options = Options()


# --- extract --------------------------------------------------------------------------------------
def _clean(value: str, opts: Options) -> str:
    if opts.cleanUpText:
        return _WHITESPACE.sub(" ", value).strip()
    return value.strip() if opts.trimValues else value


def _text(el: Tag, skip: str) -> str:
    if skip.strip():
        el = BeautifulSoup(str(el), "html.parser", multi_valued_attributes=None)
        for dropped in el.select(skip):
            dropped.decompose()
    return str(el.get_text())


def _form_value(el: Tag) -> str | None:
    if el.name == "select":
        chosen = el.select_one("option[selected]") or el.select_one("option")
        return _form_value(chosen) if chosen is not None else None
    if el.name == "textarea":
        return str(el.get_text())
    value = el.get("value")
    if el.name == "option" and value is None:
        return str(el.get_text())
    return str(value) if value is not None else None


def _one(el: Tag, ev: ExtractionValue) -> str | None:
    match ev.returnValue:
        case "text":
            return _text(el, ev.skipSelectors)
        case "html":
            return str(el.decode_contents())
        case "attribute":
            value = el.get(ev.attribute)
            return str(value) if value is not None else None
        case "value":
            return _form_value(el)


def _value(found: list[Tag], ev: ExtractionValue, opts: Options) -> Any:
    if ev.returnArray:
        values = [_one(el, ev) for el in found]
        return [_clean(v, opts) if isinstance(v, str) else v for v in values]
    if ev.returnValue == "text":
        value: str | None = "".join(_text(el, ev.skipSelectors) for el in found)
    else:
        value = _one(found[0], ev) if found else None
    return _clean(value, opts) if isinstance(value, str) else value


def extract(source: str, values: list[ExtractionValue], opts: Options) -> dict[str, Any]:
    """The extraction values of one HTML document; ParameterInvalid for a bad selector."""
    soup = BeautifulSoup(source, "html.parser", multi_valued_attributes=None)
    out: dict[str, Any] = {}
    for i, ev in enumerate(values):
        path = f"parameters.extractionValues.values[{i}]"
        if not ev.cssSelector.strip():
            raise ParameterInvalid("a CSS selector is required", field=f"{path}.cssSelector")
        if ev.returnValue == "attribute" and not ev.attribute:
            raise ParameterInvalid("the attribute to return is required", field=f"{path}.attribute")
        try:
            found = soup.select(ev.cssSelector)
            out[ev.key] = _value(found, ev, opts)
        except SelectorSyntaxError as exc:
            raise ParameterInvalid(
                f"invalid CSS selector {ev.cssSelector!r}: {exc.args[0] if exc.args else exc}",
                field=f"{path}.cssSelector",
            ) from None
    return out


async def _source(ctx: NodeContext, item: Item, p: Params) -> str:
    if p.sourceData == "binary":
        raw = await ctx.binary.get(ctx.binary.entry(item, p.dataPropertyName))
        return raw.decode("utf-8", errors="replace")
    value = get_path(item.get("json", {}), p.dataPropertyName)
    if value is MISSING or value is None:
        raise NodeError(f"the item has no field {p.dataPropertyName!r} to extract HTML from")
    return value if isinstance(value, str) else str(value)


async def _extract_item(ctx: NodeContext, item: Item, p: Params) -> dict[str, Any]:
    source = await _source(ctx, item, p)
    values = p.extractionValues.values
    if len(source) > _THREAD_THRESHOLD:
        return await asyncio.to_thread(extract, source, values, p.options)
    return extract(source, values, p.options)


# --- table ----------------------------------------------------------------------------------------
def _attrs(text: str) -> str:
    return f" {text.strip()}" if text.strip() else ""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return html.escape(orjson.dumps(value).decode())
    return html.escape(str(value))


def html_table(rows: list[dict[str, Any]], opts: Options) -> str:
    """The items' JSON as one HTML table: a column per key (in first-seen order), a row per item."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    style = opts if opts.customStyling else Options()
    head = "".join(
        f"<th>{html.escape(c[:1].upper() + c[1:].lower() if opts.capitalize else c)}</th>" for c in columns
    )
    parts = [f"<table{_attrs(style.tableAttributes)}>"]
    if opts.caption:
        parts.append(f"<caption>{html.escape(opts.caption)}</caption>")
    parts.append(f"<thead><tr{_attrs(style.headerAttributes)}>{head}</tr></thead><tbody>")
    cell = f"<td{_attrs(style.cellAttributes)}>"
    for row in rows:
        cells = "".join(f"{cell}{_cell(row.get(c))}</td>" for c in columns)
        parts.append(f"<tr{_attrs(style.rowAttributes)}>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


# --- execute --------------------------------------------------------------------------------------
async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    if params.operation == "convertToHtmlTable":
        if not items:
            return [[]]
        table = html_table([it.get("json", {}) for it in items], params.options)
        return [[{"json": {"table": table}, "pairedItem": [{"item": i} for i in range(len(items))]}]]
    per_item = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (item, p) in enumerate(zip(items, per_item, strict=True)):
        p = cast(Params, p)
        try:
            if p.operation == "generateHtmlTemplate":
                json: dict[str, Any] = {"html": p.html if isinstance(p.html, str) else str(p.html)}
            else:
                json = await _extract_item(ctx, item, p)
        except ParameterInvalid:
            raise
        except NodeError as exc:
            failed = ctx.fail_item(exc, i)
            if failed is not None:
                out.append(failed)
            continue
        out.append({"json": json, "pairedItem": {"item": i}})
    return [out]


def _html_from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    options = dict(raw.get("options") or {})
    # n8n added cleanUpText in v1.2, on by default
    options.setdefault("cleanUpText", version >= 1.2)
    return {**raw, "options": options}


def _extract_from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    return {**raw, "operation": "extractHtmlContent"}


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.html",
        version=1,
        title="HTML",
        group="transform",
        description="Extract content from HTML by CSS selector, generate HTML from a template, or "
        "convert items to an HTML table.",
        params=Params,
        execute=execute,
        aliases=(
            N8nAlias("n8n-nodes-base.html", (1, 1.1, 1.2), translate=_html_from_n8n),
            N8nAlias("n8n-nodes-base.htmlExtract", (1,), translate=_extract_from_n8n),
        ),
    ),
)
