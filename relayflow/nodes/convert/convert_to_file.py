"""Convert to File (n8n ``convertToFile`` v1, v1.1): items' JSON into a binary file.

Spreadsheet operations (CSV, HTML, ODS, RTF, XLS, XLSX) and JSON in ``once`` mode write every item
into one file and output one item; JSON in ``each`` mode, text, iCal (one event) and Base64-to-file
output one item per input item. Output items have an empty ``json`` and the file at ``binary[binaryPropertyName]``
(other binary properties of a per-item input are kept).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any, Literal, cast

import orjson
from pydantic import BaseModel, ConfigDict

from relayflow.engine.binary import guess_mime
from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.nodes.convert.formats import FileFormatError, WriteOptions, js_text, python_encoding
from relayflow.nodes.convert.formats.ics import Event, write_ics
from relayflow.nodes.convert.spreadsheet import ITEM_ERRORS, convert_rows, fail
from relayflow.nodes.fieldpath import MISSING, get_path
from relayflow.nodes.spec import N8nAlias, NodeSpec, renamed_options

Operation = Literal["csv", "html", "iCal", "toJson", "ods", "rtf", "toText", "xls", "xlsx", "toBinary"]
SPREADSHEET_OPERATIONS = ("csv", "html", "ods", "rtf", "xls", "xlsx")
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,", re.IGNORECASE)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Operation = "csv"
    binary_property_name: str = "data"
    # toJson
    mode: Literal["once", "each"] = "once"
    # toText, toBinary: a dot path into the item's json
    source_property: str = ""
    file_name: str = ""
    # spreadsheets
    header_row: bool = True
    sheet_name: str = "Sheet"
    delimiter: str = ","
    compression: bool = False
    # toJson, toText, toBinary
    format: bool = False
    encoding: str = "utf8"
    add_bom: bool = False
    data_is_base64: bool = True
    mime_type: str = ""
    # iCal
    title: str = ""
    start: str = ""
    end: str = ""
    all_day: bool = False
    event_fields: dict[str, Any] = {}


def _encode(text: str, p: Params) -> bytes:
    codec = python_encoding(p.encoding)
    if p.add_bom and not text.startswith("\ufeff"):
        text = "\ufeff" + text
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise FileFormatError(f"the text cannot be written as {p.encoding}: {exc.reason}") from None


def _json_text(value: Any, pretty: bool) -> str:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, option=option | orjson.OPT_NON_STR_KEYS, default=str).decode()


def _source(it: Item, p: Params) -> Any:
    if not p.source_property:
        raise FileFormatError("the 'Text Input Field' (sourceProperty) parameter is empty")
    value = get_path(it.get("json") or {}, p.source_property)
    if value is MISSING or value is None:
        raise FileFormatError(f"the item has no field {p.source_property!r}")
    return value


def _from_base64(value: Any, p: Params) -> tuple[bytes, str | None]:
    if not isinstance(value, str):
        raise FileFormatError(f"the field {p.source_property!r} does not hold a Base64 string")
    mime = None
    match = _DATA_URL.match(value)
    if match:
        mime, value = match.group(1), value[match.end() :]
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FileFormatError(f"the field {p.source_property!r} is not valid Base64") from None
    return data, mime


def _sniff_mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[8:12] == b"WEBP" and data.startswith(b"RIFF"):
        return "image/webp"
    return None


def _as_text(value: Any, p: Params) -> str:
    if isinstance(value, str):
        return value
    return _json_text(value, p.format) if isinstance(value, (dict, list)) else js_text(value)


def _base64_file(it: Item, p: Params) -> tuple[bytes, str | None, str]:
    value = _source(it, p)
    if p.data_is_base64:
        data, url_mime = _from_base64(value, p)
        fallback = "application/octet-stream"
    else:
        data, url_mime = _encode(_as_text(value, p), p), None
        fallback = "text/plain"
    name = p.file_name or None
    mime = p.mime_type or url_mime or _sniff_mime(data) or (guess_mime(name) if name else fallback)
    return data, name, mime


def _one_file(it: Item, p: Params, now: datetime) -> tuple[bytes, str | None, str]:
    """One item's file: its bytes, file name and MIME type."""
    if p.operation == "iCal":
        event = Event(title=p.title, start=p.start, end=p.end, all_day=p.all_day, fields=p.event_fields)
        return write_ics(event, now), p.file_name or "event.ics", "text/calendar"
    if p.operation == "toJson":
        data = _encode(_json_text(it.get("json") or {}, p.format), p)
        return data, p.file_name or "file.json", "application/json"
    if p.operation == "toText":
        return _encode(_as_text(_source(it, p), p), p), p.file_name or "file.txt", "text/plain"
    if p.operation == "toBinary":
        return _base64_file(it, p)
    raise FileFormatError(f"unknown operation {p.operation!r}")


