"""Sending the requests (aiohttp), imported on first use so start-up does not pay for aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import aiohttp

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError
from relayflow.http_session import SharedSession
from relayflow.nodes.http_request.auth import Auth
from relayflow.nodes.http_request.auth import resolve as resolve_auth
from relayflow.nodes.http_request.params import Params
from relayflow.nodes.http_request.request import build
from relayflow.nodes.http_request.response import Response, status_error, to_items
from relayflow.security.ssrf_http import guarded_session

DEFAULT_TIMEOUT_S = 300.0
# requests in flight at once per node run when no batching is set
MAX_CONCURRENT_REQUESTS = 16


def _unsupported(p: Params) -> str | None:
    if p.options.pagination:
        return "pagination is not supported yet"
    if p.provideSslCertificates:
        return "client SSL certificates are not supported yet"
    return None


@asynccontextmanager
async def _session(ctx: NodeContext) -> AsyncIterator[aiohttp.ClientSession]:
    shared = getattr(ctx.services, "http", None)
    if isinstance(shared, SharedSession):
        shared = await shared.get()
    if isinstance(shared, aiohttp.ClientSession):
        yield shared
        return
    async with guarded_session() as session:
        yield session


async def _send(
    session: aiohttp.ClientSession, p: Params, item: Item, index: int, auth: Auth | None
) -> Response:
    req = build(p, item, index)
    if auth is not None:
        auth.apply(req)
    opts = p.options
    timeout_s = opts.timeout / 1000 if opts.timeout else DEFAULT_TIMEOUT_S
    redirect = opts.redirect.redirect
    try:
        async with session.request(
            req.method,
            req.url,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=redirect.followRedirects,
            max_redirects=max(redirect.maxRedirects, 1),
            ssl=not opts.allowUnauthorizedCerts,
            proxy=opts.proxy or None,
            **req.kwargs(),
        ) as r:
            body = await r.read()
            headers = {k.lower(): v for k, v in r.headers.items()}
            return Response(r.status, r.reason or "", headers, body, str(r.url))
    except TimeoutError:
        raise NodeError(
            f"item {index}: {req.method} {req.url} timed out after {timeout_s:g} s", item_index=index
        ) from None
    except aiohttp.ClientError as exc:
        raise NodeError(
            f"item {index}: {req.method} {req.url} failed: {exc or type(exc).__name__}", item_index=index
        ) from exc


async def _one(session: aiohttp.ClientSession, p: Params, item: Item, index: int, auth: Auth | None) -> Items:
    resp = await _send(session, p, item, index, auth)
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
    problem = _unsupported(params)
    if problem is not None:
        raise NodeError(problem, node=ctx.node_name, retryable=False)
    per_item = cast("list[Params]", await ctx.item_params())
    auth = await resolve_auth(ctx, params)
    size, pause_s = _chunks(params)
    out: Items = []
    async with _session(ctx) as session:
        for start in range(0, len(items), size):
            if start and pause_s:
                await ctx.sleep(pause_s)
            idx = range(start, min(start + size, len(items)))
            results = await asyncio.gather(
                *(_one(session, per_item[i], items[i], i, auth) for i in idx), return_exceptions=True
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
