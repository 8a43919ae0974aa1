from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from relayflow.errors import RegistryError, UnknownNodeType
from relayflow.nodes import registry as registry_mod
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.registry import Registry, default_registry, load_plugins
from relayflow.nodes.spec import EmptyParams, N8nAlias, NodeSpec


async def _noop(ctx: Any, items: Any, params: Any) -> Any:
    return [items]


def spec(type_: str = "acme.thing", **kw: Any) -> NodeSpec:
    base: dict[str, Any] = dict(
        type=type_,
        version=1,
        title="Thing",
        group="action",
        description="d",
        params=EmptyParams,
        execute=_noop,
    )
    base.update(kw)
    return NodeSpec(**base)


def test_builtins_register_without_conflicts() -> None:
    reg = Registry(BUILTIN_SPECS)
    assert len(reg) == len(BUILTIN_SPECS)
    assert "n8n-nodes-base.noOp" in reg.types()


def test_duplicate_registration_is_refused() -> None:
    reg = Registry([spec()])
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(spec())


def test_duplicate_alias_is_refused() -> None:
    reg = Registry([spec(aliases=(N8nAlias("n8n-nodes-base.thing", (1,)),))])
    with pytest.raises(RegistryError, match="alias"):
        reg.register(spec("acme.other", aliases=(N8nAlias("n8n-nodes-base.thing", (1,)),)))


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"type": "nodots"}, "package.name"),
        ({"version": 0}, "version"),
        ({"title": ""}, "title"),
        ({"params": dict}, "pydantic"),
        ({"execute": None}, "callable"),
        ({"aliases": (N8nAlias("x.y", ()),)}, "no versions"),
    ],
)
def test_malformed_specs_are_refused(kw: dict[str, Any], msg: str) -> None:
    with pytest.raises(RegistryError, match=msg):
        Registry([spec(**kw)])


def test_resolve_alias_versions() -> None:
    class P(BaseModel):
        v: int = 0

    def translate(raw: dict[str, Any], version: float) -> dict[str, Any]:
        return {"v": int(version * 10)}

    reg = Registry([spec(params=P, aliases=(N8nAlias("n8n-nodes-base.thing", (1, 2.1), translate),))])
    r = reg.resolve("n8n-nodes-base.thing", 2.1)
    assert r.spec.type == "acme.thing" and r.parameters({}) == {"v": 21}
    with pytest.raises(UnknownNodeType, match=r"supported: 1, 2\.1"):
        reg.resolve("n8n-nodes-base.thing", 3)
    with pytest.raises(UnknownNodeType):
        reg.resolve("acme.thing", 2)
    assert reg.resolve("acme.thing", 1).translate is None


def test_spec_exports_json_schema() -> None:
    for s in default_registry():
        schema = s.describe()["parameters"]
        assert schema["type"] == "object", s.type


def test_plugins_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    class EP:
        name = "acme"

        def load(self) -> Any:
            return [spec("acme.plugin")]

    monkeypatch.setattr(
        registry_mod, "entry_points", lambda group: [EP()] if group == "relayflow.nodes" else []
    )
    reg = Registry()
    assert load_plugins(reg) == ["acme"]
    assert reg.get("acme.plugin").title == "Thing"


def test_broken_plugin_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    class EP:
        name = "broken"

        def load(self) -> Any:
            raise ImportError("no module named acme")

    monkeypatch.setattr(registry_mod, "entry_points", lambda group: [EP()])
    with pytest.raises(RegistryError, match="broken"):
        load_plugins(Registry())
