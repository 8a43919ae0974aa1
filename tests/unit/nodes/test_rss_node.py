"""RSS Read and the RSS Feed Trigger's poll: the parser (RSS 2.0, RDF, Atom; DTD tricks refused),
and fetching from a real aiohttp server on 127.0.0.1 through the SSRF guard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.engine.memory import FakeClock
from relayflow.nodes.rss import TriggerParams, new_entries, poll_feed
from relayflow.nodes.rss.feed import FeedError, iso_date, parse_feed
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node
from relayflow.triggers.polling import PollContext

RSS2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>Blog</title>
    <item>
      <title>Second &amp; last</title>
      <link>https://example.com/2</link>
      <description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</description>
      <content:encoded><![CDATA[<p>Full <i>text</i></p>]]></content:encoded>
      <dc:creator>Ada</dc:creator>
      <category>news</category><category>tech</category>
      <guid isPermaLink="false">post-2</guid>
      <pubDate>Tue, 02 Jan 2024 10:00:00 +0100</pubDate>
      <enclosure url="https://example.com/a.mp3" length="12" type="audio/mpeg"/>
    </item>
    <item>
      <title>First</title>
      <link>https://example.com/1</link>
      <pubDate>Mon, 01 Jan 2024 09:00:00 GMT</pubDate>
    </item>
  </channel>
</rss>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://example.com/"><title>RDF</title></channel>
  <item rdf:about="https://example.com/r1">
    <title>R1</title><link>https://example.com/r1</link>
    <description>plain</description><dc:date>2024-01-03T08:00:00Z</dc:date><dc:subject>s</dc:subject>
  </item>
</rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom</title>
  <entry>
    <title>A1</title>
    <link rel="self" href="https://example.com/a1.json"/>
    <link rel="alternate" href="https://example.com/a1"/>
    <id>urn:a1</id>
    <updated>2024-01-04T12:30:00+02:00</updated>
    <author><name>Bob</name></author>
    <summary>short</summary>
    <content type="html">&lt;p&gt;long&lt;/p&gt;</content>
    <category term="t1"/>
  </entry>
</feed>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<rss><channel><item><title>&b;</title></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss><channel><item><title>&x;</title></item></channel></rss>"""

RSS091 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><item><title>caf\xe9</title><link>https://example.com/c</link></item></channel></rss>"""


def test_rss2_items_have_n8n_shapes() -> None:
    second, first = parse_feed(RSS2)
    assert second == {
        "title": "Second & last",
        "link": "https://example.com/2",
        "pubDate": "Tue, 02 Jan 2024 10:00:00 +0100",
        "creator": "Ada",
        "dc:creator": "Ada",
        "content:encoded": "<p>Full <i>text</i></p>",
        "content:encodedSnippet": "Full text",
        "content": "<p>Hello <b>world</b></p>",
        "contentSnippet": "Hello world",
        "enclosure": {"url": "https://example.com/a.mp3", "length": "12", "type": "audio/mpeg"},
        "guid": "post-2",
        "categories": ["news", "tech"],
        "isoDate": "2024-01-02T09:00:00.000Z",
    }
    assert first == {
        "title": "First",
        "link": "https://example.com/1",
        "pubDate": "Mon, 01 Jan 2024 09:00:00 GMT",
        "isoDate": "2024-01-01T09:00:00.000Z",
    }


def test_rdf_and_atom_feeds() -> None:
    (r1,) = parse_feed(RDF)
    assert r1["guid"] == "https://example.com/r1" and r1["content"] == "plain"
    assert r1["isoDate"] == "2024-01-03T08:00:00.000Z" and r1["categories"] == ["s"]
    (a1,) = parse_feed(ATOM)
    assert a1 == {
        "title": "A1",
        "link": "https://example.com/a1",
        "pubDate": "2024-01-04T12:30:00+02:00",
        "author": "Bob",
        "content": "<p>long</p>",
        "contentSnippet": "long",
        "summary": "short",
        "id": "urn:a1",
        "categories": ["t1"],
        "isoDate": "2024-01-04T10:30:00.000Z",
    }


