"""The Slack node against a local stand-in for Slack's Web API (chat.postMessage, chat.update,
the three-step external file upload, oauth.v2.access).

The stand-in records every request, answers like Slack (HTTP 200 with ``ok: false`` on errors),
rate-limits the channel ``C_BUSY`` once, and keeps the bytes uploaded to its upload URL (checking
them against the declared length). The slackApi credential comes from a small fake vault whose
``baseUrl`` points at the stand-in; slackOAuth2Api ones are stored through the real credential
service (memory access store) and handed out by its vault, as in the server.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.access.memory import MemoryAccessStore
from relayflow.access.model import InstanceRole, ObjectKind, Principal
from relayflow.access.service import AccessService, fast_hasher
from relayflow.binary import BinaryData, FilesystemBinaryStore, MemoryBinaryStore
from relayflow.credentials.service import CredentialService
from relayflow.credentials.vault import StoreCredentialVault
from relayflow.engine.executor import Engine
from relayflow.engine.memory import FakeClock
from relayflow.engine.ports import BinaryStore
from relayflow.errors import CredentialUnavailable
from relayflow.nodes.slack_files import upload_url_allowed
from relayflow.security.secrets import Keyring
from relayflow.testing import NodeRunFailed, make_engine, node_workflow, output_json, run_node, run_workflow

T = "n8n-nodes-base.slack"
TOKEN = "xoxb-test-secret-token"
REF = {"id": "slack-1", "name": "Test Slack"}
CREDENTIALS = {"credentials": {"slackApi": REF}}


@dataclass
class Slack:
    """What the stand-in saw: (API method, Authorization header, JSON body) per request."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    busy_left: int = 1
    server: TestServer | None = None
    # file id -> (file name, declared length); file id -> the bytes received at the upload URL
    pending: dict[str, tuple[str, int]] = field(default_factory=dict)
    uploaded: dict[str, bytes] = field(default_factory=dict)
    # headers of each request to the upload URL
    upload_headers: list[dict[str, str]] = field(default_factory=list)
    # the upload URL files.getUploadURLExternal answers (None: the stand-in's own)
    upload_url: str | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/api"

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return [body for m, _, body in self.calls if m == method]


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body: dict[str, Any] = await request.json()
        return body
    return {k: str(v) for k, v in (await request.post()).items()}


def _files_api(slack: Slack, method: str, body: dict[str, Any]) -> dict[str, Any]:
    if method == "files.getUploadURLExternal":
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(slack.pending) + 1:04d}"
        slack.pending[file_id] = (body["filename"], int(body["length"]))
        assert slack.server is not None
        url = slack.upload_url or f"http://127.0.0.1:{slack.server.port}/upload/{file_id}"
        return {"ok": True, "upload_url": url, "file_id": file_id}
    files = json.loads(body.get("files") or "[]")
    if not files or any(f.get("id") not in slack.uploaded for f in files):
        return {"ok": False, "error": "file_not_found"}
    return {
        "ok": True,
        "files": [
            {
                "id": f["id"],
                "title": f.get("title"),
                "name": slack.pending[f["id"]][0],
                "size": len(slack.uploaded[f["id"]]),
            }
            for f in files
        ],
    }


