"""n8n-style field paths: ``a.b[0].c`` get / set / delete on item ``json`` dicts.

Semantics follow lodash's ``get``/``set``/``unset`` as n8n uses them: a path that is itself a key
of the object is used as-is (``{"a.b": 1}`` answers ``"a.b"``); otherwise it is split on dots and
brackets (``["x.y"]`` quotes a key). With dot notation disabled a path is always one key.

``set_path`` and ``delete_path`` are copy-on-write: they copy every container along the path, so
they never touch a nested dict or list shared with an input item. The root must be the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final


class _Missing:
    """The value of a path that does not exist (JavaScript's ``undefined``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
Key = str | int
Getter = Callable[[dict[str, Any]], Any]

_SEGMENT = re.compile(r"""\[(\d+)\]|\[(["'])(.*?)\2\]|([^.[\]]+)""")


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[Key, ...]:
    """``'a.b[0]["c.d"]'`` → ``('a', 'b', 0, 'c.d')``."""
    parts: list[Key] = []
    for m in _SEGMENT.finditer(path):
        index, quoted, plain = m.group(1), m.group(3), m.group(4)
        if index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(quoted)
        else:
            parts.append(plain)
    return tuple(parts)


def _is_simple(path: str) -> bool:
    return "." not in path and "[" not in path


def _child(container: Any, key: Key) -> Any:
    if isinstance(container, dict):
        value = container.get(key if isinstance(key, str) else str(key), MISSING)
        return value
    if isinstance(container, list):
        idx = key if isinstance(key, int) else (int(key) if key.isdigit() else None)
        if idx is not None and 0 <= idx < len(container):
            return container[idx]
    return MISSING


def get_path(obj: Any, path: str, dot: bool = True) -> Any:
    """The value at ``path`` or ``MISSING``."""
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    if not dot or _is_simple(path):
        return MISSING
    cur = obj
    for key in parse_path(path):
        cur = _child(cur, key)
        if cur is MISSING:
            return MISSING
    return cur


def getter(path: str, dot: bool = True) -> Getter:
    """A fast reader for one path, to call once per item in hot loops."""
    if not dot or _is_simple(path):

        def simple(obj: dict[str, Any]) -> Any:
            return obj.get(path, MISSING)

        return simple
    parts = parse_path(path)

    def nested(obj: dict[str, Any]) -> Any:
        if path in obj:
            return obj[path]
        cur: Any = obj
        for key in parts:
            cur = _child(cur, key)
            if cur is MISSING:
                return MISSING
        return cur

    return nested


def column(items: Sequence[dict[str, Any]], path: str, dot: bool = True) -> list[Any]:
    """The value at ``path`` in each item's ``json`` (``MISSING`` where absent): the hot-loop reader."""
    if not dot or _is_simple(path):
        return [it["json"].get(path, MISSING) for it in items]
    get = getter(path, dot)
    return [get(it["json"]) for it in items]


def _keys(obj: dict[str, Any], path: str, dot: bool) -> tuple[Key, ...]:
    if not dot or _is_simple(path) or path in obj:
        return (path,)
    return parse_path(path) or (path,)


def _copy_or_new(value: Any, next_key: Key) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return [] if isinstance(next_key, int) else {}


def _assign(container: Any, key: Key, value: Any) -> None:
    if isinstance(container, list):
        idx = key if isinstance(key, int) else int(key)
        if idx >= len(container):
            container.extend([None] * (idx + 1 - len(container)))
        container[idx] = value
    else:
        container[key if isinstance(key, str) else str(key)] = value


def set_path(obj: dict[str, Any], path: str, value: Any, dot: bool = True) -> None:
    """Set ``path`` in ``obj`` (which the caller owns), copying nested containers on the way."""
    keys = _keys(obj, path, dot)
    cur: Any = obj
    for key, next_key in pairwise(keys):
        if isinstance(cur, list) and isinstance(key, str) and not key.isdigit():
            raise ValueError(f"cannot set {path!r}: {key!r} is not a list index")
        new = _copy_or_new(_child(cur, key), next_key)
        _assign(cur, key, new)
        cur = new
    _assign(cur, keys[-1], value)


def _without(container: Any, keys: tuple[Key, ...]) -> Any:
    """``container`` without the leaf at ``keys``; the same object when nothing was removed."""
    key, rest = keys[0], keys[1:]
    if isinstance(container, dict):
        k = key if isinstance(key, str) else str(key)
        if k not in container:
            return container
        if rest:
            inner = _without(container[k], rest)
            if inner is container[k]:
                return container
            return {**container, k: inner}
        return {kk: v for kk, v in container.items() if kk != k}
    if isinstance(container, list) and rest:
        idx = _child(container, key)
        if idx is MISSING:
            return container
        i = key if isinstance(key, int) else int(key)
        inner = _without(container[i], rest)
        if inner is container[i]:
            return container
        out = list(container)
        out[i] = inner
        return out
    # lodash's unset on an array element leaves a hole; we leave the list alone (rare)
    return container


def delete_path(obj: dict[str, Any], path: str, dot: bool = True) -> None:
    """Remove ``path`` from ``obj`` (which the caller owns); nested containers are copied."""
    keys = _keys(obj, path, dot)
    if len(keys) == 1:
        obj.pop(keys[0] if isinstance(keys[0], str) else str(keys[0]), None)
        return
    first = keys[0] if isinstance(keys[0], str) else str(keys[0])
    if first in obj:
        inner = _without(obj[first], keys[1:])
        if inner is not obj[first]:
            obj[first] = inner


def pick(json: dict[str, Any], paths: Iterable[str], dot: bool = True) -> dict[str, Any]:
    """A new dict with only ``paths`` (nested paths stay nested); missing paths are skipped."""
    out: dict[str, Any] = {}
    for p in paths:
        value = get_path(json, p, dot)
        if value is not MISSING:
            set_path(out, p, value, dot)
    return out


def omit(json: dict[str, Any], paths: Iterable[str], dot: bool = True) -> dict[str, Any]:
    """A new dict without ``paths``."""
    out = dict(json)
    for p in paths:
        delete_path(out, p, dot)
    return out


def field_list(value: Any) -> list[str]:
    """Field names from n8n's shapes: ``"a, b"``, ``["a", "b"]``, ``{"fields": [{"fieldName": "a"}]}``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [f.strip() for f in value.split(",") if f.strip()]
    if isinstance(value, dict):
        return field_list(value.get("fields", value.get("values", [])))
    if isinstance(value, list):
        out: list[str] = []
        for entry in value:
            if isinstance(entry, dict):
                name = entry.get("fieldName", entry.get("field", entry.get("name", "")))
                out.extend(field_list(str(name)))
            elif entry is not None:
                out.extend(field_list(str(entry)))
        return out
    return field_list(str(value))
