"""Items: the unit of data flowing between nodes.

An item is a plain dict ``{"json": {...}, "binary"?: {...}, "pairedItem"?: {...}}`` exactly as in
n8n. Plain dicts (not classes) keep the hot path fast: a million items through Set is the S10 bench.
"""

from __future__ import annotations

from typing import Any

Item = dict[str, Any]
Items = list[Item]
# One list of items per output of a node.
NodeOutput = list[Items]


def item(json: dict[str, Any] | None = None, *, paired: int | None = None) -> Item:
    it: Item = {"json": {} if json is None else json}
    if paired is not None:
        it["pairedItem"] = {"item": paired}
    return it


def normalize_items(data: Any) -> Items:
    """Accept ``[{json: ...}]``, ``[{...}]``, a single object, or None and return items.

    Used for CLI input, pinData and Code node results (n8n accepts bare objects there too).
    """
    if data is None:
        return []
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return [{"json": {"data": data}}]
    out: Items = []
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get("json"), dict):
            out.append(entry)
        elif isinstance(entry, dict):
            out.append({"json": entry})
        else:
            out.append({"json": {"data": entry}})
    return out


def paired_index(it: Item) -> tuple[int, int] | None:
    """(item index, input index) this item was derived from, if recorded."""
    p = it.get("pairedItem")
    if p is None:
        return None
    if isinstance(p, int):
        return p, 0
    if isinstance(p, list):
        if not p:
            return None
        p = p[0]
        if isinstance(p, int):
            return p, 0
    if isinstance(p, dict):
        return int(p.get("item", 0) or 0), int(p.get("input", 0) or 0)
    return None


def passthrough(items: Items) -> Items:
    """New item dicts for items a node forwards unchanged (their ``pairedItem`` must point here).

    Node rule: never return an input item dict itself and never mutate input ``json`` in place;
    shallow copies are cheap and keep upstream run data intact.
    """
    return [{**it, "pairedItem": {"item": i}} for i, it in enumerate(items)]


def forward(it: Item, index: int, input_index: int = 0) -> Item:
    """A new dict for one forwarded item, paired to input item ``index``."""
    paired: dict[str, int] = {"item": index}
    if input_index:
        paired["input"] = input_index
    return {**it, "pairedItem": paired}
