"""The engine's ``CredentialVault``: the credential a node's reference names, if its workflow may
use it.

Resolution (design4.md): the node's ``credentials[type]`` is n8n's ``{"id", "name"}``. The id
wins when that credential exists, has the wanted type and is usable; otherwise the name is looked
up among the credentials of that type owned by the workflow's project, then among those shared
with it. Usable means owned by the workflow's project or shared with it; a workflow with no owning
project uses none. Anything else is ``CredentialUnavailable``, naming the type and the name,
never the data.

Resolutions are cached for a few seconds (webhook authentication asks once per request); any
change made through the credential service drops them (``generation``). A change made by another
process (or a workflow moved to another project) is seen within the TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from relayflow.access.model import ObjectKind, StoredCredential
from relayflow.credentials import oauth2
from relayflow.credentials.service import CredentialService
from relayflow.credentials.types import is_oauth2
from relayflow.errors import CredentialUnavailable
from relayflow.security.secrets import SecretError

log = logging.getLogger("relayflow.credentials")

CACHE_SIZE = 4096


def _ref_parts(ref: Mapping[str, Any] | str | None) -> tuple[str | None, str | None]:
    if isinstance(ref, str):  # old exports: credentials: {"type": "name"}
        return None, ref
    if not isinstance(ref, Mapping):
        return None, None
    cid, name = ref.get("id"), ref.get("name")
    # an id the database could not compare (PostgreSQL text holds no NUL) names nothing
    usable_id = str(cid) if cid not in (None, "") and "\x00" not in str(cid) else None
    return usable_id, str(name) if name not in (None, "") else None


class StoreCredentialVault:
    def __init__(self, service: CredentialService, *, ttl_s: float = 5.0) -> None:
        self.service = service
        self.ttl_s = ttl_s
        # (workflow, type, id, name) -> (generation, monotonic, credential, plaintext JSON)
        self._cache: dict[
            tuple[str | None, str, str | None, str | None], tuple[int, float, StoredCredential, bytes]
        ] = {}

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        cid, name = _ref_parts(ref)
        key = (workflow_id, type_, cid, name)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.service.generation and time.monotonic() - hit[1] < self.ttl_s:
            data: dict[str, Any] = orjson.loads(hit[3])
            if not is_oauth2(type_) or not oauth2.expired(data.get("oauthTokenData")):
                return data
        generation = self.service.generation
        cred = await self._resolve(type_, cid, name, workflow_id)
        label = f"{type_} credential {name or cid!r}"
        try:
            data = await self.service.data_for_use(cred)
        except SecretError as exc:
            log.error("%s (%s) cannot be decrypted: %s", label, cred.id, exc)
            raise CredentialUnavailable(f"{label} cannot be decrypted: {exc.message}") from exc
        except oauth2.OAuth2Refused as exc:
            raise CredentialUnavailable(f"{label}: no access token: {exc.message}") from None
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        if generation == self.service.generation:
            self._cache[key] = (generation, time.monotonic(), cred, orjson.dumps(data))
        return data

    async def _resolve(
        self, type_: str, cid: str | None, name: str | None, workflow_id: str | None
    ) -> StoredCredential:
        store = self.service.store
        unavailable = CredentialUnavailable(
            f"{type_} credential {name or cid or '(unnamed)'!r} is not available to this workflow: "
            "it does not exist, is of another type, or is neither in the workflow's project nor shared with it"
        )
        project = await store.owner_of(ObjectKind.WORKFLOW, workflow_id) if workflow_id else None
        if project is None:
            raise unavailable
        if cid is not None:
            cred = await store.get_credential(cid)
            if cred is not None and cred.type == type_ and await self._usable(cred, project):
                return cred
        if name is None:
            raise unavailable
        owned = await store.credentials([project], type_=type_)
        for cred in owned:
            if cred.name == name:
                return cred
        owned_ids = {c.id for c in owned}
        for shared_id in sorted(await store.visible(ObjectKind.CREDENTIAL, [project]) - owned_ids):
            cred = await store.get_credential(shared_id)
            if cred is not None and cred.type == type_ and cred.name == name:
                return cred
        raise unavailable

    async def _usable(self, cred: StoredCredential, project: str) -> bool:
        if cred.project_id == project:
            return True
        return project in await self.service.store.shares_of(ObjectKind.CREDENTIAL, cred.id)
