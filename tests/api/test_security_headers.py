"""Security headers on every answer, CORS off unless configured, and X11: content a workflow
serves back (webhook answers, downloads) cannot run script in a browser."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from relayflow.api import ApiServices, create_app
from relayflow.api.headers import (
    API_CSP,
    DOCS_CSP,
    SANDBOX_CSP,
    CorsSettings,
    SecurityHeaders,
    attachment_headers,
)
from relayflow.errors import InputInvalid
from relayflow.testing.services import require_or_skip
from tests.api.conftest import API, assert_problem, owner_key
from tests.api.test_webhooks import activate

CHROMIUM = Path("/usr/bin/chromium")
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
HOSTILE_HTML = (
    "<!doctype html><html><head><title>untouched</title></head><body>"
    "<script>document.title = 'script ran'</script>"
    '<img src="data:,x" onerror="document.title = \'handler ran\'" onload="document.title = \'handler ran\'">'
    "</body></html>"
)


def assert_common(response: httpx.Response, csp: str = API_CSP) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert response.headers.get("content-security-policy") == csp
    # one of each: never the route's and ours side by side
    for name in (*COMMON, "content-security-policy"):
        assert len(response.headers.get_list(name)) == 1, name


def html_workflow(path: str = "page", **options: Any) -> dict[str, Any]:
    """GET /webhook/<path> answers HOSTILE_HTML as text/html, with the headers in ``options``."""
    entries = [{"name": "Content-Type", "value": "text/html; charset=utf-8"}]
    entries += [{"name": k, "value": v} for k, v in options.items()]
    hook = {
        "name": "Webhook",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "parameters": {"path": path, "httpMethod": "GET", "responseMode": "responseNode"},
    }
    respond = {
        "name": "Respond",
        "type": "n8n-nodes-base.respondToWebhook",
        "typeVersion": 1.1,
        "parameters": {
            "respondWith": "text",
            "responseBody": HOSTILE_HTML,
            "options": {"responseHeaders": {"entries": entries}},
        },
    }
    return {
        "name": f"html {path}",
        "nodes": [hook, respond],
        "connections": {"Webhook": {"main": [[{"node": "Respond", "type": "main", "index": 0}]]}},
    }


# ---- every answer -------------------------------------------------------------------------------


async def test_api_json_answers(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/workflows")
    assert response.status_code == 200, response.text
    assert_common(response)


async def test_problem_answers(client: httpx.AsyncClient, services: ApiServices) -> None:
    assert_common(assert_problem_response(await client.get(f"{API}/workflows/nope"), 404, "not_found"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(services)), base_url="http://relayflow.test"
    ) as anonymous:
        response = await anonymous.get(f"{API}/workflows")
    assert_problem(response, 401, "unauthorized")
    assert_common(response)


def assert_problem_response(response: httpx.Response, status: int, code: str) -> httpx.Response:
    assert_problem(response, status, code)
    return response


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", f"{API}/openapi.json"):
        response = await client.get(path)
        assert response.status_code < 500, (path, response.text)
        assert_common(response)


async def test_docs_page_policy_lets_swagger_ui_load(client: httpx.AsyncClient) -> None:
    """/docs gets its own policy: what the page loads (the CDN) is allowed, nothing else."""
    response = await client.get("/docs")
    assert response.status_code == 200
    assert_common(response, DOCS_CSP)
    directives = dict(d.strip().split(" ", 1) for d in DOCS_CSP.split(";"))
    loads = [("script-src", m) for m in re.findall(r'<script[^>]*\ssrc="(https://[^/"]+)/', response.text)]
    for tag in re.findall(r"<link[^>]*>", response.text):
        origin = re.search(r'href="(https://[^/"]+)/', tag)
        if origin:
            loads.append(("style-src" if "stylesheet" in tag else "img-src", origin.group(1)))
    assert loads  # the page does load from a CDN
    for directive, origin in loads:
        assert origin in directives[directive].split(), (origin, directive)
    assert "<script>" in response.text and "'unsafe-inline'" in directives["script-src"]
    assert "'self'" in directives["connect-src"]  # the page fetches /api/v1/openapi.json


# ---- webhook answers (X11) ------------------------------------------------------------------------


async def test_webhook_html_answer_is_sandboxed(client: httpx.AsyncClient) -> None:
    # the workflow tries to loosen the policy and turn sniffing on: both are replaced
    await activate(
        client,
        html_workflow(
            **{
                "Content-Security-Policy": "script-src 'unsafe-inline'",
                "X-Content-Type-Options": "sniff",
                "X-Frame-Options": "SAMEORIGIN",
                "X-Custom": "kept",
            }
        ),
    )
    response = await client.get("/webhook/page")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>" in response.text
    assert response.headers.get_list("content-security-policy") == [SANDBOX_CSP]
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    # a header the workflow set on purpose (and that cannot weaken the sandbox) is its own
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["x-custom"] == "kept"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_every_webhook_route_is_sandboxed(client: httpx.AsyncClient) -> None:
    await activate(client, html_workflow("plain"))
    answers = [
        await client.get("/webhook/plain"),
        await client.get("/webhook/unknown-path"),
        await client.get("/webhook-test/unknown-path"),
        await client.post("/webhook-waiting/no-such-execution", json={}),
    ]
    for response in answers:
        assert_common(response, SANDBOX_CSP)


# ---- the middleware alone ---------------------------------------------------------------------------


def _bare_app() -> Starlette:
    async def own(request: Request) -> Response:
        return PlainTextResponse(
            "x", headers={"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "default-src 'self'"}
        )

    async def plain(request: Request) -> Response:
        return PlainTextResponse("x")

    app = Starlette(routes=[Route("/own", own), Route("/plain", plain), Route("/webhook/own", own)])
    app.add_middleware(SecurityHeaders)
    return app


async def test_a_route_header_set_on_purpose_is_kept_except_on_webhooks() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_bare_app()), base_url="http://t") as c:
        own = await c.get("/own")
        hook = await c.get("/webhook/own")
        plain = await c.get("/plain")
    assert own.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert own.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert own.headers["x-content-type-options"] == "nosniff"
    assert hook.headers.get_list("content-security-policy") == [SANDBOX_CSP]
    assert hook.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert_common(plain)


# ---- downloads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "disposition"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ('a"b\\c/d;e.txt', 'attachment; filename="a_b_c_d_e.txt"'),
        ("../../etc/passwd", 'attachment; filename="_.._etc_passwd"'),
        ("line\r\nX-Injected: 1", 'attachment; filename="line__X-Injected: 1"'),
        ("", 'attachment; filename="download"'),
        (
            "résumé €.txt",
            "attachment; filename=\"r_sum_ _.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.txt",
        ),
    ],
)
def test_attachment_headers(filename: str, disposition: str) -> None:
    headers = attachment_headers(filename)
    assert headers["Content-Disposition"] == disposition
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == SANDBOX_CSP
    assert all("\r" not in v and "\n" not in v for v in headers.values())


# ---- CORS ---------------------------------------------------------------------------------------------

PREFLIGHT = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "X-API-Key"}


async def test_cors_is_off_by_default(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYFLOW_CORS_ORIGINS", raising=False)
    origin = {"Origin": "https://evil.example"}
    simple = await client.get(f"{API}/workflows", headers=origin)
    preflight = await client.options(f"{API}/workflows", headers={**origin, **PREFLIGHT})
    for response in (simple, preflight):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-methods" not in response.headers


async def test_cors_answers_configured_origins_only(
    services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_CORS_ORIGINS", "https://ui.example, http://localhost:3000")
    app = create_app(services)
    key = {"X-API-Key": await owner_key(services)}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relayflow.test"
    ) as c:
        allowed = await c.options(f"{API}/workflows", headers={"Origin": "https://ui.example", **PREFLIGHT})
        other = await c.options(f"{API}/workflows", headers={"Origin": "https://evil.example", **PREFLIGHT})
        simple = await c.get(f"{API}/workflows", headers={"Origin": "http://localhost:3000", **key})
        simple_other = await c.get(f"{API}/workflows", headers={"Origin": "https://evil.example", **key})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
    methods = {m.strip() for m in allowed.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert_common(allowed)  # the preflight answer carries the security headers too
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-origin" not in simple_other.headers


@pytest.mark.parametrize(
    ("env", "origins", "credentials"),
    [
        ({}, None, None),
        ({"RELAYFLOW_CORS_ORIGINS": " "}, None, None),
        ({"RELAYFLOW_CORS_ORIGINS": "*"}, ("*",), False),
        ({"RELAYFLOW_CORS_ORIGINS": "HTTPS://UI.example:8443/"}, ("https://ui.example:8443",), False),
        (
            {
                "RELAYFLOW_CORS_ORIGINS": "https://a.example,http://b.example",
                "RELAYFLOW_CORS_CREDENTIALS": "1",
            },
            ("https://a.example", "http://b.example"),
            True,
        ),
    ],
)
def test_cors_settings(
    env: dict[str, str], origins: tuple[str, ...] | None, credentials: bool | None
) -> None:
    settings = CorsSettings.from_env(env)
    if origins is None:
        assert settings is None
    else:
        assert settings is not None
        assert (settings.origins, settings.credentials) == (origins, credentials)


BAD_CORS = [
    {"RELAYFLOW_CORS_ORIGINS": "*", "RELAYFLOW_CORS_CREDENTIALS": "true"},
    {"RELAYFLOW_CORS_ORIGINS": "*,https://a.example"},
    {"RELAYFLOW_CORS_ORIGINS": "ui.example"},
    {"RELAYFLOW_CORS_ORIGINS": "https://ui.example/path"},
    {"RELAYFLOW_CORS_ORIGINS": "ftp://ui.example"},
    {"RELAYFLOW_CORS_ORIGINS": "https://user:pw@ui.example"},
    {"RELAYFLOW_CORS_ORIGINS": "https://ui.example:99999"},
    {"RELAYFLOW_CORS_ORIGINS": "https://a.example,,https://b.example"},
]


@pytest.mark.parametrize("env", BAD_CORS)
def test_bad_cors_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(InputInvalid, match="RELAYFLOW_CORS_ORIGINS"):
        CorsSettings.from_env(env)


@pytest.mark.parametrize("env", BAD_CORS[:3])
def test_a_bad_cors_setting_stops_the_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, env: dict[str, str]
) -> None:
    from relayflow.cli import main

    monkeypatch.setenv("RELAYFLOW_HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["relayflow", "start"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("relayflow: ") and "RELAYFLOW_CORS_ORIGINS" in err
    assert err.count("\n") == 1


# ---- a real browser (X11) -------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[str]:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        require_or_skip("playwright", "the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        require_or_skip("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    yield str(CHROMIUM)


@pytest.fixture
async def live_server(services: ApiServices) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port, on this test's event loop."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.mark.timeout(120)
async def test_hostile_html_does_not_run_in_a_browser(
    chromium: str, live_server: str, services: ApiServices
) -> None:
    from playwright.async_api import async_playwright

    headers = {"X-API-Key": await owner_key(services)}
    async with httpx.AsyncClient(base_url=live_server, headers=headers) as c:
        await activate(c, html_workflow("browser"))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            # the control: the same page without our headers runs its script (the check can fail)
            await page.set_content(HOSTILE_HTML, wait_until="load")
            assert await page.title() != "untouched"
            response = await page.goto(f"{live_server}/webhook/browser", wait_until="load")
            assert response is not None and response.status == 200
            assert (await response.header_value("content-security-policy")) == SANDBOX_CSP
            assert (await response.header_value("x-content-type-options")) == "nosniff"
            assert await page.content() and "document.title" in await page.content()
            assert await page.title() == "untouched"
        finally:
            await browser.close()
