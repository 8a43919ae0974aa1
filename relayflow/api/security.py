"""The authentication hook every ``/api/v1`` route depends on.

It lets every request through for now; issue #4 (users, API keys) fills it in, or a deployment
overrides it with ``app.dependency_overrides[authenticate] = ...``.
"""

from __future__ import annotations

from fastapi import Request


async def authenticate(request: Request) -> None:
    """Identify the caller; raises to refuse the request. Accepts everyone until issue #4."""
    return None
