"""Secret scrubbing (X6): every form of a secret, in any JSON-like value and in log records."""

from __future__ import annotations

import base64
import gc
import logging
from urllib.parse import quote, quote_plus

import pytest

from relayflow.engine.secrets_scrub import (
    REDACTED,
    Scrubber,
    SecretLogFilter,
    SecretSet,
    forms,
    secret_values,
)

SECRET = "s3cr3t/Value+with spaces&=?"


def encodings(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        raw.hex(),
        raw.hex().upper(),
    ]


@pytest.mark.parametrize("encoded", encodings(SECRET))
def test_each_form_is_redacted_inside_text(encoded: str) -> None:
    scrubber = Scrubber([SECRET])
    out = scrubber.text(f"before {encoded} after")
    assert encoded not in out
    assert out == f"before {REDACTED} after"


def test_base64_of_a_longer_text_holding_the_secret_is_redacted_at_every_alignment() -> None:
    scrubber = Scrubber([SECRET])
    other = Scrubber(["another-secret-value"])
    for prefix in ("", "a", "ab", "abc", "Bearer "):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(f"{prefix}{SECRET}-tail".encode()).decode()
            assert REDACTED in scrubber.text(encoded), prefix
            assert other.text(encoded) == encoded


def test_values_keys_and_nesting_are_scrubbed_and_untouched_values_kept() -> None:
    scrubber = Scrubber([SECRET])
    untouched = {"a": [1, 2.5, None, True, "plain"]}
    value = {
        "headers": {"authorization": f"Bearer {SECRET}"},
        SECRET: "as a key",
        "list": [quote_plus(SECRET), ("tuple", SECRET.encode().hex())],
        "same": untouched,
    }
    out = scrubber.value(value)
    assert SECRET not in repr(out)
    assert out["headers"] == {"authorization": f"Bearer {REDACTED}"}
    assert out[REDACTED] == "as a key"
    assert out["list"] == [REDACTED, ("tuple", REDACTED)]
    assert out["same"] is untouched  # nothing changed: not copied
    assert value["headers"]["authorization"] == f"Bearer {SECRET}"  # the input is not changed


def test_short_values_are_not_secrets() -> None:
    assert forms("abc") == set()
    secrets = SecretSet()
    secrets.add(["abc"])
    assert not secrets
    assert secrets.scrub({"x": "abc"}) == {"x": "abc"}


def test_secret_values_of_a_known_type_are_its_secret_fields() -> None:
    values = secret_values("httpHeaderAuth", {"name": "Authorization", "value": "tok-123456"})
    assert values == {"tok-123456"}  # the header name is not a secret
    basic = secret_values("httpBasicAuth", {"user": "alice", "password": "pw-987654"})
    assert basic == {"pw-987654", "alice:pw-987654"}
    tokens = {"access_token": "at-1234", "refresh_token": "rt-5678", "token_type": "Bearer", "scope": "read"}
    nested = secret_values("oAuth2Api", {"clientId": "id-12345", "oauthTokenData": tokens})
    assert nested == {"at-1234", "rt-5678"}


def test_secret_values_of_an_unknown_type_are_every_string() -> None:
    assert secret_values("someApi", {"host": "db.internal", "n": 5, "x": "ab"}) == {"db.internal"}


def test_basic_auth_header_of_the_pair_is_redacted() -> None:
    secrets = SecretSet()
    secrets.add_credential("httpBasicAuth", {"user": "alice", "password": "pw-987654"})
    header = "Basic " + base64.b64encode(b"alice:pw-987654").decode()
    assert secrets.scrub({"h": header}) == {"h": f"Basic {REDACTED}"}


def test_logs_are_scrubbed_while_an_execution_holds_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    secret = "log-canary-5b1f0c"
    held = SecretSet()
    held.add([secret])
    with caplog.at_level(logging.INFO):
        logging.getLogger("relayflow.node.test").info("token %s sent", secret)
        logging.getLogger("aiohttp.client").info("url ?key=%s", quote(secret))
        try:
            raise ValueError(f"bad {secret}")
        except ValueError:
            logging.getLogger("relayflow.engine").exception("failed")
    assert secret not in caplog.text
    assert quote(secret) not in caplog.text
    assert caplog.text.count(REDACTED) >= 3
    del held
    gc.collect()
    # no live execution holds it any more: logs go through as they are
    with caplog.at_level(logging.INFO):
        logging.getLogger("relayflow.x").info("later %s", secret)
    assert f"later {secret}" in caplog.text


def test_log_filter_scrubs_a_record_made_elsewhere() -> None:
    secret = "filter-canary-77aa"
    held = SecretSet()
    held.add([secret])
    record = logging.LogRecord("other", logging.INFO, __file__, 1, "x=%s", (secret,), None)
    assert SecretLogFilter().filter(record)
    assert record.getMessage() == f"x={REDACTED}"
    assert held
