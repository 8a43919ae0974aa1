"""Webhook authentication (X7): who may start a workflow through its Webhook node.

A Webhook node's ``authentication`` picks the check and the credential it reads:

- ``basicAuth`` (credential ``httpBasicAuth``): ``Authorization: Basic``, user and password
  compared in constant time; refused with ``WWW-Authenticate: Basic realm="Webhook"``;
- ``headerAuth`` (``httpHeaderAuth``): the credential's header name must carry its value;
- ``signature`` (``webhookSignature``, relayflow's own): Standard Webhooks signatures
  (relayflow/security/webhook_signatures.py): 5-minute window, replay cache keyed by
  ``webhook-id``, one verifier per credential for the process's life;
- ``options.ipWhitelist``: a comma list of IP addresses and CIDRs; other clients get 403.

The resume URL of a Wait node that waits for a call (api/waiting.py) takes the same options from
the Wait node (``WebhookGuard.of_wait``). Refusals answer 401 (403 for the allow-list) as
problem+json before the body is decoded, and no execution starts (nor resumes). A credential that cannot be resolved (deleted, not shared with the workflow's
project) refuses too, with a warning in the log: a webhook never runs unprotected. The vault
keeps resolutions a few seconds (dropped on any credential change), so a request costs no
decryption in a burst. The headers that carried a secret are left out of the item
the Webhook node emits (they would land in the execution data).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from relayflow.api.problems import problem
from relayflow.api.services import ApiServices
from relayflow.errors import CredentialUnavailable, InputInvalid
from relayflow.nodes.triggers import WebhookParams
from relayflow.security.webhook_signatures import SignatureRefused, SignatureVerifier
from relayflow.workflow.model import Node

log = logging.getLogger("relayflow.api.webhooks")

CREDENTIAL_OF = {
    "basicAuth": "httpBasicAuth",
    "headerAuth": "httpHeaderAuth",
    "signature": "webhookSignature",
}
MAX_VERIFIERS = 10_000
REALM = 'Basic realm="Webhook"'

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# credential key → its verifier, so the replay cache outlives route changes (least recent first)
_verifiers: OrderedDict[str, SignatureVerifier] = OrderedDict()


def verifier_for(key: str) -> SignatureVerifier:
    found = _verifiers.get(key)
    if found is None:
        found = _verifiers[key] = SignatureVerifier()
        while len(_verifiers) > MAX_VERIFIERS:
            _verifiers.popitem(last=False)
    else:
        _verifiers.move_to_end(key)
    return found


def parse_allow_list(text: str, node: str) -> tuple[IpNetwork, ...]:
    """``ipWhitelist`` as networks; an entry that is no IP address or CIDR is a 422."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise InputInvalid(
                f"the Webhook node {node!r}: ipWhitelist entry {entry!r} is not an IP address or CIDR"
            ) from None
    return tuple(networks)


def _client_ip(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = request.client.host if request.client is not None else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())


