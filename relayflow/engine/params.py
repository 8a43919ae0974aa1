"""Parameters: find the ``=`` expressions once per node, evaluate them per item, validate.

A node never reads a raw parameter: it gets its ``Params`` model, evaluated for item 0, and can
ask for one model per item. Expressions are evaluated in one batched call per parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from relayflow.engine.expression import Compiled, ExpressionEngine, ExpressionScope
from relayflow.errors import ExpressionError, ParameterInvalid

Path = tuple[str | int, ...]


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _walk(value: Any, path: Path, found: list[tuple[Path, str]], keep: frozenset[Path] = frozenset()) -> Any:
    """Collect expression strings; return ``value`` with ``=literal`` strings (no ``{{``) unwrapped.
    Subtrees at the ``keep`` paths are left as they are (the node evaluates them itself)."""
    if path in keep:
        return value
    if isinstance(value, str):
        if value.startswith("="):
            body = value[1:]
            if "{{" in body:
                found.append((path, body))
                return value
            return body
        return value
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), found, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), found, keep) for i, v in enumerate(value)]
    return value


def _substitute(tree: Any, path: Path, value: Any, depth: int = 0) -> Any:
    """Copy only the containers along ``path`` and put ``value`` at its end."""
    if depth == len(path):
        return value
    key = path[depth]
    if isinstance(tree, dict):
        new_d = dict(tree)
        new_d[key] = _substitute(tree[key], path, value, depth + 1)
        return new_d
    new_l = list(tree)
    new_l[key] = _substitute(tree[key], path, value, depth + 1)  # type: ignore[index]
    return new_l


def path_text(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


class ParamPlan:
    """One node's parameters, prepared once per execution."""

    def __init__(
        self,
        node: str,
        raw: dict[str, Any],
        model: type[BaseModel],
        engine: ExpressionEngine | None,
        deferred: Sequence[Path] = (),
    ):
        self.node = node
        self.model = model
        self.engine = engine
        found: list[tuple[Path, str]] = []
        # deferred paths keep their expressions: the node evaluates them (NodeContext.evaluate)
        self.raw: dict[str, Any] = _walk(raw, (), found, frozenset(deferred))
        self.expressions: list[tuple[Path, Compiled]] = []
        for path, body in found:
            if engine is None:
                raise ExpressionError(
                    "expressions are not available here", node=node, parameter=path_text(path)
                )
            try:
                self.expressions.append((path, engine.compile(body)))
            except ExpressionError as exc:
                raise exc.located(node=node, parameter=path_text(path)) from None
        self._static: BaseModel | None = None
        if not self.expressions:
            self._static = self._validate(self.raw, None)

    @property
    def dynamic(self) -> bool:
        return bool(self.expressions)

    @property
    def static(self) -> BaseModel | None:
        """The validated parameters when no expression is involved."""
        return self._static

    def _validate(self, data: dict[str, Any], item_index: int | None) -> BaseModel:
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = "parameters." + path_text(tuple(err["loc"]))
            at = f" (item {item_index})" if item_index is not None and self.expressions else ""
            raise ParameterInvalid(f"{err['msg']}{at}", node=self.node, field=field) from None

    async def _columns(self, scope: ExpressionScope, indexes: Sequence[int]) -> list[list[Any]]:
        assert self.engine is not None
        cols = []
        for path, compiled in self.expressions:
            try:
                cols.append(await self.engine.evaluate(compiled, scope, indexes))
            except ExpressionError as exc:
                raise exc.located(node=self.node, parameter=path_text(path)) from None
        return cols

    async def for_item(self, scope: ExpressionScope, index: int = 0) -> BaseModel:
        if self._static is not None:
            return self._static
        cols = await self._columns(scope, [index])
        data: Any = self.raw
        for (path, _), col in zip(self.expressions, cols, strict=True):
            data = _substitute(data, path, col[0])
        return self._validate(data, index)

    async def for_items(self, scope: ExpressionScope, count: int) -> list[BaseModel]:
        if self._static is not None:
            return [self._static] * count
        if count == 0:
            return []
        cols = await self._columns(scope, range(count))
        out = []
        paths = [p for p, _ in self.expressions]
        for i in range(count):
            data: Any = self.raw
            for path, col in zip(paths, cols, strict=True):
                data = _substitute(data, path, col[i])
            out.append(self._validate(data, i))
        return out

    async def columns(self, scope: ExpressionScope, count: int) -> dict[Path, list[Any]]:
        """Raw evaluated values per expression path (for hot nodes that map values themselves)."""
        if not self.expressions or count == 0:
            return {}
        cols = await self._columns(scope, range(count))
        return {p: c for (p, _), c in zip(self.expressions, cols, strict=True)}
