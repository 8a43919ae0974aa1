"""``GET /audit``: the append-only audit log, newest first, for instance owners and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from relayflow.access.model import AuditEntry, AuditQuery
from relayflow.api.deps import NO_NUL, JsonResponse, Services, text_query
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal
from relayflow.api.users import require_instance_admin

router = APIRouter(tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    action: str
    actorId: str | None
    actor: str = Field(description="The e-mail, or `api-key:<id>`, as it was; a failed login's e-mail.")
    targetKind: str | None
    targetId: str | None
    ip: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    data: list[AuditOut]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "action": entry.action,
        "actorId": entry.actor_id,
        "actor": entry.actor,
        "targetKind": entry.target_kind,
        "targetId": entry.target_id,
        "ip": entry.ip,
        "detail": dict(entry.detail),
    }


@router.get("/audit", response_model=AuditPage, responses=problems(401, 403, 422))
async def audit_log(
    services: Services,
    principal: CurrentPrincipal,
    action: Annotated[
        str | None, text_query("An action (`auth.login`), or a prefix ending in `.` (`credential.`).")
    ] = None,
    actor_id: Annotated[
        str | None, Query(alias="actorId", pattern=NO_NUL, description="The acting user's id.")
    ] = None,
    target_id: Annotated[
        str | None, Query(alias="targetId", pattern=NO_NUL, description="The id of what was acted on.")
    ] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=250, description="Page size.")] = 50,
    cursor: Annotated[str | None, text_query("`nextCursor` of the previous page.")] = None,
) -> JsonResponse:
    """Audit entries, newest first."""
    require_instance_admin(principal)
    query = AuditQuery(
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    page = await services.access.store.audit_log(query)
    return JsonResponse({"data": [audit_json(e) for e in page.items], "nextCursor": page.next_cursor})
