"""The access store: users, projects, memberships, object ownership and shares, credentials,
API keys, login sessions and the audit log. ``relayflow/access/memory.py`` is the in-memory
implementation (embedded tests' fake, the contract's reference); ``relayflow/access/sql.py`` keeps
them in the server's database. The contract suite (tests/contract/test_access_store.py) holds
both to the same behaviour.

Errors: ``Conflict`` for a duplicate (e-mail, a second owner), ``NotFound`` for a missing row
where an update needs one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from relayflow.access.model import (
    ApiKey,
    AuditEntry,
    AuditQuery,
    InstanceRole,
    Member,
    ObjectKind,
    Project,
    ProjectKind,
    ProjectRole,
    Session,
    StoredCredential,
    User,
)
from relayflow.store.ports import Page


class AccessStore(Protocol):
    # users -----------------------------------------------------------------------------------
    async def create_user(self, email: str, name: str, password_hash: str, role: InstanceRole) -> User:
        """The user and their personal project (named after them, the user its admin), in one
        transaction. The e-mail is compared case-insensitively: a duplicate raises Conflict, and
        so does a second ``owner``."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None: ...

    async def users(self) -> list[User]:
        """Every user, oldest first."""

    async def count_users(self) -> int: ...

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: InstanceRole | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Raises NotFound; Conflict when it would make a second owner or remove the owner."""

    async def delete_user(self, user_id: str) -> bool:
        """The user, their personal project (which must own nothing: the caller moves its
        objects first), memberships, API keys and sessions."""

    # projects ----------------------------------------------------------------------------------
    async def create_project(self, name: str, kind: ProjectKind = ProjectKind.TEAM) -> Project: ...

    async def get_project(self, project_id: str) -> Project | None: ...

    async def projects(self, project_ids: Iterable[str] | None = None) -> list[Project]:
        """Those with the given ids (all when None), oldest first."""

    async def rename_project(self, project_id: str, name: str) -> Project: ...

    async def delete_project(self, project_id: str) -> bool:
        """With its memberships and the shares into it (it must own nothing)."""

    async def set_member(self, project_id: str, user_id: str, role: ProjectRole) -> Member: ...

    async def remove_member(self, project_id: str, user_id: str) -> bool: ...

    async def members(self, project_id: str) -> list[Member]: ...

    async def memberships(self, user_id: str) -> dict[str, ProjectRole]:
        """project id -> role, for one user."""

    # ownership and sharing of objects (workflows; credentials carry their project themselves,
    # but are shared the same way) ------------------------------------------------------------------
    async def set_owner(self, kind: ObjectKind, object_id: str, project_id: str) -> None:
        """Give the object to a project (insert or move). For a credential this is its
        ``project_id``."""

    async def owner_of(self, kind: ObjectKind, object_id: str) -> str | None: ...

    async def owners_of(self, kind: ObjectKind, object_ids: Iterable[str]) -> dict[str, str]:
        """object id -> project id, for those that have an owner."""

    async def set_shares(self, kind: ObjectKind, object_id: str, project_ids: Iterable[str]) -> None:
        """Replace the projects the object is shared with."""

    async def shares_of(self, kind: ObjectKind, object_id: str) -> frozenset[str]: ...

    async def visible(self, kind: ObjectKind, project_ids: Iterable[str]) -> set[str]:
        """The ids of objects owned by, or shared with, any of the projects."""

    async def owned_count(self, project_id: str) -> int:
        """How many workflows and credentials the project owns."""

    async def forget(self, kind: ObjectKind, object_id: str) -> None:
        """Drop the object's owner and shares (it was deleted)."""

    async def adopt_unowned(self, kind: ObjectKind, object_ids: Iterable[str], project_id: str) -> int:
        """Give each of ``object_ids`` that has no owner to ``project_id``; how many were."""

    # credentials -------------------------------------------------------------------------------
    async def create_credential(self, credential: StoredCredential) -> StoredCredential:
        """Insert as given (the id is chosen by the caller: it seals the data with it)."""

    async def get_credential(self, credential_id: str) -> StoredCredential | None: ...

    async def credentials(
        self, project_ids: Iterable[str] | None = None, *, type_: str | None = None
    ) -> list[StoredCredential]:
        """Owned by the given projects (all when None), by name."""

    async def update_credential(
        self, credential_id: str, *, name: str | None = None, sealed: str | None = None
    ) -> StoredCredential:
        """Raises NotFound; sets ``updated_at``."""

    async def delete_credential(self, credential_id: str) -> bool:
        """With its shares."""

    # API keys -------------------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKey) -> ApiKey: ...

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """Of one user (all when None), oldest first."""

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """False when unknown or already revoked."""

    # login sessions -------------------------------------------------------------------------------
    async def create_session(self, session: Session) -> Session: ...

    async def get_session(self, session_id: str) -> Session | None: ...

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, expires_at: datetime
    ) -> bool:
        """Replace the refresh hash only if it is still ``old_hash`` and the session is live
        (compare and swap): True for exactly one of racing refreshes."""

    async def revoke_session(self, session_id: str, at: datetime) -> bool: ...

    async def revoke_sessions(self, user_id: str, at: datetime, *, keep: str | None = None) -> int:
        """Revoke every live session of the user but ``keep``; how many were."""

    # audit ----------------------------------------------------------------------------------------
    async def audit(self, entry: AuditEntry) -> AuditEntry:
        """Append; returns the entry with its id. There is no update or delete."""

    async def audit_log(self, query: AuditQuery) -> Page[AuditEntry]:
        """Newest first."""

    async def close(self) -> None: ...
