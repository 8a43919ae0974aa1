"""X4 (../shared/RELIABILITY.md): file nodes never reach outside RELAYFLOW_FILES_ROOT.

Each probe plants a secret (or a victim file) outside the root and tries to read, write or
append it through the nodes: traversal, absolute paths, symlinks at every level (dangling ones
too), globs through a symlinked folder, NUL bytes, ``~``, and a folder swapped for a symlink
between the check and the open.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from relayflow.binary import BinaryData, MemoryBinaryStore
from relayflow.engine.executor import Engine
from relayflow.nodes.files.confine import FilesRoot, PathRefused
from relayflow.testing import NodeRunFailed, make_engine, run_node

RW = "n8n-nodes-base.readWriteFile"
SECRET = b"top secret"
VICTIM = b"victim, untouched"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "root"
    outside = tmp_path / "outside"
    (folder / "inner").mkdir(parents=True)
    outside.mkdir()
    monkeypatch.setenv("RELAYFLOW_FILES_ROOT", str(folder))
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "victim.txt").write_bytes(VICTIM)
    (outside / "deeper").mkdir()
    (outside / "deeper" / "secret.txt").write_bytes(SECRET)
    (folder / "ok.txt").write_bytes(b"fine")
    (folder / "inner" / "ok2.txt").write_bytes(b"fine too")
    # symlinks pointing out: a file, a folder, one in the middle of a path, a dangling one
    (folder / "file-link.txt").symlink_to(outside / "secret.txt")
    (folder / "dir-link").symlink_to(outside)
    (folder / "inner" / "mid").symlink_to(outside)
    (folder / "dangling").symlink_to(outside / "does-not-exist.txt")
    (folder / "victim-link.txt").symlink_to(outside / "victim.txt")
    # a symlink that stays inside is fine
    (folder / "inside-link.txt").symlink_to(folder / "ok.txt")
    return folder.resolve()


@pytest.fixture
def outside(root: Path) -> Path:
    return root.parent / "outside"


@pytest.fixture
def store() -> MemoryBinaryStore:
    return MemoryBinaryStore()


@pytest.fixture
def engine(store: MemoryBinaryStore) -> Engine:
    return make_engine(binary=store)


def payload() -> dict[str, Any]:
    data = base64.b64encode(b"attacker bytes").decode()
    return {"json": {}, "binary": {"data": {"data": data, "mimeType": "text/plain", "fileName": "x.txt"}}}


async def refused(engine: Engine, type_: str, params: dict[str, Any], items: Any = None) -> str:
    with pytest.raises(NodeRunFailed) as info:
        await run_node(type_, params, items, engine=engine)
    message = str(info.value)
    assert info.value.error.get("code") == "path_refused", info.value.error
    return message


def read_probes(root: Path, outside: Path) -> list[str]:
    return [
        "../outside/secret.txt",  # relative traversal
        "inner/../../outside/secret.txt",
        str(outside / "secret.txt"),  # absolute, outside
        f"{root}/../outside/secret.txt",  # looks inside, is not
        "file-link.txt",  # symlink (final component) out
        "dir-link/secret.txt",  # symlinked folder out
        "dir-link/deeper/secret.txt",
        "inner/mid/secret.txt",  # symlink in the middle of the path
        "dangling",  # dangling symlink pointing out
        "ok.txt\x00.png",  # NUL byte
        "~/secret.txt",  # home expansion
        "~root/.bashrc",
        "/etc/passwd",
    ]


async def test_every_read_probe_is_refused_naming_the_root(root: Path, outside: Path, engine: Engine) -> None:
    for probe in read_probes(root, outside):
        for type_, params in (
            (RW, {"fileSelector": probe, "options": {}}),
            ("n8n-nodes-base.readBinaryFile", {"filePath": probe}),
            ("n8n-nodes-base.readBinaryFiles", {"fileSelector": probe}),
        ):
            message = await refused(engine, type_, params)
            assert "RELAYFLOW_FILES_ROOT" in message and str(root) in message, (probe, message)
            assert SECRET.decode() not in message


async def test_globs_never_yield_a_file_outside(root: Path, engine: Engine, store: MemoryBinaryStore) -> None:
    for pattern in ("**/*", "**/*.txt", "*", "**", "inner/**", "*/*.txt", "**/secret.txt"):
        out = await run_node(RW, {"fileSelector": pattern, "options": {}}, engine=engine)
        for item in out[0]:
            entry = item["binary"]["data"]
            assert await BinaryData(store, "x").get(entry) != SECRET, pattern
            assert entry["directory"].startswith(str(root)), pattern
    names = sorted(
        it["binary"]["data"]["fileName"] for it in (await run_node(RW, {"fileSelector": "**/*"}))[0]
    )
    assert names == ["inside-link.txt", "ok.txt", "ok2.txt"]
    # a glob whose fixed folder is a symlink out is refused outright
    await refused(engine, RW, {"fileSelector": "dir-link/*.txt"})
    await refused(engine, RW, {"fileSelector": "inner/mid/**"})
    await refused(engine, RW, {"fileSelector": "{inner,dir-link}/*"})


async def test_symlinks_and_absolute_paths_inside_the_root_are_fine(root: Path, engine: Engine) -> None:
    for path in (
        "inside-link.txt",
        str(root / "ok.txt"),
        str(root / "inner" / "ok2.txt"),
        "./ok.txt",
    ):
        out = await run_node("n8n-nodes-base.readBinaryFile", {"filePath": path}, engine=engine)
        assert out[0][0]["binary"]["data"]["bytes"] in (4, 8), path


@pytest.mark.parametrize("append", [False, True])
async def test_write_probes_are_refused_and_touch_nothing(
    root: Path, outside: Path, engine: Engine, append: bool
) -> None:
    before = sorted(os.listdir(outside))
    for target in (
        "victim-link.txt",  # write/append through a symlink to a file outside
        "dir-link/victim.txt",
        "dir-link/new.txt",
        "inner/mid/new.txt",
        "dangling",  # would create the dangling link's target outside
        "../outside/victim.txt",
        str(outside / "victim.txt"),
        "x\x00y",
        "~/victim.txt",
    ):
        for type_ in (RW, "n8n-nodes-base.writeBinaryFile"):
            params = {"operation": "write", "fileName": target, "options": {"append": append}}
            message = await refused(engine, type_, params, [payload()])
            assert "RELAYFLOW_FILES_ROOT" in message, message
    assert (outside / "victim.txt").read_bytes() == VICTIM
    assert sorted(os.listdir(outside)) == before
    assert (root / "victim-link.txt").is_symlink()


def test_a_folder_swapped_for_a_symlink_after_the_check_is_refused(root: Path, outside: Path) -> None:
    files = FilesRoot(root)
    (root / "swap").mkdir()
    (root / "swap" / "secret.txt").write_bytes(b"harmless")
    resolved = files.resolve("swap/secret.txt")  # checked while "swap" is a real folder
    (root / "swap" / "secret.txt").unlink()
    (root / "swap").rmdir()
    (root / "swap").symlink_to(outside)  # the race: now it points out
    with pytest.raises(PathRefused, match="symlink appeared"):
        files.open_read(resolved)
    with pytest.raises(PathRefused, match="symlink appeared"):
        files.open_dir(resolved, create=True)
    assert not (outside / "swap").exists()


def test_a_file_swapped_for_a_symlink_after_the_check_is_refused(root: Path, outside: Path) -> None:
    files = FilesRoot(root)
    (root / "f.txt").write_bytes(b"harmless")
    resolved = files.resolve("f.txt")
    (root / "f.txt").unlink()
    (root / "f.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(PathRefused, match="symlink appeared"):
        files.open_read(resolved)


async def test_write_replaces_a_symlink_planted_after_the_check(root: Path, outside: Path) -> None:
    """The write goes to a temporary file renamed over the target: a symlink planted at the
    target is replaced, its target outside never written."""
    from relayflow.nodes.files.disk import write_entry

    files = FilesRoot(root)
    resolved = files.resolve("planted.txt")
    (root / "planted.txt").symlink_to(outside / "victim.txt")
    binary = BinaryData(MemoryBinaryStore(), "x")
    entry = await binary.put(b"new", file_name="planted.txt")
    await write_entry(binary, files, resolved, entry)
    assert (outside / "victim.txt").read_bytes() == VICTIM
    assert not (root / "planted.txt").is_symlink() and (root / "planted.txt").read_bytes() == b"new"
    # appending opens O_NOFOLLOW: a planted symlink is refused
    (root / "planted.txt").unlink()
    (root / "planted.txt").symlink_to(outside / "victim.txt")
    with pytest.raises(PathRefused):
        await write_entry(binary, files, resolved, entry, append=True)
    assert (outside / "victim.txt").read_bytes() == VICTIM


def test_descriptors_are_verified_after_opening(root: Path) -> None:
    files = FilesRoot(root)
    fd = os.open(root.parent / "outside" / "secret.txt", os.O_RDONLY)
    try:
        with pytest.raises(PathRefused, match="moved outside"):
            files.verify_fd(fd, "secret.txt")
    finally:
        os.close(fd)
    fd = files.open_read(files.resolve("inner/ok2.txt"))
    try:
        files.verify_fd(fd, "inner/ok2.txt")
    finally:
        os.close(fd)


async def test_non_regular_files_are_refused(root: Path, engine: Engine) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(NodeRunFailed, match="not a regular file"):
        await run_node("n8n-nodes-base.readBinaryFile", {"filePath": "pipe"}, engine=engine)
