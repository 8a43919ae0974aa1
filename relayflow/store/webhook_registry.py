"""Persistent webhook registrations: which workflow node listens at (method, path).

Invariants, the same on every backend (tests/contract/test_webhook_registry.py):

- (method, route key) is unique across workflows. The route key is the path normalised as the
  route table does (no leading, trailing or doubled slashes; case kept) with every parameter
  segment's name dropped: ``/orders/:id/`` and ``orders/:key`` both have the key ``orders/:``,
  because they match the same requests and so would make routing ambiguous. A static segment
  never conflicts with a parameter (``orders/new`` and ``orders/:id`` may coexist: static wins).
- ``register`` replaces all of one workflow's registrations at once; when a (method, key) is held
  by another workflow it raises ``Conflict`` naming that workflow, and nothing changes. On SQL the
  unique constraint on ``webhooks (method, path)`` decides, so of two processes racing for one
  key exactly one wins.
- The stored ``path`` is the route key (SQL's column holds it so that the constraint is the rule);
  the parameter names live in the workflow, which the route table is built from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from relayflow.errors import Conflict, InputInvalid
from relayflow.triggers.webhooks import METHODS, normalize_path

MAX_PATH_CHARS = 512
MAX_NODE_CHARS = 255


@dataclass(frozen=True, order=True)
class WebhookEntry:
    path: str  # the route key (see the module docstring)
    method: str
    workflow_id: str
    node: str


class WebhookRegistry(Protocol):
    async def register(self, workflow_id: str, routes: Iterable[tuple[str, str, str]]) -> list[WebhookEntry]:
        """Replace the workflow's registrations by ``routes`` of (method, path, node); returns
        them as stored. Raises Conflict when another workflow holds one, InputInvalid for a bad
        method or path, and (SQL) NotFound for an unknown workflow."""

    async def unregister(self, workflow_id: str) -> int:
        """Drop the workflow's registrations; returns how many there were."""

    async def all(self) -> list[WebhookEntry]:
        """Every registration, ordered by (path, method)."""

    async def close(self) -> None: ...


def route_key(path: str) -> str:
    """``/orders/:id/`` → ``orders/:``: the path as the uniqueness rule sees it."""
    segments = normalize_path(path).split("/")
    return "/".join(":" if s.startswith(":") and len(s) > 1 else s for s in segments)


def entries(workflow_id: str, routes: Iterable[tuple[str, str, str]]) -> dict[WebhookEntry, str]:
    """Validated entries for ``routes`` (in order), each with its path as written (normalised);
    Conflict when the workflow lists a (method, key) twice."""
    out: dict[tuple[str, str], tuple[WebhookEntry, str]] = {}
    for method, path, node in routes:
        verb = method.strip().upper()
        if verb not in METHODS:
            raise InputInvalid(f"unsupported webhook method {method!r}: use one of {', '.join(METHODS)}")
        key = route_key(path)
        if not key:
            raise InputInvalid(f"the webhook path of node {node!r} is empty")
        if len(key) > MAX_PATH_CHARS:
            raise InputInvalid(
                f"the webhook path of node {node!r} is longer than {MAX_PATH_CHARS} characters"
            )
        if not node or len(node) > MAX_NODE_CHARS:
            raise InputInvalid(
                f"a webhook node name must have 1 to {MAX_NODE_CHARS} characters, not {node!r}"
            )
        entry = WebhookEntry(key, verb, workflow_id, node)
        twin, _ = out.setdefault((verb, key), (entry, normalize_path(path)))
        if twin is not entry:
            raise Conflict(
                f"webhook {verb} /{normalize_path(path)} is registered twice in workflow {workflow_id!r} "
                f"(nodes {twin.node!r} and {node!r})"
            )
    return dict(sorted(out.values()))


def conflict(entry: WebhookEntry, written: str, holder: WebhookEntry | None) -> Conflict:
    """The error for ``entry`` (path as ``written``) whose key ``holder`` (None: unknown) holds."""
    if holder is None:
        return Conflict(
            f"webhook {entry.method} /{written} was registered at the same time by another request; try again"
        )
    return Conflict(
        f"webhook {entry.method} /{written} is already used by workflow {holder.workflow_id!r} "
        f"(node {holder.node!r}, path /{holder.path})"
    )


class MemoryWebhookRegistry:
    """The embedded registry and the contract's reference (no knowledge of the workflows)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], WebhookEntry] = {}

    async def register(self, workflow_id: str, routes: Iterable[tuple[str, str, str]]) -> list[WebhookEntry]:
        new = entries(workflow_id, routes)
        for entry, written in new.items():
            holder = self._by_key.get((entry.method, entry.path))
            if holder is not None and holder.workflow_id != workflow_id:
                raise conflict(entry, written, holder)
        self._drop(workflow_id)
        self._by_key.update({(e.method, e.path): e for e in new})
        return list(new)

    def _drop(self, workflow_id: str) -> Sequence[WebhookEntry]:
        mine = [e for e in self._by_key.values() if e.workflow_id == workflow_id]
        for e in mine:
            del self._by_key[(e.method, e.path)]
        return mine

    async def unregister(self, workflow_id: str) -> int:
        return len(self._drop(workflow_id))

    async def all(self) -> list[WebhookEntry]:
        return sorted(self._by_key.values())

    async def close(self) -> None:
        return None
