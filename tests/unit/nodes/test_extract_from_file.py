"""Extract from File (n8n extractFromFile v1) and Spreadsheet File fromFile: every format read,
options, round trips through Convert to File, bad input per item, and a corpus workflow."""

from __future__ import annotations

import base64
import io
import os
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from openpyxl import Workbook

from relayflow.binary import FilesystemBinaryStore
from relayflow.engine.executor import Engine
from relayflow.engine.items import Item, Items
from relayflow.engine.memory import MemoryBinaryStore
from relayflow.nodes.convert.formats import ReadOptions
from relayflow.nodes.convert.formats.csv_text import read_csv
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node
from relayflow.workflow.parse import parse_workflow

T = "n8n-nodes-base.extractFromFile"
REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("RELAYFLOW_N8N_CORPUS", REPO.parent / "shared" / "n8n-corpus"))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def engine() -> Engine:
    return make_engine(binary=MemoryBinaryStore())


def file_item(data: bytes, name: str = "f.csv", prop: str = "data", json: Any = None) -> Item:
    entry = {
        "data": base64.b64encode(data).decode(),
        "mimeType": "application/octet-stream",
        "fileName": name,
    }
    return {"json": json or {}, "binary": {prop: entry}}


async def extract(engine: Engine, parameters: dict[str, Any], items: Any, **kwargs: Any) -> list[Items]:
    return await run_node(T, parameters, items, engine=engine, **kwargs)


async def rows(
    engine: Engine, data: bytes, options: dict[str, Any] | None = None, **params: Any
) -> list[Any]:
    parameters = {"operation": "csv", "options": options or {}, **params}
    return output_json(await extract(engine, parameters, [file_item(data)]))


def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for title, table in sheets.items():
        ws = wb.create_sheet(title)
        for row in table:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf_bytes(*pages: str) -> bytes:
    """A minimal PDF with one line of Helvetica text per page, its xref offsets computed."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info << /Title (CV) >> >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# CSV -----------------------------------------------------------------------------------------------


async def test_csv_rows_become_items_paired_to_their_file(engine: Engine) -> None:
    items = [file_item(b"a,b\n1,2\n3,4\n"), file_item(b"a,b\n5,6\n")]
    out = (await extract(engine, {}, items))[0]
    assert out == [
        {"json": {"a": "1", "b": "2"}, "pairedItem": {"item": 0}},
        {"json": {"a": "3", "b": "4"}, "pairedItem": {"item": 0}},
        {"json": {"a": "5", "b": "6"}, "pairedItem": {"item": 1}},
    ]


async def test_csv_quoting_bom_blank_lines_and_crlf(engine: Engine) -> None:
    data = '\ufeffname,note\r\n"Bo, Jr","line1\nline2 ""q"""\r\n\r\nAnn,\r\n'.encode()
    assert await rows(engine, data) == [{"name": "Bo, Jr", "note": 'line1\nline2 "q"'}, {"name": "Ann"}]
    assert (await rows(engine, data, {"includeEmptyCells": True}))[1] == {"name": "Ann", "note": ""}


async def test_csv_options(engine: Engine) -> None:
    data = b"title line\nx;y\n1;2\n3;4\n5;6\n"
    opts = {"delimiter": ";", "fromLine": 1, "maxRowCount": 2}
    assert await rows(engine, data, opts) == [{"x": "1", "y": "2"}, {"x": "3", "y": "4"}]
    assert await rows(engine, b"1,2\n3,\n", {"headerRow": False}) == [{"row": ["1", "2"]}, {"row": ["3", ""]}]
    assert await rows(engine, b"a\tb\n1\t2\n", {"delimiter": "\\t"}) == [{"a": "1", "b": "2"}]


async def test_csv_encodings(engine: Engine) -> None:
    data = "name\ncafé\n".encode("latin-1")
    assert await rows(engine, data, {"encoding": "latin1"}) == [{"name": "café"}]
    assert await rows(engine, "n\né\n".encode("cp1252"), {"encoding": "win1252"}) == [{"n": "é"}]
    with pytest.raises(
        NodeRunFailed, match=r"not valid utf-8 text \(byte 0xe9 at offset 8\); set the encoding"
    ):
        await rows(engine, data)


