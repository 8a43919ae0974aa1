"""The CLI as users call it: a real subprocess, stdout/stderr and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def relayflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relayflow.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def write(tmp: Path, name: str, data: Any) -> Path:
    p = tmp / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


def chain(*types: str, fail: bool = False) -> dict[str, Any]:
    nodes = [
        {
            "name": "Start",
            "type": "n8n-nodes-base.manualTrigger",
            "typeVersion": 1,
            "position": [0, 0],
            "parameters": {},
        }
    ]
    conns: dict[str, Any] = {}
    prev = "Start"
    for i, t in enumerate(types):
        name = f"N{i}"
        nodes.append(
            {"name": name, "type": t, "typeVersion": 1, "position": [200 * (i + 1), 0], "parameters": {}}
        )
        conns[prev] = {"main": [[{"node": name, "type": "main", "index": 0}]]}
        prev = name
    return {"name": "cli", "nodes": nodes, "connections": conns}


def test_run_prints_terminal_output_and_summary(tmp_path: Path) -> None:
    f = write(tmp_path, "wf.json", chain("n8n-nodes-base.noOp"))
    r = relayflow("run", str(f), "--input", '[{"a": 1}, {"a": 2}]')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"a": 1}, {"a": 2}]
    assert "N0" in r.stderr and "succeeded" in r.stderr


def test_run_input_from_file(tmp_path: Path) -> None:
    f = write(tmp_path, "wf.json", chain("relayflow.noOp"))
    inp = write(tmp_path, "in.json", {"only": "one"})
    r = relayflow("run", str(f), "--input", f"@{inp}")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"only": "one"}]


def test_run_json_prints_the_run_record(tmp_path: Path) -> None:
    f = write(tmp_path, "wf.json", chain("relayflow.noOp"))
    r = relayflow("run", str(f), "--json", "-q")
    rec = json.loads(r.stdout)
    assert rec["status"] == "succeeded" and [n["node"] for n in rec["nodeRuns"]] == ["Start", "N0"]
    assert r.stderr == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "missing.json"], "cannot read file"),
        (["run", "bad.json"], "invalid JSON"),
        (["run", "wf.json", "--input", "{nope"], "--input is not valid JSON"),
        (["run", "wf.json", "--input", "@nothere.json"], "cannot read"),
        (["run", "wf.json", "--start", "Nobody"], "no node named"),
        (["nodes", "show", "acme.nothing"], "unknown node type"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    write(tmp_path, "wf.json", chain("relayflow.noOp"))
    write(tmp_path, "bad.json", "{nodes: [")
    r = relayflow(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_failed_workflow_exits_1_naming_the_node(tmp_path: Path) -> None:
    wf = chain("relayflow.noOp")
    wf["nodes"].append(
        {
            "name": "Boom",
            "type": "n8n-nodes-base.stopAndError",
            "typeVersion": 1,
            "position": [600, 0],
            "parameters": {"errorMessage": "custom failure"},
        }
    )
    wf["connections"]["N0"] = {"main": [[{"node": "Boom", "type": "main", "index": 0}]]}
    r = relayflow("run", str(write(tmp_path, "wf.json", wf)))
    assert r.returncode == 1
    assert "'Boom'" in r.stderr and "custom failure" in r.stderr


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    good = write(tmp_path, "good.json", chain("relayflow.noOp"))
    bad = write(
        tmp_path,
        "bad.json",
        {
            "nodes": [{"name": "X", "type": "acme.zzz"}, {"name": "X", "type": "relayflow.noOp"}],
            "connections": {},
        },
    )
    r = relayflow("validate", str(good), str(bad))
    assert r.returncode == 2
    assert "good.json: ok" in r.stdout
    assert "node 'X', field 'type'" in r.stderr and "duplicate node name" in r.stderr


def test_validate_ok(tmp_path: Path) -> None:
    r = relayflow("validate", str(write(tmp_path, "good.json", chain("relayflow.noOp"))))
    assert r.returncode == 0


def test_nodes_list_and_show() -> None:
    r = relayflow("nodes")
    assert r.returncode == 0 and "relayflow.noOp" in r.stdout and "n8n-nodes-base.noOp" in r.stdout
    r = relayflow("nodes", "show", "n8n-nodes-base.noOp")
    shown = json.loads(r.stdout)
    assert shown["type"] == "relayflow.noOp" and shown["parameters"]["type"] == "object"
    r = relayflow("nodes", "--json")
    assert any(n["type"] == "relayflow.manualTrigger" for n in json.loads(r.stdout))


def test_docs_node_catalogue_is_up_to_date() -> None:
    r = relayflow("nodes", "--markdown")
    docs = Path(__file__).resolve().parents[3] / "docs" / "nodes.md"
    assert r.stdout == docs.read_text(), "run: relayflow nodes --markdown > docs/nodes.md"


def test_run_writes_the_terminal_files_to_binary_dir(tmp_path: Path) -> None:
    """Convert to File makes a file in the (in-memory) binary store; --binary-dir saves it, and
    an inline file of the input too, never overwriting what is there."""
    wf = {
        "name": "files",
        "nodes": [
            {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {
                "name": "To JSON",
                "type": "n8n-nodes-base.convertToFile",
                "typeVersion": 1.1,
                "parameters": {"operation": "toJson", "mode": "each", "options": {"fileName": "../row.json"}},
            },
            {"name": "Pass", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {
            "Start": {
                "main": [
                    [
                        {"node": "To JSON", "type": "main", "index": 0},
                        {"node": "Pass", "type": "main", "index": 0},
                    ]
                ]
            }
        },
    }
    path = write(tmp_path, "wf.json", wf)
    items = [{"json": {"a": 1}, "binary": {"doc": {"data": "aGVsbG8=", "mimeType": "text/plain"}}}]
    out = tmp_path / "out"
    out.mkdir()
    (out / "row.json").write_text("keep me")
    r = relayflow("run", str(path), "-q", "--input", json.dumps(items), "--binary-dir", str(out))
    assert r.returncode == 0, r.stderr
    # To JSON's item keeps the input's file beside its own (as n8n); Pass has the input's
    assert "wrote 3 file(s)" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["Pass_0_doc", "To JSON_0_doc", "row-1.json", "row.json"]
    assert (out / "row.json").read_text() == "keep me"  # never overwritten
    assert json.loads((out / "row-1.json").read_text()) == {"a": 1}  # no folder part from the name
    assert (out / "Pass_0_doc").read_bytes() == (out / "To JSON_0_doc").read_bytes() == b"hello"
