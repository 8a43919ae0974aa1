"""GC thresholds: the first tune_gc call in a process decides; the environment overrides it."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import gc
from relayflow import runtime
runtime.tune_gc({first})
runtime.tune_gc()
print(",".join(map(str, gc.get_threshold())))
"""


@pytest.mark.parametrize(
    ("first", "env", "expected"),
    [
        ("", None, "100000,50,100"),  # the CLI's
        ("runtime.SERVER_GC_THRESHOLD", None, "10000,20,100"),  # the server's, kept
        ("runtime.SERVER_GC_THRESHOLD", "700,10,10", "700,10,10"),  # the operator's
    ],
)
def test_the_first_call_decides_unless_the_environment_says(
    first: str, env: str | None, expected: str
) -> None:
    environ = {"PATH": "/usr/bin:/bin"}
    if env is not None:
        environ["RELAYFLOW_GC_THRESHOLD"] = env
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(first=first)],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == expected
