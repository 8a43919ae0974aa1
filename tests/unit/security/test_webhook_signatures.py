"""Standard Webhooks signatures: good, missing, bad, stale and replayed deliveries."""

from __future__ import annotations

import base64

import pytest

from relayflow.security.webhook_signatures import SignatureRefused, SignatureVerifier, sign

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = 1_700_000_000
BODY = b'{"order": 42}'


def headers(
    message_id: str = "msg_1", at: int = NOW, body: bytes = BODY, secret: str = SECRET
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": sign(secret, message_id, at, body),
    }


def verifier() -> SignatureVerifier:
    return SignatureVerifier(clock=lambda: float(NOW))


def test_a_signed_delivery_is_accepted_once() -> None:
    v = verifier()
    assert v.verify(SECRET, headers(), BODY) == "msg_1"
    with pytest.raises(SignatureRefused, match="replay"):
        v.verify(SECRET, headers(), BODY)
    assert v.verify(SECRET, headers("msg_2"), BODY) == "msg_2"


def test_one_matching_signature_among_several_is_enough() -> None:
    h = headers()
    h["webhook-signature"] = f"v1,{base64.b64encode(b'x' * 32).decode()} {h['webhook-signature']}"
    assert verifier().verify(SECRET, h, BODY) == "msg_1"


@pytest.mark.parametrize(
    ("changes", "body", "reason"),
    [
        ({"webhook-signature": ""}, BODY, "required"),
        ({"webhook-id": ""}, BODY, "required"),
        ({"webhook-timestamp": "yesterday"}, BODY, "Unix seconds"),
        ({}, b'{"order": 43}', "no webhook-signature matches"),
        (
            headers(secret="whsec_" + base64.b64encode(b"another secret").decode()),
            BODY,
            "no webhook-signature",
        ),
        (headers(at=NOW - 301), BODY, "more than 300 s"),
        (headers(at=NOW + 301), BODY, "more than 300 s"),
        ({"webhook-signature": "v2,abc"}, BODY, "no webhook-signature matches"),
    ],
)
def test_bad_deliveries_are_refused_with_the_reason(
    changes: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(SignatureRefused, match=reason):
        verifier().verify(SECRET, {**headers(), **changes}, body)


def test_an_id_is_forgotten_after_the_window() -> None:
    now = [float(NOW)]
    v = SignatureVerifier(clock=lambda: now[0])
    v.verify(SECRET, headers(), BODY)
    now[0] += 301  # the same id later is stale anyway: its own timestamp is outside the window
    with pytest.raises(SignatureRefused, match="more than 300 s"):
        v.verify(SECRET, headers(), BODY)
    assert v.verify(SECRET, headers("msg_1", at=int(now[0])), BODY) == "msg_1"


def test_plain_text_secrets_work_too() -> None:
    assert verifier().verify("s3cret", headers(secret="s3cret"), BODY) == "msg_1"
