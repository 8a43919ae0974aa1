from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("RELAYFLOW_REQUIRE_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _reset_test_node_state() -> None:
    from tests.unit.engine import testnodes

    testnodes.STATE.clear()
