"""Read/Write Files from Disk (n8n readWriteFile v1) and the legacy readBinaryFile(s) and
writeBinaryFile: n8n's item shapes, globs, append, and streamed round trips with both stores.
Confinement probes (X4) are in tests/unit/security/test_x4_file_confinement.py."""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from relayflow.binary import BinaryData, FilesystemBinaryStore, MemoryBinaryStore
from relayflow.engine.executor import Engine
from relayflow.engine.ports import BinaryStore
from relayflow.testing import NodeRunFailed, make_engine, run_node, run_workflow

RW = "n8n-nodes-base.readWriteFile"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "files"
    monkeypatch.setenv("RELAYFLOW_FILES_ROOT", str(folder))
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.csv").write_text("x,y\n1,2\n")
    (folder / ".hidden.txt").write_text("secret-ish")
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "sub" / "c.txt").write_text("charlie")
    (folder / "sub" / "deep" / "d.png").write_bytes(b"\x89PNG fake")
    return folder.resolve()


@pytest.fixture
def store() -> MemoryBinaryStore:
    return MemoryBinaryStore()


@pytest.fixture
def engine(store: MemoryBinaryStore) -> Engine:
    return make_engine(binary=store)


async def content(store: BinaryStore, entry: dict[str, Any]) -> bytes:
    return await BinaryData(store, "test").get(entry)


def inline(data: bytes, name: str = "f.bin", mime: str = "application/octet-stream") -> dict[str, Any]:
    return {"data": base64.b64encode(data).decode(), "mimeType": mime, "fileName": name}


async def read(engine: Engine, selector: str, **options: Any) -> list[dict[str, Any]]:
    out = await run_node(RW, {"fileSelector": selector, "options": options}, engine=engine)
    return out[0]


# read ---------------------------------------------------------------------------------------------
async def test_read_one_file_gives_n8n_item_shape(
    root: Path, engine: Engine, store: MemoryBinaryStore
) -> None:
    (item,) = await read(engine, "a.txt")
    assert item["json"] == {} and list(item["binary"]) == ["data"]
    entry = item["binary"]["data"]
    assert entry["fileName"] == "a.txt" and entry["mimeType"] == "text/plain"
    assert entry["fileExtension"] == "txt" and entry["directory"] == str(root)
    assert entry["bytes"] == 5 and entry["fileSize"] == "5 B"
    assert await content(store, entry) == b"alpha"


async def test_absolute_path_inside_the_root_is_read(root: Path, engine: Engine) -> None:
    (item,) = await read(engine, str(root / "sub" / "c.txt"))
    assert item["binary"]["data"]["directory"] == str((root / "sub").resolve())


async def test_glob_reads_every_match_sorted_without_hidden_files(root: Path, engine: Engine) -> None:
    names = [it["binary"]["data"]["fileName"] for it in await read(engine, "**/*.txt")]
    assert names == ["a.txt", "c.txt"]
    names = [it["binary"]["data"]["fileName"] for it in await read(engine, "*")]
    assert names == ["a.txt", "b.csv"]
    names = [it["binary"]["data"]["fileName"] for it in await read(engine, "**/*.{png,csv}")]
    assert names == ["b.csv", "d.png"]
    names = [it["binary"]["data"]["fileName"] for it in await read(engine, "sub/*/?.png")]
    assert names == ["d.png"]
    names = [it["binary"]["data"]["fileName"] for it in await read(engine, ".*")]
    assert names == [".hidden.txt"]
    assert await read(engine, "nothing/*.txt") == []


async def test_read_options_override_the_entry(root: Path, engine: Engine, store: MemoryBinaryStore) -> None:
    opts = {
        "dataPropertyName": "file",
        "fileName": "renamed.dat",
        "mimeType": "text/x-test",
        "fileExtension": "dat",
    }
    (item,) = await read(engine, "a.txt", **opts)
    entry = item["binary"]["file"]
    assert (entry["fileName"], entry["mimeType"], entry["fileExtension"]) == (
        "renamed.dat",
        "text/x-test",
        "dat",
    )
    assert await content(store, entry) == b"alpha"


