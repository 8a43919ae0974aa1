"""The access store on SQL (SQLite or PostgreSQL), in the tables of ``store/sql/models.py``.

The database keeps the rules that racing requests could break:
- one user per e-mail (stored lower-cased, unique) and one owner (a partial unique index on
  ``role = 'owner'``): of two racing creates, one insert fails and answers Conflict;
- a user comes with their personal project and its admin membership in one transaction;
- deleting a user cascades (foreign keys) to their personal project, memberships, API keys and
  sessions, and deleting a project to its memberships and the shares into it; a project that
  still owns a workflow or a credential cannot be deleted (those foreign keys do not cascade), so
  nothing is ever left with an owner that does not exist;
- a refresh rotates a session with one compare-and-swap UPDATE, so of two refreshes presenting
  the same token exactly one wins.

Lists are sorted here, not by the database: the databases' collations order text differently.
One module for the whole port (over the 400 lines we aim for), as memory.py is: split by table,
the transactions that span tables (a user with their project) would have no home.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relayflow.access.memory import OWNS_SOMETHING, audit_cursor, new_id
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
    Scope,
    Session,
    StoredCredential,
    User,
)
from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import Conflict, NotFound
from relayflow.store.common import check_limit, utc
from relayflow.store.ports import Page
from relayflow.store.sql.db import Database, create_engine
from relayflow.store.sql.migrate import upgrade_engine
from relayflow.store.sql.models import (
    api_keys,
    audit_log,
    credentials,
    object_owners,
    object_shares,
    project_members,
    projects,
    sessions,
    users,
)

# ids per IN (...) or rows per INSERT: far below SQLite's and PostgreSQL's parameter limits
_CHUNK = 500


def _chunks(values: Iterable[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(values))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        role=InstanceRole(row.role),
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled=bool(row.disabled),
        personal_project_id=row.personal_project_id,
    )


def _project(row: Row[Any]) -> Project:
    return Project(row.id, row.name, ProjectKind(row.kind), row.created_at, owner_id=row.owner_id)


def _credential(row: Row[Any]) -> StoredCredential:
    return StoredCredential(
        row.id, row.name, row.type, row.project_id, row.sealed, row.created_at, row.updated_at
    )


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        secret_hash=row.secret_hash,
        scopes=frozenset(Scope(s) for s in row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _session(row: Row[Any]) -> Session:
    return Session(row.id, row.user_id, row.refresh_hash, row.created_at, row.expires_at, row.revoked_at)


def _audit_entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        at=row.at,
        action=row.action,
        actor_id=row.actor_id,
        actor=row.actor,
        target_kind=row.target_kind,
        target_id=row.target_id,
        ip=row.ip,
        detail=row.detail,
        id=row.id,
    )


def _audit_filters(query: AuditQuery) -> list[ColumnElement[bool]]:
    c = audit_log.c
    where: list[ColumnElement[bool]] = []
    if query.action is not None:
        if query.action.endswith("."):
            # substr, not LIKE: SQLite's LIKE ignores case, and "_" would be a wildcard
            where.append(func.substr(c.action, 1, len(query.action)) == query.action)
        else:
            where.append(c.action == query.action)
    if query.actor_id is not None:
        where.append(c.actor_id == query.actor_id)
    if query.target_id is not None:
        where.append(c.target_id == query.target_id)
    if query.since is not None:
        where.append(c.at >= utc(query.since))
    if query.until is not None:
        where.append(c.at < utc(query.until))
    return where


def _object(kind: ObjectKind, object_id: str, table: Any = object_owners) -> ColumnElement[bool]:
    return (table.c.kind == kind.value) & (table.c.object_id == object_id)  # type: ignore[no-any-return]


class SqlAccessStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    def _now(self) -> datetime:
        return utc(self._clock.now())

    async def _one(self, stmt: Any) -> Row[Any] | None:
        async with self._db.read() as conn:
            return (await conn.execute(stmt)).first()

    async def _all(self, stmt: Any) -> Sequence[Row[Any]]:
        async with self._db.read() as conn:
            return (await conn.execute(stmt)).all()

    # users -----------------------------------------------------------------------------------
    async def create_user(self, email: str, name: str, password_hash: str, role: InstanceRole) -> User:
        email = email.strip().lower()
        now = self._now()
        user_id, project_id = new_id(), new_id()
        user = User(user_id, email, name, role, password_hash, now, now, personal_project_id=project_id)
        project = Project(project_id, name or email, ProjectKind.PERSONAL, now, owner_id=user_id)
        try:
            async with self._db.write() as conn:
                # checked first for the message; the unique indexes decide between racing creates
                await _refuse_duplicate(conn, email, role)
                await conn.execute(insert(users).values(dataclasses.asdict(user)))
                await conn.execute(insert(projects).values(dataclasses.asdict(project)))
                member = {"project_id": project.id, "user_id": user_id, "role": ProjectRole.ADMIN.value}
                await conn.execute(insert(project_members).values(member))
        except IntegrityError as exc:
            async with self._db.read() as conn:
                await _refuse_duplicate(conn, email, role)
            raise Conflict(f"a user with the e-mail {email!r} or the owner exists") from exc
        return user

    async def get_user(self, user_id: str) -> User | None:
        row = await self._one(select(users).where(users.c.id == user_id))
        return _user(row) if row is not None else None

    async def user_by_email(self, email: str) -> User | None:
        row = await self._one(select(users).where(users.c.email == email.strip().lower()))
        return _user(row) if row is not None else None

    async def users(self) -> list[User]:
        found = [_user(r) for r in await self._all(select(users))]
        return sorted(found, key=lambda u: (u.created_at, u.id))

    async def count_users(self) -> int:
        async with self._db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(users)) or 0)

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: InstanceRole | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        changes: dict[str, Any] = {"updated_at": self._now()}
        for column, value in (("name", name), ("password_hash", password_hash), ("disabled", disabled)):
            if value is not None:
                changes[column] = value
        async with self._db.write() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
            if row is None:
                raise NotFound(f"no user {user_id!r}")
            if role is not None and role.value != row.role:
                # the owner stays the owner; the partial unique index would refuse a second one
                if row.role == InstanceRole.OWNER.value:
                    raise Conflict("the owner's role cannot change")
                if role is InstanceRole.OWNER:
                    raise Conflict("the instance already has an owner")
                changes["role"] = role.value
            await conn.execute(update(users).where(users.c.id == user_id).values(**changes))
            row = (await conn.execute(select(users).where(users.c.id == user_id))).one()
        return _user(row)

    async def delete_user(self, user_id: str) -> bool:
        """The foreign keys take the personal project, memberships, keys and sessions along."""
        try:
            async with self._db.write() as conn:
                result = await conn.execute(delete(users).where(users.c.id == user_id))
        except IntegrityError as exc:
            raise Conflict(f"the user's personal project still owns something: {OWNS_SOMETHING}") from exc
        return bool(result.rowcount)

    # projects ----------------------------------------------------------------------------------
    async def create_project(self, name: str, kind: ProjectKind = ProjectKind.TEAM) -> Project:
        project = Project(new_id(), name, kind, self._now())
        async with self._db.write() as conn:
            await conn.execute(insert(projects).values(dataclasses.asdict(project)))
        return project

    async def get_project(self, project_id: str) -> Project | None:
        row = await self._one(select(projects).where(projects.c.id == project_id))
        return _project(row) if row is not None else None

    async def projects(self, project_ids: Iterable[str] | None = None) -> list[Project]:
        if project_ids is None:
            rows = list(await self._all(select(projects)))
        else:
            rows = []
            for chunk in _chunks(project_ids):
                rows += await self._all(select(projects).where(projects.c.id.in_(chunk)))
        return sorted((_project(r) for r in rows), key=lambda p: (p.created_at, p.id))

    async def rename_project(self, project_id: str, name: str) -> Project:
        async with self._db.write() as conn:
            await conn.execute(update(projects).where(projects.c.id == project_id).values(name=name))
            row = (await conn.execute(select(projects).where(projects.c.id == project_id))).first()
        if row is None:
            raise NotFound(f"no project {project_id!r}")
        return _project(row)

    async def delete_project(self, project_id: str) -> bool:
        try:
            async with self._db.write() as conn:
                result = await conn.execute(delete(projects).where(projects.c.id == project_id))
        except IntegrityError as exc:
            raise Conflict(OWNS_SOMETHING) from exc
        return bool(result.rowcount)

    async def set_member(self, project_id: str, user_id: str, role: ProjectRole) -> Member:
        stmt = self._db.upsert(project_members, ("project_id", "user_id"), ("role",))
        try:
            async with self._db.write() as conn:
                await _require(conn, projects.c.id, project_id, "project")
                await _require(conn, users.c.id, user_id, "user")
                await conn.execute(stmt, {"project_id": project_id, "user_id": user_id, "role": role.value})
        except IntegrityError as exc:  # deleted meanwhile
            raise NotFound(f"no project {project_id!r} or no user {user_id!r}") from exc
        return Member(project_id, user_id, role)

    async def remove_member(self, project_id: str, user_id: str) -> bool:
        c = project_members.c
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(project_members).where(c.project_id == project_id, c.user_id == user_id)
            )
        return bool(result.rowcount)

    async def members(self, project_id: str) -> list[Member]:
        rows = await self._all(select(project_members).where(project_members.c.project_id == project_id))
        found = [Member(r.project_id, r.user_id, ProjectRole(r.role)) for r in rows]
        return sorted(found, key=lambda m: m.user_id)

    async def memberships(self, user_id: str) -> dict[str, ProjectRole]:
        c = project_members.c
        rows = await self._all(select(c.project_id, c.role).where(c.user_id == user_id))
        return {r.project_id: ProjectRole(r.role) for r in rows}

    # ownership and sharing -----------------------------------------------------------------------
    async def set_owner(self, kind: ObjectKind, object_id: str, project_id: str) -> None:
        try:
            async with self._db.write() as conn:
                await _require(conn, projects.c.id, project_id, "project")
                if kind is ObjectKind.CREDENTIAL:
                    result = await conn.execute(
                        update(credentials).where(credentials.c.id == object_id).values(project_id=project_id)
                    )
                    if not result.rowcount:
                        raise NotFound(f"no credential {object_id!r}")
                    return
                stmt = self._db.upsert(object_owners, ("kind", "object_id"), ("project_id",))
                await conn.execute(
                    stmt, {"kind": kind.value, "object_id": object_id, "project_id": project_id}
                )
        except IntegrityError as exc:  # the project was deleted meanwhile
            raise NotFound(f"no project {project_id!r}") from exc

    async def owner_of(self, kind: ObjectKind, object_id: str) -> str | None:
        return (await self.owners_of(kind, [object_id])).get(object_id)

    async def owners_of(self, kind: ObjectKind, object_ids: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        stmt: Select[tuple[str, str]]
        for chunk in _chunks(object_ids):
            if kind is ObjectKind.CREDENTIAL:
                c = credentials.c
                stmt = select(c.id.label("object_id"), c.project_id).where(c.id.in_(chunk))
            else:
                o = object_owners.c
                stmt = select(o.object_id, o.project_id).where(o.kind == kind.value, o.object_id.in_(chunk))
            out.update({r.object_id: r.project_id for r in await self._all(stmt)})
        return out

    async def set_shares(self, kind: ObjectKind, object_id: str, project_ids: Iterable[str]) -> None:
        wanted = sorted(set(project_ids))
        rows = [{"kind": kind.value, "object_id": object_id, "project_id": p} for p in wanted]
        try:
            async with self._db.write() as conn:
                known = set(
                    (await conn.execute(select(projects.c.id).where(projects.c.id.in_(wanted)))).scalars()
                )
                unknown = [p for p in wanted if p not in known]
                if unknown:
                    raise NotFound(f"no project {unknown[0]!r}")
                await conn.execute(delete(object_shares).where(_object(kind, object_id, object_shares)))
                if rows:
                    await conn.execute(insert(object_shares), rows)
        except IntegrityError as exc:  # a project was deleted meanwhile
            raise NotFound("a project to share with was deleted") from exc

    async def shares_of(self, kind: ObjectKind, object_id: str) -> frozenset[str]:
        stmt = select(object_shares.c.project_id).where(_object(kind, object_id, object_shares))
        return frozenset(r[0] for r in await self._all(stmt))

    async def visible(self, kind: ObjectKind, project_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        s = object_shares.c
        for chunk in _chunks(project_ids):
            if kind is ObjectKind.CREDENTIAL:
                owned = select(credentials.c.id).where(credentials.c.project_id.in_(chunk))
            else:
                o = object_owners.c
                owned = select(o.object_id).where(o.kind == kind.value, o.project_id.in_(chunk))
            shared = select(s.object_id).where(s.kind == kind.value, s.project_id.in_(chunk))
            out.update(r[0] for r in await self._all(owned.union(shared)))
        return out

    async def owned_count(self, project_id: str) -> int:
        owned = (
            select(func.count()).select_from(object_owners).where(object_owners.c.project_id == project_id)
        )
        creds = select(func.count()).select_from(credentials).where(credentials.c.project_id == project_id)
        async with self._db.read() as conn:
            return int(await conn.scalar(owned) or 0) + int(await conn.scalar(creds) or 0)

    async def forget(self, kind: ObjectKind, object_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(object_owners).where(_object(kind, object_id)))
            await conn.execute(delete(object_shares).where(_object(kind, object_id, object_shares)))

    async def adopt_unowned(self, kind: ObjectKind, object_ids: Iterable[str], project_id: str) -> int:
        """A credential always has its project: there is none to adopt."""
        if kind is ObjectKind.CREDENTIAL:
            return 0
        stmt = self._db.insert_ignoring(object_owners, ("kind", "object_id")).returning(
            object_owners.c.object_id
        )
        adopted = 0
        try:
            async with self._db.write() as conn:
                await _require(conn, projects.c.id, project_id, "project")
                for chunk in _chunks(object_ids):
                    rows = [{"kind": kind.value, "object_id": o, "project_id": project_id} for o in chunk]
                    adopted += len((await conn.execute(stmt, rows)).all())
        except IntegrityError as exc:
            raise NotFound(f"no project {project_id!r}") from exc
        return adopted

    # credentials -------------------------------------------------------------------------------
    async def create_credential(self, credential: StoredCredential) -> StoredCredential:
        try:
            async with self._db.write() as conn:
                await _require(conn, projects.c.id, credential.project_id, "project")
                await conn.execute(insert(credentials).values(dataclasses.asdict(credential)))
        except IntegrityError as exc:
            raise Conflict(f"a credential {credential.id!r} exists") from exc
        return credential

    async def get_credential(self, credential_id: str) -> StoredCredential | None:
        row = await self._one(select(credentials).where(credentials.c.id == credential_id))
        return _credential(row) if row is not None else None

    async def credentials(
        self, project_ids: Iterable[str] | None = None, *, type_: str | None = None
    ) -> list[StoredCredential]:
        base = select(credentials)
        if type_ is not None:
            base = base.where(credentials.c.type == type_)
        if project_ids is None:
            rows = list(await self._all(base))
        else:
            rows = []
            for chunk in _chunks(project_ids):
                rows += await self._all(base.where(credentials.c.project_id.in_(chunk)))
        return sorted((_credential(r) for r in rows), key=lambda c: (c.name, c.id))

    async def update_credential(
        self, credential_id: str, *, name: str | None = None, sealed: str | None = None
    ) -> StoredCredential:
        changes: dict[str, Any] = {"updated_at": self._now()}
        if name is not None:
            changes["name"] = name
        if sealed is not None:
            changes["sealed"] = sealed
        where = credentials.c.id == credential_id
        async with self._db.write() as conn:
            await conn.execute(update(credentials).where(where).values(**changes))
            row = (await conn.execute(select(credentials).where(where))).first()
        if row is None:
            raise NotFound(f"no credential {credential_id!r}")
        return _credential(row)

    async def delete_credential(self, credential_id: str) -> bool:
        async with self._db.write() as conn:
            shares = _object(ObjectKind.CREDENTIAL, credential_id, object_shares)
            await conn.execute(delete(object_shares).where(shares))
            result = await conn.execute(delete(credentials).where(credentials.c.id == credential_id))
        return bool(result.rowcount)

    # API keys -------------------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKey) -> ApiKey:
        try:
            async with self._db.write() as conn:
                await _require(conn, users.c.id, key.user_id, "user")
                row = dataclasses.asdict(key) | {"scopes": sorted(s.value for s in key.scopes)}
                await conn.execute(insert(api_keys).values(row))
        except IntegrityError as exc:
            raise Conflict(f"an API key {key.id!r} exists") from exc
        return key

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        row = await self._one(select(api_keys).where(api_keys.c.id == key_id))
        return _api_key(row) if row is not None else None

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        stmt = select(api_keys)
        if user_id is not None:
            stmt = stmt.where(api_keys.c.user_id == user_id)
        found = [_api_key(r) for r in await self._all(stmt)]
        return sorted(found, key=lambda k: (k.created_at, k.id))

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        c = api_keys.c
        stmt = update(api_keys).where(c.id == key_id, c.revoked_at.is_(None)).values(revoked_at=utc(at))
        async with self._db.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    # login sessions -------------------------------------------------------------------------------
    async def create_session(self, session: Session) -> Session:
        try:
            async with self._db.write() as conn:
                await _require(conn, users.c.id, session.user_id, "user")
                await conn.execute(insert(sessions).values(dataclasses.asdict(session)))
        except IntegrityError as exc:
            raise Conflict(f"a session {session.id!r} exists") from exc
        return session

    async def get_session(self, session_id: str) -> Session | None:
        row = await self._one(select(sessions).where(sessions.c.id == session_id))
        return _session(row) if row is not None else None

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, expires_at: datetime
    ) -> bool:
        """One UPDATE whose WHERE is the compare: a racing refresh finds the hash already changed
        (PostgreSQL re-checks the WHERE on the row the first one committed)."""
        c = sessions.c
        stmt = (
            update(sessions)
            .where(
                c.id == session_id,
                c.refresh_hash == old_hash,
                c.revoked_at.is_(None),
                c.expires_at > self._now(),
            )
            .values(refresh_hash=new_hash, expires_at=utc(expires_at))
        )
        async with self._db.write() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    async def revoke_session(self, session_id: str, at: datetime) -> bool:
        c = sessions.c
        stmt = update(sessions).where(c.id == session_id, c.revoked_at.is_(None)).values(revoked_at=utc(at))
        async with self._db.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def revoke_sessions(self, user_id: str, at: datetime, *, keep: str | None = None) -> int:
        c = sessions.c
        stmt = update(sessions).where(c.user_id == user_id, c.revoked_at.is_(None))
        if keep is not None:
            stmt = stmt.where(c.id != keep)
        async with self._db.write() as conn:
            result = await conn.execute(stmt.values(revoked_at=utc(at)))
        return int(result.rowcount or 0)

    # audit ----------------------------------------------------------------------------------------
    async def audit(self, entry: AuditEntry) -> AuditEntry:
        entry = dataclasses.replace(entry, at=utc(entry.at), detail=dict(entry.detail))
        row = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry) if f.name != "id"}
        async with self._db.write() as conn:
            entry_id = (
                await conn.execute(insert(audit_log).values(row).returning(audit_log.c.id))
            ).scalar_one()
        return dataclasses.replace(entry, id=int(entry_id))

    async def audit_log(self, query: AuditQuery) -> Page[AuditEntry]:
        limit = check_limit(query.limit)
        before = audit_cursor(query.cursor)
        where = _audit_filters(query)
        if before is not None:
            where.append(audit_log.c.id < before)
        stmt = select(audit_log).where(*where).order_by(audit_log.c.id.desc()).limit(limit + 1)
        found = [_audit_entry(r) for r in await self._all(stmt)]
        page = found[:limit]
        return Page(items=page, next_cursor=str(page[-1].id) if len(found) > limit else None)

    async def close(self) -> None:
        await self._db.release()


async def _refuse_duplicate(conn: AsyncConnection, email: str, role: InstanceRole) -> None:
    if await conn.scalar(select(users.c.id).where(users.c.email == email)) is not None:
        raise Conflict(f"a user with the e-mail {email!r} exists")
    owner = select(users.c.id).where(users.c.role == InstanceRole.OWNER.value)
    if role is InstanceRole.OWNER and await conn.scalar(owner) is not None:
        raise Conflict("the instance already has an owner")


async def _require(conn: AsyncConnection, column: Any, value: str, what: str) -> None:
    """NotFound unless a row has ``column == value`` (a clearer answer than the foreign key's)."""
    if await conn.scalar(select(column).where(column == value)) is None:
        raise NotFound(f"no {what} {value!r}")


async def open_access_store(url: str, *, clock: Clock | None = None) -> SqlAccessStore:
    """The store on its own engine for ``url`` (migrated); close it to dispose the engine."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlAccessStore(Database(engine), clock)
