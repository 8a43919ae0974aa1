"""HTTP Request against a real aiohttp server on 127.0.0.1 (the one place unit tests use sockets)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.engine.expression import ExpressionScope
from relayflow.engine.memory import FakeClock, MemoryBinaryStore
from relayflow.errors import WorkflowInvalid
from relayflow.expressions import default_expression_engine
from relayflow.http_session import SharedSession
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))


@dataclass
class _Compiled:
    source: str
    single: bool


class JsonFieldExpressions:
    """A stand-in evaluator that understands ``{{ $json.<field> }}`` (so the per-item parameter
    paths are tested before the real expression engine lands)."""

    _FIELD = re.compile(r"\{\{\s*\$json\.(\w+)\s*\}\}")

    def compile(self, template: str) -> _Compiled:
        return _Compiled(template, bool(self._FIELD.fullmatch(template.strip())))

    async def evaluate(
        self, compiled: _Compiled, scope: ExpressionScope, indexes: Sequence[int]
    ) -> list[Any]:
        def one(i: int) -> Any:
            data = scope.item_json(i)
            if compiled.single:
                return data.get(self._FIELD.fullmatch(compiled.source.strip()).group(1))  # type: ignore[union-attr]
            return self._FIELD.sub(lambda m: str(data.get(m.group(1))), compiled.source)

        return [one(i) for i in indexes]

    def close(self) -> None:
        pass


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": [[k, v] for k, v in request.query.items()],
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "contentType": request.content_type,
            "body": body.decode("utf-8", errors="replace"),
        }
    )


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code} body", content_type="text/plain")


async def _hang(request: web.Request) -> web.Response:
    await asyncio.Event().wait()  # never answers: the client times out
    return web.Response()


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/echo")


def _reply(make: Callable[[], web.Response]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return make()

    return handler


def _app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/list", _reply(lambda: web.json_response([{"id": 1}, {"id": 2}, 3])))
    app.router.add_get("/scalar", _reply(lambda: web.json_response(42)))
    app.router.add_get("/text", _reply(lambda: web.Response(text="hello", content_type="text/plain")))
    app.router.add_get("/html", _reply(lambda: web.Response(text="<p>hi</p>", content_type="text/html")))
    app.router.add_get(
        "/badjson", _reply(lambda: web.Response(text="{nope", content_type="application/json"))
    )
    app.router.add_get("/png", _reply(lambda: web.Response(body=PNG, content_type="image/png")))
    app.router.add_get("/empty", _reply(lambda: web.Response(status=204)))
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/hang", _hang)
    return app


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    srv = TestServer(_app(), host="127.0.0.1")
    await srv.start_server()
    # the SSRF guard refuses loopback unless told: these tests call their own local server
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port}")
    try:
        yield srv
    finally:
        await srv.close()


async def test_the_ssrf_guard_is_on_by_default(server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYFLOW_HTTP_ALLOW")
    with pytest.raises(NodeRunFailed) as info:
        await http({"url": url(server, "/echo")})
    assert info.value.error["code"] == "ssrf_blocked"
    assert "loopback" in info.value.error["message"] and "RELAYFLOW_HTTP_ALLOW" in info.value.error["message"]


def url(srv: TestServer, path: str) -> str:
    return str(srv.make_url(path))


async def http(params: dict[str, Any], items: Any = None, **kw: Any) -> list[list[dict[str, Any]]]:
    return await run_node("relayflow.httpRequest", params, items, **kw)


async def test_get_returns_the_json_body(server: TestServer) -> None:
    out = await http({"url": url(server, "/echo")})
    (body,) = output_json(out)
    assert body["method"] == "GET" and body["path"] == "/echo"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_is_sent(server: TestServer, method: str) -> None:
    out = await http({"method": method, "url": url(server, "/echo")})
    assert output_json(out)[0]["method"] == method


async def test_query_and_headers_as_key_value_pairs(server: TestServer) -> None:
    params = {
        "url": url(server, "/echo"),
        "sendQuery": True,
        "queryParameters": {"parameters": [{"name": "q", "value": "a b"}, {"name": "page", "value": 2}]},
        "sendHeaders": True,
        "headerParameters": {"parameters": [{"name": "X-Api-Key", "value": "k1"}, {"name": "PRIVATE-TOKEN"}]},
    }
    body = output_json(await http(params))[0]
    assert body["query"] == [["q", "a b"], ["page", "2"]]
    assert body["headers"]["x-api-key"] == "k1" and body["headers"]["private-token"] == ""


async def test_query_and_headers_as_json(server: TestServer) -> None:
    params = {
        "url": url(server, "/echo"),
        "sendQuery": True,
        "specifyQuery": "json",
        "jsonQuery": '{"tags": ["a", "b"], "on": true}',
        "sendHeaders": True,
        "specifyHeaders": "json",
        "jsonHeaders": {"Accept": "application/json"},
    }
    body = output_json(await http(params))[0]
    assert body["query"] == [["tags[]", "a"], ["tags[]", "b"], ["on", "true"]]
    assert body["headers"]["accept"] == "application/json"


async def test_json_body_from_text_and_from_pairs(server: TestServer) -> None:
    base = {"method": "POST", "url": url(server, "/echo"), "sendBody": True}
    body = output_json(await http({**base, "specifyBody": "json", "jsonBody": '{"a": [1, 2]}'}))[0]
    assert body["contentType"] == "application/json" and body["body"] == '{"a": [1, 2]}'
    pairs = {"bodyParameters": {"parameters": [{"name": "n", "value": 3}, {"name": "s", "value": "x"}]}}
    body = output_json(await http({**base, **pairs}))[0]
    assert body["body"] == '{"n": 3, "s": "x"}'


async def test_form_urlencoded_and_raw_bodies(server: TestServer) -> None:
    base = {"method": "POST", "url": url(server, "/echo"), "sendBody": True}
    form = {
        "contentType": "form-urlencoded",
        "bodyParameters": {"parameters": [{"name": "a", "value": "1 2"}]},
    }
    body = output_json(await http({**base, **form}))[0]
    assert body["contentType"] == "application/x-www-form-urlencoded" and body["body"] == "a=1+2"
    raw = {"contentType": "raw", "rawContentType": "application/xml", "body": "<a/>"}
    body = output_json(await http({**base, **raw}))[0]
    assert body["contentType"] == "application/xml" and body["body"] == "<a/>"


async def test_multipart_and_binary_bodies_send_item_binaries(server: TestServer) -> None:
    item = {
        "json": {},
        "binary": {"data": {"data": base64.b64encode(b"file-bytes").decode(), "mimeType": "text/csv"}},
    }
    base = {"method": "POST", "url": url(server, "/echo"), "sendBody": True}
    multipart = {
        "contentType": "multipart-form-data",
        "bodyParameters": {
            "parameters": [
                {"name": "file", "parameterType": "formBinaryData", "inputDataFieldName": "data"},
                {"name": "kind", "value": "csv"},
            ]
        },
    }
    body = output_json(await http({**base, **multipart}, [item]))[0]
    assert (
        body["contentType"] == "multipart/form-data"
        and "file-bytes" in body["body"]
        and "csv" in body["body"]
    )
    body = output_json(await http({**base, "contentType": "binaryData"}, [item]))[0]
    assert body["contentType"] == "text/csv" and body["body"] == "file-bytes"


async def test_one_request_per_item_in_item_order(server: TestServer) -> None:
    out = await http({"url": url(server, "/echo")}, [{"i": i} for i in range(5)])
    assert [it["pairedItem"] for it in out[0]] == [{"item": i} for i in range(5)]


async def test_json_arrays_become_one_item_per_element(server: TestServer) -> None:
    out = await http({"url": url(server, "/list")})
    assert output_json(out) == [{"id": 1}, {"id": 2}, {"data": 3}]
    assert output_json(await http({"url": url(server, "/scalar")})) == [{"data": 42}]


@pytest.mark.parametrize(
    ("path", "expected"), [("/text", "hello"), ("/html", "<p>hi</p>"), ("/badjson", "{nope")]
)
async def test_text_responses_go_to_the_data_field(server: TestServer, path: str, expected: str) -> None:
    assert output_json(await http({"url": url(server, path)})) == [{"data": expected}]


async def test_json_format_refuses_a_body_that_is_not_json(server: TestServer) -> None:
    params = {
        "url": url(server, "/badjson"),
        "options": {"response": {"response": {"responseFormat": "json"}}},
    }
    with pytest.raises(NodeRunFailed, match="not valid JSON"):
        await http(params)


async def test_text_format_and_output_property(server: TestServer) -> None:
    settings = {"responseFormat": "text", "outputPropertyName": "page"}
    out = await http({"url": url(server, "/list"), "options": {"response": {"response": settings}}})
    (json,) = output_json(out)
    assert list(json) == ["page"] and orjson.loads(json["page"]) == [{"id": 1}, {"id": 2}, 3]


async def test_file_responses_go_to_the_binary_store(server: TestServer) -> None:
    store = MemoryBinaryStore()
    out = await http({"url": url(server, "/png")}, engine=make_engine(binary=store))
    (item,) = out[0]
    assert item["json"] == {}
    entry = item["binary"]["data"]
    assert "data" not in entry or entry["data"] == "memory"  # a reference, not base64
    assert (entry["mimeType"], entry["fileName"], entry["fileExtension"]) == ("image/png", "png", "png")
    assert (entry["bytes"], entry["fileSize"]) == (len(PNG), f"{len(PNG)} B")
    (key,) = store.keys()
    assert entry["id"] == f"memory:{key}" and await store.read_bytes(key) == PNG


async def test_full_response(server: TestServer) -> None:
    settings = {"fullResponse": True}
    out = await http({"url": url(server, "/text"), "options": {"response": {"response": settings}}})
    (json,) = output_json(out)
    assert json["body"] == "hello" and json["statusCode"] == 200 and json["statusMessage"] == "OK"
    assert json["headers"]["content-type"].startswith("text/plain")


async def test_empty_body_is_an_empty_item(server: TestServer) -> None:
    assert output_json(await http({"url": url(server, "/empty")})) == [{}]
    text = {"response": {"response": {"responseFormat": "text"}}}
    assert output_json(await http({"url": url(server, "/empty"), "options": text})) == [{"data": ""}]


async def test_error_status_fails_naming_item_and_status(server: TestServer) -> None:
    items = [{"i": 0}, {"i": 1}]
    with pytest.raises(NodeRunFailed) as info:
        await http({"url": url(server, "/status/404")}, items)
    assert info.value.error["itemIndex"] == 0
    assert "item 0" in info.value.error["message"] and "HTTP 404 Not Found" in info.value.error["message"]
    assert info.value.error["description"] == "status 404 body"


async def test_never_error_returns_the_error_response(server: TestServer) -> None:
    settings = {"neverError": True, "fullResponse": True}
    out = await http({"url": url(server, "/status/500"), "options": {"response": {"response": settings}}})
    assert output_json(out)[0]["statusCode"] == 500


async def test_server_errors_are_retried_and_client_errors_are_not(server: TestServer) -> None:
    fields = {"retryOnFail": True, "maxTries": 3, "waitBetweenTries": 0}
    engine = make_engine(fake_clock=True)
    for code, tries in (("503", 3), ("400", 1)):
        with pytest.raises(NodeRunFailed) as info:
            await http({"url": url(server, f"/status/{code}")}, node_fields=fields, engine=engine)
        assert f"HTTP {code}" in info.value.error["message"]
        assert info.value.record.runs_of("Node")[0].tries == tries


async def test_continue_error_output_routes_failed_items_with_the_message(server: TestServer) -> None:
    out = await http(
        {"url": url(server, "/status/404")}, [{"p": 1}], node_fields={"onError": "continueErrorOutput"}
    )
    assert output_json(out, 0) == []
    (failed,) = output_json(out, 1)
    assert failed["p"] == 1 and "item 0" in failed["error"] and "HTTP 404" in failed["error"]


async def test_continue_regular_output_gives_an_error_item(server: TestServer) -> None:
    out = await http(
        {"url": url(server, "/status/404")}, [{"p": 1}], node_fields={"onError": "continueRegularOutput"}
    )
    (item,) = output_json(out)
    assert list(item) == ["error"] and "HTTP 404" in item["error"]


async def test_timeout_fails_naming_the_item(server: TestServer) -> None:
    with pytest.raises(NodeRunFailed, match=r"item 0: GET .*/hang timed out after 0.05 s"):
        await http({"url": url(server, "/hang"), "options": {"timeout": 50}})


async def test_redirects_are_followed_unless_turned_off(server: TestServer) -> None:
    assert output_json(await http({"url": url(server, "/redirect")}))[0]["path"] == "/echo"
    options = {
        "redirect": {"redirect": {"followRedirects": False}},
        "response": {"response": {"neverError": True}},
    }
    settings_full = {**options["response"]["response"], "fullResponse": True}  # type: ignore[index]
    out = await http(
        {"url": url(server, "/redirect"), "options": {**options, "response": {"response": settings_full}}}
    )
    assert output_json(out)[0]["statusCode"] == 302


async def test_connection_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", "127.0.0.1:9")  # past the guard, to a closed port
    with pytest.raises(NodeRunFailed, match=r"item 0: GET http://127.0.0.1:9/x failed"):
        await http({"url": "http://127.0.0.1:9/x", "options": {"timeout": 2000}})


@pytest.mark.parametrize("bad", ["", "ftp://x/y", "example.com/path"])
async def test_urls_must_be_http(bad: str) -> None:
    with pytest.raises(NodeRunFailed, match="must be an http:// or https:// URL"):
        await http({"url": bad})


async def test_unknown_credential_types_are_refused_clearly() -> None:
    params = {"url": "https://example.com", "authentication": "genericCredentialType", "genericAuthType": "x"}
    with pytest.raises(NodeRunFailed, match="authentication 'x' is not supported by HTTP Request"):
        await http(params)


async def test_invalid_json_body_names_the_item(server: TestServer) -> None:
    params = {
        "method": "POST",
        "url": url(server, "/echo"),
        "sendBody": True,
        "specifyBody": "json",
        "jsonBody": "{",
    }
    with pytest.raises(NodeRunFailed, match="item 0: 'jsonBody' is not valid JSON"):
        await http(params)


async def test_batching_pauses_between_batches(server: TestServer) -> None:
    engine = make_engine(fake_clock=True)
    options = {"batching": {"batch": {"batchSize": 2, "batchInterval": 500}}}
    out = await http({"url": url(server, "/echo"), "options": options}, [{}] * 5, engine=engine)
    assert len(out[0]) == 5
    clock = engine.services.clock
    assert isinstance(clock, FakeClock) and clock.sleeps == [0.5, 0.5]


async def test_a_shared_session_from_services_is_used(server: TestServer) -> None:
    import aiohttp

    async with aiohttp.ClientSession(headers={"X-Shared": "yes"}) as session:
        out = await http({"url": url(server, "/echo")}, engine=make_engine(http=session))
        assert not session.closed
    assert output_json(out)[0]["headers"]["x-shared"] == "yes"


async def test_the_servers_shared_session_is_made_once_and_reused(server: TestServer) -> None:
    shared = SharedSession()
    engine = make_engine(http=shared)
    for _ in range(3):
        out = await http({"url": url(server, "/echo")}, engine=engine)
        assert output_json(out)[0]["method"] == "GET"
    session = await shared.get()
    assert not session.closed and session is await shared.get()
    await shared.close()
    assert session.closed


# --- n8n versions --------------------------------------------------------------------------------
async def test_n8n_v4_shape(server: TestServer) -> None:
    params = {
        "method": "POST",
        "url": url(server, "/echo"),
        "sendHeaders": True,
        "headerParameters": {"parameters": [{"name": "content-type", "value": "application/json"}]},
        "sendBody": True,
        "specifyBody": "json",
        "jsonBody": '{"model": "m"}',
        "options": {"timeout": 10000},
    }
    for version in (3, 4, 4.1, 4.2, 4.3, 4.4):
        out = await run_node("n8n-nodes-base.httpRequest", params, type_version=version)
        assert output_json(out)[0]["body"] == '{"model": "m"}'


async def test_n8n_legacy_v1_ui_parameters(server: TestServer) -> None:
    params = {
        "requestMethod": "POST",
        "url": url(server, "/echo"),
        "queryParametersUi": {"parameter": [{"name": "ts", "value": "1"}]},
        "headerParametersUi": {"parameter": [{"name": "X-A", "value": "b"}]},
        "bodyParametersUi": {"parameter": [{"name": "k", "value": "v"}]},
        "options": {},
    }
    for version in (1, 2):
        body = output_json(await run_node("n8n-nodes-base.httpRequest", params, type_version=version))[0]
        assert (body["method"], body["query"], body["headers"]["x-a"]) == ("POST", [["ts", "1"]], "b")
        assert body["body"] == '{"k": "v"}'


async def test_n8n_legacy_v1_json_parameters_and_string_response(server: TestServer) -> None:
    params = {
        "requestMethod": "POST",
        "url": url(server, "/echo"),
        "jsonParameters": True,
        "bodyParametersJson": '{"prompt": "x"}',
        "responseFormat": "string",
        "dataPropertyName": "body",
        "options": {"fullResponse": False},
    }
    out = await run_node("n8n-nodes-base.httpRequest", params, type_version=1)
    (json,) = output_json(out)
    assert list(json) == ["body"] and orjson.loads(json["body"])["body"] == '{"prompt": "x"}'


async def test_n8n_legacy_v1_keeps_json_arrays_in_one_item(server: TestServer) -> None:
    out = await run_node("n8n-nodes-base.httpRequest", {"url": url(server, "/list")}, type_version=1)
    assert output_json(out) == [{"data": [{"id": 1}, {"id": 2}, 3]}]
    params = {"url": url(server, "/list"), "options": {"splitIntoItems": True}}
    out = await run_node("n8n-nodes-base.httpRequest", params, type_version=2)
    assert len(out[0]) == 3


async def test_n8n_legacy_ignore_response_code(server: TestServer) -> None:
    params = {
        "url": url(server, "/status/404"),
        "responseFormat": "string",
        "options": {"ignoreResponseCode": True},
    }
    out = await run_node("n8n-nodes-base.httpRequest", params, type_version=1)
    assert output_json(out) == [{"data": "status 404 body"}]


def test_unknown_methods_are_refused_at_load_time() -> None:
    from relayflow.testing import node_workflow
    from relayflow.workflow.parse import parse_workflow

    with pytest.raises(WorkflowInvalid, match="method"):
        parse_workflow(node_workflow("relayflow.httpRequest", {"method": "BREW", "url": "http://x"}))


async def test_parameters_are_evaluated_per_item(server: TestServer) -> None:
    params = {
        "url": "=" + url(server, "/echo") + "?n={{ $json.n }}",
        "sendHeaders": True,
        "headerParameters": {"parameters": [{"name": "x-n", "value": "={{ $json.tag }}"}]},
    }
    engine = make_engine(expressions=JsonFieldExpressions())
    out = await http(params, [{"n": 1, "tag": "a"}, {"n": 2, "tag": "b"}], engine=engine)
    assert [(b["query"], b["headers"]["x-n"]) for b in output_json(out)] == [
        ([["n", "1"]], "a"),
        ([["n", "2"]], "b"),
    ]


async def test_one_failing_item_among_several_is_routed_alone(server: TestServer) -> None:
    engine = make_engine(expressions=JsonFieldExpressions())
    items = [{"p": "text"}, {"p": "status/404"}, {"p": "scalar"}]
    out = await http(
        {"url": "=" + url(server, "/") + "{{ $json.p }}"},
        items,
        engine=engine,
        node_fields={"onError": "continueErrorOutput"},
    )
    assert output_json(out, 0) == [{"data": "hello"}, {"data": 42}]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 2}]
    (failed,) = output_json(out, 1)
    assert failed["p"] == "status/404" and failed["error"].startswith("item 1:")


@pytest.mark.skipif(default_expression_engine() is None, reason="the expression engine has not landed yet")
async def test_real_expressions_per_item(server: TestServer) -> None:
    params = {"url": "=" + url(server, "/echo") + "?n={{ $json.n * 10 }}"}
    out = await http(params, [{"n": 1}, {"n": 2}])
    assert [b["query"] for b in output_json(out)] == [[["n", "10"]], [["n", "20"]]]
