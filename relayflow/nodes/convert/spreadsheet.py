"""Spreadsheet formats over the binary data API: the readers and writers by name, the binary
source of an entry (its local file when the store has one, so CSV is parsed streamed from disk),
and the conversion of failures into per-item node errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from relayflow.engine.binary import guess_mime
from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items
from relayflow.errors import NodeError, UserError
from relayflow.nodes.convert.formats import (
    FileFormatError,
    ReadOptions,
    Rows,
    Source,
    WriteOptions,
    head_of,
    sniff,
)
from relayflow.nodes.convert.formats.csv_text import read_csv, write_csv
from relayflow.nodes.convert.formats.documents import read_xls, write_rtf
from relayflow.nodes.convert.formats.html_table import read_html, write_html
from relayflow.nodes.convert.formats.ods import read_ods, write_ods
from relayflow.nodes.convert.formats.xlsx import read_xlsx, write_xlsx

Reader = Callable[[Source, ReadOptions], Rows]
Writer = Callable[[Sequence[Mapping[str, Any]], WriteOptions], bytes]

# above this many bytes (or rows) parsing and building run in a thread, off the event loop
THREAD_BYTES = 64 * 1024
THREAD_ROWS = 500


def _read_rtf(source: Source, opts: ReadOptions) -> Rows:
    raise FileFormatError("reading RTF files is not supported: save the table as CSV or XLSX")


def _write_xls(rows: Sequence[Mapping[str, Any]], opts: WriteOptions) -> bytes:
    raise FileFormatError("writing XLS (Excel 97-2003) files is not supported: use the XLSX format")


READERS: dict[str, Reader] = {
    "csv": read_csv,
    "html": read_html,
    "ods": read_ods,
    "rtf": _read_rtf,
    "xls": read_xls,
    "xlsx": read_xlsx,
}
WRITERS: dict[str, Writer] = {
    "csv": write_csv,
    "html": write_html,
    "ods": write_ods,
    "rtf": write_rtf,
    "xls": _write_xls,
    "xlsx": write_xlsx,
}
MIME_TYPES = {
    "csv": "text/csv",
    "html": "text/html",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "rtf": "application/rtf",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def node_error(ctx: NodeContext, exc: Exception, index: int) -> NodeError:
    if isinstance(exc, NodeError):
        exc.item_index = index if exc.item_index is None else exc.item_index
        return exc
    return NodeError(str(exc), node=ctx.node_name, item_index=index, retryable=False)


def fail(ctx: NodeContext, exc: Exception, index: int, out: Items) -> None:
    """Per-item failure under the node's onError: raises, or adds an error item to ``out``."""
    failed = ctx.fail_item(node_error(ctx, exc, index), index)
    if failed is not None:
        out.append(failed)


# what a per-item step may raise that is the item's fault (or its binary data's: absent, bad key)
ITEM_ERRORS: tuple[type[Exception], ...] = (FileFormatError, NodeError, UserError)


async def source_of(ctx: NodeContext, entry: Mapping[str, Any]) -> Source:
    """The entry's local file when the store keeps one (read streamed), else its bytes."""
    path = ctx.binary.local_path(entry)
    if path is not None and path.is_file():
        return path
    return await ctx.binary.get(entry)


def _size(source: Source) -> int:
    return len(source) if isinstance(source, bytes) else source.stat().st_size


def detect_format(source: Source, entry: Mapping[str, Any]) -> str:
    """The spreadsheet format of a file: by its first bytes, then its name or MIME type."""
    head = head_of(source)
    kind = sniff(head)
    if kind == "pdf":
        raise FileFormatError("the file is a PDF document, not a spreadsheet")
    if kind is not None:
        return kind
    name = str(entry.get("fileName") or "").lower()
    mime = str(entry.get("mimeType") or "").lower()
    for fmt in ("html", "csv"):
        if name.endswith(f".{fmt}") or mime == MIME_TYPES[fmt]:
            return fmt
    if name.endswith(".htm") or b"<table" in head.lower():
        return "html"
    return "csv"


async def read_rows(ctx: NodeContext, entry: Mapping[str, Any], fmt: str, opts: ReadOptions) -> Rows:
    source = await source_of(ctx, entry)
    if fmt == "autodetect":
        fmt = detect_format(source, entry)
    reader = READERS.get(fmt)
    if reader is None:
        raise FileFormatError(f"unknown spreadsheet format {fmt!r}")
    if _size(source) > THREAD_BYTES:
        return await asyncio.to_thread(reader, source, opts)
    return reader(source, opts)


async def write_rows(
    ctx: NodeContext, rows: Sequence[Mapping[str, Any]], fmt: str, opts: WriteOptions, file_name: str
) -> dict[str, Any]:
    writer = WRITERS.get(fmt)
    if writer is None:
        raise FileFormatError(f"unknown spreadsheet format {fmt!r}")
    data = await asyncio.to_thread(writer, rows, opts) if len(rows) > THREAD_ROWS else writer(rows, opts)
    name = file_name or f"spreadsheet.{fmt}"
    return await ctx.binary.put(data, file_name=name, mime_type=MIME_TYPES.get(fmt) or guess_mime(name))


async def extract_rows(
    ctx: NodeContext,
    items: Items,
    per_item: Sequence[Any],
    read: Callable[[Any], tuple[str, str, ReadOptions]],
) -> Items:
    """Every item's file read as rows, one output item per row paired to its source item.

    ``read(params)`` gives the binary property, the format and the read options of an item.
    """
    out: Items = []
    for i, (it, p) in enumerate(zip(items, per_item, strict=True)):
        prop, fmt, opts = read(p)
        try:
            rows = await read_rows(ctx, ctx.binary.entry(it, prop), fmt, opts)
        except ITEM_ERRORS as exc:
            fail(ctx, exc, i, out)
            continue
        out.extend({"json": row, "pairedItem": {"item": i}} for row in rows)
    return out


async def convert_rows(
    ctx: NodeContext, items: Items, prop: str, fmt: str, opts: WriteOptions, file_name: str
) -> Items:
    """All items' json in one file: one output item holding it, paired to every input item."""
    if not items:
        return []
    try:
        entry = await write_rows(ctx, [it.get("json") or {} for it in items], fmt, opts, file_name)
    except ITEM_ERRORS as exc:
        out: Items = []
        fail(ctx, exc, 0, out)
        return out
    item: Item = {
        "json": {},
        "binary": {prop: entry},
        "pairedItem": [{"item": i} for i in range(len(items))],
    }
    return [item]
