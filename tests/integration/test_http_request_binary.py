"""HTTP Request and binary data: files sent from the binary store (multipart parts, whole bodies;
big ones streamed) and file responses streamed into it, against a local aiohttp server."""

from __future__ import annotations

import base64
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from relayflow.binary import FilesystemBinaryStore
from relayflow.engine.binary import BinaryData, key_of
from relayflow.engine.memory import MemoryBinaryStore
from relayflow.testing import NodeRunFailed, make_engine, output_json
from tests.integration.http_request_support import (
    MB,
    app,
    chunks_of,
    http,
    pattern_bytes,
    pattern_sha,
    sha,
    start,
    url,
)

BIG = 3 * MB  # over request.STREAM_MIN_BYTES: streamed from the store


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    srv = await start(app())
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port}")
    try:
        yield srv
    finally:
        await srv.close()


async def stored(
    store: MemoryBinaryStore | FilesystemBinaryStore, data: bytes, name: str, mime: str
) -> dict[str, Any]:
    return await BinaryData(store, "upload").put(chunks_of(data), file_name=name, mime_type=mime)


async def test_multipart_sends_stored_files_and_fields(server: TestServer) -> None:
    store = MemoryBinaryStore()
    small, big = b"a,b\n1,2\n", pattern_bytes(BIG)
    item = {
        "json": {"kind": "csv"},
        "binary": {
            "data": await stored(store, small, "table.csv", "text/csv"),
            "video": await stored(store, big, "clip.bin", "application/octet-stream"),
        },
    }
    params = {
        "method": "POST",
        "url": url(server, "/upload"),
        "sendBody": True,
        "contentType": "multipart-form-data",
        "bodyParameters": {
            "parameters": [
                {"name": "file", "parameterType": "formBinaryData", "inputDataFieldName": "data"},
                {"name": "kind", "value": "csv"},
                {"name": "clip", "parameterType": "formBinaryData", "inputDataFieldName": "video"},
            ]
        },
    }
    (body,) = output_json(await http(params, [item], engine=make_engine(binary=store)))
    file, kind, clip = body["parts"]
    assert (file["name"], file["filename"], file["contentType"]) == ("file", "table.csv", "text/csv")
    assert (file["size"], file["sha256"]) == (len(small), sha(small))
    assert (kind["name"], kind["size"]) == ("kind", 3)
    assert (clip["filename"], clip["size"], clip["sha256"]) == ("clip.bin", BIG, sha(big))


async def test_multipart_from_an_inline_base64_entry(server: TestServer) -> None:
    item = {
        "json": {},
        "binary": {"data": {"data": base64.b64encode(b"inline").decode(), "mimeType": "text/plain"}},
    }
    params = {
        "method": "POST",
        "url": url(server, "/upload"),
        "sendBody": True,
        "contentType": "multipart-form-data",
        "bodyParameters": {"parameters": [{"name": "f", "parameterType": "formBinaryData"}]},
    }
    (body,) = output_json(await http(params, [item]))
    assert body["parts"][0]["sha256"] == sha(b"inline") and body["parts"][0]["filename"] == "data"


async def test_binary_body_is_streamed_with_its_length(server: TestServer) -> None:
    store = MemoryBinaryStore()
    big = pattern_bytes(BIG)
    item = {"json": {}, "binary": {"data": await stored(store, big, "x.bin", "application/x-thing")}}
    params = {"method": "PUT", "url": url(server, "/raw"), "sendBody": True, "contentType": "binaryData"}
    (body,) = output_json(await http(params, [item], engine=make_engine(binary=store)))
    assert (body["size"], body["sha256"]) == (BIG, sha(big))
    assert body["contentType"] == "application/x-thing" and body["contentLength"] == str(BIG)
    assert not body["chunked"]


async def test_a_307_redirect_sends_the_streamed_body_again(server: TestServer) -> None:
    store = MemoryBinaryStore()
    big = pattern_bytes(BIG)
    item = {"json": {}, "binary": {"file": await stored(store, big, "x.bin", "application/octet-stream")}}
    params = {
        "method": "POST",
        "url": url(server, "/307"),
        "sendBody": True,
        "contentType": "binaryData",
        "inputDataFieldName": "file",
    }
    (body,) = output_json(await http(params, [item], engine=make_engine(binary=store)))
    assert (body["size"], body["sha256"]) == (BIG, sha(big))


async def test_a_missing_binary_property_is_named(server: TestServer) -> None:
    params = {"method": "POST", "url": url(server, "/raw"), "sendBody": True, "contentType": "binaryData"}
    with pytest.raises(NodeRunFailed) as info:
        await http(params, [{"json": {}, "binary": {"other": {"data": ""}}}])
    assert "item 0" in info.value.error["message"] and "'data'" in info.value.error["message"]
    assert "other" in info.value.error["message"]


async def test_file_responses_are_stored_with_their_name(server: TestServer) -> None:
    store = MemoryBinaryStore()
    settings = {"fullResponse": True, "outputPropertyName": "download"}
    params = {"url": url(server, "/big?size=1234567"), "options": {"response": {"response": settings}}}
    (item,) = (await http(params, engine=make_engine(binary=store)))[0]
    entry = item["binary"]["download"]
    assert (entry["fileName"], entry["fileExtension"], entry["mimeType"]) == (
        "big.bin",
        "bin",
        "application/octet-stream",
    )
    assert (entry["bytes"], entry["fileSize"]) == (1234567, "1.23 MB")
    assert item["json"]["statusCode"] == 200 and "content-disposition" in item["json"]["headers"]
    key = key_of(entry)
    assert key is not None and await store.read_bytes(key) == pattern_bytes(1234567)


async def test_the_file_format_stores_any_body(server: TestServer) -> None:
    store = MemoryBinaryStore()
    params = {"url": url(server, "/echo"), "options": {"response": {"response": {"responseFormat": "file"}}}}
    (item,) = (await http(params, engine=make_engine(binary=store)))[0]
    entry = item["binary"]["data"]
    assert entry["mimeType"] == "application/json" and entry["fileName"] == "echo"
    key = key_of(entry)
    assert key is not None and b'"method":"GET"' in (await store.read_bytes(key)).replace(b" ", b"")


async def test_a_20_mb_download_is_streamed_to_disk(server: TestServer, tmp_path: Path) -> None:
    store = FilesystemBinaryStore(tmp_path / "binary")
    size = 20 * MB
    tracemalloc.start()
    try:
        (item,) = (await http({"url": url(server, f"/big?size={size}")}, engine=make_engine(binary=store)))[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    entry = item["binary"]["data"]
    assert entry["bytes"] == size and entry["fileSize"] == "20 MB" and entry["data"] == "filesystem-v2"
    key = key_of(entry)
    assert key is not None
    path = store.path_of(key)
    assert path.stat().st_size == size and sha(path.read_bytes()) == pattern_sha(size)
    # neither side holds the body: it goes from the socket to the disk in chunks
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB: the download was held in memory"
