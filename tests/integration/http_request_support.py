"""Local servers for the HTTP Request integration tests: an aiohttp app on 127.0.0.1 (echo,
uploads, big downloads, pages, a flaky endpoint), a forward proxy, and a self-signed HTTPS server."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.testing import run_node

MB = 1_000_000
PATTERN = bytes(range(256)) * 4096  # 1 MiB of varied bytes


def pattern_bytes(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def pattern_sha(size: int) -> str:
    """sha256 of ``pattern_bytes(size)``, without making it."""
    h = hashlib.sha256()
    for start in range(0, size, len(PATTERN)):
        h.update(PATTERN[: min(len(PATTERN), size - start)])
    return h.hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class State:
    """What the test server saw, and how it behaves."""

    hits: dict[str, int] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)
    flaky_status: int = 503

    def hit(self, name: str) -> int:
        self.hits[name] = self.hits.get(name, 0) + 1
        return self.hits[name]


STATE = web.AppKey("state", State)


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    # what the server got (the node's output is scrubbed of credential values)
    request.app[STATE].seen.append(
        {"path": request.path, "headers": dict(request.headers), "query": list(request.query.items())}
    )
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": [[k, v] for k, v in request.query.items()],
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
        }
    )


async def _upload(request: web.Request) -> web.Response:
    """Multipart parts → name, file name, content type, size and sha256 of each."""
    parts = []
    reader = await request.multipart()
    async for part in reader:
        assert isinstance(part, aiohttp.BodyPartReader)
        data = await part.read()
        parts.append(
            {
                "name": part.name,
                "filename": part.filename,
                "contentType": part.headers.get("Content-Type"),
                "size": len(data),
                "sha256": sha(data),
            }
        )
    return web.json_response({"parts": parts})


async def _raw(request: web.Request) -> web.Response:
    data = await request.read()
    return web.json_response(
        {
            "size": len(data),
            "sha256": sha(data),
            "contentType": request.headers.get("Content-Type"),
            "contentLength": request.headers.get("Content-Length"),
            "chunked": "chunked" in request.headers.get("Transfer-Encoding", "").lower(),
        }
    )


async def _big(request: web.Request) -> web.StreamResponse:
    """``size`` bytes of ``pattern_bytes``, sent in 256 KiB writes, as an attachment."""
    size = int(request.query.get("size", str(20 * MB)))
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="big.bin"',
        }
    )
    resp.content_length = size
    await resp.prepare(request)
    step = 256 * 1024  # divides len(PATTERN): a chunk never wraps around it
    for start in range(0, size, step):
        offset = start % len(PATTERN)
        await resp.write(PATTERN[offset : offset + min(step, size - start)])
    await resp.write_eof()
    return resp


def _page_items(page: int) -> list[dict[str, Any]]:
    return [{"page": page, "n": k} for k in range(2)]


async def _pages_param(request: web.Request) -> web.Response:
    """``?page=N`` (1..3 have items; later pages are empty), ``x-page`` header or JSON body ``page``."""
    page_text = request.query.get("page") or request.headers.get("x-page")
    if request.method == "POST" and request.can_read_body:
        page_text = str((await request.json()).get("page", page_text or 1))
    page = int(page_text or 1)
    request.app[STATE].seen.append({"page": page, "query": dict(request.query)})
    return web.json_response(_page_items(page) if page <= 3 else [])


async def _pages_next(request: web.Request) -> web.Response:
    """A cursor API: ``next`` is the URL of the next page (null on the last, the 3rd)."""
    page = int(request.query.get("cursor", "1"))
    nxt = str(request.url.with_query(cursor=str(page + 1), filter="x")) if page < 3 else None
    return web.json_response({"items": _page_items(page), "next": nxt, "hasMore": nxt is not None})


async def _pages_status(request: web.Request) -> web.Response:
    page = int(request.query.get("page", "1"))
    if page > 2:
        return web.json_response({"error": "no such page"}, status=404)
    return web.json_response({"page": page})


async def _endless(request: web.Request) -> web.Response:
    return web.json_response({"page": int(request.query.get("page", "1"))})


async def _same(request: web.Request) -> web.Response:
    return web.json_response({"always": "the same"})


async def _flaky(request: web.Request) -> web.Response:
    state: State = request.app[STATE]
    state.hit("flaky")
    return web.json_response({"status": state.flaky_status}, status=state.flaky_status)


async def _redirect_to(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _redirect_loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def _status307(request: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect("/raw")


def app(state: State | None = None) -> web.Application:
    a = web.Application(client_max_size=64 * MB)
    a[STATE] = state or State()
    a.router.add_route("*", "/echo", _echo)
    a.router.add_post("/upload", _upload)
    a.router.add_route("*", "/raw", _raw)
    a.router.add_get("/big", _big)
    a.router.add_route("*", "/pages/param", _pages_param)
    a.router.add_get("/pages/next", _pages_next)
    a.router.add_get("/pages/status", _pages_status)
    a.router.add_get("/pages/endless", _endless)
    a.router.add_get("/pages/same", _same)
    a.router.add_get("/flaky", _flaky)
    a.router.add_route("*", "/redirect", _redirect_to)
    a.router.add_get("/loop", _redirect_loop)
    a.router.add_post("/307", _status307)
    return a


async def start(application: web.Application, **kwargs: Any) -> TestServer:
    srv = TestServer(application, host="127.0.0.1", **kwargs.pop("server", {}))
    await srv.start_server(**kwargs)
    return srv


def url(srv: TestServer, path: str) -> str:
    return str(srv.make_url(path))


async def http(params: dict[str, Any], items: Any = None, **kw: Any) -> list[list[dict[str, Any]]]:
    return await run_node("relayflow.httpRequest", params, items, **kw)


# --- a forward proxy -------------------------------------------------------------------------------
def proxy_app(seen: list[str]) -> web.Application:
    """Forwards absolute-form requests (``GET http://host/path``) and marks the answers."""

    async def forward(request: web.Request) -> web.Response:
        target = request.raw_path
        seen.append(target)
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, target, data=await request.read(), headers={"X-Via": "test-proxy"}
            ) as r,
        ):
            body = await r.read()
            return web.Response(
                body=body, status=r.status, headers={"Content-Type": r.content_type, "X-Proxied": "yes"}
            )

    a = web.Application()
    a.router.add_route("*", "/{tail:.*}", forward)
    return a


# --- a self-signed certificate ----------------------------------------------------------------------
def self_signed(tmp: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relayflow test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
