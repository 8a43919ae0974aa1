"""The real server process: ``relayflow start``, HTTP over a socket, SIGTERM."""

from __future__ import annotations

import copy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import API, SLOW, hello

RELAYFLOW = str(Path(sys.executable).parent / "relayflow")
LISTENING = re.compile(r"relayflow listening on (http://\S+)")


class ServerProcess:
    """``relayflow start`` on a port the OS picks; stderr is collected by a thread."""

    def __init__(self, home: Path, **env: str) -> None:
        environ = {**os.environ, "RELAYFLOW_HOME": str(home), "RELAYFLOW_PORT": "0", **env}
        self.proc = subprocess.Popen(
            [RELAYFLOW, "start"], env=environ, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, check: Callable[[], Any], deadline_s: float = 20.0) -> Any:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            value = check()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out after {deadline_s} s; server log:\n{self.log()}")

    def base_url(self) -> str:
        def found() -> str | None:
            match = LISTENING.search(self.log())
            return match.group(1) if match else None

        url: str = self.wait_for(found)
        return url

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # the 60 s Wait must run through the shutdown, not park
    proc = ServerProcess(tmp_path, RELAYFLOW_SHUTDOWN_GRACE_S="3", RELAYFLOW_WAIT_PARK_AFTER_S="3600")
    yield proc
    proc.close()


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _slow(wait_s: int) -> dict[str, Any]:
    slow = copy.deepcopy(SLOW)
    slow["nodes"][1]["parameters"]["amount"] = wait_s
    return slow


def test_a_real_server_serves_runs_and_shuts_down_on_sigterm(server: ServerProcess, tmp_path: Path) -> None:
    with httpx.Client(base_url=server.base_url(), timeout=10) as client:
        server.wait_for(lambda: _healthy(client))
        assert client.get("/readyz").json() == {"status": "ok"}
        created = client.post(f"{API}/workflows", json=hello())
        assert created.status_code == 201
        run = client.post(
            f"{API}/workflows/{created.json()['id']}/run", json={"input": {"name": "Ada"}, "wait": True}
        )
        assert run.status_code == 200
        assert run.json()["data"] == [{"name": "Ada", "greeting": "Hello, Ada!"}]
        missing = client.get(f"{API}/executions/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        # in flight at SIGTERM: one ends within the 3 s grace period, one does not
        running = {}
        for wait_s in (1, 60):
            workflow_id = client.post(f"{API}/workflows", json=_slow(wait_s)).json()["id"]
            answer = client.post(f"{API}/workflows/{workflow_id}/run", json={})
            assert answer.status_code == 202
            running[wait_s] = answer.json()["id"]
    assert server.stop() == 0, server.log()
    assert "waiting up to 3 s for 2 execution(s)" in server.log()
    assert "cancelled 1 execution(s)" in server.log()
    assert "Traceback" not in server.log()

    again = ServerProcess(tmp_path)  # same RELAYFLOW_HOME: everything was stored
    try:
        with httpx.Client(base_url=again.base_url(), timeout=10) as client:
            assert client.get(f"{API}/workflows/{created.json()['id']}").status_code == 200
            finished = client.get(f"{API}/executions/{running[1]}").json()
            stopped = client.get(f"{API}/executions/{running[60]}").json()
        assert finished["status"] == "succeeded", finished
        assert [r["node"] for r in finished["nodeRuns"]] == ["Start", "Wait"]
        assert stopped["status"] == "cancelled", stopped
        assert again.stop() == 0, again.log()
    finally:
        again.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RELAYFLOW_PORT": "http"}, "RELAYFLOW_PORT must be a port number"),
        ({"RELAYFLOW_PORT": "70000"}, "RELAYFLOW_PORT must be a port number"),
        ({"RELAYFLOW_SHUTDOWN_GRACE_S": "soon"}, "RELAYFLOW_SHUTDOWN_GRACE_S must be seconds"),
        ({"RELAYFLOW_WAIT_PARK_AFTER_S": "-1"}, "RELAYFLOW_WAIT_PARK_AFTER_S must be seconds"),
        ({"RELAYFLOW_PRUNE_INTERVAL_S": "often"}, "RELAYFLOW_PRUNE_INTERVAL_S"),
        ({"RELAYFLOW_HTTP_ALLOW": "10.0.0.0/8:http"}, "RELAYFLOW_HTTP_ALLOW"),
        ({"RELAYFLOW_SAVE_SUCCESS": "some"}, "RELAYFLOW_SAVE_SUCCESS"),
        ({"RELAYFLOW_DATABASE_URL": "mysql://db/x"}, "unsupported database"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _start_in_process(monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("relayflow: ") and message in err
    assert err.count("\n") == 1


def test_a_taken_port_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("RELAYFLOW_HOME", str(tmp_path))
        monkeypatch.setenv("RELAYFLOW_PORT", str(port))
        assert _start_in_process(monkeypatch) == 2
    assert capsys.readouterr().err.startswith(f"relayflow: cannot listen on 127.0.0.1:{port}")


def _start_in_process(monkeypatch: pytest.MonkeyPatch) -> int:
    """``relayflow start`` through the CLI's own entry point; returns the exit status."""
    from relayflow.cli import main

    monkeypatch.setattr(sys, "argv", ["relayflow", "start"])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0)
