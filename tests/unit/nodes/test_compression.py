"""Compression (n8n compression v1, v1.1): zip and gzip round trips, n8n's output names, and
unpacking guards (decompression bombs, zip slip, entry count)."""

from __future__ import annotations

import base64
import gzip
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from relayflow.binary import BinaryData, FilesystemBinaryStore, MemoryBinaryStore
from relayflow.engine.executor import Engine
from relayflow.engine.ports import BinaryStore
from relayflow.testing import NodeRunFailed, make_engine, run_node

T = "n8n-nodes-base.compression"


@pytest.fixture
def store() -> MemoryBinaryStore:
    return MemoryBinaryStore()


@pytest.fixture
def engine(store: MemoryBinaryStore) -> Engine:
    return make_engine(binary=store)


def inline(data: bytes, name: str, mime: str = "application/octet-stream") -> dict[str, Any]:
    ext = name.rsplit(".", 1)[-1] if "." in name else None
    entry = {"data": base64.b64encode(data).decode(), "mimeType": mime, "fileName": name}
    if ext:
        entry["fileExtension"] = ext
    return entry


async def content(store: BinaryStore, entry: dict[str, Any]) -> bytes:
    return await BinaryData(store, "t").get(entry)


async def compress(
    engine: Engine, item: dict[str, Any], version: float = 1.1, **params: Any
) -> dict[str, Any]:
    out = await run_node(T, {"operation": "compress", **params}, [item], engine=engine, type_version=version)
    (result,) = out[0]
    return result


async def decompress(engine: Engine, item: dict[str, Any], **params: Any) -> dict[str, Any]:
    out = await run_node(T, {"operation": "decompress", **params}, [item], engine=engine, type_version=1.1)
    (result,) = out[0]
    return result


def zip_item(members: dict[str, bytes], name: str = "in.zip") -> dict[str, Any]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            info = zipfile.ZipInfo(member)  # kept as written, "../" and all
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return {"json": {}, "binary": {"data": inline(buf.getvalue(), name, "application/zip")}}


ITEM = {
    "json": {"id": 1},
    "binary": {
        "data": inline(b"hello " * 1000, "hello.txt", "text/plain"),
        "img": inline(b"\x89PNG not really", "pic.png", "image/png"),
    },
}


async def test_zip_round_trip(engine: Engine, store: MemoryBinaryStore) -> None:
    zipped = await compress(
        engine, ITEM, binaryPropertyName="data, img", outputFormat="zip", fileName="both.zip"
    )
    assert zipped["json"] == {"id": 1} and list(zipped["binary"]) == ["data"]
    entry = zipped["binary"]["data"]
    assert (entry["fileName"], entry["mimeType"], entry["fileExtension"]) == (
        "both.zip",
        "application/zip",
        "zip",
    )
    with zipfile.ZipFile(io.BytesIO(await content(store, entry))) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert sorted(infos) == ["hello.txt", "pic.png"]
        assert infos["pic.png"].compress_type == zipfile.ZIP_STORED  # already compressed type
        assert infos["hello.txt"].compress_type == zipfile.ZIP_DEFLATED
    unpacked = await decompress(engine, zipped)
    assert unpacked["json"] == {"id": 1} and sorted(unpacked["binary"]) == ["file_0", "file_1"]
    by_name = {e["fileName"]: e for e in unpacked["binary"].values()}
    assert await content(store, by_name["hello.txt"]) == b"hello " * 1000
    assert await content(store, by_name["pic.png"]) == b"\x89PNG not really"
    assert by_name["pic.png"]["mimeType"] == "image/png"


async def test_zip_output_field_and_duplicate_names(engine: Engine, store: MemoryBinaryStore) -> None:
    item = {"json": {}, "binary": {"a": inline(b"1", "same.txt"), "b": inline(b"2", "same.txt")}}
    zipped = await compress(
        engine, item, binaryPropertyName="a,b", fileName="z.zip", binaryPropertyOutput="archive"
    )
    with zipfile.ZipFile(io.BytesIO(await content(store, zipped["binary"]["archive"]))) as zf:
        assert zf.namelist() == ["same.txt", "same (1).txt"]


async def test_gzip_round_trip_v1_1(engine: Engine, store: MemoryBinaryStore) -> None:
    zipped = await compress(engine, ITEM, outputFormat="gzip")
    entry = zipped["binary"]["data"]
    assert entry["fileName"] == "hello.txt.gz" and entry["mimeType"] == "application/gzip"
    assert gzip.decompress(await content(store, entry)) == b"hello " * 1000
    unpacked = await decompress(engine, zipped, outputPrefix="out_")
    (name, out), *_ = unpacked["binary"].items()
    assert name == "out_0" and out["fileName"] == "hello.txt" and out["mimeType"] == "text/plain"
    assert await content(store, out) == b"hello " * 1000
    both = await compress(engine, ITEM, outputFormat="gzip", binaryPropertyName="data,img")
    assert sorted(both["binary"]) == ["data0", "data1"]


async def test_gzip_v1_uses_the_output_prefix(engine: Engine) -> None:
    zipped = await compress(engine, ITEM, version=1, outputFormat="gzip", outputPrefix="gz_")
    assert list(zipped["binary"]) == ["gz_0"]


async def test_v1_requires_an_output_format(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match="choose an output format"):
        await compress(engine, ITEM, version=1)


async def test_multi_member_gzip_and_magic_detection(engine: Engine, store: MemoryBinaryStore) -> None:
    data = gzip.compress(b"one,") + gzip.compress(b"two")
    item = {"json": {}, "binary": {"data": inline(data, "noext")}}
    unpacked = await decompress(engine, item)
    assert await content(store, unpacked["binary"]["file_0"]) == b"one,two"


