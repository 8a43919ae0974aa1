"""Crypto (n8n crypto v1, v2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from relayflow.nodes.crypto_node import Params, compute
from relayflow.nodes.crypto_node.rsa_sign import KeyUnusable, load_private_key
from relayflow.testing import NodeRunFailed, output_json, run_node

T = "n8n-nodes-base.crypto"
# rsa_test_key.pem is a throwaway 1024-bit test key (`openssl genrsa -traditional 1024`); the signature
# of "hello" below was made with `openssl dgst -sha256 -sign rsa_test_key.pem`.
KNOWN_SIGNATURE = "603094e61e83a24f1e48a8791231893753c874bf530a8b3c4225951df1f357fcd7d44c9661b258ee9a4fdf127aebec63870c7e04b7688c4d3083bef10f9f370aeb26df0c1146d1ebbb90c8fc9be7c37d701c88c1a974492c2d5d41707339b0dcdf2943d683c5e704f294224516be3fddf681d3be920959a90feb32ef3de5635d"


async def crypto(
    params: dict[str, Any], items: list[Any] | None = None, version: float = 1
) -> list[dict[str, Any]]:
    return output_json(await run_node(T, params, items or [{"a": 1}], type_version=version))


@pytest.mark.parametrize(
    ("type_", "algo"),
    [
        ("MD5", "md5"),
        ("SHA1", "sha1"),
        ("SHA256", "sha256"),
        ("SHA384", "sha384"),
        ("SHA512", "sha512"),
        ("SHA3-256", "sha3_256"),
        ("SHA3-384", "sha3_384"),
        ("SHA3-512", "sha3_512"),
    ],
)
@pytest.mark.parametrize("version", [1, 2])
async def test_hash(type_: str, algo: str, version: float) -> None:
    out = await crypto(
        {"action": "hash", "type": type_, "value": "hello", "dataPropertyName": "h"}, version=version
    )
    assert out == [{"a": 1, "h": hashlib.new(algo, b"hello").hexdigest()}]


async def test_hash_base64_into_a_nested_field() -> None:
    out = await crypto({"type": "SHA256", "value": "x", "encoding": "base64", "dataPropertyName": "out.h"})
    assert out[0]["out"]["h"] == base64.b64encode(hashlib.sha256(b"x").digest()).decode()


async def test_hmac() -> None:
    out = await crypto({"action": "hmac", "type": "SHA512", "value": "msg", "secret": "key"})
    assert out[0]["data"] == hmac.new(b"key", b"msg", "sha512").hexdigest()


async def test_hash_binary_property_v2() -> None:
    items = [{"json": {}, "binary": {"file": {"data": base64.b64encode(b"bytes!").decode()}}}]
    params = {"type": "MD5", "binaryData": True, "binaryPropertyName": "file"}
    assert (await crypto(params, items, version=2))[0]["data"] == hashlib.md5(b"bytes!").hexdigest()


async def test_missing_binary_fails_the_item() -> None:
    with pytest.raises(NodeRunFailed, match="no binary property"):
        await crypto({"type": "MD5", "binaryData": True}, version=2)


@pytest.mark.parametrize(
    ("encoding", "pattern"),
    [
        ("uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
        ("hex", r"[0-9a-f]{13}"),
        ("base64", r"[A-Za-z0-9+/=]{13}"),
        ("ascii", r"[A-Za-z0-9]{13}"),
    ],
)
async def test_generate(encoding: str, pattern: str) -> None:
    out = await crypto({"action": "generate", "encodingType": encoding, "stringLength": 13}, [{}, {}])
    assert all(re.fullmatch(pattern, o["data"]) for o in out)
    assert out[0]["data"] != out[1]["data"]


def _key() -> str:
    return (Path(__file__).parent / "rsa_test_key.pem").read_text()


async def test_sign_matches_openssl_known_answer() -> None:
    params = {"action": "sign", "value": "hello", "algorithm": "RSA-SHA256", "privateKey": _key()}
    out = await crypto(params)
    assert out[0]["data"] == KNOWN_SIGNATURE


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_sign_verifies_with_openssl(tmp_path: Path) -> None:
    params = Params(action="sign", value="payload", algorithm="sha512", private_key=_key(), encoding="base64")
    sig = base64.b64decode(compute({"json": {}}, params))
    key = tmp_path / "k.pem"
    key.write_text(_key())
    (tmp_path / "sig").write_bytes(sig)
    (tmp_path / "data").write_bytes(b"payload")
    pub = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout"], capture_output=True, check=True
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    done = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha512",
            "-verify",
            str(tmp_path / "pub.pem"),
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "data"),
        ],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("not a key", "PEM"),
        ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----", "unsupported key type"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----", "encrypted"),
    ],
)
def test_unusable_keys(pem: str, message: str) -> None:
    with pytest.raises(KeyUnusable, match=message):
        load_private_key(pem)


async def test_unknown_sign_algorithm_fails() -> None:
    with pytest.raises(NodeRunFailed, match="unsupported signing algorithm"):
        await crypto({"action": "sign", "value": "x", "algorithm": "ecdsa-with-SHA1", "privateKey": _key()})


async def test_relayflow_type() -> None:
    out = output_json(await run_node("relayflow.crypto", {"type": "SHA1", "value": "v"}, [{}]))
    assert out == [{"data": hashlib.sha1(b"v").hexdigest()}]
