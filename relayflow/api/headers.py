"""Security headers on every response, CORS when configured, and headers for served-back content.

``SecurityHeaders`` is a plain ASGI middleware (no ``BaseHTTPMiddleware``: that one runs each
request in a task and copies the body through a stream, tens of microseconds the benchmarked
webhook path would pay). It only touches the ``http.response.start`` message: the headers below
are added unless the route already set them on purpose, with one exception: answers of the
webhook routes always get the sandboxing policy.

Every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer``, ``Cross-Origin-Opener-Policy: same-origin``, and a
Content-Security-Policy chosen by path:

- API answers (JSON, problem+json, health, metrics): ``default-src 'none'; frame-ancestors
  'none'`` (nothing there is meant to be rendered as a page).
- ``/webhook/...``, ``/webhook-test/...``, ``/webhook-waiting/...``: a workflow decides these
  bodies (Respond to Webhook may answer text/html built from the request), so they are treated as
  hostile: ``sandbox; default-src 'none'`` (a browser that renders them runs no script, loads
  nothing, and gives the page an opaque origin) plus ``nosniff``, replacing whatever the workflow
  set; a workflow cannot switch either off.
- ``/docs``: FastAPI's Swagger UI page is an inline script plus the bundle and stylesheet from
  cdn.jsdelivr.net, which reads ``/api/v1/openapi.json`` and calls the API from the same origin.
  Its policy allows exactly that (``script-src``/``style-src`` the CDN and inline, ``img-src`` self,
  data: and the FastAPI favicon host, ``connect-src 'self'``), still no framing. Inline script is
  allowed rather than pinned by hash because FastAPI renders the page (its text changes with the
  FastAPI version and the app's settings); the page carries no user content.

Downloads of user content (binary data, issue #5) should send ``attachment_headers(filename)``.

CORS is off unless ``RELAYFLOW_CORS_ORIGINS`` lists origins (comma-separated ``scheme://host[:port]``,
or ``*``); then Starlette's ``CORSMiddleware`` answers for those origins, with the methods and
headers the API uses. ``RELAYFLOW_CORS_CREDENTIALS=1`` lets browsers send cookies/HTTP auth as
well, which ``*`` refuses (any site could then act with the user's browser credentials).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relayflow.errors import InputInvalid

API_CSP = "default-src 'none'; frame-ancestors 'none'"
SANDBOX_CSP = "sandbox; default-src 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'"
)
WEBHOOK_PREFIXES = ("/webhook/", "/webhook-test/", "/webhook-waiting/")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "X-API-Key")

_CSP = b"content-security-policy"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_COMMON: tuple[tuple[bytes, bytes], ...] = (
    _NOSNIFF,
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_FORCED_ON_WEBHOOKS = frozenset({_CSP, _NOSNIFF[0]})
_NAMES = frozenset({_CSP, *(name for name, _ in _COMMON)})


def _plan(csp: str) -> tuple[tuple[bytes, bytes], ...]:
    return (*_COMMON, (_CSP, csp.encode()))


_API = _plan(API_CSP)
_DOCS = _plan(DOCS_CSP)
_WEBHOOK = _plan(SANDBOX_CSP)


class SecurityHeaders:
    """Adds the security headers to every HTTP response (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(WEBHOOK_PREFIXES):
            plan, forced = _WEBHOOK, _FORCED_ON_WEBHOOKS
        else:
            plan, forced = (_DOCS if path in DOCS_PATHS else _API), frozenset()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _merge(message.get("headers") or (), plan, forced)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _merge(
    headers: Iterable[tuple[bytes, bytes]], plan: tuple[tuple[bytes, bytes], ...], forced: frozenset[bytes]
) -> list[tuple[bytes, bytes]]:
    """The route's headers (minus the forced ones), then ours for every name it did not set."""
    given = list(headers)
    if {h[0] for h in given}.isdisjoint(_NAMES):
        # the common case, decided without lowercasing: ASGI header names are lowercase
        # (Starlette's responses make them so)
        return given + list(plan)
    out = [h for h in given if h[0].lower() not in forced] if forced else given
    present = {h[0].lower() for h in out}
    out += [pair for pair in plan if pair[0] not in present]
    return out


# ---- downloads ----------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/;]')


def attachment_headers(filename: str) -> dict[str, str]:
    """Headers for serving user content as a download that a browser never renders inline:
    ``Content-Disposition: attachment`` (an ASCII ``filename`` and the exact UTF-8 ``filename*``
    of RFC 6266), ``nosniff`` and the sandboxing CSP in case it is opened anyway."""
    name = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", filename)).strip(" .") or "download"
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    disposition = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        disposition += f"; filename*=UTF-8''{quote(name, safe='')}"
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
    }


# ---- CORS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorsSettings:
    origins: tuple[str, ...]
    credentials: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CorsSettings | None:
        """None when ``RELAYFLOW_CORS_ORIGINS`` is unset or empty (CORS off); InputInvalid if bad."""
        env = os.environ if environ is None else environ
        raw = env.get("RELAYFLOW_CORS_ORIGINS", "").strip()
        if not raw:
            return None
        credentials = env.get("RELAYFLOW_CORS_CREDENTIALS", "").strip().lower() in ("1", "true", "yes")
        origins = tuple(_origin(part.strip()) for part in raw.split(","))
        if "*" in origins and (credentials or len(origins) > 1):
            raise InputInvalid(
                "RELAYFLOW_CORS_ORIGINS: '*' must stand alone and cannot be combined with "
                "RELAYFLOW_CORS_CREDENTIALS (list the origins instead)"
            )
        return cls(origins, credentials)


def _origin(text: str) -> str:
    if text == "*":
        return text
    parts = urlsplit(text)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise InputInvalid(
            f"RELAYFLOW_CORS_ORIGINS: {text!r} is not an origin (scheme://host[:port], comma-separated, or *)"
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def install(app: Starlette, cors: CorsSettings | None) -> None:
    """Add CORS (when configured) inside the security headers, so that a preflight answer gets
    the headers too (the middleware added last is the outermost)."""
    if cors is not None:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors.origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            allow_credentials=cors.credentials,
        )
    app.add_middleware(SecurityHeaders)
