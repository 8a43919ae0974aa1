"""Move Binary Data (n8n moveBinaryData v1, v1.1): binary to JSON and JSON to binary over the binary
store, their options, encodings and byte order marks, bad data per item, and round trips."""

from __future__ import annotations

import base64
import codecs
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from relayflow.engine.binary import key_of
from relayflow.engine.executor import Engine
from relayflow.engine.items import Item, Items
from relayflow.engine.memory import MemoryBinaryStore
from relayflow.nodes.move_binary_data import decode_text, encode_text
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node

T = "n8n-nodes-base.moveBinaryData"
REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("RELAYFLOW_N8N_CORPUS", REPO.parent / "shared" / "n8n-corpus"))


@pytest.fixture
def store() -> MemoryBinaryStore:
    return MemoryBinaryStore()


@pytest.fixture
def engine(store: MemoryBinaryStore) -> Engine:
    return make_engine(binary=store)


def file_item(data: bytes, prop: str = "data", json: Any = None, **extra: Any) -> Item:
    entry = {"data": base64.b64encode(data).decode(), "mimeType": "application/json", "fileName": "f.json"}
    return {"json": json or {}, "binary": {prop: entry, **extra}}


async def move(
    engine: Engine, parameters: dict[str, Any], items: Any, *, version: float = 1.1, **kwargs: Any
) -> list[Items]:
    return await run_node(T, parameters, items, engine=engine, type_version=version, **kwargs)


async def content(store: MemoryBinaryStore, item: Item, prop: str = "data") -> bytes:
    key = key_of(item["binary"][prop])
    assert key is not None
    return await store.read_bytes(key)


# binaryToJson


@pytest.mark.parametrize("version", [1, 1.1])
async def test_binary_to_json_replaces_the_json_and_drops_the_binary(engine: Engine, version: float) -> None:
    items = [file_item(b'{"a": 1, "b": [true, null], "c": "\xc3\xa9"}', json={"old": 1})]
    out = await move(engine, {"options": {}}, items, version=version)
    assert out[0] == [{"json": {"a": 1, "b": [True, None], "c": "é"}, "pairedItem": {"item": 0}}]


async def test_binary_to_json_keeps_other_binary_properties_and_the_source_on_request(engine: Engine) -> None:
    other = {"data": base64.b64encode(b"x").decode(), "mimeType": "text/plain"}
    items = [file_item(b'{"a": 1}', other=other)]
    (item,) = (await move(engine, {"options": {}}, items))[0]
    assert item["json"] == {"a": 1} and sorted(item["binary"]) == ["other"]
    (kept,) = (await move(engine, {"options": {"keepSource": True}}, items))[0]
    assert sorted(kept["binary"]) == ["data", "other"]


async def test_binary_to_json_into_a_field(engine: Engine) -> None:
    items = [file_item(b'{"a": 1}', prop="file", json={"id": 7})]
    params: dict[str, Any] = {
        "setAllData": False,
        "sourceKey": "file",
        "destinationKey": "payload.text",
        "options": {},
    }
    (item,) = (await move(engine, params, items))[0]
    assert item == {"json": {"id": 7, "payload": {"text": '{"a": 1}'}}, "pairedItem": {"item": 0}}
    params["options"] = {"jsonParse": True}
    assert output_json(await move(engine, params, items)) == [{"id": 7, "payload": {"text": {"a": 1}}}]
    params["options"] = {"keepAsBase64": True, "jsonParse": True}
    assert output_json(await move(engine, params, items)) == [
        {"id": 7, "payload": {"text": base64.b64encode(b'{"a": 1}').decode()}}
    ]


async def test_binary_to_json_reads_stored_binary_data(engine: Engine, store: MemoryBinaryStore) -> None:
    written = await move(engine, {"mode": "jsonToBinary", "options": {}}, [{"n": 1}, {"n": 2}])
    out = await move(engine, {"setAllData": False, "options": {"jsonParse": True}}, written[0])
    assert output_json(out) == [{"data": {"n": 1}}, {"data": {"n": 2}}]


