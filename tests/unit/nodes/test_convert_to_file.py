"""Convert to File (n8n convertToFile v1/v1.1) and Spreadsheet File toFile: files written into the
binary store, read back with the format's own reader."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import orjson
import pytest
from openpyxl import load_workbook

from relayflow.engine.binary import key_of
from relayflow.engine.executor import Engine
from relayflow.engine.items import Item, Items
from relayflow.engine.memory import MemoryBinaryStore
from relayflow.testing import NodeRunFailed, make_engine, run_node

T = "n8n-nodes-base.convertToFile"
ROWS = [
    {"name": "Ann", "age": 31, "tags": ["a", "b"], "vip": True},
    {"name": 'Bo, "Jr"', "city": "Oslo\nNorth", "age": 2.5},
]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def store() -> MemoryBinaryStore:
    return MemoryBinaryStore()


@pytest.fixture
def engine(store: MemoryBinaryStore) -> Engine:
    return make_engine(binary=store)


async def convert(
    engine: Engine, parameters: dict[str, Any], items: Any, *, version: float = 1.1, **kwargs: Any
) -> list[Items]:
    return await run_node(T, parameters, items, engine=engine, type_version=version, **kwargs)


async def content(store: MemoryBinaryStore, item: Item, prop: str = "data") -> bytes:
    key = key_of(item["binary"][prop])
    assert key is not None
    return await store.read_bytes(key)


async def test_csv_one_file_for_all_items(engine: Engine, store: MemoryBinaryStore) -> None:
    out = await convert(engine, {"operation": "csv", "options": {}}, ROWS)
    (item,) = out[0]
    assert item["json"] == {}
    assert item["pairedItem"] == [{"item": 0}, {"item": 1}]
    entry = item["binary"]["data"]
    assert (entry["fileName"], entry["mimeType"], entry["fileExtension"]) == (
        "spreadsheet.csv",
        "text/csv",
        "csv",
    )
    assert (await content(store, item)).decode() == (
        'name,age,tags,vip,city\nAnn,31,"[""a"",""b""]",true,\n"Bo, ""Jr""",2.5,,,"Oslo\nNorth"\n'
    )


async def test_csv_options_delimiter_no_header_file_name_and_property(
    engine: Engine, store: MemoryBinaryStore
) -> None:
    params = {
        "operation": "csv",
        "binaryPropertyName": "report",
        "options": {"delimiter": ";", "headerRow": False, "fileName": "out.csv"},
    }
    (item,) = (await convert(engine, params, [{"a": 1, "b": "x;y"}, {"a": 2}]))[0]
    assert item["binary"]["report"]["fileName"] == "out.csv"
    assert (await content(store, item, "report")).decode() == '1;"x;y"\n2;\n'


async def test_xlsx_typed_cells_sheet_name_and_header(engine: Engine, store: MemoryBinaryStore) -> None:
    params = {"operation": "xlsx", "options": {"sheetName": "People/2024", "fileName": "p.xlsx"}}
    (item,) = (await convert(engine, params, ROWS))[0]
    assert item["binary"]["data"]["mimeType"].endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(await content(store, item)))
    ws = wb["People2024"]
    assert [list(r) for r in ws.iter_rows(values_only=True)] == [
        ["name", "age", "tags", "vip", "city"],
        ["Ann", 31, '["a","b"]', True, None],
        ['Bo, "Jr"', 2.5, None, None, "Oslo\nNorth"],
    ]


async def test_ods_is_a_valid_opendocument_zip(engine: Engine, store: MemoryBinaryStore) -> None:
    (item,) = (await convert(engine, {"operation": "ods"}, ROWS))[0]
    with zipfile.ZipFile(io.BytesIO(await content(store, item))) as z:
        assert z.namelist()[0] == "mimetype"
        assert z.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        xml = z.read("content.xml").decode()
    assert 'office:value-type="float" office:value="31"' in xml
    assert "Bo, &quot;Jr&quot;" in xml or 'Bo, "Jr"' in xml


async def test_html_and_rtf_tables(engine: Engine, store: MemoryBinaryStore) -> None:
    rows = [{"a": "<b>&", "b": "{x}\\ é"}]
    (html,) = (await convert(engine, {"operation": "html"}, rows))[0]
    page = (await content(store, html)).decode()
    assert "<table><tr><td>a</td><td>b</td></tr><tr><td>&lt;b&gt;&amp;</td>" in page
    (rtf,) = (await convert(engine, {"operation": "rtf"}, rows))[0]
    text = (await content(store, rtf)).decode("ascii")
    assert text.startswith("{\\rtf1") and "\\{x\\}\\\\ \\u233?" in text and text.count("\\row") == 2


