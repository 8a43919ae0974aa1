"""ODS (OpenDocument spreadsheet), by hand: a zip holding ``content.xml``. Reading honours
repeated rows and columns (capped: a sheet's trailing blank cells may claim millions) and refuses
documents with a DOCTYPE; writing makes one sheet of typed cells."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

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
from relayflow.nodes.convert.formats.xlsx import sheet_title

_T = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_O = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_X = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_MAX_REPEAT = 1000
_MIME = "application/vnd.oasis.opendocument.spreadsheet"


def _cell_value(cell: ET.Element, opts: ReadOptions) -> Any:
    kind = cell.get(f"{_O}value-type")
    text = "\n".join("".join(p.itertext()) for p in cell.iter(f"{_X}p"))
    if kind is None:
        return None
    if opts.read_as_string:
        return text
    if kind in ("float", "percentage", "currency"):
        number = float(cell.get(f"{_O}value", "nan"))
        return int(number) if number.is_integer() and not opts.raw_data else number
    if kind == "boolean":
        return cell.get(f"{_O}boolean-value") == "true"
    if kind == "date":
        return cell.get(f"{_O}date-value", text)
    if kind == "time":
        return cell.get(f"{_O}time-value", text)
    return text


def _row_cells(row: ET.Element, opts: ReadOptions) -> list[Any]:
    cells: list[Any] = []
    for cell in row:
        if cell.tag not in (f"{_T}table-cell", f"{_T}covered-table-cell"):
            continue
        value = _cell_value(cell, opts)
        repeat = int(cell.get(f"{_T}number-columns-repeated", "1"))
        cells.extend([value] * (min(repeat, _MAX_REPEAT) if value is not None else min(repeat, 1)))
    while cells and cells[-1] is None:
        cells.pop()
    return cells


def _sheet(root: ET.Element, name: str) -> ET.Element:
    tables = list(root.iter(f"{_T}table"))
    if not tables:
        raise FileFormatError("the ODS file has no sheet")
    if not name:
        return tables[0]
    for table in tables:
        if table.get(f"{_T}name") == name:
            return table
    have = ", ".join(t.get(f"{_T}name", "?") for t in tables)
    raise FileFormatError(f"the workbook has no sheet {name!r} (it has: {have})")


def read_ods(source: Source, opts: ReadOptions) -> Rows:
    if sniff(head_of(source)) != "ods":
        raise FileFormatError("the file is not an ODS spreadsheet")
    with open_binary(source) as f:
        try:
            with zipfile.ZipFile(f) as z:
                content = z.read("content.xml")
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise FileFormatError(f"the file is not a readable ODS spreadsheet: {exc}") from None
    if b"<!DOCTYPE" in content[:4096]:
        raise FileFormatError("ODS content with a DOCTYPE is not accepted")
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise FileFormatError(f"the ODS content is not valid XML: {exc}") from None
    rows: list[list[Any]] = []
    for row in _sheet(root, opts.sheet_name).iter(f"{_T}table-row"):
        cells = _row_cells(row, opts)
        repeat = int(row.get(f"{_T}number-rows-repeated", "1"))
        rows.extend([cells] * (min(repeat, _MAX_REPEAT) if cells else 1))
    skip = int(opts.range) if opts.range.strip().isdigit() else 0
    return to_rows(rows[skip:], opts)


def _xml_cell(value: Any) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        flag = "true" if value else "false"
        return f'<table:table-cell office:value-type="boolean" office:boolean-value="{flag}"><text:p>{flag.upper()}</text:p></table:table-cell>'
    if isinstance(value, (int, float)) and js_text(value) not in ("NaN", "Infinity", "-Infinity"):
        text = js_text(value)
        return f'<table:table-cell office:value-type="float" office:value="{text}"><text:p>{text}</text:p></table:table-cell>'
    return f'<table:table-cell office:value-type="string"><text:p>{escape(js_text(value))}</text:p></table:table-cell>'


def write_ods(rows: Sequence[Mapping[str, Any]], opts: WriteOptions) -> bytes:
    header, values = table_of(rows, opts.header_row)
    body = [
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet><table:table table:name={quoteattr(sheet_title(opts.sheet_name))}>"
    ]
    if header:
        body.append("<table:table-row>" + "".join(_xml_cell(h) for h in header) + "</table:table-row>")
    body.extend(
        "<table:table-row>" + "".join(_xml_cell(v) for v in row) + "</table:table-row>" for row in values
    )
    body.append("</table:table></office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_MIME}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if opts.compression else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w") as z:
        # the mimetype entry comes first and uncompressed, so the type shows at a fixed offset
        z.writestr("mimetype", _MIME, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", "".join(body), compress_type=method)
        z.writestr("META-INF/manifest.xml", manifest, compress_type=method)
    return buf.getvalue()
