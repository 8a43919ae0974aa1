"""``GET /executions/{id}/binary/{name}``: download binary item data an execution produced.

``name`` is the last part of a binary entry's ``id`` (``filesystem-v2:<execution>/<name>``). The
entry must appear in the execution's recorded node outputs (so a caller who sees the execution
sees exactly its files, and no other key can be asked for); the bytes are streamed from the
binary store. The answer always carries the download headers of X11: ``Content-Disposition:
attachment``, ``nosniff`` and a sandboxing CSP, whatever the file's type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.responses import StreamingResponse

from relayflow.api import authz
from relayflow.api.deps import PathId, Services
from relayflow.api.headers import attachment_headers
from relayflow.api.schemas import problems
from relayflow.api.security import CurrentPrincipal
from relayflow.engine.binary import DEFAULT_MIME, key_of
from relayflow.engine.run import ExecutionRecord
from relayflow.errors import NotFound

router = APIRouter(tags=["executions"])


def _entries(record: ExecutionRecord) -> Iterator[dict[str, Any]]:
    for run in record.node_runs:
        for output in run.output or ():
            for item in output or ():
                binary = item.get("binary") if isinstance(item, dict) else None
                if isinstance(binary, dict):
                    yield from (e for e in binary.values() if isinstance(e, dict))


def find_entry(record: ExecutionRecord, name: str) -> dict[str, Any]:
    for entry in _entries(record):
        key = key_of(entry)
        if key is not None and key.rsplit("/", 1)[-1] == name:
            return entry
    raise NotFound(f"execution {record.id!r} has no binary data {name!r}")


@router.get(
    "/executions/{execution_id}/binary/{name}",
    responses={200: {"content": {"application/octet-stream": {}}}, **problems(404)},
    response_class=Response,
)
async def download_binary(
    services: Services, principal: CurrentPrincipal, execution_id: PathId, name: PathId
) -> Response:
    """The bytes of one binary entry of the execution, as a download."""
    record = await authz.execution_access(services, principal, execution_id)
    entry = find_entry(record, name)
    key = key_of(entry)
    assert key is not None  # find_entry matched on it
    store = services.engine.services.binary
    size = await store.size(key)  # NotFound (404) when the data was deleted
    headers = attachment_headers(str(entry.get("fileName") or name))
    headers["Content-Length"] = str(size)
    media = str(entry.get("mimeType") or DEFAULT_MIME)
    return StreamingResponse(store.read(key), headers=headers, media_type=media)


__all__ = ["find_entry", "router"]
