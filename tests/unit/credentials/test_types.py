"""The credential types: fields held to their type, secrets redacted, placeholders merged."""

from __future__ import annotations

import pytest

from relayflow.credentials.types import (
    REDACTED,
    check_fields,
    credential_types,
    get_type,
    merge,
    redact,
    require_type,
)
from relayflow.errors import InputInvalid

REQUIRED_TYPES = {
    "httpBasicAuth",
    "httpHeaderAuth",
    "httpQueryAuth",
    "httpBearerAuth",
    "oAuth2Api",
    "postgres",
    "mySql",
    "redis",
    "smtp",
    "slackApi",
    "webhookSignature",
}


def test_every_required_type_is_registered_with_a_tester() -> None:
    names = {t.name for t in credential_types()}
    assert names >= REQUIRED_TYPES
    for name in REQUIRED_TYPES:
        ctype = get_type(name)
        assert ctype is not None and ctype.tester is not None, name
        assert ctype.secret_fields, f"{name} has no secret field"
    assert get_type("nope") is None


@pytest.mark.parametrize(
    ("type_", "secrets"),
    [
        ("httpBasicAuth", {"password"}),
        ("httpHeaderAuth", {"value"}),
        ("httpQueryAuth", {"value"}),
        ("httpBearerAuth", {"token"}),
        ("oAuth2Api", {"clientSecret", "oauthTokenData"}),
        ("postgres", {"password"}),
        ("mySql", {"password"}),
        ("redis", {"password"}),
        ("smtp", {"password"}),
        ("slackApi", {"accessToken"}),
        ("webhookSignature", {"secret"}),
    ],
)
def test_the_secret_fields_of_each_type(type_: str, secrets: set[str]) -> None:
    assert require_type(type_).secret_fields == secrets


def test_describe_lists_fields_with_their_secrecy() -> None:
    described = require_type("httpBasicAuth").describe()
    assert described["name"] == "httpBasicAuth" and described["testable"] is True
    by_name = {f["name"]: f for f in described["fields"]}
    assert by_name["password"]["secret"] is True and by_name["user"]["secret"] is False
    slack = {f["name"]: f for f in require_type("slackApi").describe()["fields"]}
    assert slack["baseUrl"]["default"] == "https://slack.com/api"


def test_check_fields_fills_defaults() -> None:
    fields = check_fields(require_type("postgres"), {"host": "db", "database": "app", "user": "u"})
    assert fields == {"host": "db", "database": "app", "user": "u", "port": 5432, "ssl": "disable"}


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"user": "u", "password": "p", "extra": 1}, "data.extra"),
        ({"user": 5, "password": "p"}, "data.user must be a string"),
        ({"password": "p"}, "data.user is required"),
        ({"user": "u"}, "data.password is required"),
        ({"user": "u", "password": ""}, "data.password is required"),
        ({"user": "u", "password": REDACTED}, "data.password"),
        ("not an object", "data must be an object"),
    ],
)
def test_check_fields_names_the_bad_field(data: object, names: str) -> None:
    with pytest.raises(InputInvalid, match=names):
        check_fields(require_type("httpBasicAuth"), data)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"host": "h", "database": "d", "user": "u", "port": "5432"}, "data.port must be a number"),
        ({"host": "h", "database": "d", "user": "u", "port": True}, "data.port must be a number"),
        ({"host": "h", "database": "d", "user": "u", "ssl": "maybe"}, "data.ssl must be one of"),
    ],
)
def test_numbers_and_options_are_checked(data: object, names: str) -> None:
    with pytest.raises(InputInvalid, match=names):
        check_fields(require_type("postgres"), data)


def test_booleans_and_objects_are_checked() -> None:
    smtp = require_type("smtp")
    with pytest.raises(InputInvalid, match=r"data\.secure must be true or false"):
        check_fields(smtp, {"host": "h", "secure": "yes"})
    oauth = require_type("oAuth2Api")
    base = {"accessTokenUrl": "https://a/t", "clientId": "c", "clientSecret": "s"}
    with pytest.raises(InputInvalid, match=r"data\.oauthTokenData must be an object"):
        check_fields(oauth, {**base, "oauthTokenData": "tok"})
    assert check_fields(oauth, base)["grantType"] == "authorizationCode"


def test_unknown_type_is_refused_naming_it() -> None:
    with pytest.raises(InputInvalid, match="unknown credential type 'ftp'"):
        require_type("ftp")


def test_redact_hides_set_secrets_only() -> None:
    ctype = require_type("oAuth2Api")
    shown = redact(
        ctype,
        {"clientId": "c", "clientSecret": "s3cret", "oauthTokenData": {"access_token": "t"}, "scope": ""},
    )
    assert shown == {
        "clientId": "c",
        "clientSecret": REDACTED,
        "oauthTokenData": REDACTED,
        "scope": "",
    }


def test_merge_keeps_placeholders_and_absent_fields_and_clears_nulls() -> None:
    stored = {"user": "u", "password": "old", "x": 1}
    assert merge(stored, {"password": REDACTED}) == stored
    assert merge(stored, {"user": "v"}) == {"user": "v", "password": "old", "x": 1}
    assert merge(stored, {"password": "new", "x": None}) == {"user": "u", "password": "new"}
