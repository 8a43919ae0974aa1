"""Formats with one direction here: RTF tables (written), PDF text (read, pypdf) and XLS (read
with the optional ``xlrd`` package; writing the old binary format is not supported)."""

from __future__ import annotations

import importlib
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from relayflow.nodes.convert.formats import (
    FileFormatError,
    ReadOptions,
    Rows,
    Source,
    WriteOptions,
    js_text,
    read_all,
    sniff,
    table_of,
    to_rows,
)

_CELL_TWIPS = 2000


def _rtf_text(value: Any) -> str:
    out: list[str] = []
    for ch in js_text(value):
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\line ")
        elif ord(ch) < 128:
            out.append(ch)
        else:
            # RTF's \uN takes a signed 16-bit number; characters beyond the BMP go as surrogates
            units = ch.encode("utf-16-le")
            for i in range(0, len(units), 2):
                code = int.from_bytes(units[i : i + 2], "little")
                out.append(f"\\u{code - 65536 if code > 32767 else code}?")
    return "".join(out)


def write_rtf(rows: Sequence[Mapping[str, Any]], opts: WriteOptions) -> bytes:
    header, values = table_of(rows, opts.header_row)
    lines = ["{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Calibri;}}"]

    def row(cells: Sequence[Any]) -> str:
        bounds = "".join(f"\\cellx{_CELL_TWIPS * (i + 1)}" for i in range(len(cells)))
        body = "".join(f"\\pard\\intbl {_rtf_text(c)}\\cell " for c in cells)
        return f"\\trowd\\trgaph100{bounds}{body}\\row"

    if header:
        lines.append(row(header))
    lines.extend(row(r) for r in values)
    lines.append("}")
    return "\n".join(lines).encode("ascii")


def read_pdf(source: Source, *, join_pages: bool, max_pages: int, password: str) -> dict[str, Any]:
    """n8n's PDF shape: ``numpages``, ``numrender``, ``info``, ``metadata``, ``text``, ``version``."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    data = read_all(source)
    if sniff(data[:1024]) != "pdf":
        raise FileFormatError("the file is not a PDF document")
    # pypdf reports recoverable damage through logging; keep it out of the run's output
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            if not password:
                raise FileFormatError("the PDF is encrypted: set the password option")
            if not reader.decrypt(password):
                raise FileFormatError("the PDF password is wrong")
        count = len(reader.pages)
        take = count if max_pages <= 0 else min(count, max_pages)
        texts = [reader.pages[i].extract_text() or "" for i in range(take)]
        meta: Mapping[str, Any] = reader.metadata or {}
        info: dict[str, Any] = {str(k).lstrip("/"): str(v) for k, v in meta.items()}
    except PyPdfError as exc:
        raise FileFormatError(f"the PDF cannot be read: {exc}") from None
    info.setdefault("PDFFormatVersion", reader.pdf_header.removeprefix("%PDF-"))
    return {
        "numpages": count,
        "numrender": take,
        "info": info,
        "metadata": None,
        "text": "\n\n".join(texts) if join_pages else texts,
        "version": info["PDFFormatVersion"],
    }


def read_xls(source: Source, opts: ReadOptions) -> Rows:
    data = read_all(source)
    if sniff(data[:512]) != "xls":
        raise FileFormatError("the file is not an XLS (Excel 97-2003) workbook")
    try:
        xlrd: Any = importlib.import_module("xlrd")
    except ImportError:
        raise FileFormatError(
            "reading XLS (Excel 97-2003) files needs the optional xlrd package, which is not "
            "installed: save the file as XLSX or CSV, or install xlrd"
        ) from None
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
        sheet = book.sheet_by_name(opts.sheet_name) if opts.sheet_name else book.sheet_by_index(0)
        rows = [sheet.row_values(r) for r in range(sheet.nrows)]
    except Exception as exc:  # xlrd raises its own and plain errors alike on damaged files
        raise FileFormatError(f"the XLS workbook cannot be read: {exc}") from None
    skip = int(opts.range) if opts.range.strip().isdigit() else 0
    return to_rows(rows[skip:], opts)
