"""The RSS Feed Trigger on real ``relayflow start`` servers (SQLite under RELAYFLOW_HOME), polling
a feed served from this process every second.

Polls that find nothing record no execution; an entry that appears starts exactly one execution
with exactly that entry; the cursor (static data) survives a restart, so an entry published while
the server was down is emitted after it, and the old ones are not emitted again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import API
from tests.integration.test_schedule_restart import executions, running, wait_until


class Feed:
    """An RSS document whose entries the test adds; counts the requests (the polls)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, datetime]] = [("old", datetime(2020, 1, 1, tzinfo=UTC))]
        self.requests = 0
        self.lock = threading.Lock()

    def add(self, title: str, at: datetime) -> None:
        with self.lock:
            self.entries.insert(0, (title, at))

    def document(self) -> bytes:
        with self.lock:
            self.requests += 1
            items = "".join(
                f"<item><title>{t}</title><guid>{t}</guid><link>https://example.com/{t}</link>"
                f"<pubDate>{format_datetime(at, usegmt=True)}</pubDate></item>"
                for t, at in self.entries
            )
        return f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()

    def polls(self) -> int:
        with self.lock:
            return self.requests


@pytest.fixture
def feed() -> Iterator[tuple[Feed, str]]:
    state = Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def rss_workflow(feed_url: str) -> dict[str, Any]:
    return {
        "name": "rss",
        "nodes": [
            {
                "name": "RSS Feed Trigger",
                "type": "n8n-nodes-base.rssFeedReadTrigger",
                "typeVersion": 1,
                "parameters": {
                    "pollTimes": {"item": [{"mode": "custom", "cronExpression": "* * * * * *"}]},
                    "feedUrl": feed_url,
                },
            },
            {"name": "Done", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {"RSS Feed Trigger": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
    }


def emitted(client: httpx.Client, workflow_id: str) -> list[list[str]] | None:
    """The titles each execution's trigger emitted, oldest first; None while one is running."""
    found = executions(client, workflow_id)
    if any(s["status"] in ("new", "running") for s in found):
        return None
    out = []
    for summary in sorted(found, key=lambda s: s["startedAt"]):
        assert summary["status"] == "succeeded", summary
        record = client.get(f"{API}/executions/{summary['id']}").json()
        (run,) = [r for r in record["nodeRuns"] if r["node"] == "RSS Feed Trigger"]
        out.append([it["json"]["title"] for it in run["output"][0]])
    return out


def test_new_entries_run_once_and_the_cursor_survives_a_restart(
    tmp_path: Path, feed: tuple[Feed, str]
) -> None:
    state, host = feed
    env = {"RELAYFLOW_SCHEDULER_REFRESH_S": "0.5", "RELAYFLOW_HTTP_ALLOW": host}
    with running(tmp_path, **env) as (server, client):
        wf = client.post(f"{API}/workflows", json=rss_workflow(f"http://{host}/feed.xml")).json()
        assert client.post(f"{API}/workflows/{wf['id']}/activate").status_code == 200
        polls = server.wait_for(lambda: state.polls() >= 3 and state.polls())
        assert executions(client, wf["id"]) == []  # the old entry is never emitted
        published = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        state.add("fresh", published)
        server.wait_for(lambda: executions(client, wf["id"]))
        seen = state.polls()
        server.wait_for(lambda: state.polls() >= seen + 3)  # more polls: nothing new
        assert server.wait_for(lambda: emitted(client, wf["id"])) == [["fresh"]]
        assert polls >= 3
        stored = client.get(f"{API}/workflows/{wf['id']}").json()
        cursor = stored["staticData"]["node:RSS Feed Trigger"]
        assert cursor["lastItemDate"] == published.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # published while the server is down, older than its restart: only a kept cursor emits it
    late = published + timedelta(seconds=1)
    state.add("while down", late)
    wait_until(late + timedelta(seconds=1.5))
    with running(tmp_path, **env) as (server, client):
        seen = state.polls()
        server.wait_for(lambda: len(executions(client, wf["id"])) >= 2)
        server.wait_for(lambda: state.polls() >= seen + 4)
        assert server.wait_for(lambda: emitted(client, wf["id"])) == [["fresh"], ["while down"]]
