"""Command lines that start a worker: in bubblewrap (the sandbox) or, in unsafe mode, plainly.

The sandbox (``bwrap_command``):

- every namespace unshared (``--unshare-all --unshare-user``): no network at all, its own pids
  (the worker is pid 1 and alone), its own IPC, hostname and cgroup view; no further user
  namespaces (``--disable-userns``); uid/gid 65534 and no capabilities;
- a filesystem made only of read-only binds of ``/usr``, ``/etc/ld.so.cache``, the Python
  install, its site-packages and the worker's own code, plus a small tmpfs ``/tmp`` and fresh
  ``/proc`` and ``/dev``: no ``/etc/passwd``, no home directory, no relayflow data or keys;
- bwrap started with an empty environment (``--clearenv`` would clear only the child's, and
  ``/proc/1/environ`` in the sandbox shows bwrap's own);
- ``--die-with-parent`` and ``--new-session`` (no terminal to push keystrokes into).

Inside, the worker loads a seccomp filter and sets rlimits before it says it is ready
(``worker.main``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import orjson

from relayflow.sandbox.settings import SandboxSettings

WORKER_DIR = Path(__file__).resolve().parent / "worker"
INSIDE_ROOT = "/rf"  # where the worker package is mounted in the sandbox
# argv: [-c, folder holding the `worker` package, config JSON]
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from worker.main import main; main(sys.argv)"
FIX_HINT = (
    "To fix: install bubblewrap and libseccomp (Debian: apt-get install bubblewrap libseccomp2) "
    "and the pyseccomp package, and allow unprivileged user namespaces (sysctl "
    "kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in a container, a "
    "seccomp/AppArmor profile that permits creating user namespaces). Or set "
    "RELAYFLOW_CODE_UNSAFE=1 to run Python code in a plain subprocess with only resource limits "
    "(unsafe: for trusted code only)."
)


def python_executable() -> str:
    return os.path.realpath(sys.executable)


def site_paths() -> list[str]:
    """The site-packages folders the worker adds to ``sys.path`` (it runs with ``-I -S``)."""
    return [
        p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages")) and os.path.isdir(p)
    ]


def missing_prerequisite(settings: SandboxSettings) -> str | None:
    """Why the sandbox cannot start, from what can be seen without starting it."""
    if not settings.bwrap:
        return "bubblewrap (bwrap) is not installed"
    if not os.access(settings.bwrap, os.X_OK):
        return f"bubblewrap (bwrap) is not found at {settings.bwrap}"
    if importlib.util.find_spec("pyseccomp") is None:
        return "the pyseccomp package is not installed"
    return None


def worker_config(settings: SandboxSettings, *, seccomp: bool, token: str) -> bytes:
    return orjson.dumps(
        {
            "token": token,
            "seccomp": seccomp,
            "paths": site_paths(),
            "allow": list(settings.allow_modules),
            "memory_bytes": settings.memory_bytes,
            "file_bytes": settings.file_bytes,
            "open_files": settings.open_files,
            "processes": settings.processes,
            "max_output_bytes": settings.max_output_bytes,
        }
    )


def _read_only_binds() -> list[str]:
    """Folders bound read-only at the same path, outermost first, nested ones dropped."""
    wanted = {"/usr", sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(python_executable()))}
    wanted.update(site_paths())
    roots = sorted({os.path.realpath(p) for p in wanted if p and os.path.isdir(p)})
    kept: list[str] = []
    for path in roots:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def _top_level_links() -> list[str]:
    """``/lib``, ``/lib64`` and ``/bin`` as on the host: symlinks into /usr, or read-only binds."""
    args: list[str] = []
    for name in ("/lib", "/lib64", "/lib32", "/bin"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def bwrap_command(settings: SandboxSettings, *, info_fd: int, token: str) -> list[str]:
    args = [
        settings.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        # the worker is the sandbox's pid 1: no process without the seccomp filter (bwrap's
        # reaper would be one, and /proc/1/mem would let the code write into it)
        "--as-pid-1",
        "--uid", "65534",
        "--gid", "65534",
        "--cap-drop", "ALL",
        "--hostname", "sandbox",
        # the tmpfs comes before any bind under /tmp, or it would hide them
        "--size", str(settings.file_bytes),
        "--tmpfs", "/tmp",
        "--proc", "/proc",
        "--dev", "/dev",
    ]  # fmt: skip
    for path in _read_only_binds():
        args += ["--ro-bind", path, path]
    args += _top_level_links()
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += ["--ro-bind", str(WORKER_DIR), f"{INSIDE_ROOT}/worker", "--chdir", "/tmp"]
    # bwrap's root is a tmpfs it leaves writable: once everything is mounted, make it read-only
    args += ["--remount-ro", "/"]
    args += ["--info-fd", str(info_fd), "--"]
    config = worker_config(settings, seccomp=True, token=token).decode()
    return [*args, python_executable(), "-I", "-S", "-c", BOOT, INSIDE_ROOT, config]


def unsafe_command(settings: SandboxSettings, *, token: str) -> list[str]:
    config = worker_config(settings, seccomp=False, token=token).decode()
    return [python_executable(), "-I", "-S", "-c", BOOT, str(WORKER_DIR.parent), config]
