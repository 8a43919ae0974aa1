"""HTTP Request: one request per item (parameters evaluated per item), results in item order.

Every method, URL, query and headers (key/value or JSON), bodies (JSON, form urlencoded,
multipart with files, raw text, a binary property), JSON / text / file responses (autodetected
from the content type; files streamed into the binary store), full response, never error,
pagination (pagination.py), batching, timeout, redirects, proxy, ignoring TLS issues.

Modules: params.py and translate.py (n8n's shapes of every typeVersion), auth.py (credentials:
Basic, header, query, bearer, OAuth2), request.py (building a request), transport.py (sending
it: breaker, SSRF guard on every hop, redirects, reading the response), response.py (items),
client.py (the node run). Requests go through ``ctx.services.http`` (the process's pooled
``SharedSession`` and its per-host circuit breakers, ``relayflow/http_session.py``) when set,
else through a guarded session opened for this node run. Later: client certificates.
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
        # pagination expressions see $response, $request and $pageCount: evaluated per page
        deferred_params=(("options", "pagination"),),
    ),
)
