"""Encryption of stored secrets (credential data): AES-256-GCM under a keyring.

A sealed value is the text ``rf1:<key id>:<base64url(nonce | ciphertext | tag)>``:

- a random 12-byte nonce per value;
- the associated data is what the value belongs to (a credential's id), so a sealed value copied
  onto another row does not open;
- the AES key is derived from the master key with HKDF-SHA256 for one purpose
  (``relayflow credentials v1``), so the same master could serve other purposes without reuse;
- the key id (8 hex digits of the master key's SHA-256) names the master that sealed it, so
  several keys can be in use while a rotation runs; a value sealed under a key that is no longer
  in the keyring fails loudly (``SecretKeyRetired``), as does a tampered one (``SecretTampered``).

Keys: ``RELAYFLOW_ENCRYPTION_KEY`` (base64 of 32 bytes; older keys may follow, comma-separated,
still readable but never used to seal), or else a key generated on first use into
``RELAYFLOW_HOME/encryption.key`` with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from relayflow.errors import InputInvalid, RelayflowError

if TYPE_CHECKING:  # cryptography is loaded by the first seal or open, not at start (S11)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "rf1"
KEY_BYTES = 32
NONCE_BYTES = 12
PURPOSE = b"relayflow credentials v1"
KEY_FILE = "encryption.key"
ENV_KEY = "RELAYFLOW_ENCRYPTION_KEY"


class SecretError(RelayflowError):
    code = "secret_unreadable"


class SecretTampered(SecretError):
    code = "secret_tampered"


class SecretKeyRetired(SecretError):
    code = "secret_key_retired"


def key_id(master: bytes) -> str:
    return hashlib.sha256(master).hexdigest()[:8]


def hkdf_sha256(master: bytes, info: bytes) -> bytes:
    """RFC 5869 HKDF-SHA256 without salt, 32 bytes (one block): what
    ``cryptography``'s ``HKDF(SHA256(), 32, salt=None, info)`` derives, in the standard library."""
    prk = hmac.new(b"\0" * hashlib.sha256().digest_size, master, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


@dataclass(frozen=True)
class Keyring:
    """The master keys: ``current`` seals, every key opens what it sealed."""

    current: str
    # the master keys by key id (kept out of repr: they are the secrets)
    _masters: Mapping[str, bytes] = field(repr=False)
    # the AES-GCM cipher of each key id, made on first use
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, masters: Sequence[bytes]) -> Keyring:
        """The first key seals; the others only open (a rotation in progress)."""
        if not masters:
            raise InputInvalid("a keyring needs at least one key")
        for master in masters:
            if len(master) != KEY_BYTES:
                raise InputInvalid(f"an encryption key must be {KEY_BYTES} bytes, not {len(master)}")
        return cls(key_id(masters[0]), {key_id(m): bytes(m) for m in masters})

    def derive(self, purpose: bytes, kid: str | None = None) -> tuple[str, bytes]:
        """A 32-byte key for another purpose (HKDF-SHA256 of one master, ``purpose`` as info):
        the current master's, or the one ``kid`` names (``SecretKeyRetired`` when it is not in
        the keyring). Returns (key id, key)."""
        kid = self.current if kid is None else kid
        master = self._masters.get(kid)
        if master is None:
            raise SecretKeyRetired(f"key {kid} is not in the keyring")
        return kid, hkdf_sha256(master, purpose)

    def _cipher(self, kid: str) -> AESGCM | None:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            master = self._masters.get(kid)
            if master is None:
                return None
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._ciphers[kid] = AESGCM(hkdf_sha256(master, PURPOSE))
        return cipher

    @property
    def key_ids(self) -> list[str]:
        return list(self._masters)

    def seal(self, plaintext: bytes, associated: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        cipher = self._cipher(self.current)
        assert cipher is not None  # the current key is always in the keyring
        sealed = cipher.encrypt(nonce, plaintext, associated.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}:{self.current}:{body}"

    def open(self, value: str, associated: str) -> bytes:
        prefix, kid, body = _split(value)
        if prefix != PREFIX:
            raise SecretError(f"not a sealed value (format {prefix!r})")
        cipher = self._cipher(kid)
        if cipher is None:
            raise SecretKeyRetired(
                f"the secret was sealed with key {kid}, which is not in the keyring "
                f"(known: {', '.join(self._masters)}); restore that key in {ENV_KEY} to read it"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SecretTampered("the sealed value is not valid base64") from None
        if len(raw) < NONCE_BYTES + 16:
            raise SecretTampered("the sealed value is too short")
        from cryptography.exceptions import InvalidTag

        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode())
        except InvalidTag:
            raise SecretTampered(
                "the sealed value does not open: it was changed, or belongs to another record"
            ) from None

    def sealed_with(self, value: str) -> str:
        """The key id a sealed value names (to find what a rotation must re-seal)."""
        return _split(value)[1]


def _split(value: str) -> tuple[str, str, str]:
    parts = value.split(":", 2)
    if len(parts) != 3:
        raise SecretError("not a sealed value")
    return parts[0], parts[1], parts[2]


def parse_keys(text: str) -> list[bytes]:
    """``RELAYFLOW_ENCRYPTION_KEY``'s value: base64 keys, comma-separated, the current first."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            raw = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InputInvalid(f"{ENV_KEY} must hold base64 keys of {KEY_BYTES} bytes") from None
        if len(raw) != KEY_BYTES:
            raise InputInvalid(f"{ENV_KEY} must hold keys of {KEY_BYTES} bytes, one is {len(raw)}")
        keys.append(raw)
    if not keys:
        raise InputInvalid(f"{ENV_KEY} is set but holds no key")
    return keys


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def load_keyring(home: Path, env: Mapping[str, str] = os.environ) -> Keyring:
    """The keyring from ``RELAYFLOW_ENCRYPTION_KEY``, or from the key file under ``home``
    (created with mode 0600 on first use)."""
    configured = env.get(ENV_KEY)
    if configured:
        return Keyring.of(parse_keys(configured))
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key() + "\n")
    elif path.stat().st_mode & 0o077:
        raise InputInvalid(f"{path} must be readable by its owner only (chmod 600)")
    return Keyring.of(parse_keys(path.read_text()))