async def test_a_missing_plain_path_fails_naming_the_root(root: Path, engine: Engine) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await read(engine, "missing.txt")
    assert "missing.txt" in str(info.value) and str(root) in str(info.value)


async def test_selector_per_item_from_an_expression(root: Path, engine: Engine) -> None:
    params = {"fileSelector": "={{ $json.name }}", "options": {}}
    out = await run_node(RW, params, [{"name": "a.txt"}, {"name": "sub/c.txt"}], engine=engine)
    assert [(it["binary"]["data"]["fileName"], it["pairedItem"]) for it in out[0]] == [
        ("a.txt", {"item": 0}),
        ("c.txt", {"item": 1}),
    ]


async def test_default_root_is_under_relayflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYFLOW_FILES_ROOT", raising=False)
    monkeypatch.setenv("RELAYFLOW_HOME", str(tmp_path / "home"))
    item = {"json": {}, "binary": {"data": inline(b"hi", "h.txt")}}
    await run_node(RW, {"operation": "write", "fileName": "h.txt"}, [item])
    assert (tmp_path / "home" / "files" / "h.txt").read_bytes() == b"hi"


# write --------------------------------------------------------------------------------------------
async def test_write_keeps_the_item_and_adds_file_name(root: Path, engine: Engine) -> None:
    item = {"json": {"id": 7}, "binary": {"data": inline(b"new bytes", "n.bin")}}
    out = await run_node(
        RW, {"operation": "write", "fileName": "out/n.bin", "options": {}}, [item], engine=engine
    )
    (written,) = out[0]
    assert written["json"] == {"id": 7, "fileName": "out/n.bin"}
    assert written["binary"] == item["binary"]
    assert (root / "out" / "n.bin").read_bytes() == b"new bytes"
    assert [p.name for p in (root / "out").iterdir()] == ["n.bin"]  # no temporary file left


async def test_write_replaces_and_append_appends(root: Path, engine: Engine) -> None:
    item = {"json": {}, "binary": {"file": inline(b"-more")}}
    params = {"operation": "write", "fileName": "a.txt", "dataPropertyName": "file"}
    await run_node(RW, {**params, "options": {"append": True}}, [item, item], engine=engine)
    assert (root / "a.txt").read_bytes() == b"alpha-more-more"
    await run_node(RW, {**params, "options": {}}, [item], engine=engine)
    assert (root / "a.txt").read_bytes() == b"-more"
    await run_node(
        RW, {**params, "fileName": "fresh.txt", "options": {"append": True}}, [item], engine=engine
    )
    assert (root / "fresh.txt").read_bytes() == b"-more"


async def test_write_without_the_binary_property_fails_clearly(root: Path, engine: Engine) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run_node(RW, {"operation": "write", "fileName": "x"}, [{"json": {}}], engine=engine)
    assert "no binary property 'data'" in str(info.value)


async def test_write_onto_a_directory_fails_clearly(root: Path, engine: Engine) -> None:
    item = {"json": {}, "binary": {"data": inline(b"x")}}
    with pytest.raises(NodeRunFailed) as info:
        await run_node(RW, {"operation": "write", "fileName": "sub"}, [item], engine=engine)
    assert "cannot write 'sub'" in str(info.value)


# legacy nodes --------------------------------------------------------------------------------------
async def test_read_binary_file_keeps_json_and_binary(
    root: Path, engine: Engine, store: MemoryBinaryStore
) -> None:
    item = {"json": {"k": 1}, "binary": {"old": inline(b"o")}}
    params = {"filePath": "sub/c.txt", "dataPropertyName": "doc"}
    (out,) = (await run_node("n8n-nodes-base.readBinaryFile", params, [item], engine=engine))[0]
    assert out["json"] == {"k": 1} and set(out["binary"]) == {"old", "doc"}
    assert await content(store, out["binary"]["doc"]) == b"charlie"


async def test_read_binary_files_runs_once(root: Path, engine: Engine) -> None:
    out = await run_node(
        "n8n-nodes-base.readBinaryFiles", {"fileSelector": "**/*.txt"}, [{}, {}], engine=engine
    )
    assert [it["json"] for it in out[0]] == [{}, {}]
    assert [it["binary"]["data"]["fileName"] for it in out[0]] == ["a.txt", "c.txt"]