def _basic_pair(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class WebhookGuard:
    """The admission rules of one Webhook node (kept with its routes)."""

    def __init__(
        self,
        workflow_id: str,
        node: str,
        authentication: str,
        ref: Mapping[str, Any] | None,
        allow: tuple[IpNetwork, ...],
    ) -> None:
        self.workflow_id = workflow_id
        self.node = node
        self.authentication = authentication
        self.ref = dict(ref) if ref is not None else None
        self.allow = allow

    @classmethod
    def of(cls, workflow_id: str, node: Node, params: WebhookParams) -> WebhookGuard | None:
        """The node's guard; None when it admits everyone. Raises ``InputInvalid`` for what
        cannot be enforced (jwtAuth, a missing credential, a malformed allow-list)."""
        allow = parse_allow_list(params.options.ipWhitelist, node.name)
        auth = params.authentication
        if auth == "none":
            return cls(workflow_id, node.name, auth, None, allow) if allow else None
        type_ = CREDENTIAL_OF.get(auth)
        if type_ is None:
            raise InputInvalid(f"the Webhook node {node.name!r}: authentication {auth!r} is not supported")
        ref = (node.credentials or {}).get(type_)
        if not isinstance(ref, Mapping):
            raise InputInvalid(
                f"the Webhook node {node.name!r} uses authentication {auth!r} but has no {type_} credential"
            )
        return cls(workflow_id, node.name, auth, ref, allow)

    @classmethod
    def of_wait(cls, workflow_id: str, node: str, hook: Mapping[str, Any]) -> WebhookGuard | None:
        """The guard of a waiting execution's resume URL, from what its Wait node parked
        (``authentication``, ``credential`` and ``options.ipWhitelist``: nodes/wait_node.py);
        None when it admits everyone. The node refused to park what cannot be enforced; a
        stored wait that says otherwise (an unknown method, no credential) refuses every call."""
        options = hook.get("options") or {}
        allow = parse_allow_list(str(options.get("ipWhitelist") or ""), node)
        auth = str(hook.get("authentication") or "none")
        if auth == "none":
            return cls(workflow_id, node, auth, None, allow) if allow else None
        ref = hook.get("credential")
        return cls(workflow_id, node, auth, ref if isinstance(ref, Mapping) else None, allow)

    @property
    def credential_type(self) -> str | None:
        return CREDENTIAL_OF.get(self.authentication)

    # ------------------------------------------------------------------------------------------
    async def check(self, request: Request, services: ApiServices) -> Response | dict[str, Any]:
        """The refusal for a request whose client or credentials do not pass (before its body
        is read; signatures are checked by ``check_body``), else the credential's fields (empty
        without one) for ``check_body`` and ``item_headers``."""
        if self.allow:
            ip = _client_ip(request)
            if ip is None or not any(ip in net for net in self.allow):
                return problem(
                    403, "forbidden", "this client may not call the webhook", instance=request.url.path
                )
        if self.authentication == "none":
            return {}
        data = await self._credential(services)
        if data is None:  # logged; the caller learns no more than from a wrong credential
            return self._refuse(request, "webhook authentication failed")
        if self.authentication == "basicAuth":
            pair = _basic_pair(request.headers.get("authorization", ""))
            user, password = pair if pair is not None else ("", "")
            # both compared whatever the first says: the time taken tells nothing
            ok = _same(user, str(data.get("user", ""))) & _same(password, str(data.get("password", "")))
            if pair is None or not ok or not data.get("password"):
                return self._refuse(request, "webhook authentication failed")
        elif self.authentication == "headerAuth":
            name, value = str(data.get("name", "")), str(data.get("value", ""))
            offered = request.headers.get(name) if name else None
            if offered is None or not value or not _same(offered, value):
                return self._refuse(request, "webhook authentication failed")
        return data

    def check_body(self, request: Request, body: bytes, data: Mapping[str, Any]) -> Response | None:
        """The refusal for a signed request whose signature does not verify, or None."""
        if self.authentication != "signature":
            return None
        secret = data.get("secret")
        if not isinstance(secret, str) or not secret:
            log.warning(
                "webhook of workflow %s node %r: its credential has no secret", self.workflow_id, self.node
            )
            return self._refuse(request, "webhook authentication failed")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verifier_for(self._key()).verify(secret, headers, body)
        except SignatureRefused as exc:
            return self._refuse(request, f"webhook signature refused: {exc.message}")
        return None

    def item_headers(self, headers: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, str]:
        """The request's headers without the one that carried a secret (for the item)."""
        out = {k.lower(): v for k, v in headers.items()}
        if self.authentication == "basicAuth":
            out.pop("authorization", None)
        elif self.authentication == "headerAuth":
            out.pop(str(data.get("name", "")).lower(), None)
        return out

    # ------------------------------------------------------------------------------------------
    def _key(self) -> str:
        ref = self.ref or {}
        return f"{self.workflow_id}:{ref.get('id') or ''}:{ref.get('name') or ''}"

    async def _credential(self, services: ApiServices) -> dict[str, Any] | None:
        # the vault keeps resolutions a few seconds and forgets them on any credential change
        vault = services.engine.services.credentials
        type_ = self.credential_type
        if vault is None or type_ is None or self.ref is None:
            log.warning(
                "webhook of workflow %s node %r refused: no credential vault or no credential for %r",
                self.workflow_id,
                self.node,
                self.authentication,
            )
            return None
        try:
            data = await vault.get(type_, self.ref, workflow_id=self.workflow_id)
        except CredentialUnavailable as exc:
            log.warning(
                "webhook of workflow %s node %r refused: %s", self.workflow_id, self.node, exc.message
            )
            return None
        return data

    def _refuse(self, request: Request, detail: str) -> Response:
        response = problem(401, "unauthorized", detail, instance=request.url.path)
        if self.authentication == "basicAuth":
            response.headers["WWW-Authenticate"] = REALM
        return response
