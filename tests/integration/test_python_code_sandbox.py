"""Attacks on the Python Code node's sandbox (RELIABILITY.md X2, F10, F11) and what happens where
it cannot start (a clear error, or the operator's explicit unsafe mode).

The sandbox tests need bubblewrap and user namespaces: skipped with the reason on a machine
without them, failed under RELAYFLOW_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relayflow.sandbox import SandboxCrashed, SandboxTimeout, close_pool, get_pool, run_python
from relayflow.sandbox import pool as pool_module
from relayflow.sandbox.pool import Worker
from relayflow.testing import NodeRunFailed, output_json, run_node, run_workflow
from relayflow.testing import node_workflow as one_node
from tests.unit.sandbox.support import (
    PYTHON_VARS,
    pid_alive,
    processes_with,
    require_sandbox,
    rss_bytes,
    wait_until,
)

CODE = "n8n-nodes-base.code"
SECRET = "relayflow-test-secret-7f3a"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PYTHON_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sandbox() -> Iterator[None]:
    require_sandbox()
    yield


async def run_code(code: str, **fields: Any) -> Any:
    """The value the code returns (as the node's single output item's json)."""
    out = await run_node(
        CODE, {"language": "python", "pythonCode": code}, [{}], type_version=2, node_fields=fields
    )
    return output_json(out)[0]


async def fails_with(code: str, **fields: Any) -> str:
    with pytest.raises(NodeRunFailed) as info:
        await run_code(code, **fields)
    return str(info.value.error["message"])


def taken_workers(monkeypatch: pytest.MonkeyPatch) -> list[Worker]:
    """Record the workers the (current) pool hands out."""
    p = get_pool()
    taken: list[Worker] = []
    real = p._take

    def take(*, fresh: bool = False) -> Worker:
        worker = real(fresh=fresh)
        taken.append(worker)
        return worker

    monkeypatch.setattr(p, "_take", take)
    return taken


# ---- X2: escapes --------------------------------------------------------------------------------
async def test_x2_no_files_env_or_secrets(
    sandbox: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "encryption.key").write_text(SECRET)
    monkeypatch.setenv("RELAYFLOW_HOME", str(home))
    monkeypatch.setenv("RELAYFLOW_ENCRYPTION_KEY", SECRET)
    close_pool()  # workers start now, with the secrets in this process's environment
    code = f"""
import os
seen = {{}}
for path in ['/etc/passwd', '/etc/shadow', {str(home / "encryption.key")!r}, '/root/.relayflow',
             {str(Path.cwd() / "pyproject.toml")!r}, '/home', '/proc/1/environ', '/proc/self/environ']:
    try:
        seen[path] = open(path).read() if not os.path.isdir(path) else os.listdir(path)
    except OSError as exc:
        seen[path] = type(exc).__name__
seen['env'] = dict(os.environ)
seen['uid'] = os.getuid()
seen['proc'] = sorted(p for p in os.listdir('/proc') if p.isdigit())
seen['filtered'] = [l.split()[1] for p in seen['proc'] for l in open(f'/proc/{{p}}/status') if l.startswith('Seccomp:')]
return seen
"""
    seen = await run_code(code)
    assert SECRET not in str(seen)
    assert seen["/etc/passwd"] == seen["/etc/shadow"] == "FileNotFoundError"
    assert seen[str(home / "encryption.key")] == "FileNotFoundError"
    project_file = str(Path.cwd() / "pyproject.toml")
    assert seen["/root/.relayflow"] == seen[project_file] == seen["/home"] == "FileNotFoundError"
    assert not any(k.startswith("RELAYFLOW") for k in seen["env"])
    assert seen["uid"] == 65534
    # the worker is alone in the sandbox, as its pid 1: no host process, and no process
    # without the seccomp filter (mode 2), whose memory the code could write to through /proc
    assert seen["proc"] == ["1"] and seen["filtered"] == ["2"]


async def test_x2_filesystem_is_read_only(sandbox: None) -> None:
    code = """
out = {}
for path in ['/usr/evil', '/evil', '/etc/evil', '/rf/worker/evil.py', '/proc/sysrq-trigger']:
    try:
        open(path, 'w').write('x')
        out[path] = 'written'
    except OSError as exc:
        out[path] = type(exc).__name__
