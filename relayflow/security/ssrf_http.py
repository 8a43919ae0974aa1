"""The SSRF guard in the HTTP client: a connector that checks every address it is about to
connect to (see ssrf.py). Imports aiohttp: load it only where HTTP is used."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from relayflow.security.ssrf import AllowList, check


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose resolution step (DNS answers, cached answers and IP literals alike,
    for the first request and every redirect hop) only hands on addresses the guard allows: the
    connection is made to exactly those."""

    def __init__(self, allow: AllowList, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow = allow

    async def _resolve_host(self, host: str, port: int, traces: Sequence[Any] | None = None) -> list[Any]:
        found: list[Any] = await super()._resolve_host(host, port, traces)
        check(host, [str(f["host"]) for f in found], port, self.allow)
        return found


def guarded_session(*, limit: int = 100, env: Mapping[str, str] = os.environ) -> aiohttp.ClientSession:
    """A client session behind the guard, with ``RELAYFLOW_HTTP_ALLOW``'s exceptions."""
    return aiohttp.ClientSession(connector=GuardedConnector(AllowList.from_env(env), limit=limit))
