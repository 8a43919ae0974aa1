"""Parse and validate workflow JSON; every problem names the node and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from relayflow.errors import Issue, UnknownNodeType, WorkflowInvalid
from relayflow.workflow.model import Workflow


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _holds_expression(data: Any, loc: tuple[Any, ...]) -> bool:
    """True when the value at ``loc`` (or one of its parents) is an ``=`` expression string."""
    for n in range(len(loc), -1, -1):
        v = _value_at(data, loc[:n])
        if isinstance(v, str) and v.startswith("="):
            return True
    return False


def parse_workflow(data: Any, *, source: str | None = None, registry: Any = None) -> Workflow:
    """Build a ``Workflow`` from decoded JSON and check it against the node registry.

    Raises ``WorkflowInvalid`` listing every problem found.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise WorkflowInvalid([Issue(f"invalid JSON: {exc}", code="invalid_json")], source) from exc
    if not isinstance(data, dict):
        raise WorkflowInvalid([Issue("a workflow must be a JSON object", code="invalid_shape")], source)
    try:
        wf = Workflow.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = err["loc"]
            node = None
            if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
                raw = _value_at(data, ("nodes", loc[1], "name"))
                node = raw if isinstance(raw, str) else f"#{loc[1]}"
                loc = loc[2:]
            issues.append(Issue(err["msg"], node=node, field=_loc(loc) or None, code="invalid_field"))
        raise WorkflowInvalid(issues, source) from exc
    issues = check_workflow(wf, registry)
    if issues:
        raise WorkflowInvalid(issues, source)
    return wf


def check_workflow(wf: Workflow, registry: Any = None) -> list[Issue]:
    from relayflow.nodes.registry import default_registry

    reg = registry if registry is not None else default_registry()
    issues: list[Issue] = []
    names: set[str] = set()
    for node in wf.nodes:
        if node.name in names:
            issues.append(Issue("duplicate node name", node=node.name, field="name", code="duplicate_name"))
        names.add(node.name)
    for src, by_type in wf.connections.items():
        if src not in names:
            issues.append(
                Issue(
                    f"connections come from a missing node {src!r}",
                    node=src,
                    field="connections",
                    code="missing_node",
                )
            )
        for ctype, outputs in (by_type or {}).items():
            for out_index, conns in enumerate(outputs or []):
                for c in conns or []:
                    if c.node not in names:
                        issues.append(
                            Issue(
                                f"output {out_index} connects to a missing node {c.node!r}",
                                node=src,
                                field=f"connections.{ctype}",
                                code="missing_node",
                            )
                        )
    for node in wf.nodes:
        issues.extend(check_node(node, reg))
    return issues


def check_node(node: Any, reg: Any) -> list[Issue]:
    try:
        resolved = reg.resolve(node.type, node.typeVersion)
    except UnknownNodeType as exc:
        return [Issue(exc.message, node=node.name, field="type", code="unknown_type")]
    if resolved.spec.ignored:
        return []
    try:
        params = resolved.parameters(node.parameters)
    except Exception as exc:
        return [
            Issue(
                f"cannot read parameters: {exc}",
                node=node.name,
                field="parameters",
                code="invalid_parameters",
            )
        ]
    try:
        resolved.spec.params.model_validate(params)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            if _holds_expression(params, err["loc"]):
                continue  # checked at run time, once the expression has a value
            out.append(
                Issue(
                    err["msg"],
                    node=node.name,
                    field="parameters." + _loc(err["loc"]),
                    code="invalid_parameters",
                )
            )
        return out
    return []


def load_workflow(path: str | Path, *, registry: Any = None) -> Workflow:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise WorkflowInvalid(
            [Issue(f"cannot read file: {exc.strerror}", code="unreadable")], str(p)
        ) from exc
    return parse_workflow(raw, source=str(p), registry=registry)
