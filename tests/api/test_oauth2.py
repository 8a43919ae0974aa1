"""OAuth2 credentials against a local stand-in authorization server: the authorization-code
flow (PKCE S256, the public callback, refresh by the vault) and the client-credentials grant."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.access.model import ObjectKind, Scope
from relayflow.api import ApiServices, create_app
from relayflow.credentials import oauth2
from relayflow.credentials.types import REDACTED
from relayflow.credentials.vault import StoreCredentialVault
from relayflow.errors import CredentialUnavailable
from tests.api.conftest import API, OWNER_EMAIL, assert_problem

CLIENT_ID = "relayflow-client"
CLIENT_SECRET = "client-secret-Zx9"
CODE = "the-code"


class AuthServer:
    """Issues a code at /authorize (redirecting back), tokens at /token; checks the client's
    authentication, the redirect URI and the PKCE verifier; keeps the token requests."""

    def __init__(self) -> None:
        self.server: TestServer | None = None
        self.authorize_query: dict[str, str] = {}
        self.token_forms: list[dict[str, str]] = []
        self.issued = 0

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def authorize(self, request: web.Request) -> web.Response:
        self.authorize_query = dict(request.query)
        target = f"{request.query['redirect_uri']}?code={CODE}&state={request.query['state']}"
        raise web.HTTPFound(target)

    def client_ok(self, request: web.Request, form: dict[str, str]) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            return base64.b64decode(header[6:]).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_forms.append(form)
        if not self.client_ok(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.issued += 1
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return web.json_response({"access_token": f"cc-{self.issued}", "expires_in": 3600})
        if grant == "authorization_code":
            challenge = self.authorize_query.get("code_challenge")
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if form.get("code") != CODE or form.get("redirect_uri") != self.authorize_query.get(
                "redirect_uri"
            ):
                return web.json_response({"error": "invalid_grant"}, status=400)
            if challenge and digest != challenge:
                return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
            # expires within the refresh margin: the vault must refresh before handing it out
            return web.json_response({"access_token": "ac-1", "refresh_token": "rt-1", "expires_in": 5})
        if grant == "refresh_token" and form.get("refresh_token") == "rt-1":
            return web.json_response({"access_token": f"ac-refreshed-{self.issued}", "expires_in": 3600})
        return web.json_response({"error": "unsupported_grant_type"}, status=400)


@pytest.fixture
async def auth_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AuthServer]:
    stand_in = AuthServer()
    app = web.Application()
    app.router.add_get("/authorize", stand_in.authorize)
    app.router.add_post("/token", stand_in.token)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    stand_in.server = server
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{server.port}")
    yield stand_in
    await server.close()


@pytest.fixture
async def public(services: ApiServices) -> AsyncIterator[httpx.AsyncClient]:
    """The API without any credentials (as the browser coming back)."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://relayflow.test") as c:
        yield c


