"""HTML tables: the first ``<table>`` of a page is read (cells' text, ``th`` and ``td`` alike);
a page with one table is written (as SheetJS does, cells as ``<td>``)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

from relayflow.nodes.convert.formats import (
    FileFormatError,
    ReadOptions,
    Rows,
    Source,
    WriteOptions,
    decode,
    js_text,
    read_all,
    table_of,
    to_rows,
)
from relayflow.nodes.convert.formats.csv_text import check_text


class _TableParser(HTMLParser):
    """Collects the rows of the first table; nested tables' text goes into the enclosing cell."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.depth = 0
        self.done = False
        self.cell: list[str] | None = None
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "table":
            self.depth += 1
            self.found = True
        elif self.depth == 1 and tag == "tr":
            self._close_cell()
            self.rows.append([])
        elif self.depth == 1 and tag in ("td", "th"):
            self._close_cell()
            if not self.rows:
                self.rows.append([])
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.done:
            return
        if tag == "table" and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self._close_cell()
                self.done = True
        elif self.depth == 1 and tag in ("td", "th", "tr"):
            self._close_cell()

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def _close_cell(self) -> None:
        if self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None


def read_html(source: Source, opts: ReadOptions) -> Rows:
    data = read_all(source)
    check_text(data[:512], "utf-8", "an HTML page")
    parser = _TableParser()
    parser.feed(decode(data, opts.encoding or "utf-8"))
    parser.close()
    if not parser.found:
        raise FileFormatError("the file has no HTML <table>")
    return to_rows(parser.rows, opts)


def write_html(rows: Sequence[Mapping[str, Any]], opts: WriteOptions) -> bytes:
    out = ['<html><head><meta charset="utf-8"/><title>Export</title></head><body><table>']
    header, values = table_of(rows, opts.header_row)

    def tr(cells: list[Any]) -> str:
        return "<tr>" + "".join(f"<td>{html.escape(js_text(c))}</td>" for c in cells) + "</tr>"

    if header:
        out.append(tr(list(header)))
    out.extend(tr(row) for row in values)
    out.append("</table></body></html>")
    return "".join(out).encode("utf-8")
