"""``GET /metrics``: the Prometheus text format of this app's metrics (relayflow/metrics.py).

Unauthenticated, like ``/healthz``, until issue #4 decides how scrapes authenticate.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from relayflow.api.deps import Services
from relayflow.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(services: Services) -> Response:
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