def test_a_bare_doctype_and_latin1_are_read() -> None:
    (item,) = parse_feed(RSS091)
    assert item["title"] == "café"
    cp1252 = b'<?xml version="1.0" encoding="windows-1252"?><rss><channel><item><title>\x93q\x94</title></item></channel></rss>'
    assert parse_feed(cp1252)[0]["title"] == "\u201cq\u201d"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (LAUGHS, "internal subset"),
        (XXE, "internal subset"),
        (b"<rss><channel><item>", "not well-formed"),
        (b"<html><body/></html>", "not an RSS or Atom feed"),
        (b"", "not well-formed"),
    ],
)
def test_refused_and_bad_documents(doc: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(doc)


def test_iso_dates() -> None:
    assert iso_date("Mon, 01 Jan 2024 09:00:00 GMT") == "2024-01-01T09:00:00.000Z"
    assert iso_date("2024-01-01T09:00:00.250Z") == "2024-01-01T09:00:00.250Z"
    assert iso_date("2024-01-01") == "2024-01-01T00:00:00.000Z"
    assert iso_date("yesterday") is None and iso_date("") is None


# --- over HTTP ------------------------------------------------------------------------------------
FEEDS: dict[str, bytes] = {}


async def _feed(request: web.Request) -> web.Response:
    body = FEEDS.get(request.match_info["name"])
    if body is None:
        return web.Response(status=404, reason="Not Found")
    return web.Response(body=body, content_type="application/rss+xml")


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/feeds/{name}", _feed)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    FEEDS.clear()
    FEEDS.update({"rss": RSS2, "atom": ATOM, "laughs": LAUGHS})
    # the SSRF guard refuses loopback unless told: these tests call their own local server
    monkeypatch.setenv("RELAYFLOW_HTTP_ALLOW", f"127.0.0.1:{srv.port}")
    try:
        yield srv
    finally:
        await srv.close()


def feed_url(srv: TestServer, name: str) -> str:
    return f"http://127.0.0.1:{srv.port}/feeds/{name}"


async def test_rss_read_emits_one_item_per_entry(server: TestServer) -> None:
    out = await run_node("n8n-nodes-base.rssFeedRead", {"url": feed_url(server, "rss")}, type_version=1.2)
    assert [j["title"] for j in output_json(out)] == ["Second & last", "First"]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 0}]


async def test_rss_read_per_item_from_v1_1_and_once_in_v1(server: TestServer) -> None:
    items = [{"feed": "rss"}, {"feed": "atom"}]
    params = {"url": f"={{{{ 'http://127.0.0.1:{server.port}/feeds/' + $json.feed }}}}"}
    out = await run_node("n8n-nodes-base.rssFeedRead", params, items, type_version=1.1)
    assert [(j["title"], it["pairedItem"]) for j, it in zip(output_json(out), out[0], strict=True)] == [
        ("Second & last", {"item": 0}),
        ("First", {"item": 0}),
        ("A1", {"item": 1}),
    ]
    out = await run_node("n8n-nodes-base.rssFeedRead", params, items, type_version=1)
    assert [j["title"] for j in output_json(out)] == ["Second & last", "First"]


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("missing", "node_error", "answered 404 Not Found"),
        ("laughs", "node_error", "internal subset"),
        ("", "parameter_invalid", 'parameter "url" has to be set'),
    ],
)
async def test_rss_read_errors_are_clear(server: TestServer, url: str, code: str, message: str) -> None:
    with pytest.raises(NodeRunFailed) as info:
        await run_node("n8n-nodes-base.rssFeedRead", {"url": feed_url(server, url) if url else ""})
    assert info.value.error["code"] == code and message in info.value.error["message"]


