"""Move Binary Data (n8n ``moveBinaryData`` v1, v1.1): move data between an item's binary and JSON.

``binaryToJson`` decodes the binary property ``sourceKey`` as text (``encoding``, a leading byte
order mark dropped unless ``stripBOM`` is off) and either replaces the item's JSON with the text
parsed as JSON (``setAllData``, the default) or writes it to the field ``destinationKey``: as text,
parsed (``jsonParse``) or the raw bytes as Base64 (``keepAsBase64``). The binary property is
removed unless ``keepSource``.

``jsonToBinary`` writes the whole JSON (``convertAllData``, the default) or the field ``sourceKey``
as JSON text (a string field as it is with ``useRawData``; Base64 decoded with ``dataIsBase64``)
into the binary property ``destinationKey``, with ``mimeType`` (``application/json``) and
``fileName``. The source (the JSON, or the field) is removed unless ``keepSource``.

As in n8n, an item without the source (binary property or JSON field) is left out of the output.
Text that is not valid in the encoding, JSON that does not parse and Base64 that does not decode
fail the item as the node's onError says. Encodings take n8n's (iconv-lite) names: ``utf8``,
``utf16le``, ``latin1``, ``win1252``..., plus ``base64`` and ``hex``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, Literal, cast

import orjson
from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, UserError
from relayflow.nodes.convert.formats import describe_decode_error, python_encoding
from relayflow.nodes.fieldpath import MISSING, delete_path, get_path, set_path
from relayflow.nodes.spec import N8nAlias, NodeSpec, renamed_options

# above this many bytes JSON is parsed in a thread, off the event loop
_THREAD_BYTES = 64 * 1024
# iconv-lite's byte-to-text encodings that are not character sets
_BYTE_ENCODINGS = ("base64", "hex")


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["binaryToJson", "jsonToBinary"] = "binaryToJson"
    # binaryToJson: replace the whole JSON with the parsed binary data
    set_all_data: bool = True
    # jsonToBinary: write the whole JSON
    convert_all_data: bool = True
    # binaryToJson: the binary property; jsonToBinary: the JSON field (dot path)
    source_key: str = "data"
    # binaryToJson: the JSON field (dot path); jsonToBinary: the binary property
    destination_key: str = "data"
    encoding: str = "utf8"
    strip_bom: bool = True
    add_bom: bool = False
    json_parse: bool = False
    keep_source: bool = False
    keep_as_base64: bool = False
    mime_type: str = "application/json"
    file_name: str = ""
    use_raw_data: bool = False
    data_is_base64: bool = False


class MoveError(ValueError):
    """The item's data cannot be moved (bad text, JSON or Base64)."""


def _byte_encoding(encoding: str) -> str | None:
    name = (encoding or "").strip().lower()
    return name if name in _BYTE_ENCODINGS else None


def decode_text(data: bytes, encoding: str, *, strip_bom: bool = True) -> str:
    """``data`` as text in an n8n encoding; a leading BOM dropped when ``strip_bom``."""
    special = _byte_encoding(encoding)
    if special == "base64":
        return base64.b64encode(data).decode("ascii")
    if special == "hex":
        return data.hex()
    codec = python_encoding(encoding)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise describe_decode_error(exc, codec, f"at offset {exc.start}") from None
    return text.removeprefix("\ufeff") if strip_bom else text


def encode_text(text: str, encoding: str, *, add_bom: bool = False) -> bytes:
    """``text`` as bytes in an n8n encoding; a BOM first when ``add_bom`` (Unicode encodings)."""
    special = _byte_encoding(encoding)
    if special == "base64":
        return _from_base64(text)
    if special == "hex":
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise MoveError("the text is not valid hex") from None
    codec = python_encoding(encoding)
    if codec == "utf-16":
        # Python's utf-16 always writes a BOM; iconv-lite's writes little-endian, BOM on request
        codec = "utf-16-le"
    if add_bom and codec.startswith("utf") and codec != "utf-8-sig" and not text.startswith("\ufeff"):
        text = "\ufeff" + text
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise MoveError(f"the text cannot be written as {encoding}: {exc.reason}") from None


def _from_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise MoveError(f"the data is not a Base64 string but {type(value).__name__}")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise MoveError("the data is not valid Base64") from None


