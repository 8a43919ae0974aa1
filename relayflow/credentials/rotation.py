"""Key rotation: re-seal every credential under the keyring's current key.

Run as ``relayflow credentials rotate-key`` (relayflow/cli_credentials.py) once the new key is
first in ``RELAYFLOW_ENCRYPTION_KEY`` and the old one follows it. Every row to re-seal is opened
before any is written, so a row the keyring cannot open stops the rotation with nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from relayflow.access.model import StoredCredential
from relayflow.access.service import AccessService
from relayflow.security.secrets import SecretKeyRetired, SecretTampered


@dataclass(frozen=True)
class Rotation:
    total: int
    resealed: int
    current_key: str


async def rotate_keys(access: AccessService, *, actor: str = "cli") -> Rotation:
    """Re-seal every credential not sealed with the keyring's current key.

    Every row to re-seal is opened first: a row sealed with a key no longer in the keyring
    (SecretKeyRetired, naming the credential and the key) or a tampered one (SecretTampered)
    stops the rotation before any row is written."""
    keyring = access.keyring
    rows = await access.store.credentials(None)
    pending: list[tuple[StoredCredential, bytes]] = []
    for cred in rows:
        kid = keyring.sealed_with(cred.sealed)
        if kid == keyring.current:
            continue
        if kid not in keyring.key_ids:
            raise SecretKeyRetired(
                f"credential {cred.id} ({cred.name!r}) is sealed with key {kid}, which is not in "
                f"the keyring: add it to RELAYFLOW_ENCRYPTION_KEY (after the current key) and rotate again"
            )
        try:
            pending.append((cred, keyring.open(cred.sealed, cred.id)))
        except SecretTampered as exc:
            raise SecretTampered(f"credential {cred.id} ({cred.name!r}): {exc.message}") from None
    for cred, plain in pending:
        old = keyring.sealed_with(cred.sealed)
        await access.store.update_credential(cred.id, sealed=keyring.seal(plain, cred.id))
        await access.audit(
            "credential.rotated",
            actor=actor,
            target_kind="credential",
            target_id=cred.id,
            detail={"fromKey": old, "toKey": keyring.current},
        )
    return Rotation(total=len(rows), resealed=len(pending), current_key=keyring.current)