async def test_items_without_the_source_are_left_out(engine: Engine) -> None:
    items = [{"json": {"n": 1}}, file_item(b'{"n": 2}'), file_item(b'{"n": 3}', prop="other")]
    out = await move(engine, {"options": {}}, items)
    assert out[0] == [{"json": {"n": 2}, "pairedItem": {"item": 1}}]
    to_binary = {"mode": "jsonToBinary", "convertAllData": False, "sourceKey": "x", "options": {}}
    out = await move(engine, to_binary, [{"y": 1}, {"x": "a"}])
    assert [it["pairedItem"] for it in out[0]] == [{"item": 1}]


# encodings and byte order marks


async def test_a_utf8_bom_is_stripped_by_default(engine: Engine) -> None:
    items = [file_item(codecs.BOM_UTF8 + b'{"a": "b"}')]
    assert output_json(await move(engine, {"options": {}}, items)) == [{"a": "b"}]
    text = {"setAllData": False, "options": {"stripBOM": False}}
    assert output_json(await move(engine, text, items)) == [{"data": '\ufeff{"a": "b"}'}]
    with pytest.raises(
        NodeRunFailed, match=r"not valid JSON \(it starts with a byte order mark: turn stripBOM on\)"
    ):
        await move(engine, {"options": {"stripBOM": False}}, items)


@pytest.mark.parametrize(
    ("encoding", "data", "text"),
    [
        ("latin1", "Zoë".encode("latin-1"), "Zoë"),
        ("win1252", "€ 5".encode("cp1252"), "€ 5"),
        ("utf16le", codecs.BOM_UTF16_LE + "ü!".encode("utf-16-le"), "ü!"),
        ("ucs2", "ab".encode("utf-16-le"), "ab"),
        ("utf-16be", codecs.BOM_UTF16_BE + "ß".encode("utf-16-be"), "ß"),
        ("base64", b"\x00\xff", "AP8="),
        ("hex", b"\x00\xff", "00ff"),
    ],
)
async def test_binary_to_json_decodes_n8n_encodings(
    engine: Engine, encoding: str, data: bytes, text: str
) -> None:
    params = {"setAllData": False, "options": {"encoding": encoding}}
    assert output_json(await move(engine, params, [file_item(data)])) == [{"data": text}]


@pytest.mark.parametrize(
    ("encoding", "add_bom", "expected"),
    [
        ("utf8", False, b'"h\xc3\xa9"'),
        ("utf8", True, codecs.BOM_UTF8 + b'"h\xc3\xa9"'),
        ("utf16le", True, codecs.BOM_UTF16_LE + '"hé"'.encode("utf-16-le")),
        ("utf-16", False, '"hé"'.encode("utf-16-le")),
        ("latin1", True, b'"h\xe9"'),
    ],
)
async def test_json_to_binary_encodes_with_an_optional_bom(
    engine: Engine, store: MemoryBinaryStore, encoding: str, add_bom: bool, expected: bytes
) -> None:
    params = {
        "mode": "jsonToBinary",
        "convertAllData": False,
        "options": {"encoding": encoding, "addBOM": add_bom},
    }
    (item,) = (await move(engine, params, [{"data": "hé"}]))[0]
    assert await content(store, item) == expected


def test_byte_encodings_and_bad_text() -> None:
    assert encode_text("AP8=", "base64") == b"\x00\xff" and encode_text("00ff", "hex") == b"\x00\xff"
    assert decode_text(codecs.BOM_UTF8 + b"x", "utf-8", strip_bom=False) == "\ufeffx"
    with pytest.raises(ValueError, match=r"not valid utf-8 text \(byte 0xe9 at offset 1\)"):
        decode_text(b"a\xe9", "utf8")
    with pytest.raises(ValueError, match="cannot be written as ascii"):
        encode_text("é", "ascii")
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        encode_text("x", "klingon")
    with pytest.raises(ValueError, match="not valid hex"):
        encode_text("zz", "hex")


