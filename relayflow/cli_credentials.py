"""``relayflow credentials``: maintenance of the stored credentials.

``rotate-key`` re-seals every credential under the keyring's current key. Rotating a key:
put the new key first in ``RELAYFLOW_ENCRYPTION_KEY`` and keep the old one after it
(``NEW,OLD``), restart, run ``relayflow credentials rotate-key``, then drop the old key. Rows
sealed with a key that is no longer listed stop the command (exit 2, naming the credential and
the key) before any row is changed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from relayflow.credentials.rotation import Rotation

EXIT_BAD_INPUT = 2

credentials_app = typer.Typer(help="Maintain stored credentials (key rotation).", no_args_is_help=True)


async def rotate_stored(url: str | None = None) -> Rotation:
    """Rotate the credentials of the database at ``url`` (the environment's by default) under
    the environment's keyring."""
    from relayflow.access.service import AccessService
    from relayflow.access.sql import open_access_store
    from relayflow.credentials.rotation import rotate_keys
    from relayflow.security.secrets import load_keyring
    from relayflow.store.config import database_url, relayflow_home

    keyring = load_keyring(relayflow_home())
    store = await open_access_store(url or database_url())
    try:
        return await rotate_keys(AccessService(store, keyring), actor="cli")
    finally:
        await store.close()


@credentials_app.command("rotate-key")
def rotate_key() -> None:
    """Re-seal every credential under the current key (the first of RELAYFLOW_ENCRYPTION_KEY)."""
    from relayflow.security.secrets import SecretError

    try:
        done = asyncio.run(rotate_stored())
    except SecretError as exc:
        typer.echo(f"relayflow: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(
        f"re-sealed {done.resealed} of {done.total} credentials under key {done.current_key} "
        f"({done.total - done.resealed} were already)"
    )