async def oauth_credential(client: httpx.AsyncClient, auth: AuthServer, **fields: Any) -> dict[str, Any]:
    data = {
        "grantType": "authorizationCode",
        "authUrl": auth.url("/authorize"),
        "accessTokenUrl": auth.url("/token"),
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "scope": "read write",
        **fields,
    }
    response = await client.post(
        f"{API}/credentials", json={"name": "oauth", "type": "oAuth2Api", "data": data}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored(services: ApiServices, credential_id: str) -> dict[str, Any]:
    row = await services.access.store.get_credential(credential_id)
    assert row is not None and services.credentials is not None
    return services.credentials.open(row)


async def authorize(client: httpx.AsyncClient, credential_id: str) -> str:
    response = await client.get(f"{API}/credentials/{credential_id}/oauth2/authorize")
    assert response.status_code == 200, response.text
    url: str = response.json()["authorizationUrl"]
    return url


async def browse(url: str) -> str:
    """Follow the authorization URL as a browser would (the user consents at once); return the
    callback path and query the server sends the browser to."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["location"])
    return f"{back.path}?{back.query}"


async def test_authorization_code_with_pkce_then_refresh_by_the_vault(
    client: httpx.AsyncClient, public: httpx.AsyncClient, services: ApiServices, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(client, auth_server, usePkce=True)
    url = await authorize(client, cred["id"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://relayflow.test/oauth2/callback"
    assert query["code_challenge_method"] == "S256" and query["scope"] == "read write"
    assert CLIENT_SECRET not in url

    answer = await public.get(await browse(url))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    assert "close this window" in answer.text
    form = auth_server.token_forms[-1]
    assert form["grant_type"] == "authorization_code" and form["code_verifier"]
    assert "client_secret" not in form  # sent as HTTP Basic (the default)

    tokens = (await stored(services, cred["id"]))["oauthTokenData"]
    assert tokens["access_token"] == "ac-1" and tokens["refresh_token"] == "rt-1"
    shown = (await client.get(f"{API}/credentials/{cred['id']}")).json()["data"]
    assert shown["oauthTokenData"] == REDACTED and shown["clientSecret"] == REDACTED

    # ac-1 is about to expire: the vault refreshes it, stores the new one, keeps the refresh token
    await services.access.store.set_owner(ObjectKind.WORKFLOW, "wf", cred["projectId"])
    assert services.credentials is not None
    vault = StoreCredentialVault(services.credentials)
    data = await vault.get("oAuth2Api", {"id": cred["id"]}, workflow_id="wf")
    assert data["oauthTokenData"]["access_token"].startswith("ac-refreshed-")
    assert auth_server.token_forms[-1]["grant_type"] == "refresh_token"
    kept = (await stored(services, cred["id"]))["oauthTokenData"]
    assert kept["access_token"] == data["oauthTokenData"]["access_token"] and kept["refresh_token"] == "rt-1"
    calls = len(auth_server.token_forms)
    assert (await vault.get("oAuth2Api", {"id": cred["id"]}, workflow_id="wf")) == data
    assert len(auth_server.token_forms) == calls  # fresh: no second refresh


async def test_a_state_is_good_once_and_only_as_issued(
    client: httpx.AsyncClient, public: httpx.AsyncClient, services: ApiServices, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(client, auth_server)
    back = await browse(await authorize(client, cred["id"]))
    assert (await public.get(back)).status_code == 200
    assert_problem(await public.get(back), 422, "input_invalid")  # replayed

    state = parse_qs(urlsplit(back).query)["state"][0]
    tampered = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    response = await public.get("/oauth2/callback", params={"code": CODE, "state": tampered})
    assert_problem(response, 422, "input_invalid")
    old = oauth2.seal_state(services.access.keyring, cred["id"], "someone", now=0)
    response = await public.get("/oauth2/callback", params={"code": CODE, "state": old})
    assert "took too long" in assert_problem(response, 422, "input_invalid")["detail"]
    assert_problem(await public.get("/oauth2/callback", params={"state": state}), 422, "input_invalid")
    denied = await public.get("/oauth2/callback", params={"error": "access_denied"})
    assert "access_denied" in assert_problem(denied, 400, "oauth2_refused")["detail"]


async def test_a_refused_code_exchange_is_a_problem_without_secrets(
    client: httpx.AsyncClient, public: httpx.AsyncClient, services: ApiServices, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(client, auth_server, clientSecret="wrong-secret-Q1")
    back = await browse(await authorize(client, cred["id"]))
    response = await public.get(back)
    problem = assert_problem(response, 400, "oauth2_refused")
    assert "invalid_client" in problem["detail"] and "wrong-secret-Q1" not in response.text
    assert "oauthTokenData" not in await stored(services, cred["id"])


async def test_the_redirect_uri_follows_the_public_url(
    client: httpx.AsyncClient, auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_PUBLIC_URL", "https://flows.example.com/")
    cred = await oauth_credential(client, auth_server)
    query = parse_qs(urlsplit(await authorize(client, cred["id"])).query)
    assert query["redirect_uri"] == ["https://flows.example.com/oauth2/callback"]
    assert "code_challenge" not in query


async def test_client_credentials_are_tested_and_fetched_by_the_vault(
    client: httpx.AsyncClient, services: ApiServices, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(client, auth_server, grantType="clientCredentials", authentication="body")
    tested = await client.post(f"{API}/credentials/{cred['id']}/test")
    assert tested.json()["status"] == "ok", tested.text
    assert "access token" in tested.json()["message"]
    assert auth_server.token_forms[-1]["client_id"] == CLIENT_ID
    assert auth_server.token_forms[-1]["scope"] == "read write"

    assert_problem(await client.get(f"{API}/credentials/{cred['id']}/oauth2/authorize"), 422, "input_invalid")

    await services.access.store.set_owner(ObjectKind.WORKFLOW, "wf", cred["projectId"])
    assert services.credentials is not None
    vault = StoreCredentialVault(services.credentials)
    first = await vault.get("oAuth2Api", {"name": "oauth"}, workflow_id="wf")
    assert first["oauthTokenData"]["access_token"].startswith("cc-")
    calls = len(auth_server.token_forms)
    again = await StoreCredentialVault(services.credentials).get(
        "oAuth2Api", {"name": "oauth"}, workflow_id="wf"
    )
    assert again == first and len(auth_server.token_forms) == calls  # stored, not fetched again


async def test_token_calls_go_through_the_ssrf_guard(
    client: httpx.AsyncClient, auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cred = await oauth_credential(client, auth_server, grantType="clientCredentials")
    monkeypatch.delenv("RELAYFLOW_HTTP_ALLOW")
    tested = await client.post(f"{API}/credentials/{cred['id']}/test")
    assert tested.status_code == 200 and tested.json()["status"] == "error"
    assert "loopback" in tested.json()["message"]
    assert auth_server.token_forms == [] and CLIENT_SECRET not in tested.text


async def test_wrong_client_secret_is_an_error_result(
    client: httpx.AsyncClient, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(
        client, auth_server, grantType="clientCredentials", clientSecret="nope-nope"
    )
    tested = await client.post(f"{API}/credentials/{cred['id']}/test")
    assert tested.json()["status"] == "error" and "invalid_client" in tested.json()["message"]
    assert "nope-nope" not in tested.text


async def test_a_read_only_key_cannot_start_the_flow(
    client: httpx.AsyncClient, services: ApiServices, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(client, auth_server)
    owner = await services.access.store.user_by_email(OWNER_EMAIL)
    assert owner is not None
    reader = (await services.access.issue_api_key(owner, "r", [Scope.READ])).token
    response = await client.get(
        f"{API}/credentials/{cred['id']}/oauth2/authorize", headers={"X-API-Key": reader}
    )
    assert_problem(response, 403, "forbidden")


async def test_an_unconnected_credential_is_unavailable_to_nodes(
    client: httpx.AsyncClient, services: ApiServices, auth_server: AuthServer
) -> None:
    cred = await oauth_credential(client, auth_server)
    await services.access.store.set_owner(ObjectKind.WORKFLOW, "wf", cred["projectId"])
    assert services.credentials is not None
    with pytest.raises(CredentialUnavailable, match="authorize again") as caught:
        await StoreCredentialVault(services.credentials).get(
            "oAuth2Api", {"id": cred["id"]}, workflow_id="wf"
        )
    assert CLIENT_SECRET not in str(caught.value) and auth_server.token_forms == []
