"""The Slack node against a local stand-in for Slack's Web API (chat.postMessage, chat.update).

The stand-in records every request, answers like Slack (HTTP 200 with ``ok: false`` on errors)
and rate-limits the channel ``C_BUSY`` once. The credential comes from a small fake vault whose
``baseUrl`` points at the stand-in.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.engine.executor import Engine
from relayflow.engine.memory import FakeClock
from relayflow.errors import CredentialUnavailable
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

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/api"

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return [body for m, _, body in self.calls if m == method]


def _app(slack: Slack) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.json()
        slack.calls.append((method, request.headers.get("Authorization", ""), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
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

    app = web.Application()
    app.router.add_post("/api/{method}", handle)
    return app


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
        ({"resource": "file", "options": {}}, "file upload is not supported yet"),
        ({"operation": "search", "query": "x"}, "not supported yet"),
        ({"authentication": "oAuth2", "channelId": channel("C1"), "text": "x"}, "oAuth2"),
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
