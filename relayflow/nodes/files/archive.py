"""Zip and gzip streams with the guards Compression relies on (no knowledge of nodes).

``Budget`` counts what unpacking produces as it comes out and raises ``ArchiveRefused`` past
the limits; ``check_member_name`` refuses zip-slip names. Zip files are read from a local path
(``zipfile`` needs to seek); gzip is a ``zlib`` stream fed chunk by chunk, each step bounded to
one chunk of output, so a bomb never inflates in memory.
"""

from __future__ import annotations

import asyncio
import re
import time
import zipfile
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from relayflow.engine.binary import extension_of
from relayflow.errors import NodeError

CHUNK = 1 << 20
MAX_BYTES_ENV = "RELAYFLOW_MAX_DECOMPRESSED_BYTES"
MAX_ENTRIES_ENV = "RELAYFLOW_MAX_DECOMPRESSED_ENTRIES"
# stored, not deflated again (as n8n does)
ALREADY_COMPRESSED = frozenset(
    [
        "7z",
        "aac",
        "avi",
        "bz2",
        "docx",
        "flac",
        "gif",
        "gz",
        "jpeg",
        "jpg",
        "m4a",
        "mkv",
        "mov",
        "mp3",
        "mp4",
        "odt",
        "ogg",
        "png",
        "pptx",
        "rar",
        "tgz",
        "webm",
        "webp",
        "xlsx",
        "xz",
        "zip",
        "zst",
    ]
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRefused(NodeError):
    """An archive that is invalid, or that unpacking must not follow (bomb, zip slip)."""

    code = "archive_refused"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_entries: int


class Budget:
    """What one item's unpacking has produced so far."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bytes = 0
        self.entries = 0

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_bytes:
            raise ArchiveRefused(
                f"the decompressed data exceeds {self.limits.max_bytes} bytes ({MAX_BYTES_ENV}): "
                "refused as a possible decompression bomb"
            )

    def add_entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveRefused(
                f"the archive holds more than {self.limits.max_entries} files ({MAX_ENTRIES_ENV})"
            )


def check_member_name(name: str) -> None:
    """Refuse names that would leave the folder they are unpacked in (zip slip)."""
    if "\x00" in name:
        raise ArchiveRefused(f"zip entry {name!r} is refused: its name contains a NUL byte")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise ArchiveRefused(f"zip entry {name!r} is refused: its name is an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise ArchiveRefused(f"zip entry {name!r} is refused: its name contains '..'")


# zip ---------------------------------------------------------------------------------------------
def _unique(name: str, used: set[str]) -> str:
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    candidate, n = name, 1
    while candidate in used:
        candidate = f"{stem} ({n}){suffix}"
        n += 1
    used.add(candidate)
    return candidate


async def write_zip(path: Path, members: Sequence[tuple[Mapping[str, Any], AsyncIterator[bytes]]]) -> None:
    """Zip the members (binary entries and their chunks) into ``path``, streaming each."""
    zf = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    used: set[str] = set()
    try:
        for entry, chunks in members:
            raw_name = str(entry.get("fileName") or "data")
            name = _unique(PurePosixPath(raw_name.replace("\\", "/")).name or "data", used)
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            stored = extension_of(name) in ALREADY_COMPRESSED
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            size = entry.get("bytes")
            big = not isinstance(size, int) or size >= zipfile.ZIP64_LIMIT
            with zf.open(info, "w", force_zip64=big) as out:
                async for chunk in chunks:
                    await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(zf.close)


def zip_members(path: Path, budget: Budget) -> list[zipfile.ZipInfo]:
    """The files of a zip to unpack, every name checked; refused up front when their declared
    sizes or number already exceed the budget."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise ArchiveRefused(f"not a valid zip file: {exc}") from exc
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        check_member_name(info.filename)
        if info.is_dir() or "__MACOSX" in info.filename.split("/"):
            continue
        if info.flag_bits & 0x1:
            raise ArchiveRefused(
                f"zip entry {info.filename!r} is encrypted; encrypted zips are not supported"
            )
        files.append(info)
    if budget.entries + len(files) > budget.limits.max_entries:
        raise ArchiveRefused(
            f"the archive holds {len(files)} files, more than {budget.limits.max_entries} ({MAX_ENTRIES_ENV})"
        )
    declared = sum(i.file_size for i in files)
    if budget.bytes + declared > budget.limits.max_bytes:
        raise ArchiveRefused(
            f"the archive would unpack to {declared} bytes, more than {budget.limits.max_bytes} "
            f"({MAX_BYTES_ENV}): refused as a possible decompression bomb"
        )
    return files


async def zip_member_chunks(path: Path, info: zipfile.ZipInfo, budget: Budget) -> AsyncIterator[bytes]:
    try:
        zf = zipfile.ZipFile(path)
        try:
            with zf.open(info) as f:
                while chunk := await asyncio.to_thread(f.read, CHUNK):
                    budget.add_bytes(len(chunk))
                    yield chunk
        finally:
            zf.close()
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ArchiveRefused(f"zip entry {info.filename!r} is damaged: {exc}") from exc


# gzip --------------------------------------------------------------------------------------------
async def gunzip_chunks(source: AsyncIterator[bytes], budget: Budget) -> AsyncIterator[bytes]:
    """The decompressed bytes of gzip data (members one after another), one chunk at most per
    step whatever the compression ratio."""
    d = zlib.decompressobj(31)
    seen = False
    try:
        async for data in source:
            while data:
                if d.eof:
                    d = zlib.decompressobj(31)
                seen = True
                out = d.decompress(data, CHUNK)
                data = d.unused_data if d.eof else d.unconsumed_tail
                while True:
                    if out:
                        budget.add_bytes(len(out))
                        yield out
                    if d.eof or len(out) < CHUNK or data:
                        break
                    out = d.decompress(b"", CHUNK)  # output still pending inside zlib
                    if d.eof:
                        data = d.unused_data
    except zlib.error as exc:
        raise ArchiveRefused(f"not valid gzip data: {exc}") from exc
    if not seen or not d.eof:
        raise ArchiveRefused("the gzip data is empty or truncated")
