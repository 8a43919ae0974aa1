"""n8n HTTP Request parameters of each typeVersion → our ``Params`` (the v3/v4 shape)."""

from __future__ import annotations

from typing import Any

# notices the n8n editor sometimes writes into the parameters; they carry no setting
_UI_ONLY = ("curlImport", "infoMessage", "httpVariantWarning", "sslCertificatesNotice", "paginationNotice")


def from_n8n(raw: dict[str, Any], version: float) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if k not in _UI_ONLY}
    if version < 3:
        return _legacy(out)
    return out


def _pairs(ui: Any, key: str = "parameter") -> list[dict[str, Any]]:
    """``{parameter: [{name, value}]}`` (legacy UI lists) → ``[{name, value}]``."""
    entries = ui.get(key) if isinstance(ui, dict) else None
    return [dict(e) for e in entries or [] if isinstance(e, dict)]


def _legacy_response(raw: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    fmt = raw.get("responseFormat", "json")
    settings: dict[str, Any] = {"responseFormat": {"string": "text", "file": "file"}.get(fmt, "json")}
    if fmt == "string":
        settings["outputPropertyName"] = raw.get("dataPropertyName", "data")
    elif fmt == "file":
        settings["outputPropertyName"] = raw.get("binaryPropertyName", "data")
    if "fullResponse" in old:
        settings["fullResponse"] = old["fullResponse"]
    if "ignoreResponseCode" in old:
        settings["neverError"] = old["ignoreResponseCode"]
    return settings


def _legacy_options(raw: dict[str, Any]) -> dict[str, Any]:
    old = dict(raw.get("options") or {})
    options: dict[str, Any] = {"response": {"response": _legacy_response(raw, old)}}
    options["splitIntoItems"] = old.get("splitIntoItems", False)
    if "followRedirect" in old or "followAllRedirects" in old:
        follow = old.get("followRedirect", True) or old.get("followAllRedirects", False)
        options["redirect"] = {"redirect": {"followRedirects": follow}}
    for key in ("timeout", "proxy", "queryParameterArrays"):
        if key in old:
            options[key] = old[key]
    if "batchSize" in old or "batchInterval" in old:
        batch = {k: old[k] for k in ("batchSize", "batchInterval") if k in old}
        options["batching"] = {"batch": batch}
    if raw.get("allowUnauthorizedCerts"):
        options["allowUnauthorizedCerts"] = True
    return options


def _legacy_body(raw: dict[str, Any], out: dict[str, Any]) -> None:
    old = raw.get("options") or {}
    content = old.get("bodyContentType", "json")
    out["contentType"] = content if content in ("form-urlencoded", "multipart-form-data", "raw") else "json"
    if old.get("bodyContentCustomMimeType"):
        out["rawContentType"] = old["bodyContentCustomMimeType"]
    if raw.get("sendBinaryData"):
        out.update(
            sendBody=True, contentType="binaryData", inputDataFieldName=raw.get("binaryPropertyName", "data")
        )
        return
    if raw.get("jsonParameters"):
        body = raw.get("bodyParametersJson", "")
        if body not in ("", None, {}):
            key = "body" if out["contentType"] == "raw" else "jsonBody"
            out.update(sendBody=True, specifyBody="json", **{key: body})
        return
    params = _pairs(raw.get("bodyParametersUi"))
    if params:
        out.update(sendBody=True, specifyBody="keypair", bodyParameters={"parameters": params})


_QUERY_HEADERS = (
    # legacy prefix, send flag, how specified, JSON field
    ("query", "sendQuery", "specifyQuery", "jsonQuery"),
    ("header", "sendHeaders", "specifyHeaders", "jsonHeaders"),
)


def _legacy_query_headers(raw: dict[str, Any], out: dict[str, Any]) -> None:
    for part, flag, how, json_field in _QUERY_HEADERS:
        if raw.get("jsonParameters"):
            value = raw.get(f"{part}ParametersJson", "")
            if value not in ("", None, {}):
                out.update({flag: True, how: "json", json_field: value})
            continue
        params = _pairs(raw.get(f"{part}ParametersUi"))
        if params:
            out.update({flag: True, how: "keypair", f"{part}Parameters": {"parameters": params}})


def _legacy(raw: dict[str, Any]) -> dict[str, Any]:
    """v1/v2: ``requestMethod``, ``*ParametersUi`` / ``*ParametersJson``, ``responseFormat``..."""
    out: dict[str, Any] = {
        "method": raw.get("requestMethod", "GET"),
        "url": raw.get("url", ""),
        "authentication": raw.get("authentication", "none"),
        "options": _legacy_options(raw),
    }
    for key in ("nodeCredentialType", "genericAuthType"):
        if key in raw:
            out[key] = raw[key]
    _legacy_query_headers(raw, out)
    _legacy_body(raw, out)
    return out