async def test_csv_refuses_files_that_are_not_text(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match=r"the file is binary data .* not CSV text"):
        await rows(engine, PNG)
    with pytest.raises(NodeRunFailed, match=r"the file is an XLSX \(zip\) file, not CSV text"):
        await rows(engine, xlsx_bytes({"S": [["a"]]}))
    with pytest.raises(NodeRunFailed, match="data row 1 has 3 fields but the header row has 2"):
        await rows(engine, b"a,b\n1,2,3\n")


async def test_bad_files_fail_per_item_as_on_error_says(engine: Engine) -> None:
    items = [file_item(b"a\n1\n"), file_item(PNG), {"json": {"n": 3}}]
    with pytest.raises(NodeRunFailed) as info:
        await extract(engine, {}, items)
    assert info.value.error.get("itemIndex") == 1 and "not CSV text" in info.value.error["message"]
    out = await extract(engine, {}, items, outputs=2, node_fields={"onError": "continueErrorOutput"})
    assert output_json(out) == [{"a": "1"}]
    assert [it["pairedItem"] for it in out[1]] == [{"item": 1}, {"item": 2}]
    assert out[1][1]["json"] == {"n": 3, "error": "the item has no binary property 'data' (it has: none)"}
    regular = await extract(engine, {}, items, node_fields={"onError": "continueRegularOutput"})
    assert [sorted(j) for j in output_json(regular)] == [["a"], ["error"], ["error"]]


async def test_deleted_binary_data_fails_the_item(engine: Engine) -> None:
    gone = {
        "json": {},
        "binary": {"data": {"id": "memory:ex/gone", "data": "memory", "mimeType": "text/csv"}},
    }
    out = await extract(engine, {}, [gone], node_fields={"onError": "continueRegularOutput"})
    assert output_json(out) == [{"error": "binary data 'ex/gone' does not exist (or was deleted)"}]


async def test_big_csv_is_parsed_streamed_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("id,name,note\n")
        for i in range(100_000):
            f.write(f'{i},name {i},"a, b {i}"\n')
    size = path.stat().st_size
    tracemalloc.start()
    try:
        parsed = read_csv(path, ReadOptions())
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(parsed) == 100_000 and parsed[-1] == {
        "id": "99999",
        "name": "name 99999",
        "note": "a, b 99999",
    }
    # beyond the rows it returns, parsing held far less than the file (no decoded copy of it)
    assert peak - current < size // 10

    store = FilesystemBinaryStore(tmp_path / "binary")
    await store.import_file("ex/big", path)
    entry = {"id": "filesystem-v2:ex/big", "data": "filesystem-v2", "mimeType": "text/csv", "bytes": size}
    out = await run_node(T, {}, [{"json": {}, "binary": {"data": entry}}], engine=make_engine(binary=store))
    assert len(out[0]) == 100_000 and out[0][1234]["json"]["name"] == "name 1234"


# spreadsheets --------------------------------------------------------------------------------------


async def test_xlsx_types_sheets_ranges_and_options(engine: Engine) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9)
    data = xlsx_bytes(
        {
            "First": [
                ["name", "n", None, "when"],
                ["Ann", 1, None, when],
                [None, None, None, None],
                ["Bo", 2.5, "x", None],
            ],
            "Other": [["k"], ["v"]],
        }
    )

    async def read(options: dict[str, Any]) -> list[Any]:
        return output_json(
            await extract(engine, {"operation": "xlsx", "options": options}, [file_item(data)])
        )

    assert await read({}) == [
        {"name": "Ann", "n": 1, "when": "2024-05-06T07:08:09"},
        {"name": "Bo", "n": 2.5, "__EMPTY": "x"},
    ]
    assert await read({"sheetName": "Other"}) == [{"k": "v"}]
    assert (await read({"includeEmptyCells": True}))[0] == {
        "name": "Ann",
        "n": 1,
        "__EMPTY": "",
        "when": "2024-05-06T07:08:09",
    }
    assert (await read({"readAsString": True}))[1] == {"name": "Bo", "n": "2.5", "__EMPTY": "x"}
    assert await read({"range": "A2:B4"}) == [{"Ann": "Bo", "1": 2.5}]
    assert await read({"range": 1, "headerRow": False}) == [
        {"row": ["Ann", 1, "", "2024-05-06T07:08:09"]},
        {"row": ["Bo", 2.5, "x", ""]},
    ]
    with pytest.raises(NodeRunFailed, match=r"the workbook has no sheet 'Nope' \(it has: First, Other\)"):
        await read({"sheetName": "Nope"})
    with pytest.raises(NodeRunFailed, match="'A1:B' is not a cell range"):
        await read({"range": "A1:B"})


