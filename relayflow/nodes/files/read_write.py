"""Read/Write Files from Disk (n8n ``readWriteFile`` v1) and the legacy ``readBinaryFile``,
``readBinaryFiles`` and ``writeBinaryFile`` (v1).

Every path is confined to the files root (``RELAYFLOW_FILES_ROOT``; see ``confine``). Reading a
path or glob gives one item per file, ``{"json": {}, "binary": {"data": entry}}``; writing keeps
the item, adds ``fileName`` to its JSON and writes the binary property's bytes (streamed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, RelayflowError
from relayflow.nodes.files.confine import FilesRoot, has_magic
from relayflow.nodes.files.disk import read_entry, write_entry
from relayflow.nodes.spec import N8nAlias, NodeSpec


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Literal["read", "write"] = "read"
    # read: a path or a glob pattern (fast-glob syntax), relative to the files root
    file_selector: str = ""
    # write: the file's path
    file_name: str = ""
    data_property_name: str = "data"
    # write: append to the file instead of replacing it
    append: bool = False
    # read: overrides for the output entry
    output_file_name: str | None = None
    output_mime_type: str | None = None
    output_file_extension: str | None = None


class LegacyReadParams(BaseModel):
    """``readBinaryFile`` (one path per item) and ``readBinaryFiles`` (one glob per run)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_path: str = ""
    file_selector: str = ""
    data_property_name: str = "data"


PerItem = Callable[[NodeContext, FilesRoot, Item, int, Any], Awaitable[Items]]


async def _each(ctx: NodeContext, items: Items, params: BaseModel, fn: PerItem) -> NodeOutput:
    root = FilesRoot.from_env(node=ctx.node_name)
    per_item: Sequence[Any] = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (it, p) in enumerate(zip(items, per_item, strict=True)):
        try:
            out.extend(await fn(ctx, root, it, i, p))
        except RelayflowError as exc:
            if isinstance(exc, NodeError) and exc.item_index is None:
                exc.item_index = i
            failed = ctx.fail_item(exc, i)
            if failed is not None:
                out.append(failed)
    return [out]


async def _read(ctx: NodeContext, root: FilesRoot, selector: str, p: Params | None = None) -> list[Any]:
    if has_magic(selector):
        matches = await asyncio.to_thread(root.glob, selector)  # a walk may take a while
    else:
        resolved = root.resolve(selector)
        if not resolved.real.exists():
            raise NodeError(
                f"file {selector!r} does not exist (paths are relative to {root.real})",
                node=ctx.node_name,
                retryable=False,
            )
        matches = [resolved]
    return [
        await read_entry(
            ctx.binary,
            root,
            m,
            file_name=p.output_file_name if p else None,
            mime_type=p.output_mime_type if p else None,
            file_extension=p.output_file_extension if p else None,
        )
        for m in matches
    ]


async def _write(
    ctx: NodeContext, root: FilesRoot, it: Item, i: int, path: str, prop: str, append: bool
) -> Item:
    entry = ctx.binary.entry(it, prop)
    await write_entry(ctx.binary, root, root.resolve(path), entry, append=append)
    out: Item = {"json": {**it.get("json", {}), "fileName": path}, "pairedItem": {"item": i}}
    if it.get("binary"):
        out["binary"] = it["binary"]
    return out


async def _read_write_item(ctx: NodeContext, root: FilesRoot, it: Item, i: int, p: Params) -> Items:
    if p.operation == "write":
        return [await _write(ctx, root, it, i, p.file_name, p.data_property_name, p.append)]
    entries = await _read(ctx, root, p.file_selector, p)
    return [{"json": {}, "binary": {p.data_property_name: e}, "pairedItem": {"item": i}} for e in entries]


