"""Binary data on the local disk: ``<root>/<execution id>/<name>``.

Keys are checked before they become paths (two names of letters, digits, ``_`` and ``-``), so
no key reaches outside the root (X4). Files are written under a temporary name and renamed, so
a reader never sees half a file. Chunks are read and written on the event loop (64 KiB to 1 MiB
page-cache copies take microseconds); whole-file copies go to a thread (``copyfile`` uses
``sendfile``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path

from relayflow.errors import InputInvalid, NotFound, PayloadTooLarge

CHUNK = 1 << 20
_KEY = re.compile(r"[A-Za-z0-9_-]{1,80}/[A-Za-z0-9_-]{1,80}")
_EXECUTION = re.compile(r"[A-Za-z0-9_-]{1,80}")


# copies up to this size run on the event loop: a thread hop costs more than the copy itself
# (sendfile of 8 MiB into the page cache takes about 2 ms, while the loop waits up to the
# 5 ms GIL switch interval for a worker thread to start and to hand the result back; S8 (b))
INLINE_COPY_BYTES = 8 << 20


async def _off_loop_if_big(copy: Callable[[], int], source: Path) -> int:
    try:
        small = os.stat(source).st_size <= INLINE_COPY_BYTES
    except OSError:
        small = False  # the copy reports it
    return copy() if small else await asyncio.to_thread(copy)


class FilesystemBinaryStore:
    mode = "filesystem-v2"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()

    def path_of(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise InputInvalid(f"{key!r} is not a binary data key")
        return self.root / key

    def _existing(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file() or path.is_symlink():
            raise NotFound(f"binary data {key!r} does not exist (or was deleted)")
        return path

    def _temp(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None) -> int:
        path = self.path_of(key)
        temp = self._temp(path)
        size = 0
        try:
            with temp.open("wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise PayloadTooLarge(f"the binary data is larger than {limit} bytes")
                    f.write(chunk)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return size

    async def write_bytes(self, key: str, data: bytes) -> int:
        path = self.path_of(key)
        temp = self._temp(path)
        try:
            temp.write_bytes(data)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return len(data)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self._existing(key)
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    async def read_bytes(self, key: str) -> bytes:
        return self._existing(key).read_bytes()

    async def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    async def import_file(self, key: str, path: Path) -> int:
        target = self.path_of(key)
        temp = self._temp(target)

        def copy() -> int:
            try:
                shutil.copyfile(path, temp, follow_symlinks=True)
                os.replace(temp, target)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            return target.stat().st_size

        return await _off_loop_if_big(copy, path)

    async def export_file(self, key: str, path: Path) -> int:
        source = self._existing(key)

        def copy() -> int:
            shutil.copyfile(source, path)
            return source.stat().st_size

        return await _off_loop_if_big(copy, source)

    def local_path(self, key: str) -> Path | None:
        try:
            return self._existing(key)
        except NotFound:
            return None

    async def delete_execution(self, execution_id: str) -> None:
        if not _EXECUTION.fullmatch(execution_id):
            return
        folder = self.root / execution_id
        if folder.is_dir():
            await asyncio.to_thread(shutil.rmtree, folder, True)

    def execution_folders(self, *, limit: int = 1000) -> list[tuple[str, float]]:
        """Up to ``limit`` executions with binary data here, with their folder's mtime."""
        found: list[tuple[str, float]] = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and _EXECUTION.fullmatch(entry.name):
                    found.append((entry.name, entry.stat(follow_symlinks=False).st_mtime))
                    if len(found) >= limit:
                        break
        return found

    def keys(self) -> list[str]:
        return sorted(
            f"{p.parent.name}/{p.name}" for p in self.root.glob("*/*") if not p.name.startswith(".")
        )