def _json_text(value: Any) -> str:
    """JSON.stringify: compact JSON."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _parse_json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        hint = " (it starts with a byte order mark: turn stripBOM on)" if text.startswith("\ufeff") else ""
        raise MoveError(f"the {what} is not valid JSON{hint}: {exc}") from None


async def _parse(text: str, what: str) -> Any:
    if len(text) > _THREAD_BYTES:
        return await asyncio.to_thread(_parse_json, text, what)
    return _parse_json(text, what)


async def _binary_to_json(ctx: NodeContext, it: Item, p: Params, index: int) -> Item | None:
    binary = it.get("binary") or {}
    entry = binary.get(p.source_key)
    if not isinstance(entry, dict):
        return None
    data = await ctx.binary.get(entry)
    if p.set_all_data:
        parsed = await _parse(decode_text(data, p.encoding, strip_bom=p.strip_bom), "binary data")
        if not isinstance(parsed, dict):
            raise MoveError(
                f"the binary data is JSON but not an object ({type(parsed).__name__}): "
                "turn 'Set All Data' off to write it to a field"
            )
        json: dict[str, Any] = parsed
    else:
        value: Any
        if p.keep_as_base64:
            value = base64.b64encode(data).decode("ascii")
        else:
            value = decode_text(data, p.encoding, strip_bom=p.strip_bom)
            if p.json_parse:
                value = await _parse(value, "binary data")
        json = dict(it.get("json") or {})
        set_path(json, p.destination_key or "data", value)
    out: Item = {"json": json, "pairedItem": {"item": index}}
    kept = dict(binary) if p.keep_source else {k: v for k, v in binary.items() if k != p.source_key}
    if kept:
        out["binary"] = kept
    return out


def _payload(it: Item, p: Params) -> bytes | None:
    """The bytes jsonToBinary writes for ``it``; None when the source field is absent."""
    json = it.get("json") or {}
    value = json if p.convert_all_data else get_path(json, p.source_key)
    if value is MISSING:
        return None
    if p.data_is_base64 and not p.convert_all_data:
        return _from_base64(value)
    text = value if p.use_raw_data and isinstance(value, str) else _json_text(value)
    return encode_text(text, p.encoding, add_bom=p.add_bom)


async def _json_to_binary(ctx: NodeContext, it: Item, p: Params, index: int) -> Item | None:
    data = _payload(it, p)
    if data is None:
        return None
    entry = await ctx.binary.put(data, file_name=p.file_name or None, mime_type=p.mime_type or None)
    json: dict[str, Any] = dict(it.get("json") or {})
    if not p.keep_source:
        if p.convert_all_data:
            json = {}
        else:
            delete_path(json, p.source_key)
    binary = {**(it.get("binary") or {}), p.destination_key or "data": entry}
    return {"json": json, "binary": binary, "pairedItem": {"item": index}}


def _item_error(ctx: NodeContext, exc: Exception, index: int) -> NodeError:
    if isinstance(exc, NodeError):
        exc.item_index = index if exc.item_index is None else exc.item_index
        return exc
    message = exc.message if isinstance(exc, UserError) else str(exc)
    return NodeError(message, node=ctx.node_name, item_index=index, retryable=False)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    per_item = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    out: Items = []
    for i, (it, ip) in enumerate(zip(items, per_item, strict=True)):
        p = cast(Params, ip)
        move = _binary_to_json if p.mode == "binaryToJson" else _json_to_binary
        try:
            moved = await move(ctx, it, p, i)
        except (ValueError, UserError, NodeError) as exc:
            failed = ctx.fail_item(_item_error(ctx, exc, i), i)
            if failed is not None:
                out.append(failed)
            continue
        if moved is not None:
            out.append(moved)
    return [out]


_OPTION_KEYS = {
    "encoding": "encoding",
    "stripBOM": "strip_bom",
    "addBOM": "add_bom",
    "jsonParse": "json_parse",
    "keepSource": "keep_source",
    "keepAsBase64": "keep_as_base64",
    "mimeType": "mime_type",
    "fileName": "file_name",
    "useRawData": "use_raw_data",
    "dataIsBase64": "data_is_base64",
}
_TOP_KEYS = {
    "mode": "mode",
    "setAllData": "set_all_data",
    "convertAllData": "convert_all_data",
    "sourceKey": "source_key",
    "destinationKey": "destination_key",
}


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    out: dict[str, Any] = {ours: p[key] for key, ours in _TOP_KEYS.items() if key in p}
    out.update(renamed_options(p.get("options"), _OPTION_KEYS))
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.moveBinaryData",
        version=1,
        title="Move Binary Data",
        group="transform",
        description="Move data between an item's binary data and its JSON (legacy n8n node).",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.moveBinaryData", (1, 1.1), translate=from_n8n),),
    ),
)
