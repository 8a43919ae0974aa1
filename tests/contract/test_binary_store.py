"""The BinaryStore contract, on memory and on disk; and X4 for the store's keys."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relayflow.binary import FilesystemBinaryStore, MemoryBinaryStore
from relayflow.engine.binary import BinaryData, key_of, pretty_size
from relayflow.engine.ports import BinaryStore
from relayflow.errors import InputInvalid, NodeError, NotFound, PayloadTooLarge


@pytest.fixture(params=["memory", "filesystem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BinaryStore:
    if request.param == "memory":
        return MemoryBinaryStore()
    return FilesystemBinaryStore(tmp_path / "binary")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(store: BinaryStore, key: str) -> tuple[bytes, int]:
    chunks = [c async for c in store.read(key)]
    return b"".join(chunks), max(len(c) for c in chunks)


async def test_write_read_size_delete(store: BinaryStore) -> None:
    big = os.urandom(5 * 1024 * 1024 + 3)
    assert await store.write("e1/a", _chunks(big[:100], big[100:])) == len(big)
    assert await store.write_bytes("e1/b", b"small") == 5
    assert await store.write_bytes("e2/c", b"other") == 5
    data, largest = await _read(store, "e1/a")
    assert data == big and largest <= 1 << 20  # streamed in chunks of at most 1 MiB
    assert await store.read_bytes("e1/b") == b"small"
    assert await store.size("e1/a") == len(big)
    await store.delete_execution("e1")
    for key in ("e1/a", "e1/b"):
        with pytest.raises(NotFound):
            await store.read_bytes(key)
        with pytest.raises(NotFound):
            await store.size(key)
    assert await store.read_bytes("e2/c") == b"other"
    await store.delete_execution("never-was")  # nothing to do, no error


async def test_a_write_over_the_limit_keeps_nothing(store: BinaryStore) -> None:
    with pytest.raises(PayloadTooLarge):
        await store.write("e/x", _chunks(b"x" * 600, b"x" * 600), limit=1000)
    with pytest.raises(NotFound):
        await store.read_bytes("e/x")
    assert store.keys() == []  # type: ignore[attr-defined]


async def test_a_failed_stream_keeps_nothing(store: BinaryStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"first"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.write("e/x", broken())
    assert store.keys() == []  # type: ignore[attr-defined]


async def test_import_and_export_files(store: BinaryStore, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(2_000_000))
    assert await store.import_file("e/f", source) == 2_000_000
    target = tmp_path / "out.bin"
    assert await store.export_file("e/f", target) == 2_000_000
    assert target.read_bytes() == source.read_bytes()
    path = store.local_path("e/f")
    assert path is None or path.read_bytes() == source.read_bytes()


async def test_the_node_api(store: BinaryStore, tmp_path: Path) -> None:
    binary = BinaryData(store, "exec1", "Node")
    entry = await binary.put(b"a,b\n", file_name="rows.csv")
    assert entry["mimeType"] == "text/csv" and entry["fileExtension"] == "csv"
    assert entry["bytes"] == 4 and entry["fileSize"] == "4 B" and entry["data"] == store.mode
    assert (key_of(entry) or "").startswith("exec1/")
    assert await binary.get(entry) == b"a,b\n"
    assert b"".join([c async for c in binary.stream(entry)]) == b"a,b\n"
    assert await binary.size(entry) == 4
    streamed = await binary.put(_chunks(b"1", b"2"), mime_type="application/pdf")
    assert streamed["fileExtension"] == "pdf" and "fileName" not in streamed
    out = tmp_path / "copy.csv"
    await binary.save_to(entry, out)
    await binary.save_to(entry, out, append=True)
    assert out.read_bytes() == b"a,b\na,b\n"
    inline = {"data": "aGVsbG8=", "mimeType": "text/plain"}  # n8n's default mode: base64 in the item
    assert await binary.get(inline) == b"hello"
    with pytest.raises(NodeError, match=r"not base64|neither"):
        await binary.get({"data": 12})
    with pytest.raises(NodeError, match=r"no binary property 'file' \(it has: data\)"):
        binary.entry({"json": {}, "binary": {"data": entry}}, "file")


@pytest.mark.parametrize(
    "n,text", [(0, "0 B"), (999, "999 B"), (1000, "1 kB"), (1536, "1.54 kB"), (2_100_000, "2.1 MB")]
)
def test_pretty_size(n: int, text: str) -> None:
    assert pretty_size(n) == text


@pytest.mark.parametrize(
    "key", ["../x", "a/../../etc", "/etc/passwd", "a/b/c", "a", "a/.hidden", "a/b\x00", "", "a/" + "b" * 200]
)
async def test_x4_keys_never_leave_the_root(tmp_path: Path, key: str) -> None:
    store = FilesystemBinaryStore(tmp_path / "binary")
    (tmp_path / "secret").write_bytes(b"secret")
    with pytest.raises(InputInvalid):
        await store.write_bytes(key, b"x")
    with pytest.raises(InputInvalid):
        await store.read_bytes(key)
    assert not any(p.is_file() for p in tmp_path.rglob("*") if p.name != "secret")  # noqa: ASYNC240


async def test_x4_a_symlink_in_the_store_is_not_followed(tmp_path: Path) -> None:
    store = FilesystemBinaryStore(tmp_path / "binary")
    (tmp_path / "secret").write_bytes(b"secret")
    (tmp_path / "binary" / "e").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "binary" / "e" / "link")
    with pytest.raises(NotFound):
        await store.read_bytes("e/link")
    assert store.local_path("e/link") is None
    await store.delete_execution("../")  # refused quietly: not an execution id
    assert (tmp_path / "secret").exists()


async def test_execution_folders(tmp_path: Path) -> None:
    store = FilesystemBinaryStore(tmp_path / "binary")
    await store.write_bytes("e1/a", b"1")
    await store.write_bytes("e2/a", b"2")
    found: list[Any] = store.execution_folders()
    assert sorted(name for name, _ in found) == ["e1", "e2"]
    assert len(store.execution_folders(limit=1)) == 1