async def test_xls_writing_is_refused_clearly(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match=r"writing XLS .* not supported: use the XLSX format"):
        await convert(engine, {"operation": "xls"}, ROWS)
    out = await convert(engine, {"operation": "xls"}, ROWS, node_fields={"onError": "continueRegularOutput"})
    assert "not supported" in out[0][0]["json"]["error"]


async def test_to_json_once_pretty(engine: Engine, store: MemoryBinaryStore) -> None:
    params = {"operation": "toJson", "options": {"format": True}}
    (item,) = (await convert(engine, params, ROWS))[0]
    assert (item["binary"]["data"]["fileName"], item["binary"]["data"]["mimeType"]) == (
        "file.json",
        "application/json",
    )
    data = await content(store, item)
    assert data.startswith(b'[\n  {\n    "name": "Ann"') and orjson.loads(data) == ROWS


async def test_to_json_each_item_keeps_other_binaries(engine: Engine, store: MemoryBinaryStore) -> None:
    other = {"data": base64.b64encode(b"x").decode(), "mimeType": "text/plain"}
    items = [{"json": {"i": 0}, "binary": {"other": other}}, {"json": {"i": 1}}]
    params = {"operation": "toJson", "mode": "each", "binaryPropertyName": "file", "options": {}}
    out = (await convert(engine, params, items))[0]
    assert [it["pairedItem"] for it in out] == [{"item": 0}, {"item": 1}]
    assert set(out[0]["binary"]) == {"other", "file"} and set(out[1]["binary"]) == {"file"}
    assert [orjson.loads(await content(store, it, "file")) for it in out] == [{"i": 0}, {"i": 1}]


async def test_to_text_source_path_encoding_and_bom(engine: Engine, store: MemoryBinaryStore) -> None:
    items = [{"doc": {"body": "héllo"}}, {"doc": {"body": {"k": 1}}}]
    params = {
        "operation": "toText",
        "sourceProperty": "doc.body",
        "options": {"encoding": "utf16le", "addBOM": True, "fileName": "n.md"},
    }
    out = (await convert(engine, params, items))[0]
    assert await content(store, out[0]) == "\ufeffhéllo".encode("utf-16-le")
    assert (await content(store, out[1])).decode("utf-16-le") == '\ufeff{"k":1}'
    assert out[0]["binary"]["data"]["fileName"] == "n.md"


async def test_to_text_file_name_expression_per_item(engine: Engine, store: MemoryBinaryStore) -> None:
    params = {"operation": "toText", "sourceProperty": "t", "options": {"fileName": "={{ $json.n }}.md"}}
    out = (await convert(engine, params, [{"t": "a", "n": "one"}, {"t": "b", "n": "two"}]))[0]
    assert [it["binary"]["data"]["fileName"] for it in out] == ["one.md", "two.md"]
    assert [await content(store, it) for it in out] == [b"a", b"b"]


async def test_missing_source_fails_the_item_per_on_error(engine: Engine) -> None:
    params = {"operation": "toText", "sourceProperty": "t"}
    items = [{"t": "ok"}, {"x": 1}]
    with pytest.raises(NodeRunFailed, match="the item has no field 't'") as info:
        await convert(engine, params, items)
    assert info.value.error.get("itemIndex") == 1
    out = await convert(engine, params, items, outputs=2, node_fields={"onError": "continueErrorOutput"})
    assert len(out[0]) == 1 and out[0][0]["pairedItem"] == {"item": 0}
    assert out[1] == [{"json": {"x": 1, "error": "the item has no field 't'"}, "pairedItem": {"item": 1}}]


async def test_base64_to_file_corpus_shape(engine: Engine, store: MemoryBinaryStore) -> None:
    """As in the corpus' image workflows: ``data[0].b64_json`` into ``=data``."""
    params = {
        "operation": "toBinary",
        "sourceProperty": "data[0].b64_json",
        "binaryPropertyName": "=data",
        "options": {},
    }
    items = [{"data": [{"b64_json": base64.b64encode(PNG).decode()}]}]
    (item,) = (await convert(engine, params, items))[0]
    assert await content(store, item) == PNG
    assert item["binary"]["data"]["mimeType"] == "image/png"
    assert item["binary"]["data"]["fileExtension"] == "png"


