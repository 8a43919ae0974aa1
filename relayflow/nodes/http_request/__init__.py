"""HTTP Request: one request per item (parameters evaluated per item), results in item order.

Supported now: every method, URL, query and headers (key/value or JSON), bodies (JSON, form
urlencoded, multipart, raw text, binary), JSON / text / file responses (autodetected from the
content type), full response, never error, timeout, redirects, proxy, self-signed certificates,
batching. Requests go through ``ctx.services.http`` (a shared ``aiohttp.ClientSession``) when set,
else through a session opened for this node run.

Authentication comes from the node's credential (auth.py: Basic, header, query, bearer, OAuth2).
Later: pagination and client certificates; ``request.build`` and ``_send`` are where they hook in.
"""

from __future__ import annotations

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.nodes.http_request.auth import CREDENTIAL_TYPES
from relayflow.nodes.http_request.params import Params
from relayflow.nodes.http_request.translate import from_n8n
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    from relayflow.nodes.http_request import client

    return await client.execute(ctx, items, params)


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.httpRequest",
        version=1,
        title="HTTP Request",
        group="action",
        description="Sends an HTTP request per item and returns the response (JSON, text or file).",
        params=Params,
        execute=execute,
        credentials=tuple(CredentialSlot(t) for t in CREDENTIAL_TYPES),
        aliases=(
            N8nAlias("n8n-nodes-base.httpRequest", (1, 2, 3, 4, 4.1, 4.2, 4.3, 4.4), translate=from_n8n),
        ),
    ),
)
