"""Running untrusted Python (the Python Code node) in a pool of sandboxed worker processes.

Layers, outermost first (details in ``launch``, ``worker.main`` and docs/code-node-python.md):

1. bubblewrap: all namespaces unshared (no network), a read-only filesystem of only the Python
   install and /usr, a tmpfs /tmp, uid 65534 without capabilities, started with an empty
   environment; killed with its parent.
2. seccomp (pyseccomp over libseccomp): no new processes or programs, no ptrace, no signals to
   other processes, no sockets but AF_UNIX, no mounts, namespaces, keyrings, BPF or io_uring.
3. rlimits: address space, CPU time, file size, open files, processes.
4. a wall-clock deadline that SIGKILLs the sandbox, and a cap on printed text plus returned items.
5. an import policy: the standard library plus ``RELAYFLOW_CODE_ALLOW_MODULES`` (a policy, not a
   boundary: the layers above are the boundary).

Invariants: one run per worker process (a fresh interpreter each time, workers pre-started so
runs do not wait for one); a run never degrades to an unsandboxed process unless the operator
set ``RELAYFLOW_CODE_UNSAFE=1``, and then a warning is logged; the event loop never blocks on a
worker (runs happen in a thread, and cancelling the awaiting task kills the worker).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from typing import Any

from relayflow.sandbox.pool import (
    Job,
    SandboxCrashed,
    SandboxError,
    SandboxOutputTooLarge,
    SandboxTimeout,
    SandboxUnavailable,
    WorkerPool,
)
from relayflow.sandbox.settings import SandboxSettings

__all__ = [
    "SandboxCrashed",
    "SandboxError",
    "SandboxOutputTooLarge",
    "SandboxSettings",
    "SandboxTimeout",
    "SandboxUnavailable",
    "WorkerPool",
    "close_pool",
    "get_pool",
    "run_python",
]

_lock = threading.Lock()
_pool: WorkerPool | None = None


def get_pool(settings: SandboxSettings | None = None) -> WorkerPool:
    """The process's pool for the current settings (a new one when the environment changed)."""
    global _pool
    settings = settings or SandboxSettings.from_env()
    old = None
    with _lock:
        if _pool is not None and _pool.pid != os.getpid():
            _pool = None  # a forked child: the pool (its workers, its thread) is the parent's
        if _pool is None or _pool.settings != settings:
            old, _pool = _pool, WorkerPool(settings)
        pool = _pool
    if old is not None:
        old.close()
    return pool


def close_pool() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


atexit.register(close_pool)


async def run_python(
    request: dict[str, Any], *, timeout_s: float, settings: SandboxSettings | None = None
) -> Any:
    """Run one request (see ``worker.api``) in a fresh sandboxed worker and return its response.

    Raises ``SandboxError`` subclasses: unavailable (with how to fix it), timeout, output too
    large, crashed (killed by a limit). The code's own exceptions are in the response.
    """
    pool = get_pool(settings)
    job = Job()
    try:
        return await asyncio.to_thread(pool.run, request, timeout_s, job)
    except asyncio.CancelledError:
        job.cancel()
        raise