async def test_not_an_archive_and_damaged_gzip_fail_clearly(engine: Engine) -> None:
    with pytest.raises(NodeRunFailed, match="neither a zip nor a gzip"):
        await decompress(engine, {"json": {}, "binary": {"data": inline(b"plain text", "a.txt")}})
    truncated = gzip.compress(os.urandom(5000))[:-100]
    with pytest.raises(NodeRunFailed, match="truncated"):
        await decompress(engine, {"json": {}, "binary": {"data": inline(truncated, "a.gz")}})
    with pytest.raises(NodeRunFailed, match="not a valid zip"):
        await decompress(engine, {"json": {}, "binary": {"data": inline(b"PK\x03\x04junk", "a.zip")}})


async def test_folders_in_zips_become_the_entry_directory(engine: Engine) -> None:
    unpacked = await decompress(engine, zip_item({"docs/": b"", "docs/a.txt": b"A", "__MACOSX/._a": b"x"}))
    (entry,) = unpacked["binary"].values()
    assert (entry["fileName"], entry["directory"]) == ("a.txt", "docs")


# guards ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/etc/cron.d/evil", "C:\\evil.txt", "..\\evil"]
)
async def test_zip_slip_names_are_refused(engine: Engine, name: str) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await decompress(engine, zip_item({"fine.txt": b"ok", name: b"evil"}))
    assert info.value.error["code"] == "archive_refused" and "is refused" in str(info.value)


async def test_zip_bomb_is_refused_by_declared_size(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_MAX_DECOMPRESSED_BYTES", str(10 << 20))
    bomb = zip_item({f"zeros{i}.bin": bytes(8 << 20) for i in range(4)})  # 32 MiB from ~32 KiB
    assert len(base64.b64decode(bomb["binary"]["data"]["data"])) < 100_000
    with pytest.raises(NodeRunFailed, match="decompression bomb") as info:
        await decompress(engine, bomb)
    assert "RELAYFLOW_MAX_DECOMPRESSED_BYTES" in str(info.value)


async def test_zip_lying_about_its_size_is_refused(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member whose headers declare 100 bytes but inflate to 4 MiB: unpacking stops at the
    declared size (zipfile reads no further), the CRC check fails, the archive is refused."""
    monkeypatch.setenv("RELAYFLOW_MAX_DECOMPRESSED_BYTES", str(1 << 20))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", bytes(4 << 20))
    raw = bytearray(buf.getvalue())
    # the uncompressed size: local header at offset 22, central directory entry at offset 24
    raw[22:26] = (100).to_bytes(4, "little")
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (100).to_bytes(4, "little")
    item = {"json": {}, "binary": {"data": inline(bytes(raw), "lie.zip")}}
    with pytest.raises(NodeRunFailed, match="is damaged") as info:
        await decompress(engine, item)
    assert info.value.error["code"] == "archive_refused"


async def test_gzip_bomb_is_refused_while_streaming(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_MAX_DECOMPRESSED_BYTES", str(4 << 20))
    bomb = gzip.compress(bytes(64 << 20))  # 64 MiB of zeros in ~64 KiB
    with pytest.raises(NodeRunFailed, match="decompression bomb"):
        await decompress(engine, {"json": {}, "binary": {"data": inline(bomb, "bomb.gz")}})


async def test_too_many_entries_are_refused(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_MAX_DECOMPRESSED_ENTRIES", "5")
    with pytest.raises(NodeRunFailed, match="RELAYFLOW_MAX_DECOMPRESSED_ENTRIES"):
        await decompress(engine, zip_item({f"f{i}.txt": b"x" for i in range(6)}))
    unpacked = await decompress(engine, zip_item({f"f{i}.txt": b"x" for i in range(5)}))
    assert len(unpacked["binary"]) == 5


async def test_a_bad_limit_setting_fails_clearly(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_MAX_DECOMPRESSED_BYTES", "lots")
    with pytest.raises(NodeRunFailed, match="whole number"):
        await decompress(engine, zip_item({"a.txt": b"a"}))


async def test_big_round_trip_through_the_filesystem_store(tmp_path: Path) -> None:
    store = FilesystemBinaryStore(tmp_path / "bin")
    engine = make_engine(binary=store)
    binary = BinaryData(store, "seed")
    payload = os.urandom(6 << 20) + bytes(6 << 20)
    entry = await binary.put(payload, file_name="big.bin")
    item = {"json": {}, "binary": {"data": entry}}
    for fmt in ("zip", "gzip"):
        packed = await compress(engine, item, outputFormat=fmt, fileName="big.zip" if fmt == "zip" else "")
        (packed_entry,) = packed["binary"].values()
        assert packed_entry["data"] == "filesystem-v2" and packed_entry["bytes"] < len(payload)
        unpacked = await decompress(engine, packed)
        assert await content(store, unpacked["binary"]["file_0"]) == payload


async def test_zip_members_are_counted_as_they_stream(tmp_path: Path) -> None:
    """Defence in depth: even past the up-front check, output is counted chunk by chunk."""
    from relayflow.nodes.files import archive

    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(3 << 20))
    budget = archive.Budget(archive.Limits(max_bytes=2 << 20, max_entries=10))
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
    seen = 0
    with pytest.raises(archive.ArchiveRefused, match="decompression bomb"):
        async for chunk in archive.zip_member_chunks(path, info, budget):
            seen += len(chunk)
    assert seen <= 2 << 20
