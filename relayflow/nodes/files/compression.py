"""Compression: zip or gzip binary properties, or unpack them (n8n ``compression`` v1, v1.1).

Archives are built and read in chunks: zip members are streamed through ``zipfile`` into a
temporary file, gzip through a ``zlib`` stream. Unpacking is bounded: each item's output may
not exceed ``RELAYFLOW_MAX_DECOMPRESSED_BYTES`` (default 1 GiB, counted as bytes come out, not
as the archive declares them) nor ``RELAYFLOW_MAX_DECOMPRESSED_ENTRIES`` (default 10,000)
files, and a zip whose member names are absolute or contain ``..`` (zip slip) is refused.
Unpacked files become binary data, never files on disk.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.binary import BinaryData, extension_of, guess_mime
from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, RelayflowError
from relayflow.nodes.files import archive
from relayflow.nodes.spec import N8nAlias, NodeSpec


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Literal["compress", "decompress"] = "compress"
    # comma-separated binary property names
    binary_property_name: str = "data"
    output_format: Literal["zip", "gzip", ""] = "zip"
    # the zip's file name (or a single gzip output's)
    file_name: str = ""
    binary_property_output: str = "data"
    # decompress: outputs are <prefix>0, <prefix>1, ...; v1 gzip compression: likewise
    output_prefix: str = "file_"
    gzip_prefixed: bool = False


def _limit(env: str, default: int) -> int:
    raw = os.environ.get(env, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise NodeError(f"{env} must be a whole number of bytes, not {raw!r}", retryable=False) from None


def limits() -> archive.Limits:
    return archive.Limits(_limit(archive.MAX_BYTES_ENV, 1 << 30), _limit(archive.MAX_ENTRIES_ENV, 10_000))


def _props(p: Params) -> list[str]:
    names = [n.strip() for n in p.binary_property_name.split(",") if n.strip()]
    if not names:
        raise NodeError("no binary property name is given", retryable=False)
    return names


# compress ----------------------------------------------------------------------------------------
async def _zip(binary: BinaryData, entries: list[dict[str, Any]], p: Params) -> dict[str, Any]:
    name = p.file_name or "data.zip"
    with tempfile.TemporaryDirectory(prefix="relayflow-zip-") as tmp:
        path = Path(tmp) / "archive.zip"
        await archive.write_zip(path, [(e, binary.stream(e)) for e in entries])
        return await binary.put_file(path, file_name=name, mime_type="application/zip")


async def _gzip_chunks(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    async for chunk in source:
        out = comp.compress(chunk)
        if out:
            yield out
    yield comp.flush()


async def _compress(binary: BinaryData, it: Item, p: Params) -> dict[str, Any]:
    entries = [binary.entry(it, prop) for prop in _props(p)]
    if p.output_format == "zip":
        return {p.binary_property_output: await _zip(binary, entries, p)}
    if p.output_format != "gzip":
        raise NodeError("choose an output format: zip or gzip", retryable=False)
    out: dict[str, Any] = {}
    for index, entry in enumerate(entries):
        single = len(entries) == 1 and not p.gzip_prefixed
        name = p.file_name if single and p.file_name else f"{entry.get('fileName') or 'data'}.gz"
        key = p.binary_property_output if single else f"{_gzip_prefix(p)}{index}"
        out[key] = await binary.put(
            _gzip_chunks(binary.stream(entry)), file_name=name, mime_type="application/gzip"
        )
    return out


def _gzip_prefix(p: Params) -> str:
    return p.output_prefix if p.gzip_prefixed else p.binary_property_output


# decompress --------------------------------------------------------------------------------------
def _kind(entry: dict[str, Any], head: bytes) -> str | None:
    ext = str(entry.get("fileExtension") or extension_of(entry.get("fileName")) or "").lower()
    if ext == "zip" or head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if ext in ("gz", "gzip", "tgz") or head.startswith(b"\x1f\x8b"):
        return "gzip"
    return None


async def _head(binary: BinaryData, entry: dict[str, Any]) -> bytes:
    async with aclosing(cast(AsyncGenerator[bytes, None], binary.stream(entry))) as chunks:
        async for chunk in chunks:
            return chunk[:4]
    return b""


async def _gunzip(binary: BinaryData, entry: dict[str, Any], budget: archive.Budget) -> dict[str, Any]:
    name = str(entry.get("fileName") or "data.gz")
    stem = name[: -len(".gz")] if name.lower().endswith(".gz") else PurePosixPath(name).stem
    if name.lower().endswith(".tgz"):
        stem = name[:-4] + ".tar"
    budget.add_entry()
    return await binary.put(
        archive.gunzip_chunks(binary.stream(entry), budget), file_name=stem, mime_type=guess_mime(stem)
    )


async def _unzip(binary: BinaryData, entry: dict[str, Any], budget: archive.Budget) -> list[dict[str, Any]]:
    local = binary.local_path(entry)
    with tempfile.TemporaryDirectory(prefix="relayflow-unzip-") as tmp:
        if local is None:
            local = Path(tmp) / "in.zip"
            await binary.save_to(entry, local)
        members = await asyncio.to_thread(archive.zip_members, local, budget)
        out: list[dict[str, Any]] = []
        for info in members:
            budget.add_entry()
            member = PurePosixPath(info.filename)
            out.append(
                await binary.put(
                    archive.zip_member_chunks(local, info, budget),
                    file_name=member.name,
                    mime_type=guess_mime(member.name),
                    directory=str(member.parent) if str(member.parent) != "." else None,
                )
            )
        return out


async def _decompress(binary: BinaryData, it: Item, p: Params) -> dict[str, Any]:
    budget = archive.Budget(limits())
    out: dict[str, Any] = {}
    index = 0
    for prop in _props(p):
        entry = binary.entry(it, prop)
        kind = _kind(entry, await _head(binary, entry))
        if kind == "zip":
            files = await _unzip(binary, entry, budget)
        elif kind == "gzip":
            files = [await _gunzip(binary, entry, budget)]
        else:
            raise NodeError(f"binary property {prop!r} is neither a zip nor a gzip file", retryable=False)
        for f in files:
            out[f"{p.output_prefix}{index}"] = f
            index += 1
    return out


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item: Sequence[Any] = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (it, ip) in enumerate(zip(items, per_item, strict=True)):
        p = cast(Params, ip)
        try:
            run = _compress if p.operation == "compress" else _decompress
            binary = await run(ctx.binary, it, p)
        except (RelayflowError, archive.ArchiveRefused, OSError) as exc:
            err = exc if isinstance(exc, RelayflowError) else NodeError(str(exc), retryable=False)
            if isinstance(err, NodeError):
                err.node = err.node or ctx.node_name
                err.item_index = i if err.item_index is None else err.item_index
            failed = ctx.fail_item(err, i)
            if failed is not None:
                out.append(failed)
            continue
        out.append({"json": it.get("json", {}), "binary": binary, "pairedItem": {"item": i}})
    return [out]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    op = p.get("operation", "compress")
    out: dict[str, Any] = {"operation": op, "binary_property_name": p.get("binaryPropertyName", "data")}
    if op == "decompress":
        out["output_prefix"] = p.get("outputPrefix", "file_")
        return out
    fmt = p.get("outputFormat", "" if version < 1.1 else "zip")
    out["output_format"] = fmt
    for key, ours in (("fileName", "file_name"), ("binaryPropertyOutput", "binary_property_output")):
        if key in p:
            out[ours] = p[key]
    if fmt == "gzip" and version < 1.1:
        out["gzip_prefixed"] = True
        out["output_prefix"] = p.get("outputPrefix", "data")
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.compression",
        version=1,
        title="Compression",
        group="transform",
        description="Zip or gzip binary data, or unpack zip and gzip files into binary data.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.compression", (1, 1.1), translate=from_n8n),),
    ),
)
