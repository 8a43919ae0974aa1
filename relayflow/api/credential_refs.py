"""The credential references of an imported workflow, checked against its project.

An n8n export names each node's credentials as ``{"<type>": {"id", "name"}}``; the ids are those
of the instance it came from. On import the references are kept, and each is looked up among the
credentials the workflow's project owns or was shared: by id (same type), else by type and
name — then the reference's id is rewritten to the one found, so the workflow runs as it is. The
answer's ``credentialsReport`` (present when a node references a credential) lists what
resolved and what must still be created.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from relayflow.access.model import ObjectKind, StoredCredential
from relayflow.access.ports import AccessStore


def _refs(data: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(node name, credential type, its mutable reference) for every node reference."""
    for node in data.get("nodes") or ():
        if not isinstance(node, dict) or not isinstance(node.get("credentials"), dict):
            continue
        for type_, ref in node["credentials"].items():
            if isinstance(ref, dict):
                yield str(node.get("name", "")), str(type_), ref


async def credentials_report(
    store: AccessStore, data: dict[str, Any], project_id: str
) -> dict[str, Any] | None:
    """``{"resolved": [{node, type, id, name}], "missing": [{node, type, name}]}``, None when no
    node references a credential; resolving by name rewrites the reference's id in ``data``."""
    refs = list(_refs(data))
    if not refs:
        return None
    report: dict[str, list[dict[str, Any]]] = {"resolved": [], "missing": []}
    visible = await store.visible(ObjectKind.CREDENTIAL, [project_id])
    by_type: dict[str, list[StoredCredential]] = {}
    for node, type_, ref in refs:
        found = None
        ref_id = ref.get("id")
        if isinstance(ref_id, str) and ref_id in visible:
            cred = await store.get_credential(ref_id)
            found = cred if cred is not None and cred.type == type_ else None
        if found is None and ref.get("name") is not None:
            if type_ not in by_type:
                by_type[type_] = [c for c in await store.credentials(None, type_=type_) if c.id in visible]
            found = next((c for c in by_type[type_] if c.name == ref["name"]), None)
        if found is None:
            report["missing"].append({"node": node, "type": type_, "name": ref.get("name")})
            continue
        ref["id"] = found.id
        report["resolved"].append({"node": node, "type": type_, "id": found.id, "name": found.name})
    return report