def _app(slack: Slack) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await _body(request)
        slack.calls.append((method, request.headers.get("Authorization", ""), body))
        if method == "oauth.v2.access":  # client authentication, no bearer token
            return web.json_response(_token_answer(body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method.startswith("files."):
            return web.json_response(_files_api(slack, method, body))
        channel = body.get("channel")
        if channel == "C_BUSY" and slack.busy_left:
            slack.busy_left -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "2"}
            )
        if channel == "C_DOWN":
            return web.Response(status=503, text="upstream down")
        if channel in ("C_MISSING", "#nowhere"):
            return web.json_response({"ok": False, "error": "channel_not_found"})
        message = {k: body[k] for k in ("text", "blocks", "attachments", "thread_ts") if k in body}
        ts = body.get("ts", "1700000000.000100")
        return web.json_response(
            {"ok": True, "channel": channel, "ts": ts, "message": {"type": "message", "ts": ts, **message}}
        )

    async def receive(request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        slack.upload_headers.append(dict(request.headers))
        if file_id not in slack.pending:
            return web.Response(status=404)
        data = await request.read()
        if len(data) != slack.pending[file_id][1]:
            return web.Response(status=400, text="length mismatch")
        slack.uploaded[file_id] = data
        return web.Response(text=f"OK - {len(data)}")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/api/{method}", handle)
    app.router.add_post("/upload/{file_id}", receive)
    return app


def _token_answer(form: Mapping[str, Any]) -> dict[str, Any]:
    """oauth.v2.access: a rotated bot token for the refresh token "r1" of client "cid"."""
    if form.get("client_id") != "cid" or form.get("client_secret") != "csecret":
        return {"ok": False, "error": "invalid_client_id"}
    if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != "r1":
        return {"ok": False, "error": "invalid_refresh_token"}
    return {
        "ok": True,
        "access_token": TOKEN,
        "token_type": "bot",
        "refresh_token": "r2",
        "expires_in": 43200,
        "scope": "chat:write,files:write",
    }


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Slack]:
    state = Slack()
    srv = TestServer(_app(state), host="127.0.0.1")
    await srv.start_server()
    state.server = srv
    # the SSRF guard refuses loopback unless told: these tests call their own local server
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port}")
    monkeypatch.delenv("RELAYFLOW_PUBLIC_URL", raising=False)
    try:
        yield state
    finally:
        await srv.close()


