"""Settings from the environment, ``open_stores``, and the engine writing through the SQL store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relayflow.errors import InputInvalid
from relayflow.store.config import database_url, normalize_url, open_stores, relayflow_home
from relayflow.testing import make_engine, run_workflow

EXAMPLE = Path(__file__).parents[2] / "examples" / "hello.json"


def test_defaults_live_under_relayflow_home(tmp_path: Path) -> None:
    assert relayflow_home({}) == Path("~/.relayflow").expanduser()
    env = {"RELAYFLOW_HOME": str(tmp_path)}
    assert database_url(env) == f"sqlite+aiosqlite:///{tmp_path}/relayflow.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/rf", "postgresql+asyncpg://u:p@db:5432/rf"),
        ("postgres://u@db/rf", "postgresql+asyncpg://u@db/rf"),
        ("postgresql+asyncpg://u@db/rf", "postgresql+asyncpg://u@db/rf"),
        ("sqlite:////var/rf.db", "sqlite+aiosqlite:////var/rf.db"),
    ],
)
def test_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
    assert database_url({"RELAYFLOW_DATABASE_URL": given}) == expected


@pytest.mark.parametrize(
    "bad", ["mysql://u@db/rf", "postgresql+psycopg2://u@db/rf", "no url", "sqlite+pysqlite:///x"]
)
def test_other_databases_are_refused(bad: str) -> None:
    with pytest.raises(InputInvalid):
        normalize_url(bad)


async def test_open_stores_creates_the_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RELAYFLOW_DATABASE_URL", raising=False)
    workflows, executions = await open_stores()
    try:
        created = await workflows.create({"name": "x"})
        assert await workflows.get(created.id) == created
    finally:
        await workflows.close()
        await executions.close()
    assert (tmp_path / "home" / "relayflow.db").is_file()


async def test_engine_runs_record_through_the_sql_store(sql_url: str) -> None:
    workflows, executions = await open_stores(sql_url)
    try:
        stored = await workflows.create(json.loads(EXAMPLE.read_text()))
        engine = make_engine(store=executions)
        rec = await run_workflow(
            stored.data, input=[{"name": "Ada"}, {"name": "Grace Hopper"}], engine=engine
        )
        got = await executions.get(rec.id)
        assert got is not None
        assert got.to_dict() == rec.to_dict()
        assert [r.node for r in got.node_runs] == [r.node for r in rec.node_runs]
        assert got.runs_of("Long")[0].output == rec.runs_of("Long")[0].output
    finally:
        await workflows.close()
        await executions.close()
