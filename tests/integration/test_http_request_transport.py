"""HTTP Request transport against local servers: credentials, redirects (each hop through the SSRF
guard; credentials kept to the first origin), a forward proxy (its target checked too), and TLS
with a self-signed certificate (refused unless the node ignores TLS issues)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from relayflow.errors import CredentialUnavailable
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node
from tests.integration.http_request_support import State, app, http, proxy_app, self_signed, start, url

REF = {"id": "c1", "name": "test credential"}


class FakeVault:
    """Hands out one credential per type (the engine scrubs its values from the record)."""

    def __init__(self, by_type: Mapping[str, Mapping[str, Any]]) -> None:
        self.by_type = {k: dict(v) for k, v in by_type.items()}

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        if type_ not in self.by_type or ref.get("id") != REF["id"]:
            raise CredentialUnavailable(f"{type_} credential is not available")
        return dict(self.by_type[type_])


VAULT = FakeVault(
    {
        "httpBasicAuth": {"user": "ann", "password": "s3cret"},
        "httpHeaderAuth": {"name": "X-Api-Key", "value": "k-123"},
        "httpQueryAuth": {"name": "api_key", "value": "q-456"},
        "httpBearerAuth": {"token": "t-789"},
        "oAuth2Api": {"oauthTokenData": {"access_token": "oa-000"}},
    }
)


SEEN_A, SEEN_B = State(), State()


@pytest.fixture
async def servers(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[TestServer, TestServer]]:
    """Two allowed servers (two origins); what they got goes to SEEN_A and SEEN_B."""
    SEEN_A.seen.clear()
    SEEN_B.seen.clear()
    a, b = await start(app(SEEN_A)), await start(app(SEEN_B))
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{a.port},127.0.0.1:{b.port}")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def with_credential(type_: str, params: dict[str, Any], key: str = "genericAuthType") -> dict[str, Any]:
    mode = "genericCredentialType" if key == "genericAuthType" else "predefinedCredentialType"
    return {**params, "authentication": mode, key: type_}


async def authed(type_: str, params: dict[str, Any], got: State = SEEN_A) -> dict[str, Any]:
    """What the server got (the node's output is scrubbed of the credential's values)."""
    await http(params, node_fields={"credentials": {type_: REF}}, engine=make_engine(credentials=VAULT))
    seen: dict[str, Any] = got.seen[-1]
    seen["headers"] = {k.lower(): v for k, v in seen["headers"].items()}
    return seen


@pytest.mark.parametrize(
    ("type_", "header", "value"),
    [
        ("httpBasicAuth", "authorization", "Basic " + base64.b64encode(b"ann:s3cret").decode()),
        ("httpHeaderAuth", "x-api-key", "k-123"),
        ("httpBearerAuth", "authorization", "Bearer t-789"),
        ("oAuth2Api", "authorization", "Bearer oa-000"),
    ],
)
async def test_credentials_add_their_header(
    servers: tuple[TestServer, TestServer], type_: str, header: str, value: str
) -> None:
    a, _ = servers
    body = await authed(type_, with_credential(type_, {"url": url(a, "/echo")}))
    assert body["headers"][header] == value
    body = await authed(type_, with_credential(type_, {"url": url(a, "/echo")}, "nodeCredentialType"))
    assert body["headers"][header] == value


async def test_query_credentials_and_legacy_v1_names(servers: tuple[TestServer, TestServer]) -> None:
    a, _ = servers
    body = await authed("httpQueryAuth", with_credential("httpQueryAuth", {"url": url(a, "/echo?x=1")}))
    assert body["query"] == [("x", "1"), ("api_key", "q-456")]
    out = await run_node(
        "n8n-nodes-base.httpRequest",
        {"url": url(a, "/echo"), "authentication": "basicAuth", "options": {}},
        type_version=1,
        node_fields={"credentials": {"httpBasicAuth": REF}},
        engine=make_engine(credentials=VAULT),
    )
    assert out[0] and SEEN_A.seen[-1]["headers"]["Authorization"].startswith("Basic ")


async def test_credentials_stay_with_the_first_origin(servers: tuple[TestServer, TestServer]) -> None:
    a, b = servers
    same = await authed(
        "httpBearerAuth", with_credential("httpBearerAuth", {"url": url(a, "/redirect?to=/echo")})
    )
    assert same["path"] == "/echo" and same["headers"]["authorization"] == "Bearer t-789"
    params = {
        "url": url(a, "/redirect?to=" + url(b, "/echo")),
        "sendHeaders": True,
        "headerParameters": {
            "parameters": [{"name": "Cookie", "value": "sid=1"}, {"name": "X-Keep", "value": "y"}]
        },
    }
    other = await authed("httpBearerAuth", with_credential("httpBearerAuth", params), SEEN_B)
    assert other["path"] == "/echo" and other["headers"]["x-keep"] == "y"
    assert "authorization" not in other["headers"] and "cookie" not in other["headers"]


async def test_every_redirect_hop_is_checked_by_the_ssrf_guard(
    servers: tuple[TestServer, TestServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{a.port}")  # b is no longer allowed
    with pytest.raises(NodeRunFailed) as info:
        await http({"url": url(a, "/redirect?to=" + url(b, "/echo"))})
    assert info.value.error["code"] == "ssrf_blocked" and str(b.port) in info.value.error["message"]
    with pytest.raises(NodeRunFailed) as info:
        await http({"url": url(a, "/redirect?to=http://169.254.169.254/latest/meta-data/")})
    assert info.value.error["code"] == "ssrf_blocked" and "metadata" in info.value.error["message"]


async def test_redirect_limits(servers: tuple[TestServer, TestServer]) -> None:
    a, _ = servers
    with pytest.raises(NodeRunFailed, match="redirected more than 3 times"):
        await http({"url": url(a, "/loop"), "options": {"redirect": {"redirect": {"maxRedirects": 3}}}})
    with pytest.raises(NodeRunFailed, match="redirected more than 21 times"):
        await http({"url": url(a, "/loop")})


async def test_a_302_turns_a_post_into_a_get(servers: tuple[TestServer, TestServer]) -> None:
    a, _ = servers
    # /redirect answers 302: a POST follows as a GET without its body, as browsers do
    params = {
        "method": "POST",
        "url": url(a, "/redirect?to=/echo"),
        "sendBody": True,
        "specifyBody": "json",
        "jsonBody": '{"a": 1}',
    }
    body = output_json(await http(params))[0]
    assert (body["method"], body["body"]) == ("GET", "")


# --- proxy -----------------------------------------------------------------------------------------
@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[TestServer, TestServer, list[str]]]:
    seen: list[str] = []
    target, prx = await start(app()), await start(proxy_app(seen))
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{target.port},127.0.0.1:{prx.port}")
    try:
        yield target, prx, seen
    finally:
        await prx.close()
        await target.close()


async def test_requests_go_through_the_proxy(proxy: tuple[TestServer, TestServer, list[str]]) -> None:
    target, prx, seen = proxy
    settings = {"fullResponse": True}
    params = {
        "url": url(target, "/echo?q=1"),
        "options": {"proxy": f"http://127.0.0.1:{prx.port}", "response": {"response": settings}},
    }
    (json,) = output_json(await http(params))
    assert json["headers"]["x-proxied"] == "yes" and json["body"]["headers"]["x-via"] == "test-proxy"
    assert seen == [url(target, "/echo?q=1")]
    # n8n v1 exports name the proxy the same way
    legacy = {"url": url(target, "/echo"), "options": {"proxy": f"http://127.0.0.1:{prx.port}"}}
    await run_node("n8n-nodes-base.httpRequest", legacy, type_version=1)
    assert len(seen) == 2


async def test_the_proxied_target_is_checked_by_the_ssrf_guard(
    proxy: tuple[TestServer, TestServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, prx, seen = proxy
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{prx.port}")  # the proxy only
    params = {"url": url(target, "/echo"), "options": {"proxy": f"http://127.0.0.1:{prx.port}"}}
    with pytest.raises(NodeRunFailed) as info:
        await http(params)
    assert info.value.error["code"] == "ssrf_blocked" and seen == []


# --- TLS -------------------------------------------------------------------------------------------
@pytest.fixture
async def https_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    srv = await start(app(), server={"scheme": "https"}, ssl=self_signed(tmp_path))
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port}")
    try:
        yield srv
    finally:
        await srv.close()


async def test_a_self_signed_certificate_is_refused_unless_ignored(https_server: TestServer) -> None:
    target = url(https_server, "/echo")
    assert target.startswith("https://")
    with pytest.raises(NodeRunFailed) as info:
        await http({"url": target})
    assert "certificate" in info.value.error["message"] and "Ignore SSL" in info.value.error["message"]
    body = output_json(await http({"url": target, "options": {"allowUnauthorizedCerts": True}}))[0]
    assert body["path"] == "/echo"
    # v1 exports carry the flag at the top level
    legacy = {"url": target, "allowUnauthorizedCerts": True, "options": {}}
    assert (
        output_json(await run_node("n8n-nodes-base.httpRequest", legacy, type_version=1))[0]["method"]
        == "GET"
    )