return out
"""
    assert "written" not in (await run_code(code)).values()
    # the sandbox's own namespaces' settings are its own: the host's hostname does not change
    host = socket.gethostname()
    await run_code("open('/proc/sys/kernel/hostname', 'w').write('pwned')\nreturn {}")
    assert socket.gethostname() == host
    assert await run_code(
        "open('/tmp/scratch', 'w').write('ok')\nreturn {'read': open('/tmp/scratch').read()}"
    ) == {"read": "ok"}


@pytest.mark.parametrize(
    ("host", "port"),
    [("127.0.0.1", 5432), ("127.0.0.1", 5672), ("127.0.0.1", 6379), ("169.254.169.254", 80), ("::1", 5432)],
)
async def test_x2_no_network(sandbox: None, host: str, port: int) -> None:
    code = f"import socket\ns = socket.create_connection(({host!r}, {port}), timeout=2)\nreturn {{'connected': True}}"
    message = await fails_with(code)
    assert message.startswith(("PermissionError", "OSError")), message


async def test_x2_cannot_kill_the_parent_or_other_processes(sandbox: None) -> None:
    code = """
import os, signal
out = {'pid': os.getpid(), 'ppid': os.getppid()}
for name, pid in [('parent', os.getppid()), ('all', -1), ('group', 0), ('host pid', 2 ** 20), ('pid 2', 2)]:
    try:
        os.kill(pid, signal.SIGKILL)
        out[name] = 'sent'
    except OSError as exc:
        out[name] = type(exc).__name__
os.kill(1, signal.SIGKILL)  # pid 1 is the worker itself: the kernel ignores it
out['survived'] = True
return out
"""
    result = await run_code(code)
    assert (result.pop("pid"), result.pop("ppid"), result.pop("survived")) == (1, 0, True)
    assert "sent" not in result.values(), result
    assert await run_code("return {'still': 'working'}") == {"still": "working"}


async def test_x2_no_ptrace(sandbox: None) -> None:
    code = """
import ctypes, os
libc = ctypes.CDLL('libc.so.6', use_errno=True)
out = {}
for name, req, pid in [('attach init', 16, 1), ('traceme', 0, 0), ('seize parent', 0x4206, os.getppid())]:
    rc = libc.ptrace(req, pid, 0, 0)
    out[name] = (rc, ctypes.get_errno())