async def test_xlsx_refuses_other_files(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match="the file is not an XLSX workbook"):
        await extract(engine, {"operation": "xlsx"}, [file_item(b"a,b\n1,2\n")])
    with pytest.raises(NodeRunFailed, match="not a readable XLSX workbook"):
        await extract(engine, {"operation": "xlsx"}, [file_item(b"PK\x03\x04 truncated zip")])


async def test_html_table(engine: Engine) -> None:
    page = b"<html><body><p>x</p><table><thead><tr><th>Name</th><th>Qty</th></tr></thead>" + (
        b"<tr><td>Fish &amp; <b>chips</b></td><td> 2 </td></tr><tr><td>Tea</td><td></td></tr></table>"
        b"<table><tr><td>second</td></tr></table></body></html>"
    )
    out = output_json(await extract(engine, {"operation": "html"}, [file_item(page)]))
    assert out == [{"Name": "Fish & chips", "Qty": "2"}, {"Name": "Tea"}]
    with pytest.raises(NodeRunFailed, match="no HTML <table>"):
        await extract(engine, {"operation": "html"}, [file_item(b"<p>none</p>")])


async def test_unsupported_formats_say_so(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match="reading RTF files is not supported"):
        await extract(engine, {"operation": "rtf"}, [file_item(b"{\\rtf1 x}")])
    with pytest.raises(NodeRunFailed, match="not an XLS"):
        await extract(engine, {"operation": "xls"}, [file_item(b"a,b")])
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    with pytest.raises(NodeRunFailed, match=r"xlrd|cannot be read"):
        await extract(engine, {"operation": "xls"}, [file_item(ole)])


ROUND_TRIP_ROWS = [{"name": "Ann", "n": 1, "ok": True}, {"name": 'Bo, "Jr"\nII', "n": 2.5, "note": "é"}]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods", "html"])
async def test_round_trip_through_convert_to_file(engine: Engine, fmt: str) -> None:
    (file,) = (
        await run_node("n8n-nodes-base.convertToFile", {"operation": fmt}, ROUND_TRIP_ROWS, engine=engine)
    )[0]
    back = output_json(await extract(engine, {"operation": fmt}, [file]))
    if fmt in ("csv", "html"):  # text formats: every cell comes back as text
        expected = [{k: ("true" if v is True else str(v)) for k, v in r.items()} for r in ROUND_TRIP_ROWS]
        if fmt == "html":  # cell text is read with whitespace collapsed, as a browser shows it
            expected[1]["name"] = 'Bo, "Jr" II'
        assert back == expected
    else:
        assert back == ROUND_TRIP_ROWS


async def test_round_trip_json_and_text(engine: Engine) -> None:
    convert = "n8n-nodes-base.convertToFile"
    (file,) = (await run_node(convert, {"operation": "toJson"}, ROUND_TRIP_ROWS, engine=engine))[0]
    assert output_json(await extract(engine, {"operation": "fromJson"}, [file])) == [
        {"data": ROUND_TRIP_ROWS}
    ]
    (file,) = (
        await run_node(convert, {"operation": "toText", "sourceProperty": "t"}, [{"t": "hé"}], engine=engine)
    )[0]
    assert output_json(await extract(engine, {"operation": "text"}, [file])) == [{"data": "hé"}]


# JSON, text, Base64, PDF ----------------------------------------------------------------------------


