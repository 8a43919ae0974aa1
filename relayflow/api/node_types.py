"""``/node-types``: the node catalogue and each type's parameter schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from relayflow.api.deps import JsonResponse, PathId, Services
from relayflow.api.schemas import NodeTypeList, NodeTypeOut, problems
from relayflow.errors import NotFound

router = APIRouter(prefix="/node-types", tags=["node-types"])


@router.get("", response_model=NodeTypeList)
async def list_node_types(services: Services) -> JsonResponse:
    """Every node type (newest and older versions), without parameter schemas."""
    described = [spec.describe() for spec in services.registry]
    return JsonResponse({"data": [{k: v for k, v in d.items() if k != "parameters"} for d in described]})


@router.get("/{node_type:path}", response_model=NodeTypeOut, responses=problems(404, 422))
async def get_node_type(
    services: Services,
    node_type: PathId,
    version: Annotated[int | None, Query(ge=1, description="Our version; the newest if absent.")] = None,
) -> JsonResponse:
    """One node type with its parameter JSON Schema; n8n type names resolve to ours."""
    found = sorted(services.registry.find(node_type), key=lambda s: s.version)
    if version is not None:
        found = [s for s in found if s.version == version]
    if not found:
        suffix = f" version {version}" if version is not None else ""
        raise NotFound(f"unknown node type {node_type!r}{suffix}")
    return JsonResponse(found[-1].describe())
