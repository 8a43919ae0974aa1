"""Workflows on SQL: every save writes the row and an immutable version in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relayflow.engine.memory import SystemClock
from relayflow.engine.ports import Clock
from relayflow.errors import Conflict, NotFound
from relayflow.store.common import (
    check_limit,
    clean_tags,
    decode_cursor,
    encode_cursor,
    new_version_id,
    new_workflow_id,
    synced_data,
    utc,
    workflow_name,
)
from relayflow.store.ports import Page, StoredWorkflow, WorkflowQuery, WorkflowVersion
from relayflow.store.sql.db import Database
from relayflow.store.sql.models import static_data, workflow_tags, workflow_versions, workflows
from relayflow.store.sql.models import tags as tags_t

# the static_data row of the workflow's whole static data ({"global": ..., "node:<name>": ...})
GLOBAL_STATIC = ""

_VERSION_COLUMNS = (
    workflow_versions.c.workflow_id,
    workflow_versions.c.version_id,
    workflow_versions.c.created_at,
    workflow_versions.c.name,
)


class SqlWorkflowStore:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db.acquire()
        self._clock = clock or SystemClock()

    def _now(self) -> datetime:
        return utc(self._clock.now())

    async def create(self, data: dict[str, Any], *, tags: Sequence[str] = ()) -> StoredWorkflow:
        wf_id, now, names = new_workflow_id(), self._now(), clean_tags(tags)
        active = bool(data.get("active", False)) if isinstance(data, dict) else False
        row = _row(wf_id, data, created=now, now=now, active=active, tags=names)
        async with self._db.write() as conn:
            await conn.execute(workflows.insert().values(**_columns(row)))
            await self._add_version(conn, row)
            await self._set_tags(conn, wf_id, names)
        return row

    async def get(self, workflow_id: str) -> StoredWorkflow | None:
        async with self._db.read() as conn:
            found = (await conn.execute(select(workflows).where(workflows.c.id == workflow_id))).first()
            if found is None:
                return None
            names = await _tags_of(conn, [workflow_id])
            static = await conn.scalar(
                select(static_data.c.data).where(
                    static_data.c.workflow_id == workflow_id, static_data.c.node == GLOBAL_STATIC
                )
            )
        stored = _stored(found, names.get(workflow_id, ()))
        if static is not None:
            stored.data["staticData"] = static
        return stored

    async def save_static_data(self, workflow_id: str, data: Mapping[str, Any]) -> None:
        """The executions' static data of the workflow (not a new version); gone with it."""
        row = {"workflow_id": workflow_id, "node": GLOBAL_STATIC, "data": dict(data)}
        try:
            async with self._db.write() as conn:
                await conn.execute(self._db.upsert(static_data, ["workflow_id", "node"], ["data"]), row)
        except IntegrityError:  # the workflow was deleted meanwhile
            return

    async def load_static_data(self, workflow_id: str) -> dict[str, Any] | None:
        async with self._db.read() as conn:
            static = await conn.scalar(
                select(static_data.c.data).where(
                    static_data.c.workflow_id == workflow_id, static_data.c.node == GLOBAL_STATIC
                )
            )
        return dict(static) if isinstance(static, Mapping) else None

    async def find(self, query: WorkflowQuery) -> Page[StoredWorkflow]:
        limit = check_limit(query.limit)
        if query.ids is not None and not query.ids:
            return Page([])
        stmt = select(workflows).order_by(workflows.c.updated_at.desc(), workflows.c.id.desc())
        if query.ids is not None:
            # one expanding parameter (a placeholder per id): the ids a caller may see
            stmt = stmt.where(workflows.c.id.in_(sorted(query.ids)))
        if query.name:
            stmt = stmt.where(func.lower(workflows.c.name).contains(query.name.lower(), autoescape=True))
        if query.tag is not None:
            tagged = (
                select(workflow_tags.c.workflow_id)
                .join(tags_t, tags_t.c.id == workflow_tags.c.tag_id)
                .where(workflow_tags.c.workflow_id == workflows.c.id, tags_t.c.name == query.tag)
            )
            stmt = stmt.where(exists(tagged))
        if query.active is not None:
            stmt = stmt.where(workflows.c.active.is_(query.active))
        if query.cursor is not None:
            at, last_id = decode_cursor(query.cursor)
            stmt = stmt.where(
                or_(
                    workflows.c.updated_at < at,
                    and_(workflows.c.updated_at == at, workflows.c.id < last_id),
                )
            )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.limit(limit + 1))).all()
            names = await _tags_of(conn, [r.id for r in rows[:limit]])
        items = [_stored(r, names.get(r.id, ())) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].updated_at, items[-1].id) if more else None)

    async def update(
        self,
        workflow_id: str,
        data: dict[str, Any],
        *,
        expected_version: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> StoredWorkflow:
        names = None if tags is None else clean_tags(tags)
        async with self._db.write() as conn:
            old = await self._locked(conn, workflow_id)
            if expected_version is not None and expected_version != old.version_id:
                raise Conflict(f"workflow {workflow_id} was changed since version {expected_version}")
            if names is None:
                names = (await _tags_of(conn, [workflow_id])).get(workflow_id, ())
            row = _row(
                workflow_id, data, created=old.created_at, now=self._now(), active=old.active, tags=names
            )
            await conn.execute(update(workflows).where(workflows.c.id == workflow_id).values(**_columns(row)))
            await self._add_version(conn, row)
            if tags is not None:
                await self._set_tags(conn, workflow_id, names)
        return row

    async def set_active(self, workflow_id: str, active: bool) -> StoredWorkflow:
        async with self._db.write() as conn:
            old = await self._locked(conn, workflow_id)
            data = {**old.data, "active": active}
            now = self._now()
            await conn.execute(
                update(workflows)
                .where(workflows.c.id == workflow_id)
                .values(active=active, updated_at=now, data=data)
            )
            names = (await _tags_of(conn, [workflow_id])).get(workflow_id, ())
        return StoredWorkflow(workflow_id, old.name, active, old.version_id, old.created_at, now, names, data)

    async def _locked(self, conn: AsyncConnection, workflow_id: str) -> Row[Any]:
        stmt = select(workflows).where(workflows.c.id == workflow_id).with_for_update()
        found = (await conn.execute(stmt)).first()
        if found is None:
            raise NotFound(f"no workflow {workflow_id!r}")
        return found

    async def delete(self, workflow_id: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(workflows).where(workflows.c.id == workflow_id))
        return bool(result.rowcount)

    async def versions(self, workflow_id: str) -> list[WorkflowVersion]:
        stmt = (
            select(*_VERSION_COLUMNS)
            .where(workflow_versions.c.workflow_id == workflow_id)
            .order_by(workflow_versions.c.seq.desc())
        )
        async with self._db.read() as conn:
            known = await conn.scalar(select(workflows.c.id).where(workflows.c.id == workflow_id))
            if known is None:
                raise NotFound(f"no workflow {workflow_id!r}")
            rows = (await conn.execute(stmt)).all()
        return [WorkflowVersion(*r) for r in rows]

    async def version(self, workflow_id: str, version_id: str) -> WorkflowVersion | None:
        stmt = select(*_VERSION_COLUMNS, workflow_versions.c.data).where(
            workflow_versions.c.workflow_id == workflow_id, workflow_versions.c.version_id == version_id
        )
        async with self._db.read() as conn:
            found = (await conn.execute(stmt)).first()
        return WorkflowVersion(*found) if found else None

    async def close(self) -> None:
        await self._db.release()

    async def _add_version(self, conn: AsyncConnection, row: StoredWorkflow) -> None:
        await conn.execute(
            workflow_versions.insert().values(
                workflow_id=row.id,
                version_id=row.version_id,
                created_at=row.updated_at,
                name=row.name,
                data=row.data,
            )
        )

    async def _set_tags(self, conn: AsyncConnection, workflow_id: str, names: Sequence[str]) -> None:
        await conn.execute(delete(workflow_tags).where(workflow_tags.c.workflow_id == workflow_id))
        if not names:
            return
        await conn.execute(self._db.insert_ignoring(tags_t, ["name"]), [{"name": n} for n in names])
        ids = (await conn.execute(select(tags_t.c.id).where(tags_t.c.name.in_(names)))).scalars()
        await conn.execute(workflow_tags.insert(), [{"workflow_id": workflow_id, "tag_id": i} for i in ids])


def _row(
    wf_id: str, data: dict[str, Any], *, created: datetime, now: datetime, active: bool, tags: tuple[str, ...]
) -> StoredWorkflow:
    name = workflow_name(data) if isinstance(data, dict) else ""
    version_id = new_version_id()
    synced = synced_data(data, id_=wf_id, name=name, active=active, version_id=version_id)
    return StoredWorkflow(wf_id, name, active, version_id, created, now, tags, synced)


def _columns(row: StoredWorkflow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "active": row.active,
        "version_id": row.version_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "data": row.data,
    }


def _stored(r: Row[Any], names: tuple[str, ...]) -> StoredWorkflow:
    return StoredWorkflow(r.id, r.name, r.active, r.version_id, r.created_at, r.updated_at, names, r.data)


async def _tags_of(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    if not ids:
        return {}
    stmt = (
        select(workflow_tags.c.workflow_id, tags_t.c.name)
        .join(tags_t, tags_t.c.id == workflow_tags.c.tag_id)
        .where(workflow_tags.c.workflow_id.in_(ids))
        .order_by(tags_t.c.name)
    )
    out: dict[str, list[str]] = {}
    for wf_id, name in (await conn.execute(stmt)).all():
        out.setdefault(wf_id, []).append(name)
    return {k: tuple(v) for k, v in out.items()}
