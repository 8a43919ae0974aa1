"""One pooled HTTP client session per process, made on first use (aiohttp is imported then, so a
server that never calls out does not pay for it at start), with a circuit breaker per host.

Its connections go through the SSRF guard (``relayflow/security/ssrf_http.py``). The server
hands it to the engine as ``EngineServices.http``; the HTTP Request node takes its session from
it (``relayflow/nodes/http_request/client.py``), so connections are reused across node runs and
executions instead of a new pool per run.

The breakers (``SharedSession.breakers``) live as long as the session, so they are shared by every
execution of the process. A host's breaker opens after ``RELAYFLOW_HTTP_BREAKER_FAILURES``
consecutive failures (connection errors, timeouts, HTTP 5xx; default 5) and stays open
``RELAYFLOW_HTTP_BREAKER_OPEN_S`` seconds (default 30): requests to the host then fail at once.
After that one probe request is let through (half-open): its success closes the breaker, its
failure opens it again. ``relayflow.metrics`` exports every live session's breakers.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relayflow.errors import InputInvalid, NodeError

if TYPE_CHECKING:
    import aiohttp

# connections open at once across all hosts (aiohttp's default is 100)
MAX_CONNECTIONS = 1024
ENV_BREAKER_FAILURES = "RELAYFLOW_HTTP_BREAKER_FAILURES"
ENV_BREAKER_OPEN_S = "RELAYFLOW_HTTP_BREAKER_OPEN_S"
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_OPEN_S = 30.0

# breaker states, as the metric reports them
CLOSED, OPEN, HALF_OPEN = 0, 1, 2


class CircuitOpen(NodeError):
    code = "circuit_open"


@dataclass
class _Circuit:
    state: int = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    opens: int = 0
    probing: bool = False


class CircuitBreakers:
    """One breaker per host (``host`` or ``host:port``). Not thread-safe: one event loop."""

    def __init__(
        self,
        failures: int = DEFAULT_BREAKER_FAILURES,
        open_s: float = DEFAULT_BREAKER_OPEN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = max(failures, 1)
        self.open_s = max(open_s, 0.0)
        self.clock = clock
        self._hosts: dict[str, _Circuit] = {}
        _BOARDS.add(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CircuitBreakers:
        return cls(
            int(_number(env, ENV_BREAKER_FAILURES, DEFAULT_BREAKER_FAILURES)),
            _number(env, ENV_BREAKER_OPEN_S, DEFAULT_BREAKER_OPEN_S),
        )

    def state(self, host: str) -> int:
        c = self._hosts.get(host)
        if c is None:
            return CLOSED
        if c.state == OPEN and self.clock() - c.opened_at >= self.open_s:
            return HALF_OPEN
        return c.state

    def before(self, host: str) -> None:
        """Call before a request to ``host``: raises ``CircuitOpen`` when it may not go out."""
        c = self._hosts.get(host)
        if c is None or c.state == CLOSED:
            return
        left = c.opened_at + self.open_s - self.clock()
        if c.state == OPEN and left <= 0:
            c.state, c.probing = HALF_OPEN, False
        if c.state == HALF_OPEN and not c.probing:
            c.probing = True  # this request is the probe
            return
        wait_s = max(math.ceil(left), 1)
        raise CircuitOpen(
            f"circuit open for host {host}, retry after {wait_s} s "
            f"({c.failures} consecutive failures; a probe request is let through after the cool-down)",
            retryable=True,
        )

    def success(self, host: str) -> None:
        c = self._hosts.get(host)
        if c is not None:
            c.state, c.failures, c.probing = CLOSED, 0, False

    def failure(self, host: str) -> None:
        c = self._hosts.setdefault(host, _Circuit())
        c.failures += 1
        if c.state == HALF_OPEN or (c.state == CLOSED and c.failures >= self.failures):
            c.state, c.opened_at, c.probing = OPEN, self.clock(), False
            c.opens += 1

    def release(self, host: str) -> None:
        """The request ended with neither success nor failure (cancelled): free the probe slot."""
        c = self._hosts.get(host)
        if c is not None:
            c.probing = False

    def snapshot(self) -> Iterator[tuple[str, int, int]]:
        """(host, state, times opened) of every host seen to fail."""
        for host, c in list(self._hosts.items()):
            yield host, self.state(host), c.opens


# every live board, for the metrics (relayflow.metrics reads them at each scrape)
_BOARDS: weakref.WeakSet[CircuitBreakers] = weakref.WeakSet()


def circuit_states() -> dict[str, tuple[int, int]]:
    """host → (state, times opened) across the live boards of this process (the worst state)."""
    out: dict[str, tuple[int, int]] = {}
    for board in list(_BOARDS):
        for host, state, opens in board.snapshot():
            old_state, old_opens = out.get(host, (CLOSED, 0))
            out[host] = (max(old_state, state), old_opens + opens)
    return out


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputInvalid(f"{name} must be a number, got {text!r}") from None
    if not value >= 0:
        raise InputInvalid(f"{name} must not be negative, got {text!r}")
    return value


class SharedSession:
    def __init__(
        self, max_connections: int = MAX_CONNECTIONS, breakers: CircuitBreakers | None = None
    ) -> None:
        self.max_connections = max_connections
        self.breakers = breakers if breakers is not None else CircuitBreakers.from_env()
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
