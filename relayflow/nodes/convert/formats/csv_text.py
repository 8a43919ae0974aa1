"""CSV: read streamed (the file is decoded and split as it is read, so memory holds the rows and
at most the file's bytes, never a decoded copy), written with minimal quoting and ``\\n`` lines."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from relayflow.nodes.convert.formats import (
    FileFormatError,
    ReadOptions,
    Rows,
    Source,
    WriteOptions,
    describe_decode_error,
    head_of,
    js_text,
    open_binary,
    python_encoding,
    sniff,
    table_of,
    to_rows,
)

_KIND_NAMES = {
    "xlsx": "an XLSX (zip) file",
    "ods": "an ODS file",
    "xls": "an XLS file",
    "pdf": "a PDF file",
    "rtf": "an RTF file",
}
_ESCAPES = {"\\t": "\t", "tab": "\t", "\\n": "\n"}


def _delimiter(value: str) -> str:
    delimiter = _ESCAPES.get(value, value)
    if len(delimiter) != 1:
        raise FileFormatError(f"the delimiter must be one character, not {value!r}")
    return delimiter


def check_text(head: bytes, codec: str, what: str) -> None:
    """Refuse files that are plainly not text before decoding them."""
    kind = sniff(head)
    if kind is not None:
        raise FileFormatError(f"the file is {_KIND_NAMES[kind]}, not {what}")
    if b"\x00" in head and not codec.startswith(("utf-16", "utf-32")):
        raise FileFormatError(f"the file is binary data (it contains NUL bytes), not {what}")


def read_csv(source: Source, opts: ReadOptions) -> Rows:
    codec = python_encoding(opts.encoding)
    check_text(head_of(source), codec, "CSV text")
    delimiter = _delimiter(opts.delimiter)
    with open_binary(source) as raw:
        # utf-8-sig drops a byte order mark (n8n's "BOM" option) and is utf-8 otherwise
        text = io.TextIOWrapper(raw, encoding="utf-8-sig" if codec == "utf-8" else codec, newline="")
        reader = csv.reader(text, delimiter=delimiter, quotechar='"', strict=False)
        try:
            records = itertools.islice(reader, max(opts.from_line, 0), None)
            return to_rows(records, opts)
        except UnicodeDecodeError as exc:
            # the text layer decodes ahead in chunks: the chunk that failed ends where the file is
            offset = raw.tell() - len(exc.object) + exc.start
            raise describe_decode_error(exc, codec, f"at offset {offset}") from None
        except csv.Error as exc:
            raise FileFormatError(f"invalid CSV at line {reader.line_num}: {exc}") from None
        finally:
            text.detach()


def write_csv(rows: Sequence[Mapping[str, Any]], opts: WriteOptions) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=_delimiter(opts.delimiter), lineterminator="\n")
    header, values = table_of(rows, opts.header_row)
    if header:
        writer.writerow(header)
    for row in values:
        writer.writerow([js_text(v) for v in row])
    return buf.getvalue().encode("utf-8")
