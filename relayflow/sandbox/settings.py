"""The Python sandbox's settings, read from the environment (``SandboxSettings.from_env``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from relayflow.settings import env_int

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxSettings:
    # RELAYFLOW_CODE_POOL: workers started ahead of time
    pool_size: int = 2
    # RELAYFLOW_CODE_MAX_OUTPUT_BYTES: printed text plus returned items, per run
    max_output_bytes: int = 16 * MIB
    # RELAYFLOW_CODE_MEMORY_MB: the worker's address space (RLIMIT_AS)
    memory_bytes: int = 512 * MIB
    # RELAYFLOW_CODE_ALLOW_MODULES: modules beyond the standard library the code may import
    allow_modules: tuple[str, ...] = ()
    # RELAYFLOW_CODE_UNSAFE=1: where the sandbox cannot start, run in a plain subprocess
    unsafe: bool = False
    # RELAYFLOW_CODE_BWRAP: the bubblewrap program ("" when none is installed)
    bwrap: str = "/usr/bin/bwrap"
    file_bytes: int = 64 * MIB  # RLIMIT_FSIZE and the size of the sandbox's /tmp
    open_files: int = 256
    processes: int = 64  # RLIMIT_NPROC: threads count too
    start_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        env = os.environ if env is None else env
        allow = tuple(m.strip() for m in env.get("RELAYFLOW_CODE_ALLOW_MODULES", "").split(",") if m.strip())
        bwrap = env.get("RELAYFLOW_CODE_BWRAP", "").strip() or shutil.which("bwrap") or ""
        return cls(
            pool_size=env_int(env, "RELAYFLOW_CODE_POOL", cls.pool_size),
            max_output_bytes=env_int(env, "RELAYFLOW_CODE_MAX_OUTPUT_BYTES", cls.max_output_bytes),
            memory_bytes=env_int(env, "RELAYFLOW_CODE_MEMORY_MB", cls.memory_bytes // MIB) * MIB,
            allow_modules=allow,
            unsafe=env.get("RELAYFLOW_CODE_UNSAFE", "").strip().lower() in ("1", "true", "yes"),
            bwrap=bwrap,
        )
