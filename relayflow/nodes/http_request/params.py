"""HTTP Request parameters: n8n's v3/v4 shape (legacy v1/v2 exports are translated onto it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
Authentication = Literal[
    "none",
    "predefinedCredentialType",
    "genericCredentialType",
    # legacy v1/v2 values
    "basicAuth",
    "digestAuth",
    "headerAuth",
    "queryAuth",
    "oAuth1",
    "oAuth2",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NameValue(_Model):
    name: str = ""
    # expressions may produce any JSON value; it is sent as text
    value: Any = ""


class NameValueList(_Model):
    parameters: list[NameValue] = []


class BodyParameter(_Model):
    name: str = ""
    value: Any = ""
    parameterType: Literal["formData", "formBinaryData"] = "formData"
    inputDataFieldName: str = ""


class BodyParameterList(_Model):
    parameters: list[BodyParameter] = []


class ResponseSettings(_Model):
    fullResponse: bool = False
    neverError: bool = False
    responseFormat: Literal["autodetect", "json", "text", "file"] = "autodetect"
    # where text and file responses go
    outputPropertyName: str = "data"


class ResponseOption(_Model):
    response: ResponseSettings = ResponseSettings()


class RedirectSettings(_Model):
    followRedirects: bool = True
    maxRedirects: int = Field(default=21, ge=0)


class RedirectOption(_Model):
    redirect: RedirectSettings = RedirectSettings()


class BatchSettings(_Model):
    # items sent per batch (0 or less: all at once) and the pause between batches
    batchSize: int = 50
    batchInterval: int = Field(default=1000, ge=0)


class BatchingOption(_Model):
    batch: BatchSettings = BatchSettings()


class Options(BaseModel):
    # n8n adds options from release to release: unknown ones are kept (and ignored)
    model_config = ConfigDict(frozen=True, extra="allow")

    allowUnauthorizedCerts: bool = False
    batching: BatchingOption | None = None
    lowercaseHeaders: bool = True
    pagination: dict[str, Any] | None = None
    proxy: str = ""
    queryParameterArrays: Literal["indices", "brackets", "repeat"] = "brackets"
    redirect: RedirectOption = RedirectOption()
    response: ResponseOption = ResponseOption()
    # milliseconds; None: 300 s
    timeout: int | None = Field(default=None, ge=1)
    # legacy v1/v2: a JSON array response stays one item unless this is on (v3+ always splits)
    splitIntoItems: bool = True


class Params(_Model):
    method: Method = "GET"
    url: str = ""
    authentication: Authentication = "none"
    nodeCredentialType: str = ""
    genericAuthType: str = ""
    provideSslCertificates: bool = False
    sendQuery: bool = False
    specifyQuery: Literal["keypair", "json"] = "keypair"
    queryParameters: NameValueList = NameValueList()
    jsonQuery: str | dict[str, Any] = ""
    sendHeaders: bool = False
    specifyHeaders: Literal["keypair", "json"] = "keypair"
    headerParameters: NameValueList = NameValueList()
    jsonHeaders: str | dict[str, Any] = ""
    sendBody: bool = False
    contentType: Literal["json", "form-urlencoded", "multipart-form-data", "raw", "binaryData"] = "json"
    specifyBody: Literal["keypair", "json", "string"] = "keypair"
    bodyParameters: BodyParameterList = BodyParameterList()
    jsonBody: Any = ""
    # raw / string bodies
    body: Any = ""
    rawContentType: str = ""
    # binaryData bodies: the binary property of the item to send
    inputDataFieldName: str = "data"
    options: Options = Options()

    @property
    def response(self) -> ResponseSettings:
        return self.options.response.response
