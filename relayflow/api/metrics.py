"""``GET /metrics``: the Prometheus text format of this app's metrics (relayflow/metrics.py).

Outside ``/api/v1`` but not open: a scraper authenticates like any API client (an API key of an
instance owner or admin, the ``read`` scope is enough), since the metrics tell about every
project's work.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from relayflow.api.deps import Services
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal
from relayflow.errors import Forbidden
from relayflow.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problems(401, 403),
    },
)
async def metrics(services: Services, principal: CurrentPrincipal) -> Response:
    if not principal.user.is_instance_admin:
        raise Forbidden("the metrics are for instance owners and admins")
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
