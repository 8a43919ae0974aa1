"""The access store in memory: the embedded tests' fake and the contract suite's reference."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from datetime import datetime

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
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import Conflict, InputInvalid, NotFound
from relayflow.store.common import check_limit, utc
from relayflow.store.ports import Page

# a project that owns something cannot be deleted: nothing may point at an owner that is gone
OWNS_SOMETHING = "the project still owns workflows or credentials: move them first"


def new_id() -> str:
    return str(uuid.uuid4())


def audit_matches(entry: AuditEntry, query: AuditQuery) -> bool:
    if query.action is not None:
        if query.action.endswith("."):
            if not entry.action.startswith(query.action):
                return False
        elif entry.action != query.action:
            return False
    if query.actor_id is not None and entry.actor_id != query.actor_id:
        return False
    if query.target_id is not None and entry.target_id != query.target_id:
        return False
    if query.since is not None and entry.at < utc(query.since):
        return False
    return not (query.until is not None and entry.at >= utc(query.until))


def audit_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        value = int(cursor)
    except ValueError:
        raise InputInvalid(f"not a cursor of this list: {cursor!r}") from None
    if value < 0:
        raise InputInvalid(f"not a cursor of this list: {cursor!r}")
    return value


class MemoryAccessStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._users: dict[str, User] = {}
        self._projects: dict[str, Project] = {}
        self._members: dict[tuple[str, str], Member] = {}  # (project, user)
        self._owners: dict[tuple[ObjectKind, str], str] = {}
        self._shares: dict[tuple[ObjectKind, str], set[str]] = {}
        self._credentials: dict[str, StoredCredential] = {}
        self._keys: dict[str, ApiKey] = {}
        self._sessions: dict[str, Session] = {}
        self._audit: list[AuditEntry] = []

    def _now(self) -> datetime:
        return utc(self._clock.now())

    def _require_project(self, project_id: str) -> None:
        if project_id not in self._projects:
            raise NotFound(f"no project {project_id!r}")

    # users -----------------------------------------------------------------------------------
    async def create_user(self, email: str, name: str, password_hash: str, role: InstanceRole) -> User:
        email = email.strip().lower()
        if any(u.email == email for u in self._users.values()):
            raise Conflict(f"a user with the e-mail {email!r} exists")
        if role is InstanceRole.OWNER and any(u.role is InstanceRole.OWNER for u in self._users.values()):
            raise Conflict("the instance already has an owner")
        now = self._now()
        user_id = new_id()
        project = Project(new_id(), name or email, ProjectKind.PERSONAL, now, owner_id=user_id)
        user = User(user_id, email, name, role, password_hash, now, now, personal_project_id=project.id)
        self._projects[project.id] = project
        self._users[user_id] = user
        self._members[(project.id, user_id)] = Member(project.id, user_id, ProjectRole.ADMIN)
        return user

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def user_by_email(self, email: str) -> User | None:
        email = email.strip().lower()
        return next((u for u in self._users.values() if u.email == email), None)

    async def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: (u.created_at, u.id))

    async def count_users(self) -> int:
        return len(self._users)

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: InstanceRole | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        if role is not None and role != user.role:
            if user.role is InstanceRole.OWNER:
                raise Conflict("the owner's role cannot change")
            if role is InstanceRole.OWNER:
                raise Conflict("the instance already has an owner")
        changes: dict[str, object] = {"updated_at": self._now()}
        if name is not None:
            changes["name"] = name
        if role is not None:
            changes["role"] = role
        if password_hash is not None:
            changes["password_hash"] = password_hash
        if disabled is not None:
            changes["disabled"] = disabled
        updated = dataclasses.replace(user, **changes)  # type: ignore[arg-type]
        self._users[user_id] = updated
        return updated

    async def delete_user(self, user_id: str) -> bool:
        user = self._users.get(user_id)
        if user is None:
            return False
        if user.personal_project_id and await self.owned_count(user.personal_project_id):
            raise Conflict(f"the user's personal project still owns something: {OWNS_SOMETHING}")
        del self._users[user_id]
        for key in [k for k in self._members if k[1] == user_id]:
            del self._members[key]
        if user.personal_project_id:
            await self.delete_project(user.personal_project_id)
        for key_id in [k.id for k in self._keys.values() if k.user_id == user_id]:
            del self._keys[key_id]
        for sid in [s.id for s in self._sessions.values() if s.user_id == user_id]:
            del self._sessions[sid]
        return True

    # projects ----------------------------------------------------------------------------------
    async def create_project(self, name: str, kind: ProjectKind = ProjectKind.TEAM) -> Project:
        project = Project(new_id(), name, kind, self._now())
        self._projects[project.id] = project
        return project

    async def get_project(self, project_id: str) -> Project | None:
        return self._projects.get(project_id)

    async def projects(self, project_ids: Iterable[str] | None = None) -> list[Project]:
        rows = self._projects.values()
        if project_ids is not None:
            wanted = set(project_ids)
            rows = [p for p in rows if p.id in wanted]  # type: ignore[assignment]
        return sorted(rows, key=lambda p: (p.created_at, p.id))

    async def rename_project(self, project_id: str, name: str) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise NotFound(f"no project {project_id!r}")
        renamed = dataclasses.replace(project, name=name)
        self._projects[project_id] = renamed
        return renamed

    async def delete_project(self, project_id: str) -> bool:
        if project_id not in self._projects:
            return False
        if await self.owned_count(project_id):
            raise Conflict(OWNS_SOMETHING)
        del self._projects[project_id]
        for key in [k for k in self._members if k[0] == project_id]:
            del self._members[key]
        for shared in self._shares.values():
            shared.discard(project_id)
        return True

    async def set_member(self, project_id: str, user_id: str, role: ProjectRole) -> Member:
        if project_id not in self._projects:
            raise NotFound(f"no project {project_id!r}")
        if user_id not in self._users:
            raise NotFound(f"no user {user_id!r}")
        member = Member(project_id, user_id, role)
        self._members[(project_id, user_id)] = member
        return member

    async def remove_member(self, project_id: str, user_id: str) -> bool:
        return self._members.pop((project_id, user_id), None) is not None

    async def members(self, project_id: str) -> list[Member]:
        return sorted(
            (m for m in self._members.values() if m.project_id == project_id), key=lambda m: m.user_id
        )

    async def memberships(self, user_id: str) -> dict[str, ProjectRole]:
        return {m.project_id: m.role for m in self._members.values() if m.user_id == user_id}

    # ownership and sharing -----------------------------------------------------------------------
    async def set_owner(self, kind: ObjectKind, object_id: str, project_id: str) -> None:
        self._require_project(project_id)
        if kind is ObjectKind.CREDENTIAL:
            cred = self._credentials.get(object_id)
            if cred is None:
                raise NotFound(f"no credential {object_id!r}")
            self._credentials[object_id] = dataclasses.replace(cred, project_id=project_id)
            return
        self._owners[(kind, object_id)] = project_id

    async def owner_of(self, kind: ObjectKind, object_id: str) -> str | None:
        if kind is ObjectKind.CREDENTIAL:
            cred = self._credentials.get(object_id)
            return cred.project_id if cred is not None else None
        return self._owners.get((kind, object_id))

    async def owners_of(self, kind: ObjectKind, object_ids: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for object_id in object_ids:
            owner = await self.owner_of(kind, object_id)
            if owner is not None:
                out[object_id] = owner
        return out

    async def set_shares(self, kind: ObjectKind, object_id: str, project_ids: Iterable[str]) -> None:
        wanted = set(project_ids)
        unknown = wanted - set(self._projects)
        if unknown:
            raise NotFound(f"no project {sorted(unknown)[0]!r}")
        if wanted:
            self._shares[(kind, object_id)] = wanted
        else:
            self._shares.pop((kind, object_id), None)

    async def shares_of(self, kind: ObjectKind, object_id: str) -> frozenset[str]:
        return frozenset(self._shares.get((kind, object_id), ()))

    async def visible(self, kind: ObjectKind, project_ids: Iterable[str]) -> set[str]:
        wanted = set(project_ids)
        if kind is ObjectKind.CREDENTIAL:
            out = {c.id for c in self._credentials.values() if c.project_id in wanted}
        else:
            out = {oid for (k, oid), pid in self._owners.items() if k is kind and pid in wanted}
        out |= {oid for (k, oid), pids in self._shares.items() if k is kind and pids & wanted}
        return out

    async def owned_count(self, project_id: str) -> int:
        owned = sum(1 for pid in self._owners.values() if pid == project_id)
        return owned + sum(1 for c in self._credentials.values() if c.project_id == project_id)

    async def forget(self, kind: ObjectKind, object_id: str) -> None:
        self._owners.pop((kind, object_id), None)
        self._shares.pop((kind, object_id), None)

    async def adopt_unowned(self, kind: ObjectKind, object_ids: Iterable[str], project_id: str) -> int:
        if kind is ObjectKind.CREDENTIAL:  # a credential always has its project
            return 0
        self._require_project(project_id)
        adopted = 0
        for object_id in object_ids:
            if (kind, object_id) not in self._owners:
                self._owners[(kind, object_id)] = project_id
                adopted += 1
        return adopted

    # credentials -------------------------------------------------------------------------------
    async def create_credential(self, credential: StoredCredential) -> StoredCredential:
        self._require_project(credential.project_id)
        if credential.id in self._credentials:
            raise Conflict(f"a credential {credential.id!r} exists")
        self._credentials[credential.id] = credential
        return credential

    async def get_credential(self, credential_id: str) -> StoredCredential | None:
        return self._credentials.get(credential_id)

    async def credentials(
        self, project_ids: Iterable[str] | None = None, *, type_: str | None = None
    ) -> list[StoredCredential]:
        rows = list(self._credentials.values())
        if project_ids is not None:
            wanted = set(project_ids)
            rows = [c for c in rows if c.project_id in wanted]
        if type_ is not None:
            rows = [c for c in rows if c.type == type_]
        return sorted(rows, key=lambda c: (c.name, c.id))

    async def update_credential(
        self, credential_id: str, *, name: str | None = None, sealed: str | None = None
    ) -> StoredCredential:
        cred = self._credentials.get(credential_id)
        if cred is None:
            raise NotFound(f"no credential {credential_id!r}")
        updated = dataclasses.replace(
            cred,
            name=cred.name if name is None else name,
            sealed=cred.sealed if sealed is None else sealed,
            updated_at=self._now(),
        )
        self._credentials[credential_id] = updated
        return updated

    async def delete_credential(self, credential_id: str) -> bool:
        self._shares.pop((ObjectKind.CREDENTIAL, credential_id), None)
        return self._credentials.pop(credential_id, None) is not None

    # API keys -------------------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKey) -> ApiKey:
        if key.user_id not in self._users:
            raise NotFound(f"no user {key.user_id!r}")
        if key.id in self._keys:
            raise Conflict(f"an API key {key.id!r} exists")
        self._keys[key.id] = key
        return key

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        rows = [k for k in self._keys.values() if user_id is None or k.user_id == user_id]
        return sorted(rows, key=lambda k: (k.created_at, k.id))

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        key = self._keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._keys[key_id] = dataclasses.replace(key, revoked_at=utc(at))
        return True

    # login sessions -------------------------------------------------------------------------------
    async def create_session(self, session: Session) -> Session:
        if session.user_id not in self._users:
            raise NotFound(f"no user {session.user_id!r}")
        if session.id in self._sessions:
            raise Conflict(f"a session {session.id!r} exists")
        self._sessions[session.id] = session
        return session

    async def get_session(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, expires_at: datetime
    ) -> bool:
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None or session.refresh_hash != old_hash:
            return False
        if session.expires_at <= self._now():
            return False
        self._sessions[session_id] = dataclasses.replace(
            session, refresh_hash=new_hash, expires_at=utc(expires_at)
        )
        return True

    async def revoke_session(self, session_id: str, at: datetime) -> bool:
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._sessions[session_id] = dataclasses.replace(session, revoked_at=utc(at))
        return True

    async def revoke_sessions(self, user_id: str, at: datetime, *, keep: str | None = None) -> int:
        count = 0
        for session in list(self._sessions.values()):
            if session.user_id == user_id and session.id != keep and session.revoked_at is None:
                self._sessions[session.id] = dataclasses.replace(session, revoked_at=utc(at))
                count += 1
        return count

    # audit ----------------------------------------------------------------------------------------
    async def audit(self, entry: AuditEntry) -> AuditEntry:
        stored = dataclasses.replace(
            entry, id=len(self._audit) + 1, at=utc(entry.at), detail=dict(entry.detail)
        )
        self._audit.append(stored)
        return stored

    async def audit_log(self, query: AuditQuery) -> Page[AuditEntry]:
        limit = check_limit(query.limit)
        before = audit_cursor(query.cursor)
        out: list[AuditEntry] = []
        for entry in reversed(self._audit):
            if before is not None and entry.id >= before:
                continue
            if audit_matches(entry, query):
                out.append(entry)
                if len(out) > limit:
                    break
        more = len(out) > limit
        page = out[:limit]
        return Page(items=page, next_cursor=str(page[-1].id) if more else None)

    async def close(self) -> None:
        return None