async def execute_read_write(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return await _each(ctx, items, params, cast(PerItem, _read_write_item))


async def _read_one(ctx: NodeContext, root: FilesRoot, it: Item, i: int, p: LegacyReadParams) -> Items:
    fd_entry = await read_entry(ctx.binary, root, root.resolve(p.file_path))
    binary = {**(it.get("binary") or {}), p.data_property_name: fd_entry}
    return [{"json": it.get("json", {}), "binary": binary, "pairedItem": {"item": i}}]


async def execute_read_one(ctx: NodeContext, items: Items, params: LegacyReadParams) -> NodeOutput:
    return await _each(ctx, items, params, cast(PerItem, _read_one))


async def execute_read_many(ctx: NodeContext, items: Items, params: LegacyReadParams) -> NodeOutput:
    """``readBinaryFiles`` runs once, with the first item's parameters (as n8n)."""
    root = FilesRoot.from_env(node=ctx.node_name)
    entries = await _read(ctx, root, params.file_selector)
    return [[{"json": {}, "binary": {params.data_property_name: e}} for e in entries]]


async def _write_legacy(ctx: NodeContext, root: FilesRoot, it: Item, i: int, p: Params) -> Items:
    return [await _write(ctx, root, it, i, p.file_name, p.data_property_name, p.append)]


async def execute_write(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return await _each(ctx, items, params, cast(PerItem, _write_legacy))


# n8n parameter shapes ----------------------------------------------------------------------------
def _common(p: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    if "dataPropertyName" in p:
        out["data_property_name"] = p["dataPropertyName"]
    return out


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    options = p.get("options") or {}
    out: dict[str, Any] = {"operation": p.get("operation", "read")}
    if out["operation"] == "write":
        _common(p, out)
        out["file_name"] = p.get("fileName", "")
        if "append" in options:
            out["append"] = options["append"]
        return out
    out["file_selector"] = p.get("fileSelector", "")
    for key, ours in (
        ("dataPropertyName", "data_property_name"),
        ("fileName", "output_file_name"),
        ("mimeType", "output_mime_type"),
        ("fileExtension", "output_file_extension"),
    ):
        if key in options:
            out[ours] = options[key]
    return out


def from_n8n_read_one(p: dict[str, Any], version: float) -> dict[str, Any]:
    return _common(p, {"file_path": p.get("filePath", "")})


def from_n8n_read_many(p: dict[str, Any], version: float) -> dict[str, Any]:
    return _common(p, {"file_selector": p.get("fileSelector", "")})


def from_n8n_write(p: dict[str, Any], version: float) -> dict[str, Any]:
    out = _common(p, {"operation": "write", "file_name": p.get("fileName", "")})
    if "append" in (p.get("options") or {}):
        out["append"] = p["options"]["append"]
    return out


_CONFINED = " Paths are confined to RELAYFLOW_FILES_ROOT."
SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.readWriteFile",
        version=1,
        title="Read/Write Files from Disk",
        group="action",
        description="Read files (a path or glob) into binary data, or write binary data to a file."
        + _CONFINED,
        params=Params,
        execute=execute_read_write,
        aliases=(N8nAlias("n8n-nodes-base.readWriteFile", (1,), translate=from_n8n),),
    ),
    NodeSpec(
        type="relayflow.readBinaryFile",
        version=1,
        title="Read Binary File",
        group="action",
        description="Read one file per item into a binary property (legacy)." + _CONFINED,
        params=LegacyReadParams,
        execute=execute_read_one,
        aliases=(N8nAlias("n8n-nodes-base.readBinaryFile", (1,), translate=from_n8n_read_one),),
    ),
    NodeSpec(
        type="relayflow.readBinaryFiles",
        version=1,
        title="Read Binary Files",
        group="action",
        description="Read the files matching a glob, one item each (legacy)." + _CONFINED,
        params=LegacyReadParams,
        execute=execute_read_many,
        aliases=(N8nAlias("n8n-nodes-base.readBinaryFiles", (1,), translate=from_n8n_read_many),),
    ),
    NodeSpec(
        type="relayflow.writeBinaryFile",
        version=1,
        title="Write Binary File",
        group="action",
        description="Write an item's binary property to a file (legacy)." + _CONFINED,
        params=Params,
        execute=execute_write,
        aliases=(N8nAlias("n8n-nodes-base.writeBinaryFile", (1,), translate=from_n8n_write),),
    ),
)
