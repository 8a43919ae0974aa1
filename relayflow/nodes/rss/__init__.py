"""RSS Read (n8n ``rssFeedRead`` v1-1.2) and RSS Feed Trigger (n8n ``rssFeedReadTrigger`` v1).

Feeds are fetched through the engine's shared HTTP session, behind the SSRF guard, and parsed by
``feed.py`` (RSS 2.0, RSS 1.0/RDF, Atom; DTD tricks refused). RSS Read emits one item per feed
entry; version 1 reads the feed once (the first item's URL), later versions once per input item.

The trigger polls (``relayflow.triggers.polling``) at its ``pollTimes``. Its cursor, in the
static data under ``node:<name>`` as in n8n, is ``lastItemDate`` (the newest ``isoDate`` emitted)
or, before any item was emitted, ``lastTimeChecked`` (the time of the first poll). A poll emits
the entries dated after the cursor, in feed order; so the first poll emits only entries dated
after it (none, usually): n8n's behaviour, the feed's back catalogue is not replayed. Entries
dated exactly at ``lastItemDate`` are told apart by id (``lastItemIds``: guid, id, link or
title), so two entries of the same second are not lost. Entries without a date are never
emitted. Unlike n8n, ``lastTimeChecked`` is not advanced by every empty poll: an entry that
shows up late in a cached feed with an older date is still emitted, and an empty poll writes
nothing. Run by hand, the trigger emits the feed's first entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import NodeError, ParameterInvalid
from relayflow.nodes.rss.feed import FeedError, iso_date, parse_feed
from relayflow.nodes.spec import N8nAlias, NodeSpec
from relayflow.nodes.triggers import CronTimes
from relayflow.triggers.polling import DEFAULT_POLL_TIMES, PollContext, polling_execute

DEFAULT_TIMEOUT_S = 60.0
# a feed larger than this is refused (the whole document is parsed in memory)
MAX_FEED_BYTES = 16 * 1024 * 1024
# how many ids of the entries dated at the cursor are kept
MAX_CURSOR_IDS = 100
_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, */*;q=0.8"


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    ignoreSSL: bool = False


class ReadParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = ""
    options: Options = Options()
    # n8n's v1 reads the feed once, with the first item's URL
    every_item: bool = True


class TriggerParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    feedUrl: str = "https://blog.n8n.io/rss/"
    pollTimes: CronTimes = DEFAULT_POLL_TIMES
    options: Options = Options()


# --- fetching --------------------------------------------------------------------------------------
def _check_url(url: str, field: str) -> str:
    url = url.strip()
    if not url:
        raise ParameterInvalid(f'the parameter "{field}" has to be set', field=f"parameters.{field}")
    if not url.lower().startswith(("http://", "https://")):
        raise ParameterInvalid(f"the feed URL must be http(s): {url!r}", field=f"parameters.{field}")
    return url


async def fetch_feed(services: Any, url: str, *, ignore_ssl: bool = False) -> list[dict[str, Any]]:
    """The entries of the feed at ``url``, fetched with the engine's shared session (or a guarded
    one); NodeError when it cannot be fetched or read."""
    import aiohttp

    from relayflow.http_session import SharedSession
    from relayflow.security.ssrf_http import guarded_session

    shared = getattr(services, "http", None)
    own = None
    if isinstance(shared, SharedSession):
        session = await shared.get()
    elif isinstance(shared, aiohttp.ClientSession):
        session = shared
    else:
        session = own = guarded_session()
    try:
        async with session.get(
            url,
            headers={"Accept": _ACCEPT, "User-Agent": "relayflow-rss"},
            timeout=aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT_S),
            ssl=not ignore_ssl,
            max_redirects=10,
        ) as r:
            if r.status >= 400:
                raise NodeError(f"the feed at {url} answered {r.status} {r.reason or ''}".rstrip())
            body = await r.content.read(MAX_FEED_BYTES + 1)
    except TimeoutError:
        raise NodeError(f"the feed at {url} did not answer within {DEFAULT_TIMEOUT_S:g} s") from None
    except aiohttp.ClientError as exc:
        raise NodeError(f"the feed at {url} could not be fetched: {exc or type(exc).__name__}") from exc
    finally:
        if own is not None:
            await own.close()
    if len(body) > MAX_FEED_BYTES:
        raise NodeError(f"the feed at {url} is larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    try:
        return parse_feed(body)
    except FeedError as exc:
        raise NodeError(f"the feed at {url} cannot be read: {exc}", retryable=False) from None


# --- RSS Read --------------------------------------------------------------------------------------
async def _read(ctx: NodeContext, p: ReadParams) -> list[dict[str, Any]]:
    return await fetch_feed(ctx.services, _check_url(p.url, "url"), ignore_ssl=p.options.ignoreSSL)


async def read_execute(ctx: NodeContext, items: Items, params: ReadParams) -> NodeOutput:
    if not params.every_item:
        return [[{"json": e, "pairedItem": {"item": 0}} for e in await _read(ctx, params)]]
    out: Items = []
    for i in range(len(items)):
        p = cast(ReadParams, await ctx.params_for(i)) if ctx.params_dynamic else params
        try:
            entries = await _read(ctx, p)
        except (NodeError, ParameterInvalid) as exc:
            failed = ctx.fail_item(exc, i)
            if failed is not None:
                out.append(failed)
            continue
        out.extend({"json": e, "pairedItem": {"item": i}} for e in entries)
    return [out]


def _read_from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    return {**raw, "every_item": version >= 1.1}


# --- RSS Feed Trigger --------------------------------------------------------------------------------
def _when(iso: Any) -> datetime | None:
    if not isinstance(iso, str):
        return None
    text = iso_date(iso)
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _entry_id(entry: dict[str, Any]) -> str:
    for key in ("guid", "id", "link"):
        if isinstance(entry.get(key), str) and entry[key]:
            return str(entry[key])
    return f"{entry.get('title', '')}@{entry.get('isoDate', '')}"


def new_entries(entries: list[dict[str, Any]], cursor: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The entries the cursor has not seen, in feed order; moves the cursor past them."""
    last_item = _when(cursor.get("lastItemDate"))
    since = last_item or _when(cursor.get("lastTimeChecked"))
    if since is None:
        since = now
        cursor["lastTimeChecked"] = iso_date(now.isoformat())
    seen = set(cursor.get("lastItemIds") or []) if last_item is not None else set()
    dated = [(e, at) for e in entries if (at := _when(e.get("isoDate"))) is not None]
    new = [(e, at) for e, at in dated if at > since or (at == since and _entry_id(e) not in seen)]
    if new:
        newest = max(at for _, at in new)
        cursor["lastItemDate"] = iso_date(newest.isoformat())
        cursor["lastItemIds"] = [_entry_id(e) for e, at in dated if at == newest][:MAX_CURSOR_IDS]
    return [e for e, _ in new]