# jsonToBinary


@pytest.mark.parametrize("version", [1, 1.1])
async def test_json_to_binary_writes_the_whole_json(
    engine: Engine, store: MemoryBinaryStore, version: float
) -> None:
    items = [{"json": {"a": 1, "b": "é"}, "binary": {"pic": {"data": "eA==", "mimeType": "image/png"}}}]
    (item,) = (await move(engine, {"mode": "jsonToBinary", "options": {}}, items, version=version))[0]
    assert item["json"] == {} and item["pairedItem"] == {"item": 0}
    assert sorted(item["binary"]) == ["data", "pic"]
    entry = item["binary"]["data"]
    assert (entry["mimeType"], entry["fileExtension"], entry["bytes"]) == ("application/json", "json", 16)
    assert "fileName" not in entry
    assert orjson.loads(await content(store, item)) == {"a": 1, "b": "é"}
    keep = {"mode": "jsonToBinary", "options": {"keepSource": True}}
    assert output_json(await move(engine, keep, items, version=version)) == [{"a": 1, "b": "é"}]


async def test_json_to_binary_from_a_field(engine: Engine, store: MemoryBinaryStore) -> None:
    params: dict[str, Any] = {
        "mode": "jsonToBinary",
        "convertAllData": False,
        "sourceKey": "doc.body",
        "destinationKey": "file",
        "options": {"fileName": "body.txt", "mimeType": "text/plain"},
    }
    items = [{"doc": {"body": "plain text", "title": "t"}, "id": 3}]
    (item,) = (await move(engine, params, items))[0]
    assert item["json"] == {"doc": {"title": "t"}, "id": 3}
    entry = item["binary"]["file"]
    assert (entry["fileName"], entry["mimeType"], entry["fileExtension"]) == ("body.txt", "text/plain", "txt")
    assert await content(store, item, "file") == b'"plain text"'
    params["options"] = {"useRawData": True, "keepSource": True}
    (raw,) = (await move(engine, params, items))[0]
    assert raw["json"] == items[0] and await content(store, raw, "file") == b"plain text"


async def test_use_raw_data_still_writes_objects_as_json(engine: Engine, store: MemoryBinaryStore) -> None:
    params = {"mode": "jsonToBinary", "convertAllData": False, "options": {"useRawData": True}}
    out = await move(engine, params, [{"data": {"x": [1, 2]}}, {"data": 5}])
    assert [await content(store, it) for it in out[0]] == [b'{"x":[1,2]}', b"5"]


async def test_json_to_binary_from_base64(engine: Engine, store: MemoryBinaryStore) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00"
    params = {
        "mode": "jsonToBinary",
        "convertAllData": False,
        "options": {"dataIsBase64": True, "mimeType": "image/png", "fileName": "a.png"},
    }
    (item,) = (await move(engine, params, [{"data": base64.b64encode(png).decode()}]))[0]
    assert await content(store, item) == png and item["binary"]["data"]["fileExtension"] == "png"
    with pytest.raises(NodeRunFailed, match="the data is not valid Base64"):
        await move(engine, params, [{"data": "not base64!"}])
    with pytest.raises(NodeRunFailed, match="the data is not a Base64 string but int"):
        await move(engine, params, [{"data": 5}])


# bad data per item


