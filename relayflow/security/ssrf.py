"""The SSRF guard: which addresses outbound connections may reach.

Every address a host name resolves to is checked, and the connection is made to the checked
addresses themselves (``relayflow.security.ssrf_http.GuardedConnector`` checks what its
resolution step hands to the connection step, IP literals and cached answers included), so a
second DNS answer cannot swap in an internal address (DNS rebinding), and every redirect hop
goes through the same check. Refused: loopback, private, link-local, unspecified, multicast,
reserved and shared (CGNAT) ranges, cloud metadata addresses, and IPv6 forms that carry an IPv4
address (IPv4-mapped, 6to4, Teredo, NAT64) when that address is refused. Odd numeric host forms
(``0x7f.1``, ``2130706433``, ``127.1``) are resolved by the system like any name, so what is
checked is the address they mean.

``RELAYFLOW_HTTP_ALLOW`` opens exceptions: host names, IP addresses and CIDRs, comma-separated,
each optionally with ``:port`` (``api.internal,10.0.0.0/8,127.0.0.1:8080,[::1]:9000``). A host
name exception allows whatever that name resolves to.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from relayflow.errors import InputInvalid, NodeError

ENV_ALLOW = "RELAYFLOW_HTTP_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# answered by cloud providers' metadata services (most are link-local already)
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class SsrfBlocked(NodeError):
    code = "ssrf_blocked"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def refusal(ip: IPAddress) -> str | None:
    """Why the address may not be reached by default (None: it may)."""
    if ip in METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            why = refusal(embedded)
            return f"{why} (inside {ip})" if why else None
    for test, why in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in SHARED, "shared (carrier-grade NAT)"),
    ):
        if test:
            return f"a {why} address"
    return None


@dataclass(frozen=True)
class _Exception:
    host: str | None
    network: Network | None
    port: int | None

    def allows(self, host: str, ip: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip in self.network
        return self.host == host.lower().rstrip(".")


@dataclass(frozen=True)
class AllowList:
    entries: tuple[_Exception, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        entries = []
        for raw in (p.strip() for p in text.split(",")):
            if raw:
                entries.append(_entry(raw))
        return cls(tuple(entries))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AllowList:
        return cls.parse(env.get(ENV_ALLOW, ""))

    def allows(self, host: str, ip: IPAddress, port: int) -> bool:
        return any(e.allows(host, ip, port) for e in self.entries)


def _entry(raw: str) -> _Exception:
    text, port = raw, None
    if text.startswith("["):  # [v6]:port or [v6]
        end = text.find("]")
        if end < 0:
            raise InputInvalid(f"{ENV_ALLOW}: {raw!r} lacks its closing ']'")
        rest = text[end + 1 :]
        text = text[1:end]
        if rest:
            port = _port(rest.removeprefix(":"), raw) if rest.startswith(":") else _bad(raw)
    elif text.count(":") == 1:  # host:port or v4:port (a bare v6 address has several colons)
        text, port_text = text.split(":")
        port = _port(port_text, raw)
    try:
        return _Exception(None, ipaddress.ip_network(text, strict=False), port)
    except ValueError:
        pass
    host = text.lower().rstrip(".")
    if not host or any(c in host for c in "/ @?#"):
        _bad(raw)
    return _Exception(host, None, port)


def _port(text: str, raw: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputInvalid(f"{ENV_ALLOW}: {raw!r} has a bad port")
    return int(text)


def _bad(raw: str) -> Any:
    raise InputInvalid(f"{ENV_ALLOW}: {raw!r} is not a host name, an IP address or a CIDR")


def check(host: str, addresses: Iterable[str], port: int, allow: AllowList) -> list[str]:
    """The addresses that may be connected to; raises when one of them is refused (a name that
    resolves to both a public and an internal address is refused: it is how rebinding starts)."""
    out = []
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        why = refusal(ip)
        if why is not None and not allow.allows(host, ip, port):
            raise SsrfBlocked(
                f"refused to connect to {host}:{port}: it resolves to {ip}, {why} (allow it with {ENV_ALLOW})"
            )
        out.append(text)
    return out
