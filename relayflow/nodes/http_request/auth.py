"""HTTP Request authentication from the node's credential (n8n's parameters and credential types).

``authentication: "genericCredentialType"`` names the type in ``genericAuthType``;
``"predefinedCredentialType"`` in ``nodeCredentialType``; legacy v1/v2 exports name the scheme
itself (``basicAuth``, ``headerAuth``, ``queryAuth``, ``oAuth2``). Supported types: Basic,
header, query, bearer and OAuth2 (its stored access token, sent as a bearer token). The values
come from ``ctx.credentials``, which makes the execution scrub them from what it records.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relayflow.engine.context import NodeContext
from relayflow.errors import CredentialUnavailable, NodeError
from relayflow.nodes.http_request.params import Params

if TYPE_CHECKING:  # request.py imports aiohttp, which the node spec must not load at start-up
    from relayflow.nodes.http_request.request import Request

# the credential types HTTP Request uses (its spec's credential slots)
CREDENTIAL_TYPES = ("httpBasicAuth", "httpHeaderAuth", "httpQueryAuth", "httpBearerAuth", "oAuth2Api")
_LEGACY = {
    "basicAuth": "httpBasicAuth",
    "headerAuth": "httpHeaderAuth",
    "queryAuth": "httpQueryAuth",
    "oAuth2": "oAuth2Api",
}


@dataclass(frozen=True)
class Auth:
    """What a credential adds to every request of the node run."""

    headers: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)

    def apply(self, req: Request) -> None:
        """Add the credential's headers and query parameters to ``req`` (in place)."""
        # the credential's header replaces one of the same name set by hand (any case)
        for name, value in self.headers.items():
            for existing in [k for k in req.headers if k.lower() == name.lower()]:
                del req.headers[existing]
            req.headers[name] = value
        req.query.extend(self.query)


def credential_type(p: Params, node: str) -> str | None:
    """The credential type the parameters ask for (None: no authentication)."""
    if p.authentication == "none":
        return None
    if p.authentication == "genericCredentialType":
        wanted = p.genericAuthType
    elif p.authentication == "predefinedCredentialType":
        wanted = p.nodeCredentialType
    else:
        wanted = _LEGACY.get(p.authentication, p.authentication)
    if wanted not in CREDENTIAL_TYPES:
        raise NodeError(
            f"authentication {wanted or p.authentication!r} is not supported by HTTP Request "
            f"(supported: {', '.join(CREDENTIAL_TYPES)})",
            node=node,
            retryable=False,
        )
    return wanted


def _text(data: Mapping[str, Any], key: str, type_: str, node: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise CredentialUnavailable(f"the {type_} credential has no {key!r}", node=node)
    return value


def _oauth2_token(data: Mapping[str, Any], node: str) -> str:
    tokens = data.get("oauthTokenData")
    token = tokens.get("access_token") if isinstance(tokens, Mapping) else None
    if not isinstance(token, str) or not token:
        raise CredentialUnavailable(
            "the oAuth2Api credential holds no access token: authorize it (or fetch one with the "
            "client credentials grant) first",
            node=node,
        )
    return token


def auth_from(type_: str, data: Mapping[str, Any], node: str, *, lowercase: bool) -> Auth:
    """The headers or query parameters a credential of ``type_`` adds."""
    if type_ == "httpBasicAuth":
        user = data.get("user") if isinstance(data.get("user"), str) else ""
        pair = f"{user}:{_text(data, 'password', type_, node)}".encode()
        header = ("Authorization", "Basic " + base64.b64encode(pair).decode())
    elif type_ == "httpHeaderAuth":
        header = (_text(data, "name", type_, node), _text(data, "value", type_, node))
    elif type_ == "httpQueryAuth":
        return Auth(query=[(_text(data, "name", type_, node), _text(data, "value", type_, node))])
    elif type_ == "httpBearerAuth":
        header = ("Authorization", "Bearer " + _text(data, "token", type_, node))
    else:
        header = ("Authorization", "Bearer " + _oauth2_token(data, node))
    name, value = header
    return Auth(headers={name.lower() if lowercase else name: value})


async def resolve(ctx: NodeContext, p: Params) -> Auth | None:
    """The node's authentication for this run, from its credential (None: none asked for)."""
    type_ = credential_type(p, ctx.node_name)
    if type_ is None:
        return None
    data = await ctx.credentials(type_)
    return auth_from(type_, data, ctx.node_name, lowercase=p.options.lowercaseHeaders)
