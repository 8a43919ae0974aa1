"""The store commands as users call them: a real subprocess on the default SQLite store in a
temporary RELAYFLOW_HOME."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relayflow.engine.run import ExecutionRecord, ExecutionStatus, NodeRun, NodeRunStatus
from relayflow.store.config import open_stores
from tests.unit.cli.test_cli import chain

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYFLOW_")}
    env["RELAYFLOW_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "relayflow.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def write(tmp: Path, name: str, data: Any) -> str:
    p = tmp / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(p)


def named(name: str, **extra: Any) -> dict[str, Any]:
    return {**chain("relayflow.noOp"), "name": name, **extra}


def imported(r: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """name -> id from the `id  name` lines."""
    pairs = [line.split("  ", 1) for line in r.stdout.splitlines()]
    return {name: id_ for id_, name in pairs}


def test_import_then_export_round_trip(tmp_path: Path, home: Path) -> None:
    one = write(tmp_path, "one.json", named("One", active=True, tags=[{"id": "7", "name": "sales"}]))
    many = write(tmp_path, "all.json", [named("Two"), named("Three")])
    r = cli(home, "import", one, many)
    assert r.returncode == 0, r.stderr
    ids = imported(r)
    assert sorted(ids) == ["One", "Three", "Two"]

    r = cli(home, "export", ids["One"])
    assert r.returncode == 0, r.stderr
    wf = json.loads(r.stdout)
    assert wf["id"] == ids["One"] and wf["name"] == "One" and wf["active"] is False
    assert wf["tags"] == ["sales"] and [n["name"] for n in wf["nodes"]] == ["Start", "N0"]

    r = cli(home, "export", "--all")
    assert sorted(w["name"] for w in json.loads(r.stdout)) == ["One", "Three", "Two"]


def test_export_to_a_directory_and_a_file(tmp_path: Path, home: Path) -> None:
    ids = imported(cli(home, "import", write(tmp_path, "w.json", [named("A"), named("B")])))
    out = tmp_path / "out"
    out.mkdir()
    r = cli(home, "export", "--all", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.json" for i in ids.values())
    assert json.loads((out / f"{ids['A']}.json").read_text())["name"] == "A"
    target = tmp_path / "both.json"
    r = cli(home, "export", ids["B"], ids["A"], "-o", str(target))
    assert r.returncode == 0, r.stderr
    assert [w["name"] for w in json.loads(target.read_text())] == ["B", "A"]


def test_import_reports_bad_files_and_keeps_the_good_ones(tmp_path: Path, home: Path) -> None:
    files = [
        write(tmp_path, "good.json", named("Good")),
        write(tmp_path, "broken.json", "{nope"),
        write(
            tmp_path,
            "mixed.json",
            [named("Fine"), {"name": "Bad", "nodes": [{"name": "X", "type": "acme.no"}]}],
        ),
        str(tmp_path / "missing.json"),
    ]
    r = cli(home, "import", *files)
    assert r.returncode == 2
    assert sorted(imported(r)) == ["Fine", "Good"]
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 3
    assert "broken.json: invalid JSON" in errors[0]
    assert "mixed.json[1]: node 'X'" in errors[1] and "unknown node type" in errors[1]
    assert "missing.json: cannot read file" in errors[2]
    assert "Traceback" not in r.stderr
    exported = json.loads(cli(home, "export", "--all").stdout)
    assert sorted(w["name"] for w in exported) == ["Fine", "Good"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "nope"], "no workflow 'nope'"),
        (["export"], "--all"),
        (["executions", "show", "nope"], "no execution 'nope'"),
        (["executions", "list", "--status", "bogus"], "--status must be one of"),
        (["executions", "list", "--limit", "0"], "limit must be between"),
        (["executions", "prune", "--max-count", "-1"], "--max-count must not be negative"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home: Path, args: list[str], needle: str) -> None:
    r = cli(home, *args)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def execution(
    id_: str, hours_ago: float, status: ExecutionStatus, workflow_id: str = "wf1"
) -> ExecutionRecord:
    start = NOW - timedelta(hours=hours_ago)
    rec = ExecutionRecord(
        id=id_,
        workflow_id=workflow_id,
        workflow_name="Orders",
        mode="manual",
        status=status,
        started_at=start,
    )
    rec.node_runs.append(
        NodeRun(
            node="Start",
            run_index=0,
            status=NodeRunStatus.SUCCEEDED,
            started_at=start,
            finished_at=start + timedelta(milliseconds=3),
            items_in=[1],
            items_out=[1],
            output=[[{"json": {"n": 1}}]],
        )
    )
    if status.terminal:
        rec.finished_at = start + timedelta(milliseconds=20)
    if status is ExecutionStatus.FAILED:
        rec.error = {"message": "boom", "node": "Start"}
    return rec


def seed(home: Path, *records: ExecutionRecord) -> None:
    async def go() -> None:
        workflows, executions = await open_stores(f"sqlite+aiosqlite:///{home / 'relayflow.db'}")
        for rec in records:
            await executions.execution_started(rec)
            await executions.execution_finished(rec)
        await executions.close()
        await workflows.close()

    asyncio.run(go())


@pytest.fixture
def seeded(home: Path) -> Path:
    seed(
        home,
        execution("ex-new", 1, ExecutionStatus.SUCCEEDED),
        execution("ex-failed", 2, ExecutionStatus.FAILED),
        execution("ex-running", 500, ExecutionStatus.RUNNING),
        execution("ex-old", 400, ExecutionStatus.SUCCEEDED, workflow_id="wf2"),
    )
    return home


def test_executions_list_table_and_filters(seeded: Path) -> None:
    r = cli(seeded, "executions", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "workflow", "status", "mode", "started", "duration"]
    assert [line.split()[0] for line in lines[1:]] == ["ex-new", "ex-failed", "ex-old", "ex-running"]
    assert lines[1].split()[1:4] == ["wf1", "succeeded", "manual"] and lines[1].endswith("20.0 ms")
    assert lines[4].endswith("-")
    r = cli(seeded, "executions", "list", "--workflow", "wf2", "--json")
    assert [e["id"] for e in json.loads(r.stdout)] == ["ex-old"]
    r = cli(seeded, "executions", "list", "--status", "failed", "--limit", "1", "--json")
    assert [e["id"] for e in json.loads(r.stdout)] == ["ex-failed"]


def test_executions_show(seeded: Path) -> None:
    r = cli(seeded, "executions", "show", "ex-failed")
    assert r.returncode == 0, r.stderr
    assert "status    failed" in r.stdout and "error     node 'Start': boom" in r.stdout
    assert "Start" in r.stdout.split("nodes:")[1] and "1 items" in r.stdout
    full = json.loads(cli(seeded, "executions", "show", "ex-failed", "--json").stdout)
    assert full["id"] == "ex-failed" and full["nodeRuns"][0]["output"] == [[{"json": {"n": 1}}]]


def test_executions_prune(seeded: Path) -> None:
    r = cli(seeded, "executions", "prune")  # 14 days: only ex-old (400 h) is too old
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "deleted 1 executions"
    r = cli(seeded, "executions", "prune", "--max-age-hours", "0", "--max-count", "1")
    assert r.stdout.strip() == "deleted 1 executions"  # ex-failed; ex-running is never deleted
    ids = [e["id"] for e in json.loads(cli(seeded, "executions", "list", "--json").stdout)]
    assert ids == ["ex-new", "ex-running"]


def test_import_gives_workflows_to_the_owner_and_reports_credentials_to_create(
    tmp_path: Path, home: Path
) -> None:
    from relayflow.access.model import ObjectKind, StoredCredential
    from relayflow.access.sql import open_access_store

    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYFLOW_")}
    env |= {"RELAYFLOW_HOME": str(home), "RELAYFLOW_OWNER_PASSWORD": "owner-password"}
    owner = subprocess.run(
        [sys.executable, "-m", "relayflow.cli", "user", "create", "--owner", "--email", "ada@example.com"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert owner.returncode == 0, owner.stderr
    url = f"sqlite+aiosqlite:///{home / 'relayflow.db'}"

    async def seed_credential() -> str:
        access = await open_access_store(url)
        try:
            user = await access.user_by_email("ada@example.com")
            assert user is not None
            now = datetime.now(UTC)
            cred = StoredCredential(
                "local-1", "Existing", "httpBasicAuth", user.personal_project_id, "x", now, now
            )
            await access.create_credential(cred)
            return user.personal_project_id
        finally:
            await access.close()

    project = asyncio.run(seed_credential())
    wf = named("with credentials")
    wf["nodes"][1]["credentials"] = {
        "httpBasicAuth": {"id": "n8n-7", "name": "Existing"},
        "httpHeaderAuth": {"id": "n8n-8", "name": "Missing one"},
    }
    r = cli(home, "import", write(tmp_path, "wf.json", wf))
    assert r.returncode == 0, r.stderr
    wf_id = imported(r)["with credentials"]
    assert "create the httpHeaderAuth credential 'Missing one'" in r.stderr
    assert "Existing" not in r.stderr
    exported = json.loads(cli(home, "export", wf_id).stdout)
    refs = exported["nodes"][1]["credentials"]
    # resolved by name: the local id; the missing one keeps its reference for later
    assert refs["httpBasicAuth"] == {"id": "local-1", "name": "Existing"}
    assert refs["httpHeaderAuth"] == {"id": "n8n-8", "name": "Missing one"}

    async def owner_of() -> str | None:
        access = await open_access_store(url)
        try:
            return await access.owner_of(ObjectKind.WORKFLOW, wf_id)
        finally:
            await access.close()

    assert asyncio.run(owner_of()) == project
    unknown = cli(home, "import", "--project", "nope", write(tmp_path, "wf2.json", named("x")))
    assert unknown.returncode == 2 and "no project 'nope'" in unknown.stderr
