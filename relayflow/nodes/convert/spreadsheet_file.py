"""Spreadsheet File (n8n ``spreadsheetFile`` v1, v2; superseded by Convert to File and Extract
from File, whose readers and writers it uses).

``fromFile`` reads each item's file into one item per row (v1 detects the format; v2 takes
``fileFormat``, ``autodetect`` by default); ``toFile`` writes all items into one file.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes.convert.extract_from_file import read_options
from relayflow.nodes.convert.formats import ReadOptions, WriteOptions
from relayflow.nodes.convert.spreadsheet import convert_rows, extract_rows
from relayflow.nodes.spec import N8nAlias, NodeSpec, renamed_options

Format = Literal["autodetect", "csv", "html", "ods", "rtf", "xls", "xlsx"]


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Literal["fromFile", "toFile"] = "fromFile"
    binary_property_name: str = "data"
    # n8n's default for toFile is xls, which can only be read here: toFile says so clearly
    file_format: Format = "autodetect"
    file_name: str = ""
    header_row: bool = True
    sheet_name: str = ""
    compression: bool = False
    delimiter: str = ","
    encoding: str = "utf-8"
    from_line: int = 0
    max_row_count: int = -1
    include_empty_cells: bool = False
    raw_data: bool = False
    read_as_string: bool = False
    range: str | int = ""


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    if params.operation == "toFile":
        fmt = "xls" if params.file_format == "autodetect" else params.file_format
        opts = WriteOptions(
            header_row=params.header_row,
            delimiter=params.delimiter,
            sheet_name=params.sheet_name or "Sheet",
            compression=params.compression,
        )
        return [await convert_rows(ctx, items, params.binary_property_name, fmt, opts, params.file_name)]

    def read(ip: Any) -> tuple[str, str, ReadOptions]:
        p = cast(Params, ip)
        return p.binary_property_name, p.file_format, read_options(p)

    per_item = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    return [await extract_rows(ctx, items, per_item, read)]


_OPTION_KEYS = {
    "fileName": "file_name",
    "headerRow": "header_row",
    "sheetName": "sheet_name",
    "compression": "compression",
    "delimiter": "delimiter",
    "encoding": "encoding",
    "fromLine": "from_line",
    "maxRowCount": "max_row_count",
    "includeEmptyCells": "include_empty_cells",
    "rawData": "raw_data",
    "readAsString": "read_as_string",
    "range": "range",
}


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    operation = p.get("operation", "fromFile")
    if operation == "toFile":
        file_format = p.get("fileFormat", "xls")
    else:
        file_format = p.get("fileFormat", "autodetect") if version >= 2 else "autodetect"
    out: dict[str, Any] = {
        "operation": operation,
        "binary_property_name": p.get("binaryPropertyName", "data"),
        "file_format": file_format,
    }
    out.update(renamed_options(p.get("options"), _OPTION_KEYS))
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.spreadsheetFile",
        version=1,
        title="Spreadsheet File",
        group="transform",
        description="Read rows from a spreadsheet file, or write items into one (legacy node).",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.spreadsheetFile", (1, 2), translate=from_n8n),),
    ),
)