async def test_rss_read_continues_on_fail_per_item(server: TestServer) -> None:
    items = [{"feed": "missing"}, {"feed": "atom"}]
    params = {"url": f"={{{{ 'http://127.0.0.1:{server.port}/feeds/' + $json.feed }}}}"}
    out = await run_node(
        "n8n-nodes-base.rssFeedRead",
        params,
        items,
        type_version=1.2,
        node_fields={"onError": "continueRegularOutput"},
    )
    first, second = output_json(out)
    assert "404" in first["error"] and second["title"] == "A1"


async def test_the_ssrf_guard_applies(server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYFLOW_HTTP_ALLOW")
    with pytest.raises(NodeRunFailed) as info:
        await run_node("n8n-nodes-base.rssFeedRead", {"url": feed_url(server, "rss")})
    assert info.value.error["code"] == "ssrf_blocked" and "loopback" in info.value.error["message"]


async def test_the_trigger_run_by_hand_emits_the_first_entry(server: TestServer) -> None:
    wf_params = {"feedUrl": feed_url(server, "rss"), "pollTimes": {"item": [{"mode": "everyMinute"}]}}
    out = await run_node("n8n-nodes-base.rssFeedReadTrigger", wf_params)
    assert [j["title"] for j in output_json(out)] == ["Second & last"]


# --- the trigger's cursor ---------------------------------------------------------------------------
NOW = datetime(2024, 1, 2, 0, 0, tzinfo=UTC)


def entry(guid: str, at: str | None) -> dict[str, Any]:
    e: dict[str, Any] = {"guid": guid, "title": guid}
    if at is not None:
        e["isoDate"] = at
    return e


def test_the_first_poll_keeps_only_entries_newer_than_it() -> None:
    cursor: dict[str, Any] = {}
    feed = [entry("b", "2024-01-02T09:00:00.000Z"), entry("a", "2024-01-01T09:00:00.000Z")]
    assert [e["guid"] for e in new_entries(feed, cursor, NOW)] == ["b"]
    assert cursor == {
        "lastTimeChecked": "2024-01-02T00:00:00.000Z",
        "lastItemDate": "2024-01-02T09:00:00.000Z",
        "lastItemIds": ["b"],
    }
    assert new_entries(feed, cursor, NOW) == []


def test_entries_of_the_same_second_and_undated_ones() -> None:
    cursor: dict[str, Any] = {"lastItemDate": "2024-01-02T09:00:00.000Z", "lastItemIds": ["b"]}
    feed = [entry("c", "2024-01-02T09:00:00.000Z"), entry("b", "2024-01-02T09:00:00.000Z"), entry("x", None)]
    assert [e["guid"] for e in new_entries(feed, cursor, NOW)] == ["c"]
    assert cursor["lastItemIds"] == ["c", "b"]
    assert new_entries(feed, cursor, NOW) == []


def test_n8n_cursors_are_understood() -> None:
    # what n8n leaves in the static data: lastTimeChecked without milliseconds, no lastItemIds
    cursor: dict[str, Any] = {"lastTimeChecked": "2024-01-01T12:00:00Z"}
    feed = [entry("b", "2024-01-02T09:00:00.000Z"), entry("a", "2024-01-01T09:00:00.000Z")]
    assert [e["guid"] for e in new_entries(feed, cursor, NOW)] == ["b"]


async def test_poll_feed_in_trigger_mode_moves_the_cursor(server: TestServer) -> None:
    engine = make_engine(clock=FakeClock(datetime(2024, 1, 1, 12, tzinfo=UTC)))
    cursor: dict[str, Any] = {}
    ctx = PollContext("RSS", "trigger", cursor, engine.services, logging.getLogger("test.rss"))
    params = TriggerParams(feedUrl=feed_url(server, "rss"))
    assert [it["json"]["guid"] for it in await poll_feed(ctx, params)] == ["post-2"]
    assert await poll_feed(ctx, params) == []
    assert cursor["lastItemDate"] == "2024-01-02T09:00:00.000Z"
