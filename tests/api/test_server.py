"""The real server process: ``relayflow start``, HTTP over a socket, SIGTERM.

``ServerProcess`` is shared by every test that runs a real server: before the start it sets the
database up as an operator would, with the CLI (``relayflow user create --owner``, then
``relayflow api-key create``), and its ``client()`` calls the API with that key.
"""

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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import API, OWNER_EMAIL, OWNER_PASSWORD, SLOW, assert_problem, hello

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RELAYFLOW = str(Path(sys.executable).parent / "relayflow")
LISTENING = re.compile(r"relayflow listening on (http://\S+)")
API_KEY = re.compile(r"rfk_\S+")
# these tests poll the API many times a second with one key: far above the per-key limit, which
# tests/api/test_auth.py checks
UNLIMITED = {"RELAYFLOW_RATE_LIMIT_PER_MINUTE": "1000000"}

# the owner's API key by database: a server started again on it (a restart, a second process)
# uses the owner and key made before the first start
_api_keys: dict[str, str] = {}


def _cli(environ: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RELAYFLOW, *args], env=dict(environ), capture_output=True, text=True, timeout=120)


def bootstrap(environ: Mapping[str, str]) -> str:
    """The instance owner of the database ``environ`` names (``RELAYFLOW_DATABASE_URL``, else the
    SQLite file under ``RELAYFLOW_HOME``) and an API key of theirs with every scope, made with the
    CLI as the operator does before the first start; returns the key."""
    database = environ.get("RELAYFLOW_DATABASE_URL") or environ["RELAYFLOW_HOME"]
    if database not in _api_keys:
        owner = {**environ, "RELAYFLOW_OWNER_PASSWORD": OWNER_PASSWORD}
        created = _cli(owner, "user", "create", "--owner", "--email", OWNER_EMAIL, "--name", "Owner")
        # set up already: by a test process that did not share this cache
        assert created.returncode == 0 or "already set up" in created.stderr, created.stderr
        issued = _cli(environ, "api-key", "create", "--email", OWNER_EMAIL, "--name", "tests")
        assert issued.returncode == 0, issued.stderr
        assert API_KEY.fullmatch(issued.stdout.strip()), issued.stdout  # only the key on stdout
        _api_keys[database] = issued.stdout.strip()
    return _api_keys[database]


class ServerProcess:
    """``relayflow start`` on a port the OS picks, on a database with an owner and their API key
    (``api_key``); stderr is collected by a thread."""

    def __init__(self, home: Path, *, owner: bool = True, **env: str) -> None:
        environ = {**os.environ, "RELAYFLOW_HOME": str(home), "RELAYFLOW_PORT": "0", **UNLIMITED, **env}
        # owner=False: a fresh instance, as a user's first `relayflow start` finds it
        self.api_key = bootstrap(environ) if owner else ""
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

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def client(self, **options: Any) -> httpx.Client:
        """A client of the server (once it listens) as the instance owner."""
        return httpx.Client(base_url=self.base_url(), headers=self.headers, **{"timeout": 10, **options})

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        """An asyncio client of the server (once it listens) as the instance owner."""
        return httpx.AsyncClient(base_url=self.base_url(), headers=self.headers, **{"timeout": 10, **options})

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
    with server.client() as client:
        server.wait_for(lambda: _healthy(client))
        assert client.get("/readyz").json() == {"status": "ok"}
        # the key made with the CLI before the start is the owner's; without one, 401
        me = client.get(f"{API}/me")
        assert me.status_code == 200, me.text
        assert (me.json()["email"], me.json()["role"]) == (OWNER_EMAIL, "owner")
        anonymous = httpx.get(f"{server.base_url()}{API}/workflows", timeout=10)
        assert_problem(anonymous, 401, "unauthorized")
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

    again = ServerProcess(tmp_path)  # same RELAYFLOW_HOME: everything was stored, the key too
    try:
        with again.client() as client:
            assert client.get(f"{API}/workflows/{created.json()['id']}").status_code == 200
            finished = client.get(f"{API}/executions/{running[1]}").json()
            stopped = client.get(f"{API}/executions/{running[60]}").json()
        assert finished["status"] == "succeeded", finished
        assert [r["node"] for r in finished["nodeRuns"]] == ["Start", "Wait"]
        assert stopped["status"] == "cancelled", stopped
        assert again.stop() == 0, again.log()
    finally:
        again.close()


def test_a_first_start_asks_for_an_owner_and_setup_adopts_what_was_imported(tmp_path: Path) -> None:
    environ = {**os.environ, "RELAYFLOW_HOME": str(tmp_path)}
    imported = _cli(environ, "import", str(EXAMPLES / "hello.json"))
    assert imported.returncode == 0, imported.stderr
    workflow_id = imported.stdout.split()[0]
    proc = ServerProcess(tmp_path, owner=False)
    try:
        with httpx.Client(base_url=proc.base_url(), timeout=10) as client:
            assert "no users yet" in proc.log()
            refused = client.get(f"{API}/workflows/{workflow_id}")
            assert refused.status_code == 401, refused.text
            setup = {"email": "ada@example.com", "name": "Ada", "password": "a long passphrase"}
            created = client.post(f"{API}/setup", json=setup)
            assert created.status_code == 201, created.text
            body = created.json()
            bearer = {"Authorization": f"Bearer {body['accessToken']}"}
            workflow = client.get(f"{API}/workflows/{workflow_id}", headers=bearer)
            assert workflow.status_code == 200, workflow.text
            # what the CLI imported before there were users went to the owner's personal project
            assert workflow.json()["projectId"] == body["user"]["personalProjectId"]
            again = client.post(f"{API}/setup", json={**setup, "email": "eve@example.com"})
            assert again.status_code == 409, again.text
    finally:
        proc.close()


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
