"""The credential types: their n8n names, their fields, which fields are secret, their testers.

A credential's data is a JSON object of fields. ``check_fields`` holds it to its type (unknown
field, wrong JSON type, missing required field: ``InputInvalid`` naming the field); secret fields
never leave the API in clear (``redact``), and an update that sends the placeholder back keeps the
stored value (``merge``).

Nodes declare the types they accept through their spec's ``credentials`` slots; this module is
the one list of what those names mean.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from relayflow.credentials import testers
from relayflow.errors import InputInvalid

REDACTED = "__relayflow_redacted__"

FieldKind = Literal["string", "number", "boolean", "options", "json"]
# a tester gets the decrypted fields and answers (ok, message); it must not put secrets in it
Tester = Callable[[Mapping[str, Any]], Awaitable[testers.TestResult]]


@dataclass(frozen=True)
class CredentialField:
    name: str
    display_name: str
    type: FieldKind = "string"
    required: bool = False
    default: Any = None
    secret: bool = False
    options: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "secret": self.secret,
        }
        if self.options:
            out["options"] = list(self.options)
        return out


@dataclass(frozen=True)
class CredentialType:
    name: str  # n8n's name: httpBasicAuth, oAuth2Api, postgres ...
    display_name: str
    fields: tuple[CredentialField, ...]
    tester: Tester | None = None
    # fields kept by relayflow itself (OAuth2 tokens): accepted from an import, never required
    _by_name: dict[str, CredentialField] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def field_named(self, name: str) -> CredentialField | None:
        return self._by_name.get(name)

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "fields": [f.describe() for f in self.fields],
            "testable": self.tester is not None,
        }


def _f(name: str, display: str, kind: FieldKind = "string", **kw: Any) -> CredentialField:
    return CredentialField(name, display, kind, **kw)


def _secret(name: str, display: str, *, required: bool = True) -> CredentialField:
    return CredentialField(name, display, "string", required=required, secret=True)


# the bot scopes a slackOAuth2Api credential asks for unless told otherwise (post, update, upload)
SLACK_SCOPES = "chat:write,chat:write.public,files:write,channels:read,groups:read,users:read"

_TYPES: tuple[CredentialType, ...] = (
    CredentialType(
        "httpBasicAuth",
        "Basic Auth",
        (_f("user", "User", required=True), _secret("password", "Password")),
        testers.fields_only,
    ),
    CredentialType(
        "httpHeaderAuth",
        "Header Auth",
        (_f("name", "Header name", required=True), _secret("value", "Header value")),
        testers.fields_only,
    ),
    CredentialType(
        "httpQueryAuth",
        "Query Auth",
        (_f("name", "Query parameter name", required=True), _secret("value", "Value")),
        testers.fields_only,
    ),
    CredentialType("httpBearerAuth", "Bearer Auth", (_secret("token", "Bearer token"),), testers.fields_only),
    CredentialType(
        "oAuth2Api",
        "OAuth2 API",
        (
            _f(
                "grantType",
                "Grant type",
                "options",
                default="authorizationCode",
                options=("authorizationCode", "clientCredentials"),
            ),
            _f("authUrl", "Authorization URL"),
            _f("accessTokenUrl", "Access token URL", required=True),
            _f("clientId", "Client ID", required=True),
            _secret("clientSecret", "Client secret"),
            _f("scope", "Scope", default=""),
            _f(
                "authentication",
                "Send client credentials",
                "options",
                default="header",
                options=("header", "body"),
            ),
            _f("usePkce", "Use PKCE (S256)", "boolean", default=False),
            # {access_token, refresh_token, expires_at (Unix seconds), token_type}: written by the
            # authorization callback, the client-credentials fetch and refreshes
            CredentialField("oauthTokenData", "Token data", "json", secret=True),
        ),
        testers.oauth2,
    ),
    CredentialType(
        "postgres",
        "PostgreSQL",
        (
            _f("host", "Host", required=True, default="localhost"),
            _f("port", "Port", "number", default=5432),
            _f("database", "Database", required=True, default="postgres"),
            _f("user", "User", required=True, default="postgres"),
            _secret("password", "Password", required=False),
            _f("ssl", "SSL", "options", default="disable", options=("disable", "allow", "require")),
        ),
        testers.postgres,
    ),
    CredentialType(
        "mySql",
        "MySQL",
        (
            _f("host", "Host", required=True, default="localhost"),
            _f("port", "Port", "number", default=3306),
            _f("database", "Database", required=True),
            _f("user", "User", required=True),
            _secret("password", "Password", required=False),
        ),
        testers.mysql,
    ),
    CredentialType(
        "redis",
        "Redis",
        (
            _f("host", "Host", required=True, default="localhost"),
            _f("port", "Port", "number", default=6379),
            _secret("password", "Password", required=False),
            _f("database", "Database number", "number", default=0),
        ),
        testers.redis,
    ),
    CredentialType(
        "smtp",
        "SMTP",
        (
            _f("host", "Host", required=True),
            _f("port", "Port", "number", default=465),
            _f("user", "User"),
            _secret("password", "Password", required=False),
            _f("secure", "TLS from the start (SMTPS)", "boolean", default=True),
        ),
        testers.smtp,
    ),
    CredentialType(
        "slackApi",
        "Slack API",
        (
            _secret("accessToken", "Access token"),
            _f("baseUrl", "API base URL", default="https://slack.com/api"),
        ),
        testers.slack,
    ),
    # Slack's OAuth v2 app install: the bot token (top-level access_token of oauth.v2.access) is
    # what the Slack node sends; baseUrl lets tests and proxies stand in for slack.com/api
    CredentialType(
        "slackOAuth2Api",
        "Slack OAuth2 API",
        (
            _f(
                "grantType",
                "Grant type",
                "options",
                default="authorizationCode",
                options=("authorizationCode",),
            ),
            _f("authUrl", "Authorization URL", default="https://slack.com/oauth/v2/authorize"),
            _f(
                "accessTokenUrl",
                "Access token URL",
                required=True,
                default="https://slack.com/api/oauth.v2.access",
            ),
            _f("clientId", "Client ID", required=True),
            _secret("clientSecret", "Client secret"),
            _f("scope", "Bot scopes", default=SLACK_SCOPES),
            _f(
                "authentication",
                "Send client credentials",
                "options",
                default="body",
                options=("header", "body"),
            ),
            _f("baseUrl", "API base URL", default="https://slack.com/api"),
            CredentialField("oauthTokenData", "Token data", "json", secret=True),
        ),
        testers.oauth2,
    ),
    CredentialType(
        "webhookSignature",
        "Webhook signature secret",
        (_secret("secret", "Secret (whsec_<base64> or text)"),),
        testers.fields_only,
    ),
)

_REGISTRY: dict[str, CredentialType] = {t.name: t for t in _TYPES}


def credential_types() -> list[CredentialType]:
    return list(_REGISTRY.values())


def get_type(name: str) -> CredentialType | None:
    return _REGISTRY.get(name)


def is_oauth2(name: str) -> bool:
    """Whether credentials of this type hold OAuth2 tokens that relayflow fetches and refreshes
    (``oAuth2Api`` and the predefined ones such as ``slackOAuth2Api``)."""
    found = _REGISTRY.get(name)
    return found is not None and found.field_named("oauthTokenData") is not None


def require_type(name: str) -> CredentialType:
    found = _REGISTRY.get(name)
    if found is None:
        raise InputInvalid(f"type: unknown credential type {name!r} (see /api/v1/credential-types)")
    return found


def _check_value(spec: CredentialField, value: Any) -> None:
    where = f"data.{spec.name}"
    if spec.type in ("string", "options"):
        if not isinstance(value, str):
            raise InputInvalid(f"{where} must be a string")
        if spec.type == "options" and value not in spec.options:
            raise InputInvalid(f"{where} must be one of {', '.join(spec.options)}, not {value!r}")
    elif spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputInvalid(f"{where} must be a number")
    elif spec.type == "boolean":
        if not isinstance(value, bool):
            raise InputInvalid(f"{where} must be true or false")
    elif not isinstance(value, dict):
        raise InputInvalid(f"{where} must be an object")


def check_fields(type_: CredentialType, data: Any) -> dict[str, Any]:
    """``data`` held to the type: a copy with defaults filled in (None values dropped)."""
    if not isinstance(data, dict):
        raise InputInvalid("data must be an object of fields")
    out: dict[str, Any] = {}
    for name, value in data.items():
        spec = type_.field_named(name)
        if spec is None:
            known = ", ".join(f.name for f in type_.fields)
            raise InputInvalid(f"data.{name}: {type_.name} has no field {name!r} (fields: {known})")
        if value is None:
            continue
        if value == REDACTED:
            raise InputInvalid(f"data.{name}: the redacted placeholder stands for no stored value")
        _check_value(spec, value)
        out[name] = value
    for spec in type_.fields:
        if spec.name not in out and spec.default is not None:
            out[spec.name] = spec.default
        if spec.required and out.get(spec.name) in (None, ""):
            raise InputInvalid(f"data.{spec.name} is required for {type_.name}")
    return out


def redact(type_: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields as the API shows them: each secret one that is set becomes the placeholder."""
    secret = type_.secret_fields
    return {k: (REDACTED if k in secret and v not in (None, "") else v) for k, v in data.items()}


def merge(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """An update's fields over the stored ones: absent fields and placeholders keep the stored
    value, ``None`` clears a field."""
    out = dict(stored)
    for name, value in changes.items():
        if value == REDACTED:
            continue
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out
