"""``relayflow n8n-report DIR``: counts, the missing node types, the failures; nothing stored."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli.test_cli import chain, relayflow, write

REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("RELAYFLOW_N8N_CORPUS", REPO.parent / "shared" / "n8n-corpus"))
UNKNOWN = "n8n-nodes-base.notARealNode"


def sticky(wf: dict[str, Any]) -> dict[str, Any]:
    note = {"name": "Note", "type": "n8n-nodes-base.stickyNote", "typeVersion": 1, "position": [0, 300]}
    return {**wf, "nodes": [*wf["nodes"], {**note, "parameters": {"content": "## why"}}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """One fully supported workflow (with a sticky note), one with an unknown type, invalid JSON,
    and in a subfolder an array of three: supported, twice the unknown type, and one whose
    connection points at a missing node. Plus a file that is not JSON by name (ignored)."""
    write(tmp_path, "supported.json", sticky(chain("n8n-nodes-base.noOp")))
    write(tmp_path, "unknown.json", chain(UNKNOWN))
    write(tmp_path, "broken.json", '{"nodes": [')
    write(tmp_path, "notes.txt", "not a workflow")
    dangling = chain("n8n-nodes-base.noOp")
    dangling["connections"]["N0"] = {"main": [[{"node": "Nowhere", "type": "main", "index": 0}]]}
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "all.json", [chain("n8n-nodes-base.noOp"), chain(UNKNOWN, UNKNOWN), dangling])
    return tmp_path


def test_counts_missing_types_and_failures_as_json(folder: Path) -> None:
    r = relayflow("n8n-report", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no progress bar off a terminal
    report = json.loads(r.stdout)
    assert set(report) == {"files", "workflows", "parsed", "fully_supported", "missing", "failures"}
    assert report["files"] == 4
    assert report["workflows"] == 6  # the invalid JSON file counts as one workflow
    assert report["parsed"] == 4
    assert report["fully_supported"] == 2
    assert report["missing"] == [{"type": UNKNOWN, "workflows": 2, "nodes": 3, "versions": [1.0]}]
    failures = {f["file"]: f["error"] for f in report["failures"]}
    assert set(failures) == {str(folder / "broken.json"), f"{folder / 'sub' / 'all.json'}[2]"}
    assert failures[str(folder / "broken.json")].startswith("invalid JSON")
    assert "Nowhere" in failures[f"{folder / 'sub' / 'all.json'}[2]"]


def test_table_and_top(folder: Path) -> None:
    r = relayflow("n8n-report", str(folder))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.rsplit(None, 2)[-2:] for line in lines[2:5]] == [["4", "67%"], ["2", "33%"], ["2", "33%"]]
    assert [line.split()[-1] for line in lines[:2]] == ["4", "6"]
    assert lines[3].startswith("fully supported")
    row = next(line for line in lines if line.startswith(UNKNOWN))
    assert row.split()[-2:] == ["2", "3"]
    assert "parse problems (top 2):" in lines
    assert any("invalid JSON" in line for line in lines)
    r = relayflow("n8n-report", str(folder), "--top", "0")
    assert "missing node types: 1 (top 0)" in r.stdout
    assert UNKNOWN not in r.stdout


def test_nothing_to_read_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for target in (tmp_path / "absent", tmp_path):
        r = relayflow("n8n-report", str(target))
        assert r.returncode == 2
        assert r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"n8n corpus not found at {CORPUS}")
def test_the_n8n_corpus() -> None:
    r = relayflow("n8n-report", str(CORPUS), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["files"] == len(list(CORPUS.rglob("*.json"))) == 101
    assert report["workflows"] >= report["files"]
    assert report["parsed"] >= 0.9 * report["workflows"]
    assert report["parsed"] + len(report["failures"]) == report["workflows"]
    assert report["fully_supported"] >= 25  # tests/compat's ratchet
    counts = [(m["workflows"], m["nodes"]) for m in report["missing"]]
    assert counts == sorted(counts, reverse=True)  # most frequent first


def test_loads_no_server_stack(folder: Path) -> None:
    from tests.unit.cli.test_cli_imports import SERVER_STACK, loaded_by

    assert loaded_by("n8n-report", str(folder / "sub")).isdisjoint(SERVER_STACK)
