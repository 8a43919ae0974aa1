"""Credentials as the API and the engine use them: typed, sealed, owned by one project.

- data: a JSON object of the type's fields, sealed as ``keyring.seal(orjson.dumps(fields),
  associated=id)`` (the id is chosen before sealing, so a sealed value copied onto another row
  does not open);
- who may do what (design4.md): a credential the caller cannot see is NotFound; a viewer of its
  project (or a member of a project it is shared with) sees name and type only; editors of the
  owning project read the data with every secret redacted, change, test and delete it; project
  admins share and move it;
- every change, every read of data and every test is audited (never with a secret in it).

The access service is read through a callable at each use: the API's ``services.access`` may be
replaced after the engine was built (tests, the server), and this must follow it.

Decrypted data is cached per (id, updated_at) so that webhook authentication, which resolves a
credential per request, costs no decryption; every change made here bumps ``generation``, which
the vault's resolution cache checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from relayflow.access.memory import new_id
from relayflow.access.model import ObjectKind, Principal, ProjectRole, StoredCredential, object_role
from relayflow.access.ports import AccessStore
from relayflow.access.service import AccessService
from relayflow.credentials import oauth2
from relayflow.credentials.testers import TIMEOUT_S, TestResult
from relayflow.credentials.types import (
    CredentialType,
    check_fields,
    get_type,
    is_oauth2,
    merge,
    redact,
    require_type,
)
from relayflow.errors import Forbidden, InputInvalid, NotFound
from relayflow.security.secrets import Keyring

log = logging.getLogger("relayflow.credentials")

MAX_NAME = 128
OPENED_CACHE_SIZE = 4096
OAUTH2 = "oAuth2Api"


@dataclass(frozen=True)
class Seen:
    """A credential as one caller sees it."""

    credential: StoredCredential
    shared_with: frozenset[str]
    role: ProjectRole
    # the role comes through the owning project (not through a share)
    direct: bool

    @property
    def can_edit(self) -> bool:
        return self.direct and self.role.rank >= ProjectRole.EDITOR.rank


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputInvalid("name: a credential needs a name")
    if len(name.strip()) > MAX_NAME:
        raise InputInvalid(f"name: at most {MAX_NAME} characters")
    if "\x00" in name:  # PostgreSQL text holds no NUL
        raise InputInvalid("name: must not contain NUL")
    return name.strip()


def scrub(message: str, data: Mapping[str, Any], type_: CredentialType) -> str:
    """``message`` without any secret value of ``data`` (a driver may echo what it was given)."""
    for name in type_.secret_fields:
        value = data.get(name)
        values = value.values() if isinstance(value, Mapping) else [value]
        for v in values:
            if isinstance(v, str) and v:
                message = message.replace(v, "***")
    return message


class CredentialService:
    def __init__(self, access: Callable[[], AccessService], *, cache_ttl_s: float = 5.0) -> None:
        self._access = access
        self.cache_ttl_s = cache_ttl_s
        # bumped by every change: caches made before it are stale
        self.generation = 0
        # (id, updated_at) -> (the plaintext JSON, when opened): kept ``cache_ttl_s``
        self._opened: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._refreshing: dict[str, asyncio.Lock] = {}
        # OAuth2 state nonces already used -> their expiry (a state is good once)
        self._used_nonces: dict[str, int] = {}

    @property
    def access(self) -> AccessService:
        return self._access()

    @property
    def store(self) -> AccessStore:
        return self.access.store

    @property
    def keyring(self) -> Keyring:
        return self.access.keyring

    def changed(self) -> None:
        self.generation += 1
        self._opened.clear()

    # sealing ------------------------------------------------------------------------------------
    def seal(self, credential_id: str, fields: Mapping[str, Any]) -> str:
        return self.keyring.seal(orjson.dumps(dict(fields)), credential_id)

    def open(self, credential: StoredCredential) -> dict[str, Any]:
        """The credential's fields (a fresh dict); SecretTampered / SecretKeyRetired when the
        stored value does not open."""
        key = (credential.id, credential.updated_at.isoformat() + credential.sealed[-16:])
        hit = self._opened.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self.cache_ttl_s:
            plain = hit[0]
        else:
            plain = self.keyring.open(credential.sealed, credential.id)
            if len(self._opened) >= OPENED_CACHE_SIZE:
                self._opened.clear()
            self._opened[key] = (plain, now)
        data: dict[str, Any] = orjson.loads(plain)
        return data

    # visibility ---------------------------------------------------------------------------------
    async def seen(self, principal: Principal, credential_id: str) -> Seen:
        """The credential as the caller sees it; NotFound when they cannot see it at all."""
        cred = await self.store.get_credential(credential_id)
        if cred is not None:
            shares = await self.store.shares_of(ObjectKind.CREDENTIAL, cred.id)
            role, direct = object_role(principal, ObjectKind.CREDENTIAL, cred.project_id, shares)
            if role is not None:
                return Seen(cred, shares, role, direct)
        raise NotFound(f"no credential {credential_id!r}")

    async def editable(self, principal: Principal, credential_id: str) -> Seen:
        seen = await self.seen(principal, credential_id)
        if not seen.can_edit:
            raise Forbidden(
                "changing, testing or reading a credential's data needs the editor role in its project"
            )
        return seen

    async def administrable(self, principal: Principal, credential_id: str) -> Seen:
        seen = await self.seen(principal, credential_id)
        if not (seen.direct and seen.role is ProjectRole.ADMIN):
            raise Forbidden("sharing or moving a credential needs the admin role in its project")
        return seen

    async def _project_for(self, principal: Principal, project_id: str | None, minimum: ProjectRole) -> str:
        """A project the caller may put a credential in (NotFound for one they are not in)."""
        project_id = project_id or principal.user.personal_project_id
        role = principal.role_in(project_id)
        if role is None or "\x00" in project_id or await self.store.get_project(project_id) is None:
            raise NotFound(f"no project {project_id!r}")
        if role.rank < minimum.rank:
            raise Forbidden(f"this needs the {minimum.value} role in project {project_id!r}")
        return project_id

    # CRUD ---------------------------------------------------------------------------------------
    async def create(
        self, principal: Principal, *, name: Any, type_: Any, data: Any, project_id: str | None
    ) -> Seen:
        name = check_name(name)
        ctype = require_type(type_ if isinstance(type_, str) else "")
        fields = check_fields(ctype, data)
        project = await self._project_for(principal, project_id, ProjectRole.EDITOR)
        credential_id = new_id()
        now = self.access.now()
        cred = await self.store.create_credential(
            StoredCredential(
                credential_id, name, ctype.name, project, self.seal(credential_id, fields), now, now
            )
        )
        self.changed()
        await self.access.audit(
            "credential.created",
            principal=principal,
            target_kind="credential",
            target_id=cred.id,
            detail={"name": name, "type": ctype.name, "projectId": project},
        )
        return Seen(cred, frozenset(), principal.role_in(project) or ProjectRole.EDITOR, True)

    async def list(
        self, principal: Principal, *, type_: str | None = None, project_id: str | None = None
    ) -> list[Seen]:
        if principal.user.is_instance_admin:
            rows = await self.store.credentials(None, type_=type_)
        else:
            mine = list(principal.projects)
            rows = await self.store.credentials(mine, type_=type_)
            owned = {c.id for c in rows}
            for cid in sorted(await self.store.visible(ObjectKind.CREDENTIAL, mine) - owned):
                cred = await self.store.get_credential(cid)
                if cred is not None and (type_ is None or cred.type == type_):
                    rows.append(cred)
        out = []
        for cred in rows:
            shares = await self.store.shares_of(ObjectKind.CREDENTIAL, cred.id)
            if project_id is not None and project_id != cred.project_id and project_id not in shares:
                continue
            role, direct = object_role(principal, ObjectKind.CREDENTIAL, cred.project_id, shares)
            if role is not None:
                out.append(Seen(cred, shares, role, direct))
        out.sort(key=lambda s: (s.credential.name.lower(), s.credential.id))
        return out

    async def read_data(self, principal: Principal, seen: Seen, *, ip: str | None = None) -> dict[str, Any]:
        """The data with secrets redacted (callers check ``seen.can_edit``); audited."""
        ctype = require_type(seen.credential.type)
        data = redact(ctype, self.open(seen.credential))
        await self.access.audit(
            "credential.read_data",
            principal=principal,
            target_kind="credential",
            target_id=seen.credential.id,
            ip=ip,
        )
        return data

    async def update(
        self,
        principal: Principal,
        credential_id: str,
        *,
        name: Any = None,
        data: Any = None,
        ip: str | None = None,
    ) -> Seen:
        seen = await self.editable(principal, credential_id)
        cred = seen.credential
        sealed = None
        changed: list[str] = []
        if data is not None:
            if not isinstance(data, dict):
                raise InputInvalid("data must be an object of fields")
            ctype = require_type(cred.type)
            fields = check_fields(ctype, merge(self.open(cred), data))
            sealed = self.seal(cred.id, fields)
            changed = sorted(data)
        new_name = check_name(name) if name is not None else None
        updated = await self.store.update_credential(cred.id, name=new_name, sealed=sealed)
        self.changed()
        detail: dict[str, Any] = {"fields": changed}
        if new_name is not None:
            detail["name"] = new_name
        await self.access.audit(
            "credential.updated",
            principal=principal,
            target_kind="credential",
            target_id=cred.id,
            ip=ip,
            detail=detail,
        )
        return Seen(updated, seen.shared_with, seen.role, seen.direct)

    async def delete(self, principal: Principal, credential_id: str, *, ip: str | None = None) -> None:
        seen = await self.editable(principal, credential_id)
        await self.store.delete_credential(credential_id)
        await self.store.forget(ObjectKind.CREDENTIAL, credential_id)
        self.changed()
        await self.access.audit(
            "credential.deleted",
            principal=principal,
            target_kind="credential",
            target_id=credential_id,
            ip=ip,
            detail={"name": seen.credential.name, "type": seen.credential.type},
        )

    async def test(self, principal: Principal, credential_id: str, *, ip: str | None = None) -> TestResult:
        seen = await self.editable(principal, credential_id)
        ctype = require_type(seen.credential.type)
        data = self.open(seen.credential)
        result = await run_tester(ctype, data)
        await self.access.audit(
            "credential.tested",
            principal=principal,
            target_kind="credential",
            target_id=credential_id,
            ip=ip,
            detail={"status": result.status},
        )
        return result

    # sharing -----------------------------------------------------------------------------------
    async def share(
        self, principal: Principal, credential_id: str, project_ids: Iterable[str], *, ip: str | None = None
    ) -> Seen:
        seen = await self.administrable(principal, credential_id)
        wanted = set()
        for pid in project_ids:
            if pid != seen.credential.project_id:
                wanted.add(await self._project_for(principal, pid, ProjectRole.VIEWER))
        await self.store.set_shares(ObjectKind.CREDENTIAL, credential_id, wanted)
        self.changed()
        await self.access.audit(
            "credential.shared",
            principal=principal,
            target_kind="credential",
            target_id=credential_id,
            ip=ip,
            detail={"projectIds": sorted(wanted)},
        )
        return Seen(seen.credential, frozenset(wanted), seen.role, seen.direct)

    async def transfer(
        self, principal: Principal, credential_id: str, project_id: str, *, ip: str | None = None
    ) -> Seen:
        seen = await self.administrable(principal, credential_id)
        if not isinstance(project_id, str) or not project_id:
            raise InputInvalid("projectId: the project to move the credential to")
        target = await self._project_for(principal, project_id, ProjectRole.VIEWER)
        source = seen.credential.project_id
        await self.store.set_owner(ObjectKind.CREDENTIAL, credential_id, target)
        shares = seen.shared_with - {target}
        if shares != seen.shared_with:
            await self.store.set_shares(ObjectKind.CREDENTIAL, credential_id, shares)
        self.changed()
        await self.access.audit(
            "credential.moved",
            principal=principal,
            target_kind="credential",
            target_id=credential_id,
            ip=ip,
            detail={"from": source, "to": target},
        )
        return await self.seen(principal, credential_id)

    # OAuth2 authorization code --------------------------------------------------------------------
    async def authorize(self, principal: Principal, credential_id: str, redirect_uri: str) -> str:
        if not principal.can_write():
            raise Forbidden("connecting a credential needs an API key with the write scope")
        seen = await self.editable(principal, credential_id)
        if not is_oauth2(seen.credential.type):
            raise InputInvalid(f"credential {credential_id!r} is not an OAuth2 credential")
        fields = self.open(seen.credential)
        if fields.get("grantType") != "authorizationCode":
            raise InputInvalid("grantType: only an authorizationCode credential is authorized in a browser")
        if not fields.get("authUrl"):
            raise InputInvalid("data.authUrl is required to authorize")
        verifier, challenge = oauth2.pkce_pair() if fields.get("usePkce") else (None, None)
        state = oauth2.seal_state(self.keyring, credential_id, principal.user.id, verifier=verifier)
        try:
            return oauth2.authorization_url(fields, redirect_uri, state, challenge)
        except oauth2.OAuth2Refused as exc:
            raise InputInvalid(exc.message) from None

    async def callback(
        self, code: str, state: str, redirect_uri: str, *, ip: str | None = None
    ) -> StoredCredential:
        """The authorization server sent the browser back: exchange ``code``, keep the tokens."""
        opened = oauth2.open_state(self.keyring, state)
        self._use_nonce(str(opened.get("nonce")), int(opened["exp"]))
        user = await self.store.get_user(str(opened.get("userId")))
        if user is None or user.disabled:
            raise InputInvalid("state: the user who started the authorization is gone")
        principal = await self.access.principal(user)
        try:
            seen = await self.editable(principal, str(opened["credentialId"]))
        except (NotFound, Forbidden):
            raise InputInvalid("state: the credential is gone, or no longer yours to change") from None
        fields = self.open(seen.credential)
        verifier = opened.get("verifier")
        tokens = await oauth2.exchange_code(
            fields, code, redirect_uri, verifier if isinstance(verifier, str) else None
        )
        updated = await self._store_tokens(seen.credential, fields, tokens)
        await self.access.audit(
            "credential.updated",
            principal=principal,
            target_kind="credential",
            target_id=updated.id,
            ip=ip,
            detail={"fields": ["oauthTokenData"], "oauth2": "connected"},
        )
        return updated

    def _use_nonce(self, nonce: str, exp: int) -> None:
        now = int(time.time())
        for old in [n for n, e in self._used_nonces.items() if e <= now]:
            del self._used_nonces[old]
        if nonce in self._used_nonces:
            raise InputInvalid("state: this authorization was already completed")
        self._used_nonces[nonce] = exp

    async def _store_tokens(
        self, cred: StoredCredential, fields: Mapping[str, Any], tokens: Mapping[str, Any]
    ) -> StoredCredential:
        new_fields = {**fields, "oauthTokenData": dict(tokens)}
        updated = await self.store.update_credential(cred.id, sealed=self.seal(cred.id, new_fields))
        self.changed()
        return updated

    # for the vault --------------------------------------------------------------------------------
    async def data_for_use(self, cred: StoredCredential) -> dict[str, Any]:
        """The fields a node gets: an OAuth2 credential's access token is fetched or refreshed
        first when it is missing or about to expire (and the new one stored)."""
        fields = self.open(cred)
        if not is_oauth2(cred.type) or not oauth2.expired(fields.get("oauthTokenData")):
            return fields
        lock = self._refreshing.setdefault(cred.id, asyncio.Lock())
        async with lock:
            current = await self.store.get_credential(cred.id) or cred
            fields = self.open(current)
            if not oauth2.expired(fields.get("oauthTokenData")):
                return fields  # another caller refreshed it while this one waited
            if fields.get("grantType") == "clientCredentials":
                tokens = await oauth2.client_credentials(fields)
            else:
                tokens = await oauth2.refresh(fields)
            await self._store_tokens(current, fields, tokens)
            log.info("credential %s: OAuth2 access token renewed", cred.id)
            return {**fields, "oauthTokenData": tokens}


async def run_tester(ctype: CredentialType, data: Mapping[str, Any]) -> TestResult:
    """The type's tester under the timeout; its message scrubbed of the credential's secrets."""
    if ctype.tester is None:
        return TestResult(False, f"{ctype.name} credentials cannot be tested")
    try:
        async with asyncio.timeout(TIMEOUT_S):
            result = await ctype.tester(data)
    except TimeoutError:
        result = TestResult(False, f"no answer within {TIMEOUT_S:g} s")
    except Exception as exc:  # a tester's bug or a driver's surprise: still a result
        result = TestResult(False, f"the test failed: {type(exc).__name__}: {exc}")
    return TestResult(result.ok, scrub(result.message, data, ctype))


__all__ = ["CredentialService", "Seen", "get_type", "run_tester"]
