"""``ctx.credentials`` inside executions, and the scrubbing of what they record (X6).

A fake vault stands for relayflow/credentials/vault.py (the port is all the engine knows).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from pydantic import BaseModel, ConfigDict

import relayflow.engine.state as engine_state
from relayflow.engine.context import NodeContext
from relayflow.engine.items import Items, NodeOutput
from relayflow.engine.memory import MemoryEventSink
from relayflow.errors import CredentialUnavailable, NodeError
from relayflow.nodes.builtin import BUILTIN_SPECS
from relayflow.nodes.http_request.auth import Auth, auth_from, credential_type
from relayflow.nodes.http_request.params import Params as HttpParams
from relayflow.nodes.http_request.request import Request
from relayflow.nodes.registry import Registry
from relayflow.nodes.spec import CredentialSlot, NodeSpec
from relayflow.testing import make_engine
from relayflow.workflow.parse import parse_workflow

CANARY = "canary-7f3a9c2e41"
REF = {"id": "cred-1", "name": "My header"}


class FakeVault:
    """Credentials by (type, id); records what it was asked."""

    def __init__(self, creds: Mapping[tuple[str, str], dict[str, Any]]) -> None:
        self.creds = dict(creds)
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((type_, dict(ref), workflow_id))
        found = self.creds.get((type_, str(ref.get("id"))))
        if found is None:
            raise CredentialUnavailable(f"{type_} credential {ref.get('name')!r} is not available")
        return dict(found)


class LeakParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail: bool = False


async def _leak(ctx: NodeContext, items: Items, p: LeakParams) -> NodeOutput:
    """Tries every way to get its credential into the record."""
    data = await ctx.credentials("httpHeaderAuth")
    value = data["value"]
    ctx.print("console:", value)
    ctx.log.warning("using %s", value)
    if p.fail:
        raise NodeError(f"the server answered {quote(value)}", retryable=False)
    encoded = base64.b64encode(value.encode()).decode()
    return [[{"json": {"raw": value, "b64": encoded, "hex": value.encode().hex(), value: "as key", "ok": 1}}]]


LEAK = NodeSpec(
    type="test.leak",
    version=1,
    title="Leak",
    group="action",
    description="uses a credential",
    params=LeakParams,
    execute=_leak,
    credentials=(CredentialSlot("httpHeaderAuth", required=True),),
)


REGISTRY = Registry((*BUILTIN_SPECS, LEAK))


def parse(data: dict[str, Any]) -> Any:
    return parse_workflow(data, registry=REGISTRY)


def workflow(*, credentials: dict[str, Any] | None = None, **node_fields: Any) -> dict[str, Any]:
    leak: dict[str, Any] = {"name": "Leak", "type": "test.leak", "parameters": {}, **node_fields}
    if credentials is not None:
        leak["credentials"] = credentials
    return {
        "id": "wf-1",
        "name": "creds",
        "nodes": [
            {"name": "Trigger", "type": "relayflow.manualTrigger"},
            leak,
            {"name": "After", "type": "relayflow.noOp"},
        ],
        "connections": {
            "Trigger": {"main": [[{"node": "Leak", "type": "main", "index": 0}]]},
            "Leak": {"main": [[{"node": "After", "type": "main", "index": 0}]]},
        },
    }


def engine_with(vault: FakeVault) -> tuple[Any, MemoryEventSink]:
    events = MemoryEventSink()
    return make_engine(registry=REGISTRY, credentials=vault, events=events), events


def dump(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def assert_clean(text: str) -> None:
    raw = CANARY.encode()
    for form in (CANARY, base64.b64encode(raw).decode(), quote(CANARY), raw.hex()):
        assert form not in text


VAULT = {("httpHeaderAuth", "cred-1"): {"name": "X-Api-Key", "value": CANARY}}


async def test_a_node_gets_its_credential_and_the_record_never_holds_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vault = FakeVault(VAULT)
    engine, events = engine_with(vault)
    wf = parse(workflow(credentials={"httpHeaderAuth": REF}))
    with caplog.at_level(logging.INFO):
        record = await engine.run(wf)
    assert record.status.value == "succeeded"
    assert vault.calls == [("httpHeaderAuth", REF, "wf-1")]
    leak = record.runs_of("Leak")[0]
    assert leak.output is not None
    assert leak.output[0][0]["json"]["ok"] == 1
    assert leak.output[0][0]["json"]["raw"] == "[redacted]"
    assert leak.logs == ["console: [redacted]"]
    # the next node saw the scrubbed items, and so does the result
    assert record.runs_of("After")[0].output == leak.output
    assert_clean(dump(record.to_dict(with_data=True)))
    assert_clean(dump(record.result))
    assert_clean(dump(events.events))
    assert_clean(caplog.text)
    assert "using [redacted]" in caplog.text


async def test_a_failure_carrying_the_secret_is_recorded_scrubbed() -> None:
    engine, events = engine_with(FakeVault(VAULT))
    wf = parse(workflow(credentials={"httpHeaderAuth": REF}, parameters={"fail": True}))
    record = await engine.run(wf)
    assert record.status.value == "failed"
    assert record.error is not None
    assert record.error["message"] == "the server answered [redacted]"
    assert record.runs_of("Leak")[0].error == record.error
    assert_clean(dump(record.to_dict(with_data=True)))
    assert_clean(dump(events.events))


async def test_on_error_continue_puts_a_scrubbed_message_in_the_items() -> None:
    engine, _ = engine_with(FakeVault(VAULT))
    wf = parse(
        workflow(
            credentials={"httpHeaderAuth": REF}, parameters={"fail": True}, onError="continueRegularOutput"
        )
    )
    record = await engine.run(wf)
    assert record.status.value == "succeeded"
    after = record.runs_of("After")[0].output
    assert after is not None
    assert after[0][0]["json"]["error"] == "the server answered [redacted]"
    assert_clean(dump(record.to_dict(with_data=True)))


async def test_a_node_without_the_credential_reference_fails_naming_node_and_type() -> None:
    vault = FakeVault(VAULT)
    engine, _ = engine_with(vault)
    record = await engine.run(parse(workflow(credentials={"httpBasicAuth": REF})))
    assert record.status.value == "failed"
    assert record.error is not None
    assert record.error["code"] == "credential_unavailable"
    assert "'Leak'" in record.error["message"]
    assert "httpHeaderAuth" in record.error["message"]
    assert vault.calls == []


async def test_a_credential_the_vault_refuses_fails_the_node() -> None:
    engine, _ = engine_with(FakeVault({}))
    record = await engine.run(parse(workflow(credentials={"httpHeaderAuth": REF})))
    assert record.status.value == "failed"
    assert record.error is not None
    assert record.error["code"] == "credential_unavailable"
    assert record.error["node"] == "Leak"
    assert "'My header'" in record.error["message"]


async def test_no_vault_configured_is_a_clear_failure() -> None:
    engine = make_engine(registry=REGISTRY)
    record = await engine.run(parse(workflow(credentials={"httpHeaderAuth": REF})))
    assert record.error is not None
    assert record.error["code"] == "credential_unavailable"


async def test_executions_without_credentials_make_no_secret_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("a secret set was made")

    monkeypatch.setattr(engine_state, "SecretSet", refuse)
    engine, _ = engine_with(FakeVault(VAULT))
    wf = parse(
        {
            "name": "plain",
            "nodes": [
                {"name": "Trigger", "type": "relayflow.manualTrigger"},
                {"name": "After", "type": "relayflow.noOp"},
            ],
            "connections": {"Trigger": {"main": [[{"node": "After", "type": "main", "index": 0}]]}},
        }
    )
    record = await engine.run(wf, input_items=[{"json": {"value": CANARY}}])
    assert record.status.value == "succeeded"
    assert record.output_json() == [{"value": CANARY}]


# --- HTTP Request: which credential, and what it adds ---------------------------------------------
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"authentication": "none"}, None),
        ({"authentication": "genericCredentialType", "genericAuthType": "httpQueryAuth"}, "httpQueryAuth"),
        (
            {"authentication": "predefinedCredentialType", "nodeCredentialType": "httpBearerAuth"},
            "httpBearerAuth",
        ),
        ({"authentication": "basicAuth"}, "httpBasicAuth"),
        ({"authentication": "headerAuth"}, "httpHeaderAuth"),
        ({"authentication": "oAuth2"}, "oAuth2Api"),
    ],
)
def test_http_request_credential_type(params: dict[str, Any], expected: str | None) -> None:
    assert credential_type(HttpParams.model_validate(params), "HTTP") == expected


@pytest.mark.parametrize(
    "params",
    [
        {"authentication": "predefinedCredentialType", "nodeCredentialType": "cloudflareApi"},
        {"authentication": "genericCredentialType", "genericAuthType": "httpCustomAuth"},
        {"authentication": "digestAuth"},
    ],
)
def test_http_request_unsupported_credential_types_fail_clearly(params: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="not supported"):
        credential_type(HttpParams.model_validate(params), "HTTP")


def test_http_request_auth_headers_and_query() -> None:
    basic = auth_from("httpBasicAuth", {"user": "u", "password": "p:w"}, "N", lowercase=False)
    assert basic.headers == {"Authorization": "Basic " + base64.b64encode(b"u:p:w").decode()}
    header = auth_from("httpHeaderAuth", {"name": "X-Key", "value": "v"}, "N", lowercase=True)
    assert header.headers == {"x-key": "v"}
    query = auth_from("httpQueryAuth", {"name": "api_key", "value": "v"}, "N", lowercase=True)
    assert query.query == [("api_key", "v")] and not query.headers
    bearer = auth_from("httpBearerAuth", {"token": "t"}, "N", lowercase=False)
    assert bearer.headers == {"Authorization": "Bearer t"}
    oauth = auth_from("oAuth2Api", {"oauthTokenData": {"access_token": "at"}}, "N", lowercase=False)
    assert oauth.headers == {"Authorization": "Bearer at"}
    with pytest.raises(CredentialUnavailable, match="access token"):
        auth_from("oAuth2Api", {"clientId": "c"}, "N", lowercase=False)
    with pytest.raises(CredentialUnavailable, match="'value'"):
        auth_from("httpHeaderAuth", {"name": "X-Key"}, "N", lowercase=False)


def test_the_credential_header_replaces_one_set_by_hand() -> None:
    req = Request("GET", "http://example.test/", query=[("a", "1")], headers={"AUTHORIZATION": "mine"})
    Auth(headers={"authorization": "Bearer t"}, query=[("k", "v")]).apply(req)
    assert req.headers == {"authorization": "Bearer t"}
    assert req.query == [("a", "1"), ("k", "v")]