return out
"""
    result = await run_code(code)
    assert all(rc == -1 for rc, _ in result.values()), result


async def test_x2_no_new_processes(sandbox: None) -> None:
    assert (await fails_with("import os\nwhile True:\n    os.fork()")).startswith("PermissionError")
    assert (await fails_with("import subprocess\nsubprocess.run(['true'])")).startswith("PermissionError")
    assert (await fails_with("import os\nos.execv('/usr/bin/true', ['true'])")).startswith("PermissionError")
    result = await run_code(
        "import os\nrc = os.system('touch /tmp/ran')\nreturn {'rc': rc, 'ran': os.path.exists('/tmp/ran')}"
    )
    assert result["rc"] != 0 and result["ran"] is False
    code = "import ctypes\nlibc = ctypes.CDLL('libc.so.6', use_errno=True)\nreturn {'rc': libc.unshare(0x10000000)}"
    assert await run_code(code) == {"rc": -1}  # CLONE_NEWUSER


# ---- F10: a node that hangs ---------------------------------------------------------------------
async def test_f10_endless_loop_times_out_and_its_processes_die(sandbox: None) -> None:
    wf = one_node(CODE, {"language": "python", "pythonCode": "while True:\n    pass"}, type_version=2,
                  node_fields={"timeout": 1})  # fmt: skip
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    record = await run_workflow(wf, input=[{}])
    elapsed = time.monotonic() - started
    beat.cancel()
    assert record.status.value == "failed"
    assert "timed out after 1 s" in str(record.error)
    assert elapsed < 2.0, elapsed
    assert ticks >= 10  # the event loop kept running meanwhile


def test_f10_timeout_kills_every_process_of_the_sandbox(sandbox: None) -> None:
    p = get_pool()
    p.run({"code": "return {}", "mode": "all", "items": []}, 5)  # starts the pool's upkeep
    assert wait_until(lambda: len(p._idle) >= 1)
    p._idle[0].wait_ready(time.monotonic() + 10)  # the timing below starts from a ready worker
    started = time.monotonic()
    with pytest.raises(SandboxTimeout) as info:
        p.run({"code": "while True:\n    pass", "mode": "all", "items": []}, 0.5)
    assert time.monotonic() - started < 1.5
    pids = info.value.pids
    assert len(pids) == 2  # bwrap, and the sandbox's pid 1 (which holds the rest)
    assert wait_until(lambda: not any(pid_alive(pid) for pid in pids)), [pid_alive(x) for x in pids]


async def test_f10_cancelling_the_run_kills_the_worker(
    sandbox: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = taken_workers(monkeypatch)
    request = {"code": "import time\ntime.sleep(60)", "mode": "all", "items": []}
    task = asyncio.create_task(run_python(request, timeout_s=60))
    for _ in range(250):  # up to 5 s
        if taken and processes_with(taken[0].token):
            break
        await asyncio.sleep(0.02)
    assert taken and processes_with(taken[0].token)  # the worker runs, and can be found
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    token = taken[0].token
    assert wait_until(lambda: not processes_with(token)), processes_with(token)


def test_a_pre_started_worker_that_died_is_replaced(sandbox: None) -> None:
    p = get_pool()
    p.run({"code": "return {}", "mode": "all", "items": []}, 5)  # starts the pool's upkeep
    assert wait_until(lambda: len(p._idle) >= 1)
    victim = p._idle[0]
    victim.send_kill()
    assert wait_until(lambda: victim.proc.poll() is not None)
    assert p.run({"code": "return {'ok': 1}", "mode": "all", "items": []}, 5)["results"] == [{"ok": 1}]
    assert p.mode == "sandbox"


# ---- F11: memory, forks, output -----------------------------------------------------------------
async def test_f11_huge_allocation_fails_in_the_sandbox_only(sandbox: None) -> None:
    before = rss_bytes()
    message = await fails_with("x = bytearray(1024 ** 3)\nreturn {'n': len(x)}")
    assert message.startswith("MemoryError"), message
    message = await fails_with("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))")
    assert message.startswith("MemoryError") or "killed" in message, message
    assert rss_bytes() - before < 50 * 1024**2


async def test_f11_fork_loop_is_refused(sandbox: None) -> None:
    message = await fails_with("import os\npids = []\nfor _ in range(10000):\n    pids.append(os.fork())")
    assert message.startswith("PermissionError"), message
    # threads are allowed, but not without end (RLIMIT_NPROC, RLIMIT_AS)
    code = "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()"
    message = await fails_with(code)
    assert message.startswith(("RuntimeError: can't start new thread", "MemoryError")), message


async def test_f11_printing_gigabytes_hits_the_output_cap(sandbox: None) -> None:
    before = rss_bytes()
    started = time.monotonic()
    message = await fails_with("line = 'x' * 1_000_000\nfor _ in range(5000):\n    print(line)")
    assert "RELAYFLOW_CODE_MAX_OUTPUT_BYTES" in message
    assert time.monotonic() - started < 5
    message = await fails_with("return [{'json': {'s': 'x' * 10_000_000}} for _ in range(3)]")
    assert "RELAYFLOW_CODE_MAX_OUTPUT_BYTES" in message
    assert rss_bytes() - before < 50 * 1024**2


async def test_f11_the_parent_enforces_the_cap_on_raw_frames(sandbox: None) -> None:
    # the code writes a frame header of 2 GiB straight to the pipes, bypassing the worker's checks
    code = """
import os, struct
for fd in range(3, 20):
    try:
        os.write(fd, struct.pack('>I', 2 ** 31))
    except OSError:
        pass
import time
time.sleep(30)
"""
    message = await fails_with(code)
    assert "bytes" in message


@pytest.mark.parametrize("forged", [b"[1]", b'{"results": [], "logs": 5}', b"not json"])
async def test_a_forged_answer_is_a_clear_error(sandbox: None, forged: bytes) -> None:
    code = f"""
import os, struct, time
frame = struct.pack('>I', {len(forged)}) + {forged!r}
for fd in range(3, 20):
    try:
        os.write(fd, frame)
    except OSError:
        pass
