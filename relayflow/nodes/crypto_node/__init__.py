"""Crypto: hash, HMAC, RSA-sign values or generate random strings (n8n ``crypto`` v1, v2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.nodes.crypto_node.rsa_sign import DIGEST_INFO, KeyUnusable, sign
from relayflow.nodes.itemwise import write_each
from relayflow.nodes.spec import N8nAlias, NodeSpec

HashType = Literal["MD5", "SHA1", "SHA256", "SHA384", "SHA512", "SHA3-256", "SHA3-384", "SHA3-512"]
HASHES: dict[str, str] = {
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA384": "sha384",
    "SHA512": "sha512",
    "SHA3-256": "sha3_256",
    "SHA3-384": "sha3_384",
    "SHA3-512": "sha3_512",
}
_ALPHANUMERIC = string.ascii_letters + string.digits


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["hash", "hmac", "sign", "generate"] = "hash"
    type: HashType = "MD5"
    value: Any = ""
    data_property_name: str = "data"
    encoding: Literal["hex", "base64"] = "hex"
    secret: str = ""
    # sign: an OpenSSL digest name such as "RSA-SHA256" or "sha256"
    algorithm: str = "RSA-SHA256"
    private_key: str = ""
    # generate
    encoding_type: Literal["ascii", "base64", "hex", "uuid"] = "uuid"
    string_length: int = Field(default=32, ge=1, le=1_000_000)
    # hash / hmac a binary property instead of ``value`` (v2)
    binary_data: bool = False
    binary_property_name: str = "data"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _encode(raw: bytes, encoding: str) -> str:
    return raw.hex() if encoding == "hex" else base64.b64encode(raw).decode()


def _generate(p: Params) -> str:
    n = p.string_length
    if p.encoding_type == "uuid":
        return str(uuid.uuid4())
    if p.encoding_type == "hex":
        return secrets.token_hex((n + 1) // 2)[:n]
    if p.encoding_type == "base64":
        return base64.b64encode(secrets.token_bytes(n)).decode()[:n]
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(n))


def _digest_name(algorithm: str) -> str:
    name = algorithm.lower().removeprefix("rsa-").replace("-", "")
    if name not in DIGEST_INFO:
        raise ValueError(
            f"unsupported signing algorithm {algorithm!r} (supported: RSA-MD5, RSA-SHA1, RSA-SHA224, "
            "RSA-SHA256, RSA-SHA384, RSA-SHA512)"
        )
    return name


def _input_bytes(it: Item, p: Params) -> bytes:
    if not p.binary_data:
        return _text(p.value).encode()
    entry = (it.get("binary") or {}).get(p.binary_property_name)
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), str):
        raise ValueError(f"the item has no binary property {p.binary_property_name!r}")
    return base64.b64decode(entry["data"])


def compute(it: Item, p: Params) -> str:
    """The value the node writes for one item; raises ValueError or KeyUnusable on bad input."""
    if p.action == "generate":
        return _generate(p)
    data = _input_bytes(it, p)
    if p.action == "hash":
        return _encode(hashlib.new(HASHES[p.type], data).digest(), p.encoding)
    if p.action == "hmac":
        return _encode(hmac.new(p.secret.encode(), data, HASHES[p.type]).digest(), p.encoding)
    if not p.private_key:
        raise ValueError("a private key is needed to sign")
    return _encode(sign(data, p.private_key, _digest_name(p.algorithm)), p.encoding)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return await write_each(ctx, items, params, compute, (ValueError, KeyUnusable))


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    action = p.get("action", "hash")
    out: dict[str, Any] = {
        "action": action,
        "type": p.get("type", "MD5"),
        "value": p.get("value", ""),
        "data_property_name": p.get("dataPropertyName", "data"),
        "encoding": p.get("encoding", "hex"),
        "secret": p.get("secret", ""),
        "algorithm": p.get("algorithm", "RSA-SHA256"),
        "private_key": p.get("privateKey", ""),
        "encoding_type": p.get("encodingType", "uuid"),
        "string_length": p.get("stringLength", 32),
        "binary_data": p.get("binaryData", False),
        "binary_property_name": p.get("binaryPropertyName", "data"),
    }
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.crypto",
        version=1,
        title="Crypto",
        group="transform",
        description="Hash, HMAC or sign a value, or generate a random string or UUID.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.crypto", (1, 2), translate=from_n8n),),
    ),
)
