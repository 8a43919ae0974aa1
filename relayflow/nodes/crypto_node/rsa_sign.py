"""RSA signatures (RSASSA-PKCS1-v1_5, RFC 8017) from a PEM private key, in pure Python.

Enough for the Crypto node's ``sign`` action without a compiled dependency: unencrypted PKCS#1
(``RSA PRIVATE KEY``) and PKCS#8 (``PRIVATE KEY``) keys, digests MD5 / SHA-1 / SHA-2.
"""

from __future__ import annotations

import base64
import hashlib
import re

# DER prefix of the DigestInfo for each digest (RFC 8017, section 9.2, note 1)
DIGEST_INFO: dict[str, bytes] = {
    "md5": bytes.fromhex("3020300c06082a864886f70d020505000410"),
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


class KeyUnusable(ValueError):
    """The key cannot be used (wrong format, encrypted, not RSA)."""


def _read_tlv(der: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, next position) of the DER element at ``pos``."""
    if pos + 2 > len(der):
        raise KeyUnusable("truncated DER data")
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[pos : pos + n], "big")
        pos += n
    if pos + length > len(der):
        raise KeyUnusable("truncated DER data")
    return tag, der[pos : pos + length], pos + length


def _sequence(der: bytes) -> list[tuple[int, bytes]]:
    tag, body, _ = _read_tlv(der, 0)
    if tag != 0x30:
        raise KeyUnusable("the key is not a DER sequence")
    out = []
    pos = 0
    while pos < len(body):
        t, v, pos = _read_tlv(body, pos)
        out.append((t, v))
    return out


def _rsa_numbers(der: bytes, pkcs8: bool) -> tuple[int, int]:
    """(modulus n, private exponent d)."""
    parts = _sequence(der)
    if pkcs8:
        if len(parts) < 3 or parts[2][0] != 0x04:
            raise KeyUnusable("not a PKCS#8 private key")
        if b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01" not in parts[1][1]:
            raise KeyUnusable("only RSA keys can sign here")
        parts = _sequence(parts[2][1])
    ints = [int.from_bytes(v, "big") for t, v in parts if t == 0x02]
    if len(ints) < 4:
        raise KeyUnusable("not an RSA private key")
    return ints[1], ints[3]


def load_private_key(pem: str) -> tuple[int, int]:
    m = _PEM.search(pem.replace("\\n", "\n"))
    if m is None:
        raise KeyUnusable("the private key is not in PEM format (-----BEGIN ... KEY-----)")
    label, body = m.group(1), m.group(2)
    if "ENCRYPTED" in label or "Proc-Type: 4,ENCRYPTED" in body:
        raise KeyUnusable("encrypted private keys are not supported: use an unencrypted key")
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        raise KeyUnusable(f"unsupported key type {label!r}: an RSA private key is needed")
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except ValueError as exc:
        raise KeyUnusable("the private key's base64 body is invalid") from exc
    return _rsa_numbers(der, pkcs8=label == "PRIVATE KEY")


def sign(data: bytes, pem: str, digest: str) -> bytes:
    """The PKCS#1 v1.5 signature of ``data`` with ``digest`` (a key of ``DIGEST_INFO``)."""
    n, d = load_private_key(pem)
    k = (n.bit_length() + 7) // 8
    t = DIGEST_INFO[digest] + hashlib.new(digest, data).digest()
    if k < len(t) + 11:
        raise KeyUnusable("the RSA key is too short for this digest")
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