async def test_bad_json_fails_the_item_as_on_error_says(engine: Engine) -> None:
    items = [file_item(b'{"ok": 1}'), file_item(b"{not json"), file_item(b"[1, 2]"), file_item(b"\xff{}")]
    with pytest.raises(NodeRunFailed, match="the binary data is not valid JSON") as info:
        await move(engine, {"options": {}}, items)
    assert info.value.error.get("itemIndex") == 1
    out = await move(
        engine, {"options": {}}, items, outputs=2, node_fields={"onError": "continueErrorOutput"}
    )
    assert output_json(out) == [{"ok": 1}]
    assert [it["pairedItem"] for it in out[1]] == [{"item": 1}, {"item": 2}, {"item": 3}]
    errors = [it["json"]["error"] for it in out[1]]
    assert errors[0].startswith("the binary data is not valid JSON")
    assert (
        errors[1]
        == "the binary data is JSON but not an object (list): turn 'Set All Data' off to write it to a field"
    )
    assert errors[2].startswith("the file is not valid utf-8 text (byte 0xff at offset 0)")
    regular = await move(engine, {"options": {}}, items, node_fields={"onError": "continueRegularOutput"})
    assert [sorted(j) for j in output_json(regular)] == [["ok"], ["error"], ["error"], ["error"]]


async def test_json_parse_errors_in_field_mode_and_unknown_encodings(engine: Engine) -> None:
    field = {"setAllData": False, "options": {"jsonParse": True}}
    with pytest.raises(NodeRunFailed, match="not valid JSON"):
        await move(engine, field, [file_item(b"nope")])
    with pytest.raises(NodeRunFailed, match="unknown encoding 'klingon'"):
        await move(engine, {"options": {"encoding": "klingon"}}, [file_item(b"{}")])
    with pytest.raises(NodeRunFailed, match="cannot be written as ascii"):
        await move(engine, {"mode": "jsonToBinary", "options": {"encoding": "ascii"}}, [{"a": "é"}])


async def test_deleted_binary_data_fails_the_item(engine: Engine) -> None:
    gone = {"json": {}, "binary": {"data": {"id": "memory:ex/gone", "data": "memory", "mimeType": "a/b"}}}
    out = await move(engine, {"options": {}}, [gone], node_fields={"onError": "continueRegularOutput"})
    assert output_json(out) == [{"error": "binary data 'ex/gone' does not exist (or was deleted)"}]


# round trips and workflows


async def test_round_trip_json_to_binary_to_json(engine: Engine) -> None:
    items = [
        {"name": "Zoë", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None},
        {"nested": {"deep": {"x": [1, {"y": "€"}]}}},
    ]
    for encoding in ("utf8", "utf16le", "utf-16be"):
        options = {"encoding": encoding, "addBOM": True}
        binary = await move(engine, {"mode": "jsonToBinary", "options": options}, items)
        back = await move(engine, {"options": {"encoding": encoding}}, binary[0])
        assert output_json(back) == items, encoding
        assert [it["pairedItem"] for it in back[0]] == [{"item": 0}, {"item": 1}]


async def test_parameters_from_an_expression_per_item(engine: Engine) -> None:
    items = [file_item(b'{"a": 1}', json={"key": "one"}), file_item(b'{"a": 2}', json={"key": "two"})]
    params = {"setAllData": False, "destinationKey": "={{ $json.key }}", "options": {"jsonParse": True}}
    assert output_json(await move(engine, params, items)) == [
        {"key": "one", "one": {"a": 1}},
        {"key": "two", "two": {"a": 2}},
    ]


def corpus_nodes() -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []:
        try:
            raw = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        if isinstance(raw, dict):
            nodes.extend(n for n in raw.get("nodes") or [] if isinstance(n, dict) and n.get("type") == T)
    return nodes


async def test_corpus_parameters_run(engine: Engine) -> None:
    nodes = corpus_nodes()
    if not nodes:
        pytest.skip(f"no Move Binary Data workflow in the n8n corpus at {CORPUS}")
    for node in nodes:
        params, version = node["parameters"], node.get("typeVersion", 1)
        if params.get("mode") == "jsonToBinary":
            out = await move(engine, params, [{"a": 1}], version=version)
            assert sorted(out[0][0]["binary"]) == ["data"]
        else:
            out = await move(engine, params, [file_item(b'{"a": 1}')], version=version)
            assert output_json(out) == [{"a": 1}]
