"""``/healthz`` (the process answers) and ``/readyz`` (its stores answer); no authentication."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from relayflow.api.deps import JsonResponse, Services
from relayflow.api.problems import ProblemResponse, problem
from relayflow.api.schemas import Status, problems

router = APIRouter(tags=["health"])
log = logging.getLogger("relayflow.api")

READY_TIMEOUT_S = 5.0


@router.get("/healthz", response_model=Status)
async def healthz() -> JsonResponse:
    return JsonResponse({"status": "ok"})


@router.get("/readyz", response_model=Status, responses=problems(503))
async def readyz(services: Services) -> JsonResponse | ProblemResponse:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await services.ready()
    except Exception as exc:
        log.warning("not ready: %s", exc)
        return problem(503, "not_ready", f"a store does not answer: {exc}", instance="/readyz")
    return JsonResponse({"status": "ok"})