async def _each(ctx: NodeContext, items: Items, params: Params) -> Items:
    per_item = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (it, ip) in enumerate(zip(items, per_item, strict=True)):
        p = cast(Params, ip)
        try:
            data, name, mime = _one_file(it, p, ctx.clock.now())
            entry = await ctx.binary.put(data, file_name=name, mime_type=mime)
        except ITEM_ERRORS as exc:
            fail(ctx, exc, i, out)
            continue
        binary = {**(it.get("binary") or {}), p.binary_property_name: entry}
        out.append({"json": {}, "binary": binary, "pairedItem": {"item": i}})
    return out


async def _all_json(ctx: NodeContext, items: Items, p: Params) -> Items:
    if not items:
        return []
    try:
        data = _encode(_json_text([it.get("json") or {} for it in items], p.format), p)
        entry = await ctx.binary.put(data, file_name=p.file_name or "file.json", mime_type="application/json")
    except ITEM_ERRORS as exc:
        out: Items = []
        fail(ctx, exc, 0, out)
        return out
    return [
        {
            "json": {},
            "binary": {p.binary_property_name: entry},
            "pairedItem": [{"item": i} for i in range(len(items))],
        }
    ]


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    if params.operation in SPREADSHEET_OPERATIONS:
        opts = WriteOptions(
            header_row=params.header_row,
            delimiter=params.delimiter,
            sheet_name=params.sheet_name,
            compression=params.compression,
        )
        return [
            await convert_rows(
                ctx, items, params.binary_property_name, params.operation, opts, params.file_name
            )
        ]
    if params.operation == "toJson" and params.mode == "once":
        return [await _all_json(ctx, items, params)]
    return [await _each(ctx, items, params)]


_OPTION_KEYS = {
    "fileName": "file_name",
    "headerRow": "header_row",
    "sheetName": "sheet_name",
    "delimiter": "delimiter",
    "compression": "compression",
    "format": "format",
    "encoding": "encoding",
    "addBOM": "add_bom",
    "dataIsBase64": "data_is_base64",
    "mimeType": "mime_type",
}


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operation": p.get("operation", "csv"),
        "binary_property_name": p.get("binaryPropertyName", "data"),
        "mode": p.get("mode", "once"),
        "source_property": p.get("sourceProperty", ""),
    }
    if out["operation"] == "iCal":
        fields = dict(p.get("additionalFields") or {})
        out.update(
            title=p.get("title", ""), start=p.get("start", ""), end=p.get("end", ""), event_fields=fields
        )
        out["all_day"] = p.get("allDay", False)
    out.update(renamed_options(p.get("options"), _OPTION_KEYS))
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.convertToFile",
        version=1,
        title="Convert to File",
        group="transform",
        description="Write items' JSON into a file: CSV, HTML, ICS, JSON, ODS, RTF, text, XLSX, or Base64 to file.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.convertToFile", (1, 1.1), translate=from_n8n),),
    ),
)