class FakeVault:
    """One slackApi credential; anything else is unavailable."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        if type_ != "slackApi" or ref.get("id") != REF["id"]:
            raise CredentialUnavailable(f"{type_} credential {ref.get('name')!r} is not available")
        return dict(self.fields)


def engine_for(slack: Slack) -> Engine:
    return make_engine(
        fake_clock=True, credentials=FakeVault({"accessToken": TOKEN, "baseUrl": slack.base_url})
    )


async def run(
    slack: Slack,
    parameters: Mapping[str, Any],
    *,
    version: float = 2.2,
    items: Any = None,
    fields: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    out = await run_node(
        T,
        parameters,
        items,
        type_version=version,
        node_fields=dict(CREDENTIALS) if fields is None else fields,
        engine=engine_for(slack),
    )
    return output_json(out)


def channel(value: str, mode: str = "list") -> dict[str, Any]:
    return {"__rl": True, "value": value, "mode": mode, "cachedResultName": "general"}


async def test_post_to_channel_by_id_sends_bearer_token_and_returns_slacks_answer(slack: Slack) -> None:
    out = await run(
        slack, {"select": "channel", "channelId": channel("C123"), "text": "hello", "otherOptions": {}}
    )
    assert out == [
        {
            "ok": True,
            "channel": "C123",
            "ts": "1700000000.000100",
            "message": {"type": "message", "ts": "1700000000.000100", "text": "hello"},
        }
    ]
    assert slack.calls == [("chat.postMessage", f"Bearer {TOKEN}", {"channel": "C123", "text": "hello"})]
    assert TOKEN not in json.dumps(out)


async def test_post_by_channel_name_and_url(slack: Slack) -> None:
    await run(slack, {"select": "channel", "channelId": channel("general", "name"), "text": "a"})
    url = "https://app.slack.com/client/T0001/C0777"
    await run(slack, {"select": "channel", "channelId": channel(url, "url"), "text": "b"})
    assert [b["channel"] for b in slack.bodies("chat.postMessage")] == ["#general", "C0777"]


async def test_post_to_user_is_a_direct_message(slack: Slack) -> None:
    await run(slack, {"select": "user", "user": {"__rl": True, "value": "U42", "mode": "id"}, "text": "hi"})
    await run(
        slack, {"select": "user", "user": {"__rl": True, "value": "ann", "mode": "username"}, "text": "hi"}
    )
    assert [b["channel"] for b in slack.bodies("chat.postMessage")] == ["U42", "@ann"]


async def test_blocks_from_json_with_text_as_fallback(slack: Slack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]
    out = await run(
        slack,
        {
            "select": "channel",
            "channelId": channel("C123", "id"),
            "messageType": "block",
            "blocksUi": json.dumps({"blocks": blocks}),
            "text": "fallback",
            "otherOptions": {"includeLinkToWorkflow": False},
        },
        version=2.1,
    )
    assert slack.bodies("chat.postMessage") == [{"channel": "C123", "text": "fallback", "blocks": blocks}]
    assert out[0]["message"]["blocks"] == blocks


async def test_thread_reply_and_other_options(slack: Slack) -> None:
    await run(
        slack,
        {
            "select": "channel",
            "channelId": channel("C123"),
            "text": "reply",
            "otherOptions": {
                "thread_ts": {"replyValues": {"thread_ts": "1699.0001", "reply_broadcast": True}},
                "mrkdwn": False,
                "unfurl_links": False,
                "includeLinkToWorkflow": False,
            },
        },
        version=2.3,
    )
    assert slack.bodies("chat.postMessage") == [
        {
            "channel": "C123",
            "text": "reply",
            "thread_ts": "1699.0001",
            "reply_broadcast": True,
            "mrkdwn": False,
            "unfurl_links": False,
        }
    ]


async def test_link_to_workflow_only_with_a_public_url(slack: Slack, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"select": "channel", "channelId": channel("C123"), "text": "x", "otherOptions": {}}

    async def post(version: float) -> None:
        wf = node_workflow(T, params, type_version=version, node_fields=CREDENTIALS)
        record = await run_workflow({**wf, "id": "wf-7"}, engine=engine_for(slack))
        assert record.error is None

    await post(2.3)  # the link is on by default in v2.1+, but without a public URL nothing is added
    monkeypatch.setenv("RELAYFLOW_PUBLIC_URL", "https://flows.example.com/")
    await post(2.3)
    await post(2)  # v2 defaults to no link
    texts = [b["text"] for b in slack.bodies("chat.postMessage")]
    assert texts == [
        "x",
        "x\n_Automated with this <https://flows.example.com/api/v1/workflows/wf-7|relayflow workflow>_",
        "x",
    ]


async def test_update_message(slack: Slack) -> None:
    out = await run(
        slack,
        {
            "operation": "update",
            "channelId": {"__rl": True, "mode": "id", "value": "C123"},
            "ts": "1700000000.000100",
            "text": "edited",
            "otherOptions": {},
            "updateFields": {"link_names": True},
        },
    )
    assert slack.bodies("chat.update") == [
        {"channel": "C123", "text": "edited", "ts": "1700000000.000100", "link_names": True}
    ]
    assert out[0]["ts"] == "1700000000.000100" and out[0]["message"]["text"] == "edited"


async def test_v1_channel_text_attachments(slack: Slack) -> None:
    attachment = {"color": "#ff0000", "title": "T", "fields": {"item": [{"title": "a", "value": "1"}]}}
    await run(
        slack,
        {
            "channel": "#alerts",
            "text": "v1",
            "attachments": [attachment],
            "otherOptions": {"icon_emoji": ":bug:"},
        },
        version=1,
    )
    assert slack.bodies("chat.postMessage") == [
        {
            "channel": "#alerts",
            "text": "v1",
            "attachments": [{"color": "#ff0000", "title": "T", "fields": [{"title": "a", "value": "1"}]}],
            "icon_emoji": ":bug:",
        }
    ]


async def test_one_message_per_item(slack: Slack) -> None:
    out = await run(
        slack, {"select": "channel", "channelId": channel("C123"), "text": "x"}, items=[{}, {}, {}]
    )
    assert len(out) == 3 and len(slack.calls) == 3


async def test_slack_error_is_a_node_error_with_slacks_code(slack: Slack) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run(slack, {"select": "channel", "channelId": channel("C_MISSING"), "text": "x"})
    error = info.value.error
    assert "channel_not_found" in error["message"] and "chat.postMessage" in error["message"]
    assert error.get("node") == "Node"
    assert TOKEN not in json.dumps(info.value.record.to_dict(), default=str)


async def test_slack_error_with_continue_on_fail_gives_an_error_item(slack: Slack) -> None:
    out = await run(
        slack,
        {"select": "channel", "channelId": channel("C_MISSING"), "text": "x"},
        fields={**CREDENTIALS, "onError": "continueRegularOutput"},
    )
    assert len(out) == 1 and "channel_not_found" in json.dumps(out[0])


async def test_rate_limit_is_retried_after_retry_after(slack: Slack) -> None:
    clock = FakeClock()
    engine = make_engine(
        clock=clock, credentials=FakeVault({"accessToken": TOKEN, "baseUrl": slack.base_url})
    )
    params = {"select": "channel", "channelId": channel("C_BUSY"), "text": "x"}
    out = output_json(await run_node(T, params, type_version=2.2, node_fields=CREDENTIALS, engine=engine))
    assert clock.sleeps == [2.0]
    assert [m for m, _, _ in slack.calls] == ["chat.postMessage", "chat.postMessage"]
    assert out[0]["ok"] is True


async def test_server_error_is_a_node_error(slack: Slack) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run(slack, {"select": "channel", "channelId": channel("C_DOWN"), "text": "x"})
    assert "HTTP 503" in info.value.error["message"]


async def test_missing_credential(slack: Slack) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run(slack, {"select": "channel", "channelId": channel("C123"), "text": "x"}, fields={})
    assert "slackApi" in info.value.error["message"]
    assert slack.calls == []


async def test_wrong_token_reports_invalid_auth_without_the_token(slack: Slack) -> None:
    engine = make_engine(credentials=FakeVault({"accessToken": "xoxb-wrong-one", "baseUrl": slack.base_url}))
    with pytest.raises(NodeRunFailed) as info:
        await run_node(
            T,
            {"select": "channel", "channelId": channel("C123"), "text": "x"},
            type_version=2.2,
            node_fields=CREDENTIALS,
            engine=engine,
        )
    assert "invalid_auth" in info.value.error["message"]
    assert "xoxb-wrong-one" not in json.dumps(info.value.error)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"resource": "file", "operation": "getAll"}, "file 'getAll' is not supported yet"),
        ({"operation": "search", "query": "x"}, "not supported yet"),
        ({"authentication": "magic", "channelId": channel("C1"), "text": "x"}, "'magic' authentication"),
        ({"authentication": "oAuth2", "channelId": channel("C1"), "text": "x"}, "slackOAuth2Api"),
    ],
)
async def test_unsupported_parts_fail_clearly(
    slack: Slack, parameters: dict[str, Any], expected: str
) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run(slack, parameters, version=2.3)
    assert expected in info.value.error["message"]
    assert slack.calls == []


async def test_v1_json_parameters(slack: Slack) -> None:
    await run(
        slack,
        {
            "channel": "C9",
            "text": "",
            "jsonParameters": True,
            "blocksJson": '[{"type": "divider"}]',
            "attachmentsJson": '[{"text": "att"}]',
            "otherOptions": {},
        },
        version=1,
    )
    assert slack.bodies("chat.postMessage") == [
        {"channel": "C9", "blocks": [{"type": "divider"}], "attachments": [{"text": "att"}]}
    ]


async def test_blocks_that_are_not_json_fail_the_item(slack: Slack) -> None:
    params = {"select": "channel", "channelId": channel("C1"), "messageType": "block", "blocksUi": "{nope"}
    with pytest.raises(NodeRunFailed) as info:
        await run(slack, params)
    assert "blocks must be JSON" in info.value.error["message"]
    assert slack.calls == []


# --- file upload ------------------------------------------------------------------------------


async def upload_run(
    slack: Slack, parameters: Mapping[str, Any], items: Any, *, version: float, store: BinaryStore
) -> list[dict[str, Any]]:
    engine = make_engine(
        credentials=FakeVault({"accessToken": TOKEN, "baseUrl": slack.base_url}), binary=store
    )
    out = await run_node(T, parameters, items, type_version=version, node_fields=CREDENTIALS, engine=engine)
    return output_json(out)


async def test_upload_streams_a_big_stored_file_and_shares_it(slack: Slack, tmp_path: Path) -> None:
    store = FilesystemBinaryStore(tmp_path / "binary")
    data = os.urandom(5 * 1000 * 1000 + 3)
    entry = await BinaryData(store, "exec-1").put(data, file_name="render.png", mime_type="image/png")
    # the corpus's v2.3 shape: always binary ("data"), one channelId
    params = {
        "resource": "file",
        "options": {"channelId": "=C08KC39K8DR", "initialComment": "here", "threadTs": "1699.1"},
    }
    out = await upload_run(slack, params, [{"json": {}, "binary": {"data": entry}}], version=2.3, store=store)
    assert [m for m, _, _ in slack.calls] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    assert slack.bodies("files.getUploadURLExternal") == [
        {"filename": "render.png", "length": str(len(data))}
    ]
    assert slack.uploaded == {"F0001": data}
    [headers] = slack.upload_headers
    assert headers["Content-Length"] == str(len(data)) and "Authorization" not in headers
    [complete] = slack.bodies("files.completeUploadExternal")
    assert json.loads(complete.pop("files")) == [{"id": "F0001", "title": "render.png"}]
    assert complete == {"channel_id": "C08KC39K8DR", "initial_comment": "here", "thread_ts": "1699.1"}
    assert out == [{"id": "F0001", "title": "render.png", "name": "render.png", "size": len(data)}]


async def test_upload_text_content_to_several_channels_v21(slack: Slack) -> None:
    params = {
        "resource": "file",
        "operation": "upload",
        "binaryData": False,
        "fileContent": "={{ $json.body }}",
        "options": {"channelIds": ["C1", "C2"], "fileName": "notes.txt", "title": "Notes"},
    }
    out = await upload_run(slack, params, [{"body": "héllo"}], version=2.1, store=MemoryBinaryStore())
    assert slack.bodies("files.getUploadURLExternal") == [{"filename": "notes.txt", "length": "6"}]
    assert slack.uploaded == {"F0001": "héllo".encode()}
    [complete] = slack.bodies("files.completeUploadExternal")
    assert complete["channels"] == "C1,C2" and "channel_id" not in complete
    assert json.loads(complete["files"]) == [{"id": "F0001", "title": "Notes"}]
    assert out[0]["title"] == "Notes"


async def test_upload_v1_named_binary_property_inline_base64(slack: Slack) -> None:
    raw = b"%PDF-1.4 tiny"
    item = {
        "json": {},
        "binary": {"doc": {"data": base64.b64encode(raw).decode(), "mimeType": "application/pdf"}},
    }
    params = {"resource": "file", "binaryData": True, "binaryPropertyName": "doc", "options": {}}
    await upload_run(slack, params, [item], version=1, store=MemoryBinaryStore())
    # no fileName anywhere: the property name stands in
    assert slack.bodies("files.getUploadURLExternal") == [{"filename": "doc", "length": str(len(raw))}]
    assert slack.uploaded == {"F0001": raw}
    assert "channel_id" not in slack.bodies("files.completeUploadExternal")[0]


async def test_upload_of_a_missing_binary_property_names_it(slack: Slack) -> None:
    params = {"resource": "file", "binaryPropertyName": "file", "options": {"channelId": "C1"}}
    with pytest.raises(NodeRunFailed) as info:
        await upload_run(slack, params, [{"json": {}}], version=2.2, store=MemoryBinaryStore())
    assert "no binary property 'file'" in info.value.error["message"]
    assert slack.calls == []


async def test_upload_url_on_another_host_is_refused(slack: Slack) -> None:
    slack.upload_url = "https://files.example.net/upload/F0001"
    params = {"resource": "file", "binaryData": False, "fileContent": "x", "options": {}}
    with pytest.raises(NodeRunFailed) as info:
        await upload_run(slack, params, None, version=2, store=MemoryBinaryStore())
    assert "'files.example.net'" in info.value.error["message"] and "refused" in info.value.error["message"]
    assert [m for m, _, _ in slack.calls] == ["files.getUploadURLExternal"]
    assert slack.upload_headers == []


@pytest.mark.parametrize(
    ("url", "base", "allowed"),
    [
        ("https://files.slack.com/upload/v1/abc", "https://slack.com/api", True),
        ("https://slack.com/upload", "http://127.0.0.1:9/api", True),
        ("http://files.slack.com/upload/v1/abc", "https://slack.com/api", False),
        ("https://files.slack.com.evil.io/x", "https://slack.com/api", False),
        ("https://evilslack.com/x", "https://slack.com/api", False),
        ("https://user:pw@files.slack.com/x", "https://slack.com/api", False),
        ("http://127.0.0.1:9/upload/F1", "http://127.0.0.1:9/api", True),
        ("http://127.0.0.2:9/upload/F1", "http://127.0.0.1:9/api", False),
        ("https://up.proxy.corp/x", "https://proxy.corp/slack/api", True),
        ("http://up.proxy.corp/x", "https://proxy.corp/slack/api", False),
        ("https://proxy.corp.evil.io/x", "https://proxy.corp/slack/api", False),
        ("ftp://files.slack.com/x", "https://slack.com/api", False),
    ],
)
def test_upload_url_host_check(url: str, base: str, allowed: bool) -> None:
    assert upload_url_allowed(url, base) is allowed


# --- slackOAuth2Api ---------------------------------------------------------------------------

OAUTH_REF = {"id": "", "name": "Slack (OAuth)"}


@dataclass
class Stored:
    service: CredentialService
    owner: Principal
    credential_id: str
    workflow_id: str = "wf-slack"


async def stored_oauth2(slack: Slack, tokens: Mapping[str, Any]) -> Stored:
    access = AccessService(MemoryAccessStore(), Keyring.of([os.urandom(32)]), hasher=fast_hasher())
    service = CredentialService(lambda: access)
    user = await access.create_user("ann@example.com", "ann", "password-123", InstanceRole.MEMBER)
    owner = await access.principal(user)
    data = {
        "clientId": "cid",
        "clientSecret": "csecret",
        "baseUrl": slack.base_url,
        "accessTokenUrl": f"{slack.base_url}/oauth.v2.access",
        "oauthTokenData": dict(tokens),
    }
    seen = await service.create(
        owner, name="Slack (OAuth)", type_="slackOAuth2Api", data=data, project_id=None
    )
    await access.store.set_owner(ObjectKind.WORKFLOW, "wf-slack", owner.user.personal_project_id)
    return Stored(service, owner, seen.credential.id)


async def run_oauth2(stored: Stored, parameters: Mapping[str, Any], version: float = 2.3) -> Any:
    fields = {"credentials": {"slackOAuth2Api": {**OAUTH_REF, "id": stored.credential_id}}}
    wf = node_workflow(
        T, {"authentication": "oAuth2", **parameters}, type_version=version, node_fields=fields
    )
    engine = make_engine(credentials=StoreCredentialVault(stored.service))
    return await run_workflow({**wf, "id": stored.workflow_id}, engine=engine)


async def test_oauth2_credential_posts_with_its_stored_access_token(slack: Slack) -> None:
    stored = await stored_oauth2(slack, {"access_token": TOKEN, "token_type": "bot"})
    # the corpus's shape (write_newsletter_tool, Backup all n8n Workflows To Github)
    params = {"select": "channel", "channelId": channel("C09JX12JJP2"), "text": "backup started"}
    record = await run_oauth2(stored, {**params, "otherOptions": {"includeLinkToWorkflow": False}}, 2.2)
    assert record.error is None
    assert slack.calls == [
        ("chat.postMessage", f"Bearer {TOKEN}", {"channel": "C09JX12JJP2", "text": "backup started"})
    ]
    assert TOKEN not in json.dumps(record.to_dict(), default=str)


async def test_oauth2_expired_token_is_refreshed_then_used(slack: Slack) -> None:
    stored = await stored_oauth2(
        slack, {"access_token": "xoxe-old", "refresh_token": "r1", "expires_at": int(time.time()) - 60}
    )
    params = {"resource": "file", "binaryData": False, "fileContent": "md", "options": {"fileName": "a.md"}}
    record = await run_oauth2(stored, params, 2.1)
    assert record.error is None
    [refresh] = slack.bodies("oauth.v2.access")
    assert refresh["grant_type"] == "refresh_token" and refresh["client_id"] == "cid"
    assert {auth for m, auth, _ in slack.calls if m.startswith("files.")} == {f"Bearer {TOKEN}"}
    assert slack.uploaded == {"F0001": b"md"}
    row = await stored.service.store.get_credential(stored.credential_id)
    assert row is not None
    kept = stored.service.open(row)["oauthTokenData"]
    assert (
        kept["access_token"] == TOKEN and kept["refresh_token"] == "r2" and kept["expires_at"] > time.time()
    )


async def test_oauth2_credential_without_a_token_fails_clearly(slack: Slack) -> None:
    stored = await stored_oauth2(slack, {})
    record = await run_oauth2(stored, {"select": "channel", "channelId": channel("C1"), "text": "x"})
    assert record.error is not None
    assert "slackOAuth2Api" in record.error["message"] and "no access token" in record.error["message"]
    assert slack.calls == []


async def test_oauth2_authorize_url_is_slacks_with_bot_scopes(slack: Slack) -> None:
    stored = await stored_oauth2(slack, {})
    url = await stored.service.authorize(stored.owner, stored.credential_id, "https://flows.example.com/cb")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://slack.com/oauth/v2/authorize"
    query = parse_qs(parts.query)
    assert query["client_id"] == ["cid"] and query["redirect_uri"] == ["https://flows.example.com/cb"]
    assert {"chat:write", "files:write"} <= set(query["scope"][0].split(","))
