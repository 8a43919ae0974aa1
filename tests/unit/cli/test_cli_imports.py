"""What each command loads: the command line and the commands that do not serve must not pay
for the server stack (FastAPI, uvicorn, SQLAlchemy, Alembic). Checked in a fresh interpreter,
through ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.cli.test_cli import chain, write

SERVER_STACK = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "aiosqlite", "asyncpg")


def loaded_by(*args: str, cwd: Path | None = None) -> set[str]:
    """The top-level packages ``relayflow *args`` has imported when it exits (successfully)."""
    code = (
        "import json, sys\n"
        "from relayflow.cli import main\n"
        f"sys.argv = ['relayflow', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stderr.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_server_stack_nor_v8() -> None:
    code = "import json, sys, relayflow.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules = {m.split(".")[0] for m in json.loads(out.stdout)}
    assert modules.isdisjoint((*SERVER_STACK, "pydantic", "py_mini_racer"))


def test_help_loads_no_server_stack() -> None:
    assert loaded_by("--help").isdisjoint(SERVER_STACK)


def test_run_loads_no_server_stack(tmp_path: Path) -> None:
    wf = write(tmp_path, "wf.json", chain("n8n-nodes-base.noOp"))
    assert loaded_by("run", str(wf), "-q").isdisjoint(SERVER_STACK)


def test_nodes_and_validate_load_no_server_stack(tmp_path: Path) -> None:
    wf = write(tmp_path, "wf.json", chain("n8n-nodes-base.noOp"))
    assert loaded_by("nodes").isdisjoint(SERVER_STACK)
    assert loaded_by("validate", str(wf)).isdisjoint(SERVER_STACK)
