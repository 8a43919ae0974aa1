"""Running the node: one request (or one series of pages) per item, through aiohttp; imported on
first use so start-up does not pay for aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import aiohttp

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.http_session import CircuitBreakers, SharedSession
from relayflow.nodes.http_request import pagination
from relayflow.nodes.http_request.auth import resolve as resolve_auth
from relayflow.nodes.http_request.params import Params
from relayflow.nodes.http_request.request import build
from relayflow.nodes.http_request.response import status_error, to_items
from relayflow.nodes.http_request.transport import Transport, send
from relayflow.security.ssrf_http import guarded_session

# requests in flight at once per node run when no batching is set
MAX_CONCURRENT_REQUESTS = 16


@asynccontextmanager
async def _transport(ctx: NodeContext, params: Params) -> AsyncIterator[Transport]:
    """The shared session and its breakers (``ctx.services.http``); else a guarded session and
    breakers for this node run only."""
    auth = await resolve_auth(ctx, params)
    shared = getattr(ctx.services, "http", None)
    if isinstance(shared, SharedSession):
        yield Transport(await shared.get(), shared.breakers, ctx.binary, auth)
        return
    breakers = CircuitBreakers.from_env()
    if isinstance(shared, aiohttp.ClientSession):
        yield Transport(shared, breakers, ctx.binary, auth)
        return
    async with guarded_session() as session:
        yield Transport(session, breakers, ctx.binary, auth)


async def _one(ctx: NodeContext, t: Transport, p: Params, item: Item, index: int) -> Items:
    req = await build(ctx.binary, p, item, index)
    paging = await pagination.settings(ctx, p, index)
    if paging is not None:
        pager = pagination.Pager(ctx, p, index, paging, lambda r: send(t, r, p, index))
        return [out for resp in await pager.run(req) for out in to_items(resp, p, index)]
    resp = await send(t, req, p, index)
    if resp.status >= 400 and not p.response.neverError:
        raise status_error(resp, p.method, index)
    return to_items(resp, p, index)


def _chunks(p: Params) -> tuple[int, float]:
    """(items per batch, seconds between batches)."""
    batching = p.options.batching
    if batching is None or batching.batch.batchSize <= 0:
        return MAX_CONCURRENT_REQUESTS, 0.0
    return batching.batch.batchSize, batching.batch.batchInterval / 1000


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    if params.provideSslCertificates:
        raise NodeError("client SSL certificates are not supported yet", node=ctx.node_name, retryable=False)
    per_item = cast("list[Params]", await ctx.item_params())
    size, pause_s = _chunks(params)
    out: Items = []
    async with _transport(ctx, params) as t:
        for start in range(0, len(items), size):
            if start and pause_s:
                await ctx.sleep(pause_s)
            idx = range(start, min(start + size, len(items)))
            results = await asyncio.gather(
                *(_one(ctx, t, per_item[i], items[i], i) for i in idx), return_exceptions=True
            )
            for i, result in zip(idx, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, Exception):
                        raise result
                    err_item = ctx.fail_item(result, i)
                    if err_item is not None:
                        out.append(err_item)
                else:
                    out.extend(result)
    return [out]
