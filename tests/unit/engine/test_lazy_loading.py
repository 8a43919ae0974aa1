"""What the server defers until it is needed: the built-in node modules (loaded on the default
registry's first lookup, at once when plug-ins are installed) and the V8 expression engine
(imported when the first expression is compiled)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import pytest

from relayflow.engine.expression import ExpressionScope
from relayflow.errors import RegistryError
from relayflow.nodes import registry as registry_mod
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry, default_registry
from relayflow.runtime import LazyExpressionEngine, build_engine
from tests.unit.engine.test_registry import spec


def loaded_after(code: str) -> list[str]:
    """The modules among a few heavy ones that ``code`` has imported, in a fresh interpreter."""
    watched = [
        "relayflow.nodes.builtin",
        "relayflow.nodes.set_node",
        "relayflow.expressions.engine",
        "py_mini_racer",
    ]
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def test_building_an_engine_loads_no_node_module_nor_v8() -> None:
    assert loaded_after("from relayflow.runtime import build_engine\nbuild_engine()") == []


def test_the_first_lookup_loads_the_builtins() -> None:
    code = "from relayflow.nodes.registry import default_registry\ndefault_registry().get('relayflow.set')"
    assert loaded_after(code)[:2] == ["relayflow.nodes.builtin", "relayflow.nodes.set_node"]


def test_the_default_registry_holds_every_builtin() -> None:
    reg = default_registry()
    assert len(reg) == len(BUILTIN_SPECS)
    assert {(s.type, s.version) for s in reg} == {(s.type, s.version) for s in BUILTIN_SPECS}


def test_deferred_specs_register_before_any_lookup() -> None:
    calls: list[int] = []

    def later() -> list[Any]:
        calls.append(1)
        return [spec("acme.later")]

    reg = Registry([spec("acme.now")], deferred=later)
    assert calls == []
    assert reg.types() == ["acme.later", "acme.now"]
    assert reg.get("acme.later").type == "acme.later"
    assert calls == [1]


def test_a_registration_meets_the_deferred_specs_first() -> None:
    reg = Registry(deferred=lambda: [spec("acme.thing")])
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(spec("acme.thing"))


def test_threads_share_one_load() -> None:
    started = threading.Event()
    calls: list[int] = []

    def later() -> list[Any]:
        calls.append(1)
        started.wait(5)
        return [spec("acme.slow")]

    reg = Registry(deferred=later)
    seen: list[int] = []
    threads = [threading.Thread(target=lambda: seen.append(len(reg))) for _ in range(4)]
    for t in threads:
        t.start()
    started.set()
    for t in threads:
        t.join(5)
    assert calls == [1]
    assert seen == [1, 1, 1, 1]


def test_installed_plugins_load_everything_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    class EP:
        name = "broken"

        def load(self) -> Any:
            raise ImportError("no module named acme")

    monkeypatch.setattr(registry_mod, "_default", None)
    monkeypatch.setattr(registry_mod, "entry_points", lambda group: [EP()])
    with pytest.raises(RegistryError, match="broken"):
        default_registry()


async def test_the_lazy_engine_evaluates_like_the_real_one() -> None:
    lazy = LazyExpressionEngine()
    try:
        compiled = lazy.compile("{{ [1, 2, 3].map(v => v * $json.k) }}")
        scope = ExpressionScope(node="N", items=[{"json": {"k": 2}}])
        assert await lazy.evaluate(compiled, scope, [0]) == [[2, 4, 6]]
        assert lazy.limits.max_contexts >= 1  # beyond the protocol: the real engine's
    finally:
        lazy.close()


def test_closing_an_unused_lazy_engine_loads_nothing() -> None:
    assert (
        loaded_after("from relayflow.runtime import LazyExpressionEngine\nLazyExpressionEngine().close()")
        == []
    )


def test_build_engine_keeps_a_given_expression_engine() -> None:
    given = LazyExpressionEngine()
    assert build_engine(expressions=given).expressions is given
