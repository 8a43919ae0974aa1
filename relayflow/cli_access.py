"""``relayflow user ...`` and ``relayflow api-key ...``: accounts on the server's database
(``RELAYFLOW_DATABASE_URL``, or the SQLite file under ``RELAYFLOW_HOME``), for the first start and
for scripts.

- ``relayflow user create --owner --email E [--name N] [--password-stdin]``: the password comes
  from stdin (one line) or from ``RELAYFLOW_OWNER_PASSWORD``, never from the command line (it
  would show in the process list and the shell history).
- ``relayflow api-key create --email E --name N [--scopes read,write,admin] [--expires-in-days D]``
  prints only the key on stdout, so ``KEY=$(relayflow api-key create ...)`` captures it.

Bad input exits 2 with one line on stderr (``relayflow.cli.main`` turns UserErrors into that).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from relayflow.access.model import InstanceRole, Scope
from relayflow.errors import Forbidden, InputInvalid, NotFound

if TYPE_CHECKING:  # the service (and the SQL store) load only when a command runs
    from relayflow.access.service import AccessService

T = TypeVar("T")

PASSWORD_ENV = "RELAYFLOW_OWNER_PASSWORD"

user_app = typer.Typer(help="Create users (the owner on first start).", no_args_is_help=True)
api_key_app = typer.Typer(help="Create API keys for scripts.", no_args_is_help=True)


def with_access(work: Callable[[AccessService], Awaitable[T]]) -> T:
    """Open the access store of the configured database, run ``work``, close it."""
    from relayflow.access.service import AccessService
    from relayflow.access.sql import open_access_store
    from relayflow.security.secrets import Keyring
    from relayflow.store.config import database_url

    async def go() -> T:
        store = await open_access_store(database_url())
        try:
            # users and keys need no encryption key: nothing here is sealed or signed
            return await work(AccessService(store, Keyring.of([secrets.token_bytes(32)])))
        finally:
            await store.close()

    return asyncio.run(go())


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputInvalid("--password-stdin: no password on stdin")
        return password
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise InputInvalid(f"give the password on stdin with --password-stdin, or in {PASSWORD_ENV}")
    return password


def parse_scopes(text: str | None) -> frozenset[Scope] | None:
    if text is None:
        return None
    scopes = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            scopes.add(Scope(part))
        except ValueError:
            raise InputInvalid(f"--scopes: unknown scope {part!r} (read, write, admin)") from None
    if not scopes:
        raise InputInvalid("--scopes: name at least one of read, write, admin")
    return frozenset(scopes)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option("--email", help="The user's e-mail (their login).")],
    name: Annotated[str, typer.Option("--name", help="Display name (default: the e-mail).")] = "",
    owner: Annotated[
        bool, typer.Option("--owner", help="The instance owner: only while there are no users.")
    ] = False,
    role: Annotated[
        str, typer.Option("--role", help="admin or member (ignored with --owner).")
    ] = InstanceRole.MEMBER.value,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help=f"Read the password from stdin, not {PASSWORD_ENV}.")
    ] = False,
) -> None:
    """Create a user; prints `id  email  role`."""
    if not owner and role not in (InstanceRole.ADMIN.value, InstanceRole.MEMBER.value):
        raise InputInvalid(f"--role must be admin or member, not {role!r} (the owner: --owner)")
    from relayflow.access.service import check_email, check_password

    # refuse bad input before the database is opened (and migrated)
    check_email(email)
    password = read_password(password_stdin)
    check_password(password)

    async def create(access: AccessService) -> str:
        if owner:
            user = await access.setup_owner(email, name, password)
        else:
            user = await access.create_user(email, name, password, InstanceRole(role))
        await access.audit(
            "user.created",
            actor="cli",
            target_kind="user",
            target_id=user.id,
            detail={"email": user.email, "role": user.role.value, "via": "cli"},
        )
        return f"{user.id}  {user.email}  {user.role.value}"

    typer.echo(with_access(create))


@api_key_app.command("create")
def api_key_create(
    email: Annotated[str, typer.Option("--email", help="The user the key acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scopes: Annotated[
        str | None,
        typer.Option(
            "--scopes", help="Comma-separated: read, write, admin (default: all the user may have)."
        ),
    ] = None,
    expires_in_days: Annotated[
        float | None, typer.Option("--expires-in-days", help="Expire after this many days (default: never).")
    ] = None,
) -> None:
    """Create an API key; prints only the key (shown this once)."""
    wanted = parse_scopes(scopes)
    if expires_in_days is not None and expires_in_days <= 0:
        raise InputInvalid(f"--expires-in-days must be positive, not {expires_in_days:g}")

    from relayflow.access.service import user_scopes

    async def issue(access: AccessService) -> str:
        user = await access.store.user_by_email(email)
        if user is None:
            raise NotFound(f"no user with the e-mail {email.strip().lower()!r}")
        allowed = user_scopes(user)
        chosen = wanted if wanted is not None else allowed
        if not chosen <= allowed:
            raise Forbidden(
                f"{user.email} is a {user.role.value}: a key of theirs cannot have the admin scope"
            )
        expires = access.now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
        issued = await access.issue_api_key(user, name, chosen, expires)
        await access.audit(
            "apikey.created",
            actor="cli",
            target_kind="apikey",
            target_id=issued.key.id,
            detail={"userId": user.id, "name": issued.key.name, "scopes": sorted(s.value for s in chosen)},
        )
        return issued.token

    typer.echo(with_access(issue))