async def test_from_json_destination_and_keep_source(engine: Engine) -> None:
    item = file_item(b'\xef\xbb\xbf{"a": [1, 2]}', json={"src": 1})
    params: dict[str, Any] = {"operation": "fromJson", "destinationKey": "parsed.body", "options": {}}
    (out,) = (await extract(engine, params, [item]))[0]
    assert out == {"json": {"src": 1, "parsed": {"body": {"a": [1, 2]}}}, "pairedItem": {"item": 0}}
    params["options"] = {"keepSource": "binary"}
    (out,) = (await extract(engine, params, [item]))[0]
    assert out["json"] == {"parsed": {"body": {"a": [1, 2]}}} and out["binary"] == item["binary"]
    params["options"] = {"keepSource": "both"}
    (out,) = (await extract(engine, params, [item]))[0]
    assert out["json"]["src"] == 1 and "data" in out["binary"]
    with pytest.raises(NodeRunFailed, match="the file is not valid JSON"):
        await extract(engine, {"operation": "fromJson"}, [file_item(b"{nope")])


async def test_text_encoding_and_bom(engine: Engine) -> None:
    data = "\ufeffhé".encode("utf-16-le")
    out = output_json(
        await extract(engine, {"operation": "text", "options": {"encoding": "utf16le"}}, [file_item(data)])
    )
    assert out == [{"data": "hé"}]
    kept = {"operation": "text", "options": {"stripBOM": False}}
    assert output_json(await extract(engine, kept, [file_item(b"\xef\xbb\xbfx")])) == [{"data": "\ufeffx"}]
    with pytest.raises(NodeRunFailed, match=r"not valid utf-8 text \(byte 0xe9 at offset 3\)"):
        await extract(engine, {"operation": "text"}, [file_item(b"caf\xe9")])


async def test_binary_to_property(engine: Engine) -> None:
    params = {"operation": "binaryToPropery", "binaryPropertyName": "img", "destinationKey": "b64"}
    out = output_json(await extract(engine, params, [file_item(PNG, prop="img", json={"k": 1})]))
    assert out == [{"k": 1, "b64": base64.b64encode(PNG).decode()}]


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:e1\r\nDTSTAMP:20240101T000000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20240506T100000\r\nDTEND:20240506T090000Z\r\nSUMMARY:Plan\\, then do\r\n"
    "DESCRIPTION:line one\\nline\r\n  two\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n"
    "ATTENDEE;CN=Bo;RSVP=TRUE:mailto:bo@example.com\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSEQUENCE:2\r\n"
    "BEGIN:VALARM\r\nSUMMARY:not the event\r\nEND:VALARM\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:e2\r\nDTSTART;VALUE=DATE:20240507\r\nSUMMARY:Off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


async def test_from_ics(engine: Engine) -> None:
    (json,) = output_json(await extract(engine, {"operation": "fromIcs"}, [file_item(ICS.encode())]))
    calendar = json["data"]
    assert (calendar["version"], calendar["prodId"]) == ("2.0", "-//x//y//EN")
    first, second = calendar["events"]
    assert first["summary"] == "Plan, then do" and first["description"] == "line one\nline two"
    assert first["start"] == {
        "date": "2024-05-06T08:00:00.000Z",
        "type": "DATE-TIME",
        "local": {"date": "2024-05-06T10:00:00.000Z", "timezone": "Europe/Berlin", "tzoffset": "+0200"},
    }
    assert first["end"] == {"date": "2024-05-06T09:00:00.000Z", "type": "DATE-TIME"}
    assert first["organizer"] == {"email": "ann@example.com", "name": "Ann"}
    assert first["attendees"] == [{"email": "bo@example.com", "name": "Bo", "rsvp": True}]
    assert (first["recurrenceRule"], first["sequence"]) == ({"frequency": "WEEKLY", "count": 3}, 2)
    assert second == {
        "uid": "e2",
        "start": {"date": "2024-05-07T00:00:00.000Z", "type": "DATE"},
        "summary": "Off",
    }
    with pytest.raises(NodeRunFailed, match="not an iCalendar file"):
        await extract(engine, {"operation": "fromIcs"}, [file_item(b"a,b\n1,2\n")])


