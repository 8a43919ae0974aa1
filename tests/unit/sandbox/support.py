"""Helpers for the tests of the Python sandbox (here and in tests/integration/test_python_code*)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from relayflow.sandbox import SandboxUnavailable, get_pool
from relayflow.testing.services import require_or_skip

PYTHON_VARS = ("RELAYFLOW_CODE_UNSAFE", "RELAYFLOW_CODE_BWRAP", "RELAYFLOW_CODE_ALLOW_MODULES")


def require_sandbox() -> None:
    """Skip (fail under RELAYFLOW_REQUIRE_SERVICES=1) when the sandbox cannot start here."""
    pool = get_pool()
    try:
        pool._probe()
    except SandboxUnavailable as exc:
        require_or_skip("Python sandbox", exc.message)
    assert pool.mode == "sandbox", pool.mode


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate: object, timeout_s: float = 3.0) -> bool:
    """Poll ``predicate()`` until it is true or the deadline passes; returns its last value."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def rss_bytes() -> int:
    """This process's resident set size now."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")
