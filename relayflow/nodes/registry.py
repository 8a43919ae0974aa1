"""The node registry: built-ins listed explicitly, plug-ins from the ``relayflow.nodes`` entry points.

The default registry imports the built-in node modules (and builds their pydantic models) on its
first lookup, not when it is made: a server that has not run or checked a workflow yet has not
paid for them. With plug-ins installed it loads everything at once, so a broken one fails at start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from relayflow.errors import RegistryError, UnknownNodeType
from relayflow.nodes.spec import NodeSpec, TranslateFn

ENTRY_POINT_GROUP = "relayflow.nodes"


@dataclass(frozen=True)
class Resolved:
    """A workflow node's type string resolved to the spec that runs it."""

    spec: NodeSpec
    translate: TranslateFn | None
    type_version: float

    def parameters(self, raw: dict[str, Any]) -> dict[str, Any]:
        return self.translate(raw, self.type_version) if self.translate else raw


def _version_key(v: float) -> float:
    return round(float(v), 4)


class Registry:
    """Node specs by type and version, and the n8n aliases that point at them.

    ``deferred`` yields more specs, registered before the first lookup or registration (or by
    ``load()``); ``specs`` are registered at once.
    """

    def __init__(
        self, specs: Iterable[NodeSpec] = (), *, deferred: Callable[[], Iterable[NodeSpec]] | None = None
    ) -> None:
        self._specs: dict[tuple[str, int], NodeSpec] = {}
        self._aliases: dict[tuple[str, float], tuple[NodeSpec, TranslateFn | None]] = {}
        self._alias_versions: dict[str, list[float]] = {}
        self._deferred = deferred
        self._lock = threading.RLock()  # a re-entrant load fails loudly instead of hanging
        for s in specs:
            self._add(s)

    def load(self) -> Registry:
        """Register the deferred specs now (once; a second caller waits for the first)."""
        if self._deferred is not None:
            with self._lock:
                if self._deferred is not None:
                    specs = list(self._deferred())  # an import error leaves the registry as it was
                    for s in specs:
                        self._add(s)
                    self._deferred = None
        return self

    def register(self, spec: NodeSpec) -> None:
        self.load()
        self._add(spec)

    def _add(self, spec: NodeSpec) -> None:
        if not isinstance(spec, NodeSpec):
            raise RegistryError(f"not a NodeSpec: {spec!r}")
        problems = spec.check()
        if problems:
            raise RegistryError(f"malformed node spec {spec.type!r}: " + "; ".join(problems))
        key = (spec.type, spec.version)
        if key in self._specs:
            raise RegistryError(f"node type {spec.type!r} version {spec.version} is already registered")
        for alias in spec.aliases:
            for v in alias.versions:
                akey = (alias.type, _version_key(v))
                if akey in self._aliases:
                    raise RegistryError(f"alias {alias.type!r} version {v} is already registered")
        self._specs[key] = spec
        for alias in spec.aliases:
            for v in alias.versions:
                self._aliases[(alias.type, _version_key(v))] = (spec, alias.translate)
                self._alias_versions.setdefault(alias.type, []).append(float(v))

    def __iter__(self) -> Iterator[NodeSpec]:
        self.load()
        return iter(sorted(self._specs.values(), key=lambda s: (s.type, s.version)))

    def __len__(self) -> int:
        self.load()
        return len(self._specs)

    def get(self, type_: str, version: int | None = None) -> NodeSpec:
        self.load()
        if version is None:
            versions = [v for (t, v) in self._specs if t == type_]
            if not versions:
                raise UnknownNodeType(f"unknown node type {type_!r}")
            version = max(versions)
        try:
            return self._specs[(type_, version)]
        except KeyError:
            raise UnknownNodeType(f"unknown node type {type_!r} version {version}") from None

    def find(self, type_: str) -> list[NodeSpec]:
        """Every version of a type, or of the node an n8n alias points to."""
        self.load()
        found = [s for s in self if s.type == type_]
        if not found:
            found = list(
                {id(spec): spec for (t, _), (spec, _) in self._aliases.items() if t == type_}.values()
            )
        return found

    def resolve(self, type_: str, type_version: float) -> Resolved:
        """Find the spec for a node's ``type`` and ``typeVersion`` (ours or an n8n alias)."""
        self.load()
        version = float(type_version)
        alias = self._aliases.get((type_, _version_key(version)))
        if alias is not None:
            return Resolved(alias[0], alias[1], version)
        if type_ in self._alias_versions:
            known = ", ".join(f"{v:g}" for v in sorted(set(self._alias_versions[type_])))
            raise UnknownNodeType(
                f"typeVersion {version:g} of {type_!r} is not supported (supported: {known})"
            )
        if not version.is_integer():
            raise UnknownNodeType(f"unknown node type {type_!r} version {version:g}")
        return Resolved(self.get(type_, int(version)), None, version)

    def types(self) -> list[str]:
        self.load()
        return sorted({t for t, _ in self._specs} | set(self._alias_versions))


def load_plugins(registry: Registry) -> list[str]:
    """Register third-party specs from entry points; returns the names loaded.

    An entry point may name a ``NodeSpec`` or an iterable of them.
    """
    loaded: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise RegistryError(f"node plug-in {ep.name!r} failed to load: {exc}") from exc
        specs = [obj] if isinstance(obj, NodeSpec) else list(obj)
        for spec in specs:
            registry.register(spec)
        loaded.append(ep.name)
    return loaded


def builtin_specs() -> tuple[NodeSpec, ...]:
    """The built-in specs (importing every built-in node module)."""
    from relayflow.nodes.builtin import BUILTIN_SPECS

    return BUILTIN_SPECS


_default: Registry | None = None


def default_registry() -> Registry:
    """Built-ins plus plug-ins, made once per process; the built-ins load on first use."""
    global _default
    if _default is None:
        reg = Registry(deferred=builtin_specs)
        if entry_points(group=ENTRY_POINT_GROUP):
            load_plugins(reg)
        _default = reg
    return _default
