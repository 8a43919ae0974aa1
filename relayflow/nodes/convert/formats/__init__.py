"""File formats shared by Convert to File, Extract from File and Spreadsheet File.

Readers take a ``Source`` (a local path, read streamed, or the bytes) and return the ``json`` of
the output items; writers take the items' ``json`` and return the file's bytes. Both are plain
synchronous functions: the nodes run them in a thread when the data is big. Unusable input (not
the format, wrong encoding) raises ``FileFormatError`` with a message meant for the user.

Rows read with a header row are objects keyed by the header; without one they are
``{"row": [cells]}`` (n8n's shape). Columns written are the union of the items' keys in the order
first seen; nested objects and arrays are written as JSON text.
"""

from __future__ import annotations

import codecs
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

Source = Path | bytes
Rows = list[dict[str, Any]]

# n8n takes iconv-lite names ("utf8", "win1252", "ucs2"...); Python's codecs know most of them
_ENCODING_ALIASES = {"ucs2": "utf-16-le", "ucs-2": "utf-16-le", "binary": "latin-1", "utf16le": "utf-16-le"}


class FileFormatError(ValueError):
    """The file is not what the operation reads (or the data cannot be written in the format)."""


@dataclass(frozen=True)
class ReadOptions:
    header_row: bool = True
    include_empty_cells: bool = False
    delimiter: str = ","
    encoding: str = "utf-8"
    # 0-based index of the first line handled (the header, if any); CSV only
    from_line: int = 0
    # data rows at most; negative: all (CSV only)
    max_row_count: int = -1
    read_as_string: bool = False
    raw_data: bool = False
    sheet_name: str = ""
    # spreadsheets: an A1 range ("B2:D40") or a number of rows to skip
    range: str = ""


@dataclass(frozen=True)
class WriteOptions:
    header_row: bool = True
    delimiter: str = ","
    sheet_name: str = "Sheet"
    compression: bool = False


def python_encoding(name: str | None) -> str:
    """The Python codec for an n8n encoding name; FileFormatError for an unknown one."""
    raw = (name or "utf-8").strip().lower()
    candidate = _ENCODING_ALIASES.get(raw, raw)
    if candidate.startswith("win") and candidate[3:].isdigit():
        candidate = "cp" + candidate[3:]
    try:
        return codecs.lookup(candidate).name
    except LookupError:
        raise FileFormatError(f"unknown encoding {name!r}") from None


def describe_decode_error(exc: UnicodeDecodeError, codec: str, where: str) -> FileFormatError:
    bad = exc.object[exc.start : exc.start + 1].hex()
    return FileFormatError(
        f"the file is not valid {codec} text (byte 0x{bad} {where}); "
        "set the encoding option to the file's encoding"
    )


def sniff(head: bytes) -> str | None:
    """The format a file's first bytes reveal: xlsx/ods (zip), xls, pdf, rtf; None for text."""
    if head.startswith(b"PK\x03\x04"):
        return "ods" if b"opendocument.spreadsheet" in head[:200] else "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.lstrip().startswith(b"{\\rtf"):
        return "rtf"
    return None


def head_of(source: Source, size: int = 512) -> bytes:
    if isinstance(source, bytes):
        return source[:size]
    with source.open("rb") as f:
        return f.read(size)


@contextmanager
def open_binary(source: Source) -> Iterator[IO[bytes]]:
    """A file object over the source without copying the bytes (BytesIO shares a bytes object)."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    else:
        with source.open("rb") as f:
            yield f


def read_all(source: Source) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


def decode(data: bytes, encoding: str, *, strip_bom: bool = True) -> str:
    codec = python_encoding(encoding)
    if strip_bom and codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise describe_decode_error(exc, codec, f"at offset {exc.start}") from None
    return text.removeprefix("\ufeff") if strip_bom else text


def js_text(value: Any) -> str:
    """A cell value as text the way JavaScript prints it (true, 1, 1.5, JSON for objects)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value) if math.isfinite(value) else ("NaN" if math.isnan(value) else "Infinity")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def table_of(rows: Sequence[Mapping[str, Any]], header_row: bool) -> tuple[list[str], Iterator[list[Any]]]:
    """The columns and, lazily, each row's values in column order (None where a key is absent)."""
    columns = columns_of(rows)

    def values() -> Iterator[list[Any]]:
        for row in rows:
            yield [row.get(c) for c in columns]

    return (columns if header_row else []), values()


def unique_headers(cells: Sequence[Any]) -> list[str]:
    """Header names from the first row: empty cells are ``__EMPTY``, ``__EMPTY_1``... (SheetJS's)."""
    names: list[str] = []
    empty = 0
    for cell in cells:
        if cell is None or cell == "":
            names.append("__EMPTY" if empty == 0 else f"__EMPTY_{empty}")
            empty += 1
        else:
            names.append(js_text(cell))
    return names


def to_rows(records: Iterable[Sequence[Any]], opts: ReadOptions) -> Rows:
    """Cell rows → item json: keyed by the first row's names, or ``{"row": [...]}``.

    Empty cells (``None`` or ``""``) are left out of keyed rows unless ``include_empty_cells``,
    which makes them ``""``. Rows whose cells are all empty are
    skipped. At most ``max_row_count`` data rows when it is not negative.
    """
    out: Rows = []
    header: list[str] | None = None
    limit = opts.max_row_count
    for cells in records:
        if all(c is None or c == "" for c in cells):
            continue
        if opts.header_row and header is None:
            header = unique_headers(cells)
            continue
        if 0 <= limit <= len(out):
            break
        if header is None:
            out.append({"row": ["" if c is None else c for c in cells]})
            continue
        if len(cells) > len(header) and any(c not in (None, "") for c in cells[len(header) :]):
            raise FileFormatError(
                f"data row {len(out) + 1} has {len(cells)} fields but the header row has {len(header)}"
            )
        json: dict[str, Any] = {}
        for i, name in enumerate(header):
            value = cells[i] if i < len(cells) else None
            if value is None or value == "":
                if opts.include_empty_cells:
                    json[name] = ""
                continue
            json[name] = value
        out.append(json)
    return out
