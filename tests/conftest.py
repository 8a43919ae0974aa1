from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REQUIRE_SERVICES = os.environ.get("RELAYFLOW_REQUIRE_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _reset_test_node_state() -> None:
    from tests.unit.engine import testnodes

    testnodes.STATE.clear()


# --- real PostgreSQL: one migrated template per session, a fresh clone per test ---------------


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    from relayflow.testing import services

    if not services.postgres_available():
        services.require_or_skip("PostgreSQL", f"nothing listens at {services.postgres_location()}")
    name = services.run_sync(services.create_migrated_template())
    yield name
    services.run_sync(services.drop_database(name))


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    from relayflow.testing import services

    name = services.fresh_database_name()
    url = services.run_sync(services.create_database(name, template=pg_template))
    yield url
    services.run_sync(services.drop_database(name))
