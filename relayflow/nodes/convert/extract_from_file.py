"""Extract from File (n8n ``extractFromFile`` v1, v1.1): a binary file into JSON.

Spreadsheet operations (CSV, HTML table, ODS, XLS, XLSX) output one item per row, paired to the
item that carried the file; CSV is parsed streamed. Spreadsheet cells keep their types (numbers,
booleans; dates as ISO text) unless ``readAsString``; CSV and HTML cells are text.

JSON, text, ICS and file-to-Base64 put the content in ``destinationKey`` of the item; ``keepSource``
keeps the input's JSON (default), its binary data, or both. ICS gives n8n's shape
(``{version, prodId, events: [...]}``, dates as ``{date, type}``); PDF gives n8n's
``{numpages, numrender, info, metadata, text, version}``. A file that is not what the operation
reads fails that item, as the node's onError says.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal, cast

import orjson
from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.nodes.convert.formats import FileFormatError, ReadOptions, decode, python_encoding, read_all
from relayflow.nodes.convert.formats.csv_text import check_text
from relayflow.nodes.convert.formats.documents import read_pdf
from relayflow.nodes.convert.formats.ics import read_ics
from relayflow.nodes.convert.spreadsheet import ITEM_ERRORS, THREAD_BYTES, extract_rows, fail, source_of
from relayflow.nodes.fieldpath import set_path
from relayflow.nodes.spec import N8nAlias, NodeSpec, renamed_options

Operation = Literal[
    "csv", "html", "fromIcs", "fromJson", "ods", "pdf", "rtf", "text", "xls", "xlsx", "binaryToPropery"
]
SPREADSHEET_OPERATIONS = ("csv", "html", "ods", "rtf", "xls", "xlsx")


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Operation = "csv"
    binary_property_name: str = "data"
    destination_key: str = "data"
    # spreadsheets
    delimiter: str = ","
    encoding: str = "utf-8"
    from_line: int = 0
    max_row_count: int = -1
    enable_bom: bool = False
    relax_quotes: bool = False
    header_row: bool = True
    include_empty_cells: bool = False
    raw_data: bool = False
    read_as_string: bool = False
    range: str | int = ""
    sheet_name: str = ""
    # fromJson, text, binaryToPropery, pdf
    strip_bom: bool = True
    keep_source: Literal["json", "binary", "both"] = "json"
    # pdf
    join_pages: bool = True
    max_pages: int = 0
    password: str = ""


def read_options(p: Any) -> ReadOptions:
    """The reading options of an Extract from File or Spreadsheet File node's parameters (the
    same field names in both)."""
    return ReadOptions(
        header_row=p.header_row,
        include_empty_cells=p.include_empty_cells,
        delimiter=p.delimiter,
        encoding=p.encoding,
        from_line=p.from_line,
        max_row_count=p.max_row_count,
        read_as_string=p.read_as_string,
        raw_data=p.raw_data,
        sheet_name=p.sheet_name,
        range=str(p.range),
    )


def _text(data: bytes, p: Params, what: str) -> str:
    check_text(data[:512], python_encoding(p.encoding), what)
    return decode(data, p.encoding, strip_bom=p.strip_bom)


def _content(data: bytes, p: Params) -> Any:
    if p.operation == "binaryToPropery":
        return base64.b64encode(data).decode("ascii")
    if p.operation == "text":
        return _text(data, p, "text")
    if p.operation == "fromJson":
        text = _text(data, p, "JSON")
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise FileFormatError(f"the file is not valid JSON: {exc}") from None
    if p.operation == "fromIcs":
        return read_ics(_text(data, p, "an iCalendar file"))
    raise FileFormatError(f"unknown operation {p.operation!r}")


def _with_source(it: Item, json: dict[str, Any], p: Params, index: int) -> Item:
    out: Item = {"json": json, "pairedItem": {"item": index}}
    if p.keep_source in ("binary", "both") and it.get("binary"):
        out["binary"] = it["binary"]
    return out


async def _one(ctx: NodeContext, it: Item, p: Params, index: int) -> Item:
    source = await source_of(ctx, ctx.binary.entry(it, p.binary_property_name))
    if p.operation == "pdf":
        pdf = await asyncio.to_thread(
            read_pdf, source, join_pages=p.join_pages, max_pages=p.max_pages, password=p.password
        )
        return _with_source(it, pdf, p, index)
    data = read_all(source)
    value = await asyncio.to_thread(_content, data, p) if len(data) > THREAD_BYTES else _content(data, p)
    json = dict(it.get("json") or {}) if p.keep_source in ("json", "both") else {}
    set_path(json, p.destination_key or "data", value)
    return _with_source(it, json, p, index)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    if params.operation in SPREADSHEET_OPERATIONS:

        def read(ip: Any) -> tuple[str, str, ReadOptions]:
            p = cast(Params, ip)
            return p.binary_property_name, p.operation, read_options(p)

        return [await extract_rows(ctx, items, per_item, read)]
    out: Items = []
    for i, (it, ip) in enumerate(zip(items, per_item, strict=True)):
        try:
            out.append(await _one(ctx, it, cast(Params, ip), i))
        except ITEM_ERRORS as exc:
            fail(ctx, exc, i, out)
    return [out]


_OPTION_KEYS = {
    "delimiter": "delimiter",
    "encoding": "encoding",
    "fromLine": "from_line",
    "maxRowCount": "max_row_count",
    "enableBOM": "enable_bom",
    "relaxQuotes": "relax_quotes",
    "headerRow": "header_row",
    "includeEmptyCells": "include_empty_cells",
    "rawData": "raw_data",
    "readAsString": "read_as_string",
    "range": "range",
    "sheetName": "sheet_name",
    "stripBOM": "strip_bom",
    "keepSource": "keep_source",
    "joinPages": "join_pages",
    "maxPages": "max_pages",
    "password": "password",
}


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operation": p.get("operation", "csv"),
        "binary_property_name": p.get("binaryPropertyName", "data"),
        "destination_key": p.get("destinationKey", "data"),
    }
    out.update(renamed_options(p.get("options"), _OPTION_KEYS))
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.extractFromFile",
        version=1,
        title="Extract from File",
        group="transform",
        description="Read a binary file into items: CSV, HTML table, ICS, JSON, ODS, PDF text, text, XLS, XLSX, Base64.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.extractFromFile", (1, 1.1), translate=from_n8n),),
    ),
)
