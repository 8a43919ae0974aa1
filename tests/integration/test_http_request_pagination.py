"""HTTP Request pagination against a local aiohttp server: the three modes of n8n's
``options.pagination`` (a parameter per request, the next URL from the response, and the stop
conditions), with ``$response``, ``$request`` and ``$pageCount`` evaluated per page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from relayflow.engine.memory import FakeClock
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node
from tests.integration.http_request_support import State, app, http, start, url


@pytest.fixture
def state() -> State:
    return State()


@pytest.fixture
async def server(state: State, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    srv = await start(app(state))
    # the SSRF guard refuses loopback unless told: these tests call their own local server
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port}")
    try:
        yield srv
    finally:
        await srv.close()


def paged(srv: TestServer, path: str, pagination: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"url": url(srv, path), "options": {"pagination": {"pagination": pagination}}, **params}


PAGE_PARAM = {"parameters": [{"name": "page", "value": "={{ $pageCount + 1 }}"}]}


async def test_a_query_parameter_per_page_until_an_empty_response(server: TestServer, state: State) -> None:
    out = await http(paged(server, "/pages/param", {"parameters": PAGE_PARAM}))
    assert output_json(out) == [{"page": p, "n": k} for p in (1, 2, 3) for k in (0, 1)]
    # the first request is the node's own; then page=2, 3 and 4 (empty: the end)
    assert [s["page"] for s in state.seen] == [1, 2, 3, 4]
    assert state.seen[0]["query"] == {} and state.seen[1]["query"] == {"page": "2"}


async def test_n8n_v4_pagination_shape(server: TestServer, state: State) -> None:
    params = paged(
        server,
        "/pages/param",
        {
            "paginationMode": "updateAParameterInEachRequest",
            "parameters": {"parameters": [{"type": "qs", "name": "page", "value": "={{ $pageCount + 1 }}"}]},
            "paginationCompleteWhen": "responseIsEmpty",
        },
        method="GET",
    )
    for version in (4.1, 4.2, 4.3):
        state.seen.clear()
        out = await run_node("n8n-nodes-base.httpRequest", params, type_version=version)
        assert len(out[0]) == 6 and len(state.seen) == 4


async def test_body_and_header_parameters(server: TestServer, state: State) -> None:
    body = paged(
        server,
        "/pages/param",
        {"parameters": {"parameters": [{"type": "body", "name": "page", "value": "={{ $pageCount + 1 }}"}]}},
        method="POST",
        sendBody=True,
        specifyBody="json",
        jsonBody='{"page": 1}',
    )
    assert len((await http(body))[0]) == 6 and [s["page"] for s in state.seen] == [1, 2, 3, 4]
    state.seen.clear()
    header = paged(
        server,
        "/pages/param",
        {
            "parameters": {
                "parameters": [{"type": "headers", "name": "X-Page", "value": "={{ $pageCount + 1 }}"}]
            }
        },
    )
    assert len((await http(header))[0]) == 6 and [s["page"] for s in state.seen] == [1, 2, 3, 4]


async def test_request_is_visible_to_the_parameters(server: TestServer, state: State) -> None:
    pagination = {
        "parameters": {"parameters": [{"name": "page", "value": "={{ Number($request.qs.page || 1) + 1 }}"}]}
    }
    out = await http(paged(server, "/pages/param", pagination))
    assert len(out[0]) == 6 and [s["page"] for s in state.seen] == [1, 2, 3, 4]


async def test_next_url_from_the_response_until_an_expression_says_done(server: TestServer) -> None:
    pagination = {
        "paginationMode": "responseContainsNextURL",
        "nextURL": "={{ $response.body.next }}",
        "paginationCompleteWhen": "other",
        "completeExpression": "={{ $response.body.hasMore == false }}",
    }
    out = await http(paged(server, "/pages/next", pagination))
    bodies = output_json(out)
    assert [b["items"][0]["page"] for b in bodies] == [1, 2, 3]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}] * 3


async def test_an_empty_next_url_ends_and_item_data_is_at_hand(server: TestServer) -> None:
    # as in n8n exports: the next URL is built from the response and the item's own fields
    pagination = {
        "paginationMode": "responseContainsNextURL",
        "nextURL": "={{ $response.body.next ? $response.body.next + '&tag=' + $json.tag : '' }}",
        "paginationCompleteWhen": "receiveSpecificStatusCodes",
        "statusCodesWhenComplete": "",
        "maxRequests": 100,
    }
    out = await http(
        {"url": url(server, "/pages/next"), "options": {"pagination": pagination}},
        [{"tag": "a"}, {"tag": "b"}],
    )
    assert len(out[0]) == 6
    assert [it["pairedItem"]["item"] for it in out[0]] == [0, 0, 0, 1, 1, 1]


async def test_specific_status_codes_end_without_an_error(server: TestServer) -> None:
    pagination = {
        "parameters": PAGE_PARAM,
        "paginationCompleteWhen": "receiveSpecificStatusCodes",
        "statusCodesWhenComplete": "404, 410",
    }
    out = await http(paged(server, "/pages/status", pagination))
    assert output_json(out) == [{"page": 1}, {"page": 2}]


async def test_an_error_status_not_listed_fails(server: TestServer) -> None:
    pagination = {
        "parameters": PAGE_PARAM,
        "paginationCompleteWhen": "receiveSpecificStatusCodes",
        "statusCodesWhenComplete": "410",
    }
    with pytest.raises(NodeRunFailed, match="HTTP 404"):
        await http(paged(server, "/pages/status", pagination))


async def test_max_requests_and_the_interval_between_them(server: TestServer) -> None:
    engine = make_engine(fake_clock=True)
    pagination = {
        "parameters": PAGE_PARAM,
        "paginationCompleteWhen": "other",
        "completeExpression": "={{ false }}",
        "limitPagesFetched": True,
        "maxRequests": 3,
        "requestInterval": 250,
    }
    out = await http(paged(server, "/pages/endless", pagination), engine=engine)
    assert output_json(out) == [{"page": 1}, {"page": 2}, {"page": 3}]
    clock = engine.services.clock
    assert isinstance(clock, FakeClock) and clock.sleeps == [0.25, 0.25]


async def test_full_response_per_page(server: TestServer) -> None:
    settings = {"fullResponse": True}
    params = paged(server, "/pages/param", {"parameters": PAGE_PARAM})
    params["options"]["response"] = {"response": settings}
    out = output_json(await http(params))
    assert [o["statusCode"] for o in out] == [200, 200, 200]
    assert [o["body"][0]["page"] for o in out] == [1, 2, 3]


async def test_identical_pages_stop_with_an_error(server: TestServer) -> None:
    pagination = {
        "parameters": PAGE_PARAM,
        "paginationCompleteWhen": "other",
        "completeExpression": "={{ false }}",
    }
    with pytest.raises(NodeRunFailed, match="pages were identical"):
        await http(paged(server, "/pages/same", pagination))


async def test_bad_settings_and_expressions_fail_clearly(server: TestServer) -> None:
    with pytest.raises(NodeRunFailed, match="maxRequests"):
        await http(paged(server, "/pages/endless", {"limitPagesFetched": True, "maxRequests": 0}))
    with pytest.raises(NodeRunFailed, match="statusCodesWhenComplete"):
        await http(
            paged(
                server,
                "/pages/status",
                {"paginationCompleteWhen": "receiveSpecificStatusCodes", "statusCodesWhenComplete": "four"},
            )
        )
    broken = {"parameters": {"parameters": [{"name": "page", "value": "={{ $response.body.nope.deeper }}"}]}}
    with pytest.raises(NodeRunFailed) as info:
        await http(paged(server, "/pages/endless", broken))
    assert info.value.error["code"] == "expression_error"


async def test_pagination_off(server: TestServer, state: State) -> None:
    out = await http(paged(server, "/pages/param", {"paginationMode": "off", "parameters": PAGE_PARAM}))
    assert len(out[0]) == 2 and len(state.seen) == 1