async def test_write_binary_file_with_append(root: Path, engine: Engine) -> None:
    item = {"json": {"n": 1}, "binary": {"data": inline(b"+")}}
    params = {"fileName": "log.txt", "options": {"append": True}}
    out = await run_node("n8n-nodes-base.writeBinaryFile", params, [item, item], engine=engine)
    assert [it["json"] for it in out[0]] == [{"n": 1, "fileName": "log.txt"}] * 2
    assert (root / "log.txt").read_bytes() == b"++"


async def test_error_output_gets_the_failed_item(root: Path, engine: Engine) -> None:
    params = {"filePath": "={{ $json.p }}"}
    fields = {"onError": "continueRegularOutput"}
    out = await run_node(
        "n8n-nodes-base.readBinaryFile",
        params,
        [{"p": "a.txt"}, {"p": "../x"}],
        engine=engine,
        node_fields=fields,
    )
    assert "data" in out[0][0]["binary"]
    assert "'..' is not allowed" in out[0][1]["json"]["error"]


# streamed round trips --------------------------------------------------------------------------------
def chain_workflow(source: str, target: str) -> dict[str, Any]:
    nodes = [
        {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0]},
        {
            "name": "Read",
            "type": RW,
            "typeVersion": 1,
            "position": [200, 0],
            "parameters": {"fileSelector": source, "options": {}},
        },
        {
            "name": "Write",
            "type": RW,
            "typeVersion": 1,
            "position": [400, 0],
            "parameters": {"operation": "write", "fileName": target, "options": {}},
        },
    ]
    connections = {
        "Trigger": {"main": [[{"node": "Read", "type": "main", "index": 0}]]},
        "Read": {"main": [[{"node": "Write", "type": "main", "index": 0}]]},
    }
    return {"name": "copy", "nodes": nodes, "connections": connections}


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("backend", ["memory", "filesystem"])
async def test_20_mb_round_trip_is_byte_identical(root: Path, tmp_path: Path, backend: str) -> None:
    big = root / "big.bin"
    with big.open("wb") as f:
        for _ in range(20):
            f.write(os.urandom(1 << 20))
    store: BinaryStore = (
        MemoryBinaryStore() if backend == "memory" else FilesystemBinaryStore(tmp_path / "bin")
    )
    engine = make_engine(binary=store)
    tracemalloc.start()
    try:
        record = await run_workflow(chain_workflow("big.bin", "copy/big.bin"), engine=engine)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if backend == "filesystem":  # streamed: the 20 MB never sit in Python memory
        assert peak < 4 << 20, peak
    assert record.status.value == "succeeded", record.error
    assert digest(root / "copy" / "big.bin") == digest(big)
    entry = record.runs_of("Read")[-1].output[0][0]["binary"]["data"]  # type: ignore[index]
    assert entry["bytes"] == 20 << 20 and entry["data"] == store.mode
    if backend == "filesystem":
        local = BinaryData(store, "x").local_path(entry)
        assert local is not None and digest(local) == digest(big)


async def test_corpus_parameter_shapes_round_trip(
    root: Path, engine: Engine, store: MemoryBinaryStore
) -> None:
    """The exact parameters of ../shared/n8n-corpus's readWriteFile nodes (write then read)."""
    item = {"json": {}, "binary": {"data": inline(b"%PDF-1.4 fake", "test.pdf", "application/pdf")}}
    await run_node(RW, {"options": {}, "fileName": "test.pdf", "operation": "write"}, [item], engine=engine)
    (read_back,) = (await run_node(RW, {"options": {}, "fileSelector": "test.pdf"}, engine=engine))[0]
    entry = read_back["binary"]["data"]
    assert entry["mimeType"] == "application/pdf" and await content(store, entry) == b"%PDF-1.4 fake"
    # the corpus's legacy writeBinaryFile targets /tmp: outside the root, so refused with the reason
    with pytest.raises(NodeRunFailed, match="outside the files root"):
        await run_node("n8n-nodes-base.writeBinaryFile", {"fileName": "/tmp/testworkflowfile.json"}, [item])
