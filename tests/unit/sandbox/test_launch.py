"""The sandbox's settings and the bubblewrap command line (nothing is started here)."""

from __future__ import annotations

import pytest

from relayflow.errors import InputInvalid
from relayflow.sandbox import launch
from relayflow.sandbox.settings import MIB, SandboxSettings


def test_settings_defaults_and_environment() -> None:
    s = SandboxSettings.from_env({"RELAYFLOW_CODE_BWRAP": "/x/bwrap"})
    assert (s.pool_size, s.max_output_bytes, s.memory_bytes, s.unsafe) == (2, 16 * MIB, 512 * MIB, False)
    s = SandboxSettings.from_env(
        {
            "RELAYFLOW_CODE_POOL": "4",
            "RELAYFLOW_CODE_MAX_OUTPUT_BYTES": "1000",
            "RELAYFLOW_CODE_MEMORY_MB": "256",
            "RELAYFLOW_CODE_ALLOW_MODULES": " numpy, yaml ,,",
            "RELAYFLOW_CODE_UNSAFE": "1",
        }
    )
    assert (s.pool_size, s.max_output_bytes, s.memory_bytes) == (4, 1000, 256 * MIB)
    assert s.allow_modules == ("numpy", "yaml") and s.unsafe


def test_bad_setting_names_the_variable() -> None:
    with pytest.raises(InputInvalid, match="RELAYFLOW_CODE_POOL"):
        SandboxSettings.from_env({"RELAYFLOW_CODE_POOL": "two"})


def test_missing_bwrap_is_named() -> None:
    reason = launch.missing_prerequisite(SandboxSettings(bwrap="/nonexistent/bwrap"))
    assert reason == "bubblewrap (bwrap) is not found at /nonexistent/bwrap"
    assert launch.missing_prerequisite(SandboxSettings(bwrap="")) == "bubblewrap (bwrap) is not installed"


def test_bwrap_command_isolates() -> None:
    cmd = launch.bwrap_command(SandboxSettings(), info_fd=9, token="t")
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"):
        assert flag in cmd
    assert cmd[cmd.index("--uid") + 1] == "65534" and cmd[cmd.index("--gid") + 1] == "65534"
    assert "--bind" not in cmd and "--dev-bind" not in cmd  # nothing writable from the host
    binds = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--ro-bind", "--ro-bind-try")]
    # the tmpfs /tmp comes before any bind under /tmp
    tmpfs_at = cmd.index("--tmpfs")
    assert cmd[tmpfs_at + 1] == "/tmp"
    for i, a in enumerate(cmd):
        if a in ("--ro-bind", "--ro-bind-try") and cmd[i + 2].startswith("/tmp"):
            assert i > tmpfs_at
    # /etc is not there, only the loader's cache
    assert [b for b in binds if b.startswith("/etc")] == ["/etc/ld.so.cache"]
    assert "/" not in binds and "/root" not in binds and "/home" not in binds
    python_at = cmd.index(launch.python_executable())
    assert cmd[python_at + 1 : python_at + 3] == ["-I", "-S"]


def test_unsafe_command_runs_the_same_worker() -> None:
    cmd = launch.unsafe_command(SandboxSettings(), token="t")
    assert cmd[:3] == [launch.python_executable(), "-I", "-S"]
    assert '"seccomp":false' in cmd[-1]