async def poll_feed(ctx: PollContext, params: TriggerParams) -> Items:
    url = _check_url(params.feedUrl, "feedUrl")
    entries = await fetch_feed(ctx.services, url, ignore_ssl=params.options.ignoreSSL)
    if ctx.mode == "manual":
        return [{"json": entries[0]}] if entries else []
    found: list[Item] = [{"json": e} for e in new_entries(entries, ctx.cursor, ctx.now())]
    return found


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.rssFeedRead",
        version=1,
        title="RSS Read",
        group="action",
        description="Read the entries of an RSS or Atom feed, one item per entry.",
        params=ReadParams,
        execute=read_execute,
        aliases=(N8nAlias("n8n-nodes-base.rssFeedRead", (1, 1.1, 1.2), translate=_read_from_n8n),),
    ),
    NodeSpec(
        type="relayflow.rssFeedReadTrigger",
        version=1,
        title="RSS Feed Trigger",
        group="trigger",
        description="Polls an RSS or Atom feed at its pollTimes and starts the workflow with the new "
        "entries (served by 'relayflow start'); run by hand it emits the feed's first entry.",
        params=TriggerParams,
        execute=polling_execute(poll_feed),
        inputs=(),
        trigger=True,
        poll=poll_feed,
        aliases=(N8nAlias("n8n-nodes-base.rssFeedReadTrigger", (1,)),),
    ),
)
