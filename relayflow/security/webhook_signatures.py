"""Webhook signatures in the Standard Webhooks format.

A signed request carries three headers:

- ``webhook-id``: the message id, unique per delivery attempt series;
- ``webhook-timestamp``: Unix seconds when it was sent;
- ``webhook-signature``: space-separated ``v1,<base64 of HMAC-SHA256(secret, "id.timestamp.body")>``
  entries (several while a sender rotates its secret).

The secret is the credential's, as text; a ``whsec_`` prefix means the rest is base64 (the
format's own convention). A request is accepted when one signature matches, its timestamp is
within ``tolerance_s`` (5 minutes) of now, and its id was not accepted before within that window
(the replay cache); anything else is ``SignatureRefused`` with the reason, answered 401.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from relayflow.errors import RelayflowError

TOLERANCE_S = 300
MAX_REMEMBERED = 100_000


class SignatureRefused(RelayflowError):
    code = "signature_refused"


def secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused("the webhook secret's whsec_ part is not base64") from None
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value a sender puts on ``body`` (for tests and for senders)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class SignatureVerifier:
    """Verifies signed requests; remembers accepted ids for the tolerance window (one process)."""

    def __init__(
        self,
        *,
        tolerance_s: int = TOLERANCE_S,
        clock: Callable[[], float] = time.time,
        max_remembered: int = MAX_REMEMBERED,
    ) -> None:
        self.tolerance_s = tolerance_s
        self.clock = clock
        self.max_remembered = max_remembered
        # (secret's hash, message id) → when it was accepted
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes) -> str:
        """The message id of an accepted request; raises ``SignatureRefused`` otherwise.
        ``headers``: lower-case names."""
        message_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "")
        if not message_id or not stamp or not signatures:
            raise SignatureRefused(
                "the webhook-id, webhook-timestamp and webhook-signature headers are required"
            )
        if not stamp.isdigit():
            raise SignatureRefused("webhook-timestamp must be Unix seconds")
        now = self.clock()
        if abs(now - int(stamp)) > self.tolerance_s:
            raise SignatureRefused(f"webhook-timestamp is more than {self.tolerance_s} s away from now")
        expected = sign(secret, message_id, int(stamp), body).encode()
        offered = [s.encode() for s in signatures.split() if s.startswith("v1,")]
        if not any(hmac.compare_digest(expected, s) for s in offered):
            raise SignatureRefused("no webhook-signature matches the body")
        key = (hashlib.sha256(secret.encode()).hexdigest(), message_id)
        self._forget(now)
        if key in self._seen:
            raise SignatureRefused(f"message {message_id!r} was delivered already (replay)")
        self._seen[key] = now
        return message_id

    def _forget(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at <= self.tolerance_s and len(self._seen) < self.max_remembered:
                return
            del self._seen[key]
