"""One pooled HTTP client session per process, made on first use (aiohttp is imported then, so a
server that never calls out does not pay for it at start).

Its connections go through the SSRF guard (``relayflow/security/ssrf_http.py``). The server
hands it to the engine as ``EngineServices.http``; the HTTP Request node takes its session from it (``relayflow/nodes/http_request/client.py``), so connections are reused across
node runs and executions instead of a new pool per run.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

# connections open at once across all hosts (aiohttp's default is 100)
MAX_CONNECTIONS = 1024


class SharedSession:
    def __init__(self, max_connections: int = MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            async with self._lock:
                if self._session is None or self._session.closed:
                    from relayflow.security.ssrf_http import guarded_session

                    self._session = guarded_session(limit=self.max_connections)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
