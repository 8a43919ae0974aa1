"""XLSX through openpyxl: read in read-only mode (rows are parsed as they are iterated, so big
workbooks are not loaded whole), written in write-only mode."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

from relayflow.nodes.convert.formats import (
    FileFormatError,
    ReadOptions,
    Rows,
    Source,
    WriteOptions,
    head_of,
    js_text,
    open_binary,
    sniff,
    table_of,
    to_rows,
)

_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def _value(cell: Any, opts: ReadOptions) -> Any:
    if isinstance(cell, (datetime, date, time)):
        return cell.isoformat()
    if isinstance(cell, timedelta):
        return str(cell)
    if opts.read_as_string and cell is not None:
        return js_text(cell)
    if not opts.raw_data and isinstance(cell, float) and cell.is_integer() and abs(cell) < 2**53:
        return int(cell)
    return cell


def _rows(ws: Any, cell_range: str) -> Iterator[tuple[Any, ...]]:
    spec = cell_range.strip()
    if not spec:
        return iter(ws.iter_rows(values_only=True))
    if spec.isdigit():
        return iter(ws.iter_rows(min_row=int(spec) + 1, values_only=True))
    try:
        min_col, min_row, max_col, max_row = range_boundaries(spec.upper())
    except (ValueError, TypeError):
        raise FileFormatError(f"{cell_range!r} is not a cell range like A1:C20") from None
    return iter(
        ws.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col, values_only=True)
    )


def read_xlsx(source: Source, opts: ReadOptions) -> Rows:
    kind = sniff(head_of(source))
    if kind != "xlsx":
        found = f" (it is {kind.upper()})" if kind else ""
        raise FileFormatError(f"the file is not an XLSX workbook{found}")
    with open_binary(source) as f:
        try:
            wb = load_workbook(f, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
            raise FileFormatError(f"the file is not a readable XLSX workbook: {exc}") from None
        try:
            if opts.sheet_name:
                if opts.sheet_name not in wb.sheetnames:
                    have = ", ".join(wb.sheetnames)
                    raise FileFormatError(f"the workbook has no sheet {opts.sheet_name!r} (it has: {have})")
                ws: Any = wb[opts.sheet_name]
            else:
                ws = wb.worksheets[0]
            records = ([_value(c, opts) for c in row] for row in _rows(ws, opts.range))
            return to_rows(records, opts)
        finally:
            wb.close()


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else js_text(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, (dict, list)):
        return ILLEGAL_CHARACTERS_RE.sub("", orjson.dumps(value, default=str).decode())
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def sheet_title(name: str) -> str:
    return _SHEET_TITLE_BAD.sub("", name or "")[:31].strip("'") or "Sheet"


def write_xlsx(rows: Sequence[Mapping[str, Any]], opts: WriteOptions) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title(opts.sheet_name))
    header, values = table_of(rows, opts.header_row)
    if header:
        ws.append([_cell(h) for h in header])
    for row in values:
        ws.append([_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
