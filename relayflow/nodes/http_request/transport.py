"""One HTTP exchange: the circuit breaker, the SSRF guard, redirects, timeouts, proxy, TLS, and
reading the response (file bodies streamed into the binary store).

Redirects are followed here, hop by hop, rather than by aiohttp: each hop goes through the host's
circuit breaker and through the SSRF guard, also when a proxy is used (the guarded connector then
only sees the proxy's address, so the target's addresses are checked here), and credentials are
sent to the first origin only.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import aiohttp
from yarl import URL

from relayflow.engine.binary import BinaryData
from relayflow.errors import NodeError
from relayflow.http_session import CircuitBreakers, CircuitOpen
from relayflow.nodes.http_request.auth import Auth
from relayflow.nodes.http_request.params import Params
from relayflow.nodes.http_request.request import Request
from relayflow.nodes.http_request.response import Response, content_type, kind_of
from relayflow.security.ssrf import check
from relayflow.security.ssrf_http import GuardedConnector

DEFAULT_TIMEOUT_S = 300.0
CHUNK_BYTES = 1 << 16
# of a failed response (HTTP >= 400, not kept), only this much is read: for the error message
MAX_ERROR_BODY_BYTES = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# headers that carry credentials: not sent on to another origin
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class Transport:
    """What every request of a node run goes through."""

    session: aiohttp.ClientSession
    breakers: CircuitBreakers
    binary: BinaryData
    auth: Auth | None = None


def host_key(url: URL) -> str:
    """The breaker's key: the host, with its port when that is not the scheme's default."""
    host = url.host or ""
    return host if url.is_default_port() else f"{host}:{url.port}"


def _origin(url: URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host or "", url.port


def _failure(exc: BaseException, req: Request, index: int, timeout_s: float) -> NodeError:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return NodeError(
            f"item {index}: {req.method} {req.url} failed: the server's TLS certificate is not trusted "
            f"({exc.certificate_error}); turn on the 'Ignore SSL Issues' option to accept it",
            item_index=index,
            retryable=False,
        )
    if isinstance(exc, TimeoutError):
        return NodeError(
            f"item {index}: {req.method} {req.url} timed out after {timeout_s:g} s", item_index=index
        )
    return NodeError(
        f"item {index}: {req.method} {req.url} failed: {exc or type(exc).__name__}", item_index=index
    )


async def _check_proxied_target(t: Transport, url: URL) -> None:
    """Through a proxy the guarded connector resolves only the proxy: check the target here."""
    connector = t.session.connector
    if not isinstance(connector, GuardedConnector) or url.host is None:
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise aiohttp.ClientConnectionError(f"cannot resolve {url.host}: {exc}") from exc
    check(url.host, [str(info[4][0]) for info in infos], port, connector.allow)


def _next_hop(req: Request, r: aiohttp.ClientResponse, index: int) -> Request:
    target = r.url.join(URL(r.headers["location"]))
    if target.scheme not in ("http", "https"):
        raise NodeError(f"item {index}: redirected to {target}, which is not http(s)", item_index=index)
    hop = req.with_(url=str(target), query=[])
    if r.status == 303 or (r.status in (301, 302) and req.method == "POST"):
        hop = hop.without_body().with_(method="GET" if req.method != "HEAD" else "HEAD")
    if _origin(target) != _origin(URL(req.url)):
        hop = hop.with_(headers={k: v for k, v in hop.headers.items() if k.lower() not in _SECRET_HEADERS})
    return hop


async def _read(t: Transport, r: aiohttp.ClientResponse, p: Params, method: str) -> Response:
    headers = {k.lower(): v for k, v in r.headers.items()}
    out = Response(r.status, r.reason or "", headers, b"", str(r.url))
    if r.status >= 400 and not p.response.neverError:
        out.body = await r.content.read(MAX_ERROR_BODY_BYTES)
        return out
    empty = method == "HEAD" or r.status in (204, 304) or r.content_length == 0
    ctype = content_type(headers)
    if empty or kind_of(ctype, p.response.responseFormat) != "file":
        out.body = await r.read()
        return out
    name = r.content_disposition.filename if r.content_disposition else None
    name = name or r.url.path.rstrip("/").rsplit("/", 1)[-1] or "file"
    out.file = await t.binary.put(
        r.content.iter_chunked(CHUNK_BYTES), file_name=name, mime_type=ctype or "application/octet-stream"
    )
    return out


async def _exchange(
    t: Transport, req: Request, p: Params, index: int, authed: bool
) -> tuple[Response | None, Request | None]:
    """One hop: (the response, None), or (None, the next request) for a redirect to follow."""
    opts = p.options
    url = URL(req.url)
    if opts.proxy:
        await _check_proxied_target(t, url)
    sent = req
    if authed and t.auth is not None:
        sent = req.with_(headers=dict(req.headers), query=list(req.query))  # req is sent again on redirects
        t.auth.apply(sent)
    async with t.session.request(
        sent.method,
        sent.url,
        timeout=aiohttp.ClientTimeout(total=timeout_of(p)),
        allow_redirects=False,
        ssl=not opts.allowUnauthorizedCerts,
        proxy=opts.proxy or None,
        **sent.kwargs(),
    ) as r:
        if opts.redirect.redirect.followRedirects and r.status in _REDIRECTS and "location" in r.headers:
            return None, _next_hop(req, r, index)
        return await _read(t, r, p, req.method), None


def timeout_of(p: Params) -> float:
    return p.options.timeout / 1000 if p.options.timeout else DEFAULT_TIMEOUT_S


async def send(t: Transport, req: Request, p: Params, index: int) -> Response:
    """The response to ``req`` (redirects followed); NodeError on a transport failure."""
    max_hops = p.options.redirect.redirect.maxRedirects
    origin = _origin(URL(req.url))
    hops = 0
    while True:
        url = URL(req.url)
        host = host_key(url)
        try:
            t.breakers.before(host)
        except CircuitOpen as exc:
            raise CircuitOpen(f"item {index}: {exc.message}", item_index=index) from None
        try:
            resp, redirected = await _exchange(t, req, p, index, _origin(url) == origin)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if isinstance(exc, aiohttp.ClientSSLError):
                t.breakers.release(host)  # an untrusted certificate says nothing of the host's health
            else:
                t.breakers.failure(host)
            raise _failure(exc, req, index, timeout_of(p)) from exc
        except BaseException:
            t.breakers.release(host)
            raise
        if resp is not None and resp.status >= 500:
            t.breakers.failure(host)
        else:
            t.breakers.success(host)
        if resp is not None:
            return resp
        assert redirected is not None
        hops += 1
        if hops > max_hops:
            raise NodeError(
                f"item {index}: {p.method} {p.url} was redirected more than {max_hops} times",
                item_index=index,
                retryable=False,
            )
        req = redirected