time.sleep(30)
"""
    message = await fails_with(code)
    assert "malformed answer" in message, message


async def test_a_worker_that_exits_is_a_clear_error(sandbox: None) -> None:
    message = await fails_with("import os\nos._exit(3)")
    assert message == "the code's process ended without an answer (exit status 3)"


def test_the_cpu_time_limit_kills(sandbox: None) -> None:
    with pytest.raises(SandboxCrashed, match="CPU time or memory limit"):
        get_pool().run({"code": "while True:\n    pass", "mode": "all", "items": [], "cpuSeconds": 1}, 10)


async def test_f11_small_cap_from_the_environment(sandbox: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_CODE_MAX_OUTPUT_BYTES", "1000")
    message = await fails_with("print('y' * 2000)")
    assert "limit of 1000 bytes" in message


# ---- where the sandbox cannot start -------------------------------------------------------------
async def test_without_bwrap_python_code_fails_with_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_CODE_BWRAP", "/nonexistent/bwrap")
    message = await fails_with("return {'ran': True}")
    assert "the Python sandbox cannot start: bubblewrap (bwrap) is not found at /nonexistent/bwrap" in message
    assert "apt-get install bubblewrap" in message and "RELAYFLOW_CODE_UNSAFE=1" in message


async def test_a_sandbox_that_dies_at_start_is_an_error_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_CODE_BWRAP", "/bin/false")
    message = await fails_with("return {'ran': True}")
    assert "the Python sandbox cannot start" in message and "RELAYFLOW_CODE_UNSAFE=1" in message


async def test_unsafe_mode_runs_without_the_sandbox_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RELAYFLOW_CODE_BWRAP", "/nonexistent/bwrap")
    monkeypatch.setenv("RELAYFLOW_CODE_UNSAFE", "1")
    monkeypatch.setattr(pool_module, "_warned_unsafe", False)
    with caplog.at_level(logging.WARNING, logger="relayflow.sandbox"):
        assert await run_code("print('hi')\nreturn {'ran': True}") == {"ran": True}
        assert await run_code("return {'again': True}") == {"again": True}
    warnings = [r for r in caplog.records if "WITHOUT a sandbox" in r.getMessage()]
    assert len(warnings) == 1
    assert get_pool().mode == "unsafe"
    # limits and the timeout still apply
    assert (await fails_with("x = bytearray(1024 ** 3)")).startswith("MemoryError")
    wf = one_node(CODE, {"language": "python", "pythonCode": "while True:\n    pass"}, type_version=2,
                  node_fields={"timeout": 1})  # fmt: skip
    started = time.monotonic()
    record = await run_workflow(wf, input=[{}])
    assert record.status.value == "failed" and time.monotonic() - started < 2.0


# ---- latency ------------------------------------------------------------------------------------
def _median_ms(samples: list[float]) -> str:
    samples.sort()
    return f"median {samples[len(samples) // 2]:.2f} ms (min {samples[0]:.2f}, max {samples[-1]:.2f})"


async def test_warm_pool_latency_is_reported(sandbox: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timed assertion: prints what a trivial run costs, from a quiet warm pool (every
    pre-started worker ready, none starting) and back to back (replacements start meanwhile)."""
    p = get_pool()
    request = {"code": "return {'ok': 1}", "mode": "all", "items": [{"json": {}}]}
    quiet, back_to_back = [], []
    await run_python(request, timeout_s=5)  # starts the pool's upkeep
    for _ in range(10):
        assert wait_until(lambda: len(p._idle) >= p.settings.pool_size and not p._used)
        for worker in list(p._idle):
            worker.wait_ready(time.monotonic() + 10)
        started = time.perf_counter()
        assert (await run_python(request, timeout_s=5))["results"]
        quiet.append((time.perf_counter() - started) * 1000)
    for _ in range(10):
        started = time.perf_counter()
        assert (await run_python(request, timeout_s=5))["results"]
        back_to_back.append((time.perf_counter() - started) * 1000)
    with capsys.disabled():
        print(f"\nPython Code run, warm pool: {_median_ms(quiet)}; back to back: {_median_ms(back_to_back)}")
