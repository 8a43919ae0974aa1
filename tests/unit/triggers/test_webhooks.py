from __future__ import annotations

import base64

import pytest

from relayflow.errors import Conflict, InputInvalid
from relayflow.triggers.webhooks import (
    Match,
    MethodNotAllowed,
    NotFound,
    Registration,
    RouteTable,
    Upload,
    decode_body,
    normalize_path,
    webhook_item,
)


def reg(method: str, path: str, wf: str = "w1", node: str = "Webhook") -> Registration:
    return Registration(method, path, wf, node)


def test_static_lookup_and_normalisation() -> None:
    t = RouteTable([reg("POST", "/orders/")])
    m = t.lookup("post", "orders")
    assert isinstance(m, Match) and m.registration.path == "orders" and m.params == {}
    assert normalize_path("//a//b/") == "a/b"


def test_path_parameters_are_bound_and_decoded() -> None:
    t = RouteTable([reg("GET", "orders/:id/items/:item")])
    m = t.lookup("GET", "/orders/42/items/a%20b")
    assert isinstance(m, Match) and m.params == {"id": "42", "item": "a b"}


def test_static_beats_dynamic_and_more_static_segments_win() -> None:
    t = RouteTable(
        [
            reg("GET", "orders/:id", node="byId"),
            reg("GET", "orders/latest", node="latest"),
            reg("GET", ":kind/:id", node="generic"),
        ]
    )
    assert t.lookup("GET", "orders/latest").registration.node == "latest"  # type: ignore[union-attr]
    assert t.lookup("GET", "orders/7").registration.node == "byId"  # type: ignore[union-attr]
    assert t.lookup("GET", "users/7").registration.node == "generic"  # type: ignore[union-attr]


def test_wrong_method_is_405_with_the_allowed_ones() -> None:
    t = RouteTable([reg("POST", "hook"), reg("PUT", "hook")])
    res = t.lookup("DELETE", "hook")
    assert res == MethodNotAllowed(("POST", "PUT"))


def test_head_falls_back_to_get() -> None:
    t = RouteTable([reg("GET", "hook")])
    assert isinstance(t.lookup("HEAD", "hook"), Match)


def test_unknown_path_is_404() -> None:
    assert isinstance(RouteTable([reg("GET", "a")]).lookup("GET", "b"), NotFound)
    assert isinstance(RouteTable([reg("GET", "a/:x")]).lookup("GET", "a/b/c"), NotFound)


def test_one_registration_per_method_and_path() -> None:
    t = RouteTable([reg("POST", "hook", wf="w1")])
    with pytest.raises(Conflict, match="w1"):
        t.add(reg("POST", "/hook/", wf="w2"))
    with pytest.raises(Conflict):
        t.add(reg("GET", "a/:x"))
        t.add(reg("GET", "a/:x", wf="w3"))
    t.add(reg("GET", "hook", wf="w2"))  # another method is fine
    assert len(t) == 3


def test_bad_registrations() -> None:
    with pytest.raises(InputInvalid):
        RouteTable([reg("FETCH", "x")])
    with pytest.raises(InputInvalid):
        RouteTable([reg("GET", "//")])


def test_remove_workflow_frees_its_paths() -> None:
    t = RouteTable([reg("GET", "a", wf="w1"), reg("GET", "b/:x", wf="w1"), reg("GET", "c", wf="w2")])
    t.remove_workflow("w1")
    assert isinstance(t.lookup("GET", "a"), NotFound)
    assert isinstance(t.lookup("GET", "b/1"), NotFound)
    assert isinstance(t.lookup("GET", "c"), Match)
    t.add(reg("GET", "a", wf="w3"))
    assert len(t) == 2


@pytest.mark.parametrize(
    ("ctype", "body", "expected"),
    [
        ("application/json", b'{"a": [1, 2]}', {"a": [1, 2]}),
        ("application/vnd.api+json; charset=utf-8", b"[1]", [1]),
        ("application/x-www-form-urlencoded", b"a=1&b=x+y&a=2", {"a": ["1", "2"], "b": "x y"}),
        ("text/plain", "héllo".encode(), "héllo"),
        ("application/xml", b"<a/>", "<a/>"),
        ("application/json", b"", {}),
    ],
)
def test_decode_body(ctype: str, body: bytes, expected: object) -> None:
    assert decode_body(ctype, body) == expected


def test_decode_body_errors_are_clear() -> None:
    with pytest.raises(InputInvalid, match="not valid JSON"):
        decode_body("application/json", b"{nope")
    with pytest.raises(InputInvalid, match="UTF-8"):
        decode_body("application/octet-stream", b"\xff\xfe\x00")


def test_webhook_item_shape_and_uploads() -> None:
    it = webhook_item(
        method="POST",
        path="orders/1",
        headers={"Content-Type": "multipart/form-data", "X-Key": "k"},
        query=[("a", "1"), ("a", "2"), ("b", "")],
        params={"id": "1"},
        body={"note": "hi"},
        uploads=[Upload("file", "report.PDF", "application/pdf", b"%PDF-1"), Upload("file", None, "", b"xy")],
        webhook_url="http://127.0.0.1:5678/webhook/orders/1",
    )
    j = it["json"]
    assert j["headers"] == {"content-type": "multipart/form-data", "x-key": "k"}
    assert j["query"] == {"a": ["1", "2"], "b": ""} and j["params"] == {"id": "1"}
    assert j["body"] == {"note": "hi"} and j["webhookUrl"].endswith("/orders/1")
    pdf = it["binary"]["file"]
    assert base64.b64decode(pdf["data"]) == b"%PDF-1"
    assert pdf["mimeType"] == "application/pdf" and pdf["fileExtension"] == "pdf" and pdf["fileSize"] == 6
    assert it["binary"]["file1"]["mimeType"] == "application/octet-stream"
