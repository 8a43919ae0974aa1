"""Binary item data, as nodes see it through ``ctx.binary``.

An item's ``binary`` maps a property name (n8n's ``binaryPropertyName``, usually ``data``) to an
entry that carries a reference, never the bytes::

    {"id": "filesystem-v2:<execution id>/<hex>", "data": "filesystem-v2",
     "mimeType": "image/png", "fileName": "a.png", "fileExtension": "png",
     "fileSize": "2.1 MB", "bytes": 2097152}

The bytes lie in the engine's ``BinaryStore`` (on disk under ``RELAYFLOW_HOME`` in the server, in
memory for ``relayflow run``), written and read in chunks. Entries whose ``data`` is base64
(n8n's default mode, pinned data, JSON written by hand) are read as well.

Node API (``ctx.binary`` is a ``BinaryData``)::

    entry = ctx.binary.entry(item, "data")              # the entry, or NodeError naming the property
    raw = await ctx.binary.get(entry)                    # the bytes (small files)
    async for chunk in ctx.binary.stream(entry): ...     # streamed (large files)
    await ctx.binary.save_to(entry, path)                # copied out to a local file
    new = await ctx.binary.put(b"...", file_name="a.txt", mime_type="text/plain")
    new = await ctx.binary.put(async_chunks, file_name=...)    # streamed in
    new = await ctx.binary.put_file(path, file_name=...)       # a local file copied in
    out = {"json": {...}, "binary": {"data": new}}
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from relayflow.errors import NodeError

if TYPE_CHECKING:
    from relayflow.engine.ports import BinaryStore

DEFAULT_MIME = "application/octet-stream"
_UNITS = ("B", "kB", "MB", "GB", "TB")


def pretty_size(n: int) -> str:
    """n8n's ``fileSize`` text: decimal units, three significant digits ("2.1 MB", "512 B")."""
    value = float(n)
    unit = 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{n} B" if unit == 0 else f"{value:.3g} {_UNITS[unit]}"


def guess_mime(file_name: str | None) -> str:
    if not file_name:
        return DEFAULT_MIME
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    return guessed or DEFAULT_MIME


def extension_of(file_name: str | None, mime_type: str | None = None) -> str | None:
    if file_name:
        suffix = PurePosixPath(file_name).suffix
        if suffix:
            return suffix[1:].lower()
    if mime_type:
        ext = mimetypes.guess_extension(mime_type.split(";", 1)[0].strip(), strict=False)
        if ext:
            return ext[1:]
    return None


def make_entry(
    *,
    mode: str,
    key: str,
    size: int,
    file_name: str | None,
    mime_type: str | None,
    directory: str | None = None,
) -> dict[str, Any]:
    mime = mime_type or guess_mime(file_name)
    entry: dict[str, Any] = {"id": f"{mode}:{key}", "data": mode, "mimeType": mime}
    if file_name:
        entry["fileName"] = file_name
    ext = extension_of(file_name, mime)
    if ext:
        entry["fileExtension"] = ext
    if directory:
        entry["directory"] = directory
    entry["fileSize"] = pretty_size(size)
    entry["bytes"] = size
    return entry


def key_of(entry: Mapping[str, Any]) -> str | None:
    """The store key of a stored entry; None for an inline (base64) one."""
    ref = entry.get("id")
    if isinstance(ref, str) and ":" in ref:
        return ref.split(":", 1)[1]
    return None


def stored_keys(items: Any) -> list[str]:
    """Every store key referenced by a list of items (for clean-up and downloads)."""
    keys: list[str] = []
    for it in items or ():
        binary = it.get("binary") if isinstance(it, Mapping) else None
        if isinstance(binary, Mapping):
            for entry in binary.values():
                key = key_of(entry) if isinstance(entry, Mapping) else None
                if key:
                    keys.append(key)
    return keys


def inline_bytes(entry: Mapping[str, Any]) -> bytes:
    data = entry.get("data")
    if not isinstance(data, str):
        raise ValueError("the binary entry has neither an id nor base64 data")
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the binary entry's data is not base64: {exc}") from exc


def entry_size(entry: Mapping[str, Any]) -> int | None:
    size = entry.get("bytes")
    return size if isinstance(size, int) else None


class BinaryData:
    """Binary data of one execution: ``ctx.binary``."""

    def __init__(self, store: BinaryStore, execution_id: str, node: str | None = None) -> None:
        self.store = store
        self.execution_id = execution_id
        self.node = node

    def _new_key(self) -> str:
        return f"{self.execution_id}/{uuid.uuid4().hex}"

    def entry(self, item: Mapping[str, Any], prop: str = "data") -> dict[str, Any]:
        """The item's binary entry ``prop``; a NodeError naming it (and what there is) if absent."""
        binary = item.get("binary")
        entry = binary.get(prop) if isinstance(binary, Mapping) else None
        if not isinstance(entry, dict):
            have = ", ".join(sorted(binary)) if isinstance(binary, Mapping) and binary else "none"
            raise NodeError(
                f"the item has no binary property {prop!r} (it has: {have})",
                node=self.node,
                retryable=False,
            )
        return entry

    async def put(
        self,
        data: bytes | AsyncIterable[bytes],
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        directory: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        key = self._new_key()
        if isinstance(data, (bytes, bytearray, memoryview)):
            size = await self.store.write_bytes(key, bytes(data))
        else:
            size = await self.store.write(key, data, limit=limit)
        return make_entry(
            mode=self.store.mode,
            key=key,
            size=size,
            file_name=file_name,
            mime_type=mime_type,
            directory=directory,
        )

    async def put_file(
        self,
        path: Path,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        directory: str | None = None,
    ) -> dict[str, Any]:
        key = self._new_key()
        size = await self.store.import_file(key, path)
        name = file_name if file_name is not None else path.name
        return make_entry(
            mode=self.store.mode, key=key, size=size, file_name=name, mime_type=mime_type, directory=directory
        )

    async def get(self, entry: Mapping[str, Any]) -> bytes:
        key = key_of(entry)
        if key is None:
            return self._inline(entry)
        return await self.store.read_bytes(key)

    async def stream(self, entry: Mapping[str, Any]) -> AsyncIterator[bytes]:
        key = key_of(entry)
        if key is None:
            yield self._inline(entry)
            return
        async for chunk in self.store.read(key):
            yield chunk

    async def size(self, entry: Mapping[str, Any]) -> int:
        key = key_of(entry)
        if key is None:
            return len(self._inline(entry))
        return await self.store.size(key)

    async def save_to(self, entry: Mapping[str, Any], path: Path, *, append: bool = False) -> int:
        key = key_of(entry)
        if key is None or append:
            data = await self.get(entry)

            def write() -> None:
                with path.open("ab" if append else "wb") as f:
                    f.write(data)

            await asyncio.to_thread(write)
            return len(data)
        return await self.store.export_file(key, path)

    def local_path(self, entry: Mapping[str, Any]) -> Path | None:
        key = key_of(entry)
        return self.store.local_path(key) if key else None

    def _inline(self, entry: Mapping[str, Any]) -> bytes:
        try:
            return inline_bytes(entry)
        except ValueError as exc:
            raise NodeError(str(exc), node=self.node, retryable=False) from exc
