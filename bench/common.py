"""Shared helpers for the benchmark scripts: timing, RSS, loop-lag probe, medians, JSON output,
and the owner and API key of a server the script starts."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

OWNER_EMAIL = "bench@relayflow.test"
# the scripts read every execution back, page by page, with one key: the per-key request limit
# is not what they measure
UNLIMITED = {"RELAYFLOW_RATE_LIMIT_PER_MINUTE": "1000000000"}


def owner_api_key(env: Mapping[str, str]) -> str:
    """Set the database ``env`` names (``RELAYFLOW_HOME`` or ``RELAYFLOW_DATABASE_URL``) up as an
    operator does before the first start: the owner, then an API key of theirs (the CLI prints
    only the key). Returns the key, to send as ``X-API-Key``."""
    cli = [sys.executable, "-m", "relayflow.cli"]
    owner_env = {**env, "RELAYFLOW_OWNER_PASSWORD": secrets.token_urlsafe(16)}
    owner = [*cli, "user", "create", "--owner", "--email", OWNER_EMAIL, "--name", "Bench"]
    subprocess.run(owner, env=owner_env, check=True, capture_output=True)
    key = [*cli, "api-key", "create", "--email", OWNER_EMAIL, "--name", "bench"]
    return subprocess.run(key, env=dict(env), check=True, capture_output=True, text=True).stdout.strip()


def rss_mb() -> float:
    """Current resident set size in MiB (Linux)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def summary(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {
        "median": round(statistics.median(s), 4),
        "min": round(s[0], 4),
        "max": round(s[-1], 4),
        "p90": round(s[min(len(s) - 1, int(len(s) * 0.9))], 4),
    }


class LoopLagProbe:
    """Measures how long the event loop was blocked: a task that wakes every ``interval_s``."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.max_lag_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.interval_s)
            lag = (loop.time() - t - self.interval_s) * 1000
            self.max_lag_ms = max(self.max_lag_ms, lag)

    def __enter__(self) -> LoopLagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def emit(name: str, figures: dict[str, Any]) -> None:
    out = {"scenario": name, "machine": machine(), **figures}
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def node(name: str, type_: str, version: float, params: dict[str, Any], x: int, y: int = 0) -> dict[str, Any]:
    return {"name": name, "type": type_, "typeVersion": version, "position": [x, y], "parameters": params}


def link(conns: dict[str, Any], src: str, dst: str, out: int = 0, inp: int = 0) -> None:
    outs = conns.setdefault(src, {"main": []})["main"]
    while len(outs) <= out:
        outs.append([])
    outs[out].append({"node": dst, "type": "main", "index": inp})


def set_params(name: str, value: Any, type_: str = "number") -> dict[str, Any]:
    """Set v3.4 parameters assigning one field (value may be an expression string)."""
    return {
        "assignments": {"assignments": [{"id": "a", "name": name, "value": value, "type": type_}]},
        "includeOtherFields": True,
        "options": {},
    }