async def test_base64_data_url_mime_and_options(engine: Engine, store: MemoryBinaryStore) -> None:
    url = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 x").decode()
    (item,) = (await convert(engine, {"operation": "toBinary", "sourceProperty": "u"}, [{"u": url}]))[0]
    assert (
        item["binary"]["data"]["mimeType"] == "application/pdf"
        and await content(store, item) == b"%PDF-1.4 x"
    )
    params = {
        "operation": "toBinary",
        "sourceProperty": "u",
        "options": {"dataIsBase64": False, "encoding": "latin1", "fileName": "a.txt", "mimeType": "text/x-a"},
    }
    (item,) = (await convert(engine, params, [{"u": "café"}]))[0]
    assert await content(store, item) == "café".encode("latin-1")
    assert (item["binary"]["data"]["fileName"], item["binary"]["data"]["mimeType"]) == ("a.txt", "text/x-a")


async def test_bad_base64_and_unknown_encoding_are_clear(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match="the field 'u' is not valid Base64"):
        await convert(engine, {"operation": "toBinary", "sourceProperty": "u"}, [{"u": "***"}])
    params = {"operation": "toText", "sourceProperty": "u", "options": {"encoding": "klingon"}}
    with pytest.raises(NodeRunFailed, match="unknown encoding 'klingon'"):
        await convert(engine, params, [{"u": "x"}])


async def test_ical_event_per_item(engine: Engine, store: MemoryBinaryStore) -> None:
    params = {
        "operation": "iCal",
        "title": "={{ $json.t }}",
        "start": "2024-05-06T10:00:00+02:00",
        "end": "",
        "additionalFields": {"location": "Room 1, floor 2", "uid": "u-1", "description": "a\nb" + "x" * 80},
    }
    (item,) = (await convert(engine, params, [{"t": "Stand-up; daily"}]))[0]
    assert (item["binary"]["data"]["fileName"], item["binary"]["data"]["mimeType"]) == (
        "event.ics",
        "text/calendar",
    )
    text = (await content(store, item)).decode()
    lines = text.split("\r\n")
    assert lines[:4] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//relayflow//Convert to File//EN",
        "METHOD:PUBLISH",
    ]
    for line in (
        "UID:u-1",
        "DTSTART:20240506T080000Z",
        "DTEND:20240506T090000Z",
        "SUMMARY:Stand-up\\; daily",
        "LOCATION:Room 1\\, floor 2",
    ):
        assert line in lines
    assert all(len(line.encode()) <= 75 for line in lines) and any(line.startswith(" x") for line in lines)
    all_day = {"operation": "iCal", "title": "Off", "start": "2024-05-06", "allDay": True}
    (item,) = (await convert(engine, all_day, [{}]))[0]
    text = (await content(store, item)).decode()
    assert "DTSTART;VALUE=DATE:20240506\r\nDTEND;VALUE=DATE:20240507" in text
    with pytest.raises(NodeRunFailed, match="the event's start 'soon' is not an ISO date"):
        await convert(engine, {"operation": "iCal", "title": "x", "start": "soon"}, [{}])


async def test_spreadsheet_file_to_file_corpus_shapes(engine: Engine, store: MemoryBinaryStore) -> None:
    t = "n8n-nodes-base.spreadsheetFile"
    params = {
        "operation": "toFile",
        "fileFormat": "xlsx",
        "options": {"fileName": "users.xlsx", "headerRow": True, "sheetName": "users"},
    }
    (item,) = (await run_node(t, params, ROWS[:1], engine=engine))[0]
    assert item["binary"]["data"]["fileName"] == "users.xlsx"
    ws = load_workbook(io.BytesIO(await content(store, item)))["users"]
    assert [list(r) for r in ws.iter_rows(values_only=True)][1][:2] == ["Ann", 31]
    params = {"operation": "toFile", "fileFormat": "csv", "options": {"fileName": "t.csv"}}
    (item,) = (await run_node(t, params, [{"a": 1}], engine=engine, type_version=2))[0]
    assert await content(store, item) == b"a\n1\n"
    with pytest.raises(NodeRunFailed, match="writing XLS"):
        await run_node(t, {"operation": "toFile"}, [{"a": 1}], engine=engine)
