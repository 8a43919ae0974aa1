"""The worker process: lock down, say ready, run one request, answer, exit.

Started as ``python -I -S -c BOOT CONFIG`` (``relayflow.sandbox.launch``); CONFIG is JSON with the
limits, the paths to add to ``sys.path``, the allowed modules and whether to load the seccomp
filter. Frames on the pipes are a 4-byte big-endian length then JSON. The protocol's output pipe
is a private duplicate of fd 1; fds 0, 1 and 2 point at /dev/null while user code runs, so a
stray ``os.write(1, ...)`` cannot corrupt the protocol by accident.

One request per process: nothing of one run (modules it changed, threads it left, files in
/tmp) can reach another run, because every run gets a fresh interpreter in a fresh sandbox.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import resource
import struct
import sys
import types
from typing import Any

_HEADER = struct.Struct(">I")
_CLONE_THREAD = 0x00010000
_AF_UNIX = 1
# Always refused (EPERM): debugging and memory of other processes, namespaces and mounts, kernel
# keyrings, modules, BPF, perf, io_uring (it can bypass seccomp's view of syscalls), new programs
# (execve) and new processes (fork, vfork; clone without CLONE_THREAD, below).
_DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_open",
    "pidfd_getfd", "pidfd_send_signal", "mount", "umount2", "move_mount", "open_tree", "fsopen",
    "fsmount", "fsconfig", "fspick", "mount_setattr", "pivot_root", "chroot", "unshare", "setns",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "syslog", "iopl", "ioperm", "open_by_handle_at",
    "name_to_handle_at", "io_uring_setup", "io_uring_enter", "io_uring_register", "execve",
    "execveat", "fork", "vfork", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "mknod",
    "mknodat", "personality", "seccomp", "lookup_dcookie", "vhangup", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
)  # fmt: skip
# Modules imported before the request, so that a run does not pay for them.
# (Each one costs CPU at every worker start; these are cheap and common.)
_PRELOAD = ("base64", "collections", "datetime", "functools", "hashlib", "itertools", "math", "random", "re")


def read_frame(fd: int) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    return _read_exact(fd, size)


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the parent closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _set_limit(which: int, value: int) -> None:
    resource.setrlimit(which, (value, value))


def apply_limits(config: dict[str, Any]) -> None:
    """Hard limits equal soft ones, so the code cannot raise them again."""
    _set_limit(resource.RLIMIT_AS, int(config["memory_bytes"]))
    _set_limit(resource.RLIMIT_FSIZE, int(config["file_bytes"]))
    _set_limit(resource.RLIMIT_NOFILE, int(config["open_files"]))
    _set_limit(resource.RLIMIT_CORE, 0)
    # threads count as processes; fork is refused by seccomp anyway (root ignores NPROC)
    _set_limit(resource.RLIMIT_NPROC, int(config["processes"]))


def load_seccomp() -> None:
    """Default allow, with the dangerous syscalls refused (EPERM), ``clone3`` answered ENOSYS so
    glibc falls back to ``clone``, which is allowed only to create threads. Signals reach only
    this process. Sockets other than AF_UNIX fail (the network namespace has none anyway)."""
    # pyseccomp looks its libraries up with ctypes.util, which runs `ldconfig -p` (a subprocess)
    # and costs 40 ms of imports: a stand-in answers with the sonames instead
    libs = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
    stand_in = types.ModuleType("ctypes.util")
    stand_in.find_library = libs.get  # type: ignore[attr-defined]
    ctypes = importlib.import_module("ctypes")
    sys.modules["ctypes.util"] = stand_in
    ctypes.util = stand_in  # type: ignore[attr-defined]
    try:
        sc: Any = importlib.import_module("pyseccomp")
    finally:
        del sys.modules["ctypes.util"]
        delattr(ctypes, "util")
    deny = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    for name in _DENIED:
        try:
            f.add_rule(deny, name)
        except OSError:
            # a syscall this libseccomp does not know (the kernel likely lacks it too)
            continue
    me = os.getpid()
    # these must all hold: a failure here is a failure to start
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    f.add_rule(deny, "kill", sc.Arg(0, sc.NE, me))
    f.add_rule(deny, "tgkill", sc.Arg(0, sc.NE, me))
    f.add_rule(sc.ERRNO(errno.EACCES), "socket", sc.Arg(0, sc.NE, _AF_UNIX))
    f.load()


def _fatal(out_fd: int, message: str) -> None:
    write_frame(out_fd, json.dumps({"fatal": message}).encode())
    os._exit(3)


def _dev_null_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def main(argv: list[str]) -> None:
    config: dict[str, Any] = json.loads(argv[-1])
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    sys.path.extend(config.get("paths", []))
    try:
        for name in _PRELOAD:
            importlib.import_module(name)
        if config.get("seccomp"):
            load_seccomp()
        apply_limits(config)
    except Exception as exc:  # reported to the parent, which explains it
        _fatal(out_fd, f"{type(exc).__name__}: {exc}")
    from . import api

    write_frame(out_fd, json.dumps({"ready": True, "pid": os.getpid()}).encode())
    try:
        request = read_frame(in_fd)
    except EOFError:
        os._exit(0)
    os.close(in_fd)
    _dev_null_stdio()
    write_frame(out_fd, api.run(request, config))
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