async def test_ics_round_trip(engine: Engine) -> None:
    params = {
        "operation": "iCal",
        "title": "Meet",
        "start": "2024-05-06T10:00:00Z",
        "end": "2024-05-06T11:30:00Z",
    }
    (file,) = (await run_node("n8n-nodes-base.convertToFile", params, [{}], engine=engine))[0]
    (json,) = output_json(await extract(engine, {"operation": "fromIcs", "destinationKey": "cal"}, [file]))
    (event,) = json["cal"]["events"]
    assert event["summary"] == "Meet" and event["end"]["date"] == "2024-05-06T11:30:00.000Z"


async def test_pdf_text_and_options(engine: Engine) -> None:
    pdf = file_item(pdf_bytes("Hello CV", "Second page"), name="cv.pdf")
    (json,) = output_json(await extract(engine, {"operation": "pdf", "options": {}}, [pdf]))
    assert (json["numpages"], json["numrender"], json["info"]["Title"]) == (2, 2, "CV")
    assert json["text"] == "Hello CV\n\nSecond page"
    opts = {"joinPages": False, "maxPages": 1}
    (json,) = output_json(await extract(engine, {"operation": "pdf", "options": opts}, [pdf]))
    assert (json["text"], json["numrender"]) == (["Hello CV"], 1)
    with pytest.raises(NodeRunFailed, match="the file is not a PDF document"):
        await extract(engine, {"operation": "pdf"}, [file_item(b"hello")])


# legacy Spreadsheet File and the corpus --------------------------------------------------------------


async def test_spreadsheet_file_from_file_detects_the_format(engine: Engine) -> None:
    t = "n8n-nodes-base.spreadsheetFile"
    xlsx = file_item(xlsx_bytes({"S": [["a", "b"], [1, 2]]}), name="x.bin")
    csv = file_item(b"a;b\n1;2\n", name="x.csv")
    assert output_json(await run_node(t, {}, [xlsx], engine=engine)) == [{"a": 1, "b": 2}]
    params = {"operation": "fromFile", "fileFormat": "csv", "options": {"delimiter": ";"}}
    assert output_json(await run_node(t, params, [csv], engine=engine, type_version=2)) == [
        {"a": "1", "b": "2"}
    ]
    with pytest.raises(NodeRunFailed, match="not a spreadsheet"):
        await run_node(t, {}, [file_item(b"%PDF-1.4")], engine=engine)


CORPUS_FILE = CORPUS / "zie619__0686_Code_Webhook_Update_Webhook.json"


@pytest.mark.skipif(not CORPUS_FILE.is_file(), reason=f"n8n corpus not found at {CORPUS}")
async def test_corpus_csv_to_json_tool(engine: Engine) -> None:
    """Webhook → Switch (has binary) → Extract From File (data0, error output) → Aggregate →
    Respond to Webhook, with the webhook's output pinned; a PNG goes to the error branch."""
    wf = parse_workflow(orjson.loads(CORPUS_FILE.read_bytes()))
    upload = file_item(
        b"album,year\nElephant,2003\nIcky Thump,2007\n",
        prop="data0",
        json={"headers": {"content-type": "text/csv"}, "body": {}},
    )
    record = await engine.run(wf, pin_data={"POST": [upload]})
    assert record.status.value == "succeeded", record.error
    (extracted,) = record.runs_of("Extract From File")
    assert [it["json"] for it in (extracted.output or [[]])[0]] == [
        {"album": "Elephant", "year": "2003"},
        {"album": "Icky Thump", "year": "2007"},
    ]
    (aggregate,) = record.runs_of("Aggregate")
    assert (aggregate.output or [[]])[0][0]["json"]["jsondata"][1] == {"album": "Icky Thump", "year": "2007"}

    bad = file_item(PNG, prop="data0", json={"headers": {"content-type": "text/csv"}, "body": {}})
    record = await engine.run(wf, pin_data={"POST": [bad], "Send to Error Channel": [{"ok": True}]})
    (extracted,) = record.runs_of("Extract From File")
    outputs = extracted.output or [[], []]
    assert outputs[0] == [] and "not CSV text" in outputs[1][0]["json"]["error"]
    assert record.runs_of("Error Response") and not record.runs_of("Aggregate")
