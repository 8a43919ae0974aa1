"""Sealed secrets: AES-256-GCM with the record's id as associated data, key ids, rotation."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from relayflow.errors import InputInvalid
from relayflow.security.secrets import (
    ENV_KEY,
    Keyring,
    SecretKeyRetired,
    SecretTampered,
    key_id,
    load_keyring,
    new_key,
)

K1, K2 = os.urandom(32), os.urandom(32)


def test_a_sealed_value_opens_only_for_its_record() -> None:
    ring = Keyring.of([K1])
    sealed = ring.seal(b'{"password": "hunter2"}', "cred-1")
    assert sealed.startswith(f"rf1:{key_id(K1)}:") and b"hunter2" not in sealed.encode()
    assert ring.open(sealed, "cred-1") == b'{"password": "hunter2"}'
    with pytest.raises(SecretTampered, match="belongs to another record"):
        ring.open(sealed, "cred-2")


def test_each_seal_uses_a_fresh_nonce() -> None:
    ring = Keyring.of([K1])
    assert ring.seal(b"same", "c") != ring.seal(b"same", "c")


def test_any_changed_byte_is_refused() -> None:
    ring = Keyring.of([K1])
    sealed = ring.seal(b"secret", "c")
    prefix, kid, body = sealed.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for i in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        changed = bytearray(raw)
        changed[i] ^= 1
        text = base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        with pytest.raises(SecretTampered):
            ring.open(f"{prefix}:{kid}:{text}", "c")


def test_rotation_keeps_old_values_readable_and_seals_with_the_new_key() -> None:
    old = Keyring.of([K1]).seal(b"v1", "c")
    rotating = Keyring.of([K2, K1])
    assert rotating.open(old, "c") == b"v1"
    assert rotating.sealed_with(rotating.seal(b"v2", "c")) == key_id(K2)
    with pytest.raises(SecretKeyRetired, match=key_id(K1)):
        Keyring.of([K2]).open(old, "c")


def test_the_key_file_is_made_once_with_owner_only_access(tmp_path: Path) -> None:
    ring = load_keyring(tmp_path, env={})
    path = tmp_path / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(tmp_path, env={}).current == ring.current
    path.chmod(0o644)
    with pytest.raises(InputInvalid, match="chmod 600"):
        load_keyring(tmp_path, env={})


def test_the_environment_key_wins_and_bad_keys_are_refused(tmp_path: Path) -> None:
    key = new_key()
    ring = load_keyring(tmp_path, env={ENV_KEY: key})
    assert ring.current == key_id(base64.b64decode(key))
    assert not (tmp_path / "encryption.key").exists()
    for bad in ("not base64!", base64.b64encode(b"short").decode(), " , "):
        with pytest.raises(InputInvalid, match=ENV_KEY):
            load_keyring(tmp_path, env={ENV_KEY: bad})


def test_the_standard_library_hkdf_derives_what_cryptography_does() -> None:
    """Keys sealed before the HKDF moved to the standard library (to keep cryptography out of
    the server's start) still open: both derive the same bytes."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from relayflow.security.secrets import PURPOSE, hkdf_sha256

    for master, info in [(bytes(32), PURPOSE), (bytes(range(32)), b""), (b"\xff" * 32, b"x" * 100)]:
        expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)
        assert hkdf_sha256(master, info) == expected
