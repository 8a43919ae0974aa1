"""A node is data (``NodeSpec``) plus one coroutine (``execute``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from relayflow.engine.items import Items, NodeOutput

if TYPE_CHECKING:
    from relayflow.engine.context import NodeContext

Group = Literal["trigger", "transform", "flow", "action", "core", "data"]

# execute(ctx, items of input 0, params evaluated for item 0) -> one list of items per output
ExecuteFn = Callable[["NodeContext", Items, Any], Awaitable[NodeOutput]]
# n8n parameters (expressions still in place) + typeVersion -> our parameters
TranslateFn = Callable[[dict[str, Any], float], dict[str, Any]]
PortsFn = Callable[[Any], tuple[str, ...]]
# poll(poll context, validated params) -> the new items (relayflow.triggers.polling.PollContext)
PollFn = Callable[[Any, Any], Awaitable[Items]]
ParamsModel = type[BaseModel]


class EmptyParams(BaseModel, frozen=True, extra="allow"):
    """For nodes with no parameters; tolerates whatever an export carries."""


@dataclass(frozen=True)
class CredentialSlot:
    name: str
    required: bool = False


@dataclass(frozen=True)
class N8nAlias:
    """An n8n type string accepted for this node, with the versions it understands.

    ``translate`` maps the n8n parameter shape of a given typeVersion onto our ``Params``;
    ``None`` means the shapes are identical.
    """

    type: str
    versions: tuple[float, ...]
    translate: TranslateFn | None = None


_TYPE_RE = re.compile(r"^[A-Za-z0-9_@.\-/]+\.[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class NodeSpec:
    type: str
    version: int
    title: str
    group: Group
    description: str
    params: ParamsModel
    execute: ExecuteFn
    inputs: tuple[str, ...] | PortsFn = ("main",)
    outputs: tuple[str, ...] | PortsFn = ("main",)
    credentials: tuple[CredentialSlot, ...] = ()
    aliases: tuple[N8nAlias, ...] = ()
    # Trigger nodes start executions; in a manual run they emit the run's input items.
    trigger: bool = False
    # Ignored at run time (sticky notes).
    ignored: bool = False
    # Polling triggers: the server calls ``poll`` at each of the node's ``pollTimes`` and starts
    # an execution only when it returns items (relayflow/triggers/polling.py).
    poll: PollFn | None = None
    # Extra per-spec metadata for the editor (icon, colour, subtitle...).
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Parameter paths whose ``=`` expressions are not evaluated before ``execute``: the node
    # evaluates them itself with ``ctx.evaluate`` (e.g. with ``$response``, per page).
    deferred_params: tuple[tuple[str | int, ...], ...] = ()

    def input_names(self, params: Any = None) -> tuple[str, ...]:
        return self.inputs(params) if callable(self.inputs) else self.inputs

    def output_names(self, params: Any = None) -> tuple[str, ...]:
        return self.outputs(params) if callable(self.outputs) else self.outputs

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.params.model_json_schema()
        return schema

    def describe(self) -> dict[str, Any]:
        """The spec as JSON, schema included (``relayflow nodes show``, the editor, the API)."""
        return {
            "type": self.type,
            "version": self.version,
            "title": self.title,
            "group": self.group,
            "description": self.description,
            "trigger": self.trigger,
            "inputs": "dynamic" if callable(self.inputs) else list(self.inputs),
            "outputs": "dynamic" if callable(self.outputs) else list(self.outputs),
            "credentials": [{"name": c.name, "required": c.required} for c in self.credentials],
            "aliases": [{"type": a.type, "versions": list(a.versions)} for a in self.aliases],
            "parameters": self.json_schema(),
        }

    def check(self) -> list[str]:
        """Problems that make this spec unusable; empty when it is well formed."""
        problems: list[str] = []
        if not _TYPE_RE.match(self.type):
            problems.append(f"type {self.type!r} is not of the form 'package.name'")
        if not isinstance(self.version, int) or self.version < 1:
            problems.append("version must be a positive integer")
        if not self.title:
            problems.append("title is empty")
        if not (isinstance(self.params, type) and issubclass(self.params, BaseModel)):
            problems.append("params must be a pydantic model class")
        if not callable(self.execute):
            problems.append("execute is not callable")
        for ports, what in ((self.inputs, "inputs"), (self.outputs, "outputs")):
            if not callable(ports) and not isinstance(ports, tuple):
                problems.append(f"{what} must be a tuple of names or a function of the params")
        for a in self.aliases:
            if not a.versions:
                problems.append(f"alias {a.type} lists no versions")
        # The JSON Schema is generated lazily (it costs ~5 ms a node at start-up); a test checks
        # that every built-in node exports one, and `relayflow nodes show` reports a broken one.
        return problems


def renamed_options(options: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """n8n's ``options`` collection with its keys renamed to ours (``names``: n8n key → ours);
    options we have no equivalent for are dropped. For ``from_n8n`` translations."""
    if not isinstance(options, Mapping):
        return {}
    return {names[key]: value for key, value in options.items() if key in names}
