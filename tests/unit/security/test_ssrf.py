"""The SSRF guard: refused address classes, embedded IPv4 forms, the allow list, and the resolver
that checks every answer it hands to the connector."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relayflow.errors import InputInvalid
from relayflow.security.ssrf import AllowList, SsrfBlocked, check, refusal
from relayflow.security.ssrf_http import GuardedConnector, guarded_session

REFUSED = [
    "127.0.0.1",
    "127.255.0.7",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:a9fe:a9fe",  # mapped metadata
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(SsrfBlocked, match="RELAYFLOW_HTTP_ALLOW"):
        check("example.test", [address], 443, AllowList())


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    assert check("example.test", [address], 443, AllowList()) == [address]


def test_one_internal_answer_among_public_ones_refuses_the_name() -> None:
    with pytest.raises(SsrfBlocked, match=r"10\.0\.0\.5"):
        check("rebind.test", ["1.1.1.1", "10.0.0.5"], 80, AllowList())


@pytest.mark.parametrize(
    ("allow", "host", "address", "port", "allowed"),
    [
        ("127.0.0.1:8080", "localhost", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "localhost", "127.0.0.1", 8081, False),
        ("10.0.0.0/8", "db.internal", "10.9.8.7", 5432, True),
        ("10.0.0.0/8", "db.internal", "192.168.0.1", 5432, False),
        ("api.internal", "API.internal.", "10.0.0.1", 443, True),
        ("api.internal", "other.internal", "10.0.0.1", 443, False),
        ("[::1]:9000", "localhost", "::1", 9000, True),
        ("::1", "localhost", "::1", 1234, True),
    ],
)
def test_the_allow_list(allow: str, host: str, address: str, port: int, allowed: bool) -> None:
    rules = AllowList.parse(allow)
    if allowed:
        assert check(host, [address], port, rules) == [address]
    else:
        with pytest.raises(SsrfBlocked):
            check(host, [address], port, rules)


@pytest.mark.parametrize("bad", ["127.0.0.1:http", "host:0", "[::1", "a/b c", "user@host"])
def test_bad_allow_entries_are_refused_clearly(bad: str) -> None:
    with pytest.raises(InputInvalid, match="RELAYFLOW_HTTP_ALLOW"):
        AllowList.parse(bad)


class FakeResolver:
    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.answers
        ]

    async def close(self) -> None:
        return None


async def test_the_connector_pins_what_it_checked() -> None:
    inner = FakeResolver(["93.184.216.34"])
    connector = GuardedConnector(AllowList(), resolver=inner, use_dns_cache=False)
    found = await connector._resolve_host("example.test", 443)
    assert [f["host"] for f in found] == ["93.184.216.34"]
    inner.answers = ["127.0.0.1"]  # the next answer rebinds: refused
    with pytest.raises(SsrfBlocked, match="loopback"):
        await connector._resolve_host("example.test", 443)
    await connector.close()


async def test_ip_literals_and_redirects_meet_the_guard_too() -> None:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:9/secret")

    app = web.Application()
    app.router.add_get("/", redirect)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = f"http://127.0.0.1:{server.port}/"
        async with guarded_session(env={}) as session:
            with pytest.raises(SsrfBlocked, match="loopback"):
                await session.get(url)
        # the first hop allowed, the redirect's target (another port) is not
        async with guarded_session(env={"RELAYFLOW_HTTP_ALLOW": f"127.0.0.1:{server.port}"}) as session:
            with pytest.raises(SsrfBlocked, match=r"127\.0\.0\.1:9\b"):
                await session.get(url)
    finally:
        await server.close()


async def test_odd_numeric_hosts_never_reach_an_internal_address() -> None:
    async with guarded_session(env={}) as session:
        for host in ("2130706433", "0x7f.1", "127.1", "017700000001"):
            with pytest.raises((SsrfBlocked, aiohttp.InvalidURL)):
                await session.get(f"http://{host}:9/")
