from __future__ import annotations

import os

import pytest

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import InstanceRole, Principal, ProjectRole
from relayflow.access.service import AccessService, fast_hasher
from relayflow.credentials.service import CredentialService
from relayflow.security.secrets import Keyring


@pytest.fixture
def access() -> AccessService:
    return AccessService(MemoryAccessStore(), Keyring.of([os.urandom(32)]), hasher=fast_hasher())


@pytest.fixture
def service(access: AccessService) -> CredentialService:
    return CredentialService(lambda: access)


async def person(access: AccessService, email: str, role: InstanceRole = InstanceRole.MEMBER) -> Principal:
    user = await access.create_user(email, email.split("@")[0], "password-123", role)
    return await access.principal(user)


async def join(access: AccessService, who: Principal, project_id: str, role: ProjectRole) -> Principal:
    await access.store.set_member(project_id, who.user.id, role)
    access.changed()
    return await access.principal(who.user)
