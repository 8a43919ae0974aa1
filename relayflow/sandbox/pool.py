"""The pool of pre-started workers, and one run's exchange with a worker.

A worker serves exactly one run, then it is killed: a fresh interpreter in a fresh sandbox per
run is the only isolation between runs that does not depend on cleaning up after arbitrary code.
To keep the latency low the pool keeps ``pool_size`` workers started ahead of time (they have
imported what they need, locked themselves down, and wait for their request); a background
thread replaces each one taken and reaps the used ones.

Everything here is blocking and thread-safe; ``relayflow.sandbox.run_python`` calls it from a
thread, so the pool does not belong to any event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import signal
import struct
import subprocess
import threading
import time
from collections import deque
from typing import Any, Literal

import orjson

from relayflow.sandbox import launch
from relayflow.sandbox.settings import SandboxSettings

log = logging.getLogger("relayflow.sandbox")
_HEADER = struct.Struct(">I")
_ENVELOPE_BYTES = 64 * 1024  # a response's own keys, beyond the output cap
_warned_unsafe = False


class SandboxError(Exception):
    """A run could not complete for a reason outside the code's own exceptions."""

    kind = "failed"

    def __init__(self, message: str, *, pids: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.pids = pids


class SandboxUnavailable(SandboxError):
    kind = "unavailable"


class SandboxTimeout(SandboxError):
    kind = "timeout"


class SandboxOutputTooLarge(SandboxError):
    kind = "output"


class SandboxCrashed(SandboxError):
    kind = "crashed"


class Worker:
    """One started worker process (bwrap and the Python inside it, or a plain Python)."""

    def __init__(self, settings: SandboxSettings, *, sandboxed: bool) -> None:
        self.sandboxed = sandboxed
        self.token = secrets.token_hex(8)
        self.child_pid: int | None = None  # the sandbox's pid 1, as the host sees it
        self.ready = False
        self._info_fd: int | None = None
        self._child_fd: int | None = None  # a pidfd of child_pid
        self._lock = threading.Lock()
        common: dict[str, Any] = {
            "stdin": subprocess.PIPE,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "env": {},
            "start_new_session": True,
            "close_fds": True,
        }
        if sandboxed:
            read_fd, write_fd = os.pipe()
            try:
                cmd = launch.bwrap_command(settings, info_fd=write_fd, token=self.token)
                self.proc = subprocess.Popen(cmd, pass_fds=(write_fd,), **common)
            except BaseException:
                os.close(read_fd)
                raise
            finally:
                os.close(write_fd)
            self._info_fd = read_fd
        else:
            cmd = launch.unsafe_command(settings, token=self.token)
            self.proc = subprocess.Popen(cmd, cwd="/tmp", **common)

    @property
    def pids(self) -> tuple[int, ...]:
        return (self.proc.pid,) + ((self.child_pid,) if self.child_pid else ())

    # pipe I/O with a deadline ---------------------------------------------------------------------
    @staticmethod
    def _read_some(fd: int, size: int, deadline: float) -> bytes:
        """Up to ``size`` bytes (b"" at the end); TimeoutError past the deadline."""
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise TimeoutError
        return os.read(fd, size)

    def _read(self, fd: int, size: int, deadline: float) -> bytes:
        out = bytearray()
        while len(out) < size:
            chunk = self._read_some(fd, min(size - len(out), 1 << 20), deadline)
            if not chunk:
                raise EOFError
            out += chunk
        return bytes(out)

    def _read_frame(self, deadline: float, max_bytes: int) -> Any:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        (size,) = _HEADER.unpack(self._read(fd, _HEADER.size, deadline))
        if size > max_bytes:
            raise SandboxOutputTooLarge(f"the worker sent {size} bytes", pids=self.pids)
        return orjson.loads(self._read(fd, size, deadline))

    def _read_info(self, deadline: float) -> None:
        """bwrap's ``--info-fd`` JSON: the host pid of the sandbox's pid 1, held as a pidfd."""
        if self._info_fd is None:
            return
        data = bytearray()
        try:
            while chunk := self._read_some(self._info_fd, 4096, deadline):
                data += chunk
        finally:
            os.close(self._info_fd)
            self._info_fd = None
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError, ValueError, TypeError):
            self.child_pid = int(orjson.loads(bytes(data))["child-pid"])
        if self.child_pid:
            with contextlib.suppress(OSError):
                self._child_fd = os.pidfd_open(self.child_pid)

    def wait_ready(self, deadline: float) -> None:
        """Wait for the worker's ``ready``; raises SandboxUnavailable with the reason it gave."""
        if self.ready:
            return
        try:
            self._read_info(deadline)
            frame = self._read_frame(deadline, _ENVELOPE_BYTES)
        except (EOFError, TimeoutError, SandboxOutputTooLarge, orjson.JSONDecodeError):
            frame = {"fatal": self._stderr_after_kill() or "the worker did not start"}
        if isinstance(frame, dict) and frame.get("ready"):
            self.ready = True
            return
        self.kill()
        what = "the Python sandbox cannot start" if self.sandboxed else "the Python worker cannot start"
        fatal = frame.get("fatal") if isinstance(frame, dict) else frame
        raise SandboxUnavailable(f"{what}: {str(fatal).strip()}", pids=self.pids)

    def _stderr_after_kill(self) -> str:
        self.send_kill()
        self.proc.wait()
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        text = bytearray()
        deadline = time.monotonic() + 1
        with contextlib.suppress(OSError, TimeoutError):
            while len(text) < 4096 and (chunk := self._read_some(fd, 4096, deadline)):
                text += chunk
        return text.decode("utf-8", "replace")

    def exchange(self, payload: bytes, timeout_s: float, max_bytes: int) -> Any:
        """Send the request, wait for the response; the worker is killed on any failure."""
        assert self.proc.stdin is not None
        deadline = time.monotonic() + timeout_s
        try:
            self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.proc.stdin.flush()
            return self._read_frame(deadline, max_bytes + _ENVELOPE_BYTES)
        except TimeoutError:
            self.kill()
            raise SandboxTimeout(f"the code did not finish within {timeout_s:g} s", pids=self.pids) from None
        except SandboxOutputTooLarge:
            self.kill()
            raise
        except orjson.JSONDecodeError:
            self.kill()
            raise SandboxCrashed(
                "the Python code's worker gave a malformed answer (did the code write to its pipes?)",
                pids=self.pids,
            ) from None
        except (EOFError, OSError, ValueError):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)  # its own exit status tells why it ended
            self.kill()
            raise SandboxCrashed(self._death_reason(), pids=self.pids) from None

    def _death_reason(self) -> str:
        code = self.proc.returncode
        signo = -code if code is not None and code < 0 else (code - 128 if code and code > 128 else 0)
        if signo in (signal.SIGKILL, signal.SIGXCPU):
            return "the code's process was killed: it passed its CPU time or memory limit"
        return f"the code's process ended without an answer (exit status {code})"

    def send_kill(self) -> None:
        """SIGKILL the sandbox's pid 1 (which takes every process of the sandbox with it) and the
        worker's process group. Safe from any thread, any number of times."""
        with self._lock:
            if self._child_fd is not None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self._child_fd, signal.SIGKILL)
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Signal, reap, close the pipes; by the thread that owns the worker. Idempotent."""
        self.send_kill()
        self.proc.wait()
        with self._lock:
            for fd in (self._info_fd, self._child_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._info_fd = self._child_fd = None
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class WorkerPool:
    """Pre-started workers of one ``SandboxSettings``; ``run`` takes one, uses it, drops it."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.mode: Literal["unknown", "sandbox", "unsafe"] = "unknown"
        self._idle: deque[Worker] = deque()
        self._used: list[Worker] = []
        self._cond = threading.Condition()
        self._probe_lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None

    # choosing the mode ----------------------------------------------------------------------------
    def _probe(self) -> None:
        """Start a first worker in the sandbox; fall back to unsafe mode only when asked to."""
        with self._probe_lock:
            if self.mode != "unknown":
                return
            try:
                reason = launch.missing_prerequisite(self.settings)
                if reason is not None:
                    raise SandboxUnavailable(f"the Python sandbox cannot start: {reason}")
                worker = Worker(self.settings, sandboxed=True)
                worker.wait_ready(time.monotonic() + self.settings.start_timeout_s)
            except (SandboxUnavailable, OSError) as exc:
                if not self.settings.unsafe:
                    raise SandboxUnavailable(f"{_message(exc)}. {launch.FIX_HINT}") from None
                _warn_unsafe(_message(exc))
                self.mode = "unsafe"
                return
            self.mode = "sandbox"
            with self._cond:
                self._idle.append(worker)

    def _spawn(self) -> Worker:
        if self.mode == "unknown":
            raise SandboxUnavailable("the Python sandbox has not been probed")
        return Worker(self.settings, sandboxed=self.mode == "sandbox")

    def _reset(self) -> None:
        """After a worker could not start: forget the mode (the next run probes again) and the
        pre-started workers."""
        with self._cond:
            self.mode = "unknown"
            self._used.extend(self._idle)
            self._idle.clear()
            self._cond.notify_all()

    # the background thread: keep the pool full, reap used workers ------------------------------------
    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._maintain, name="relayflow-sandbox", daemon=True)
            self._thread.start()

    def _maintain(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or bool(self._used) or self._missing() > 0)
                if self._closed:
                    return
                used, self._used = self._used, []
                missing = self._missing()
            for worker in used:
                worker.kill()
            for _ in range(missing):
                try:
                    fresh = self._spawn()
                except (OSError, SandboxUnavailable):
                    log.exception("could not start a Python Code worker")
                    time.sleep(1)
                    break
                with self._cond:
                    if self._closed:
                        fresh.kill()
                        return
                    self._idle.append(fresh)

    def _missing(self) -> int:
        """Workers to start (none until the mode is known); called with the condition held."""
        return 0 if self.mode == "unknown" else max(self.settings.pool_size - len(self._idle), 0)

    def _take(self, *, fresh: bool = False) -> Worker:
        if self.mode == "unknown":
            self._probe()
        with self._cond:
            if self._closed:
                raise SandboxUnavailable("the Python worker pool is closed")
            worker = self._idle.popleft() if self._idle and not fresh else None
            self._start_thread()
            self._cond.notify_all()
        return worker if worker is not None else self._spawn()

    def _drop(self, worker: Worker) -> None:
        with self._cond:
            if not self._closed:
                self._used.append(worker)
                self._cond.notify_all()
                return
        worker.kill()

    def run(self, request: dict[str, Any], timeout_s: float, job: Job | None = None) -> Any:
        """Run one request in a fresh worker; blocking. ``job`` lets another thread cancel it."""
        payload = orjson.dumps(request, option=orjson.OPT_NON_STR_KEYS)
        worker = self._ready_worker(job)
        try:
            return worker.exchange(payload, timeout_s, self.settings.max_output_bytes)
        finally:
            self._drop(worker)

    def _ready_worker(self, job: Job | None) -> Worker:
        """A pre-started worker, or (when that one died meanwhile) one started now."""
        for fresh in (False, True):
            worker = self._take(fresh=fresh)
            if job is not None and not job.attach(worker):
                self._drop(worker)
                raise SandboxError("cancelled")
            try:
                worker.wait_ready(time.monotonic() + self.settings.start_timeout_s)
                if worker.proc.poll() is not None:
                    raise SandboxUnavailable("the Python worker ended while it waited")
                return worker
            except SandboxUnavailable as exc:
                self._drop(worker)
                if fresh:
                    self._reset()  # the next run probes again: the cause may be gone by then
                    raise SandboxUnavailable(f"{exc.message}. {launch.FIX_HINT}", pids=exc.pids) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            used, self._used = self._used, []
            self._cond.notify_all()
        for worker in idle + used:
            worker.kill()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class Job:
    """Lets the event loop kill the worker of a run it no longer waits for (cancellation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._cancelled = False

    def attach(self, worker: Worker) -> bool:
        with self._lock:
            self._worker = worker
            return not self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            worker = self._worker
        if worker is not None:
            worker.send_kill()


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SandboxError) else f"the Python sandbox cannot start: {exc}"


def _warn_unsafe(reason: str) -> None:
    global _warned_unsafe
    if not _warned_unsafe:
        _warned_unsafe = True
        log.warning(
            "RELAYFLOW_CODE_UNSAFE=1: Python Code nodes run WITHOUT a sandbox (%s); "
            "only resource limits and a timeout apply. Use this for trusted code only.",
            reason,
        )
