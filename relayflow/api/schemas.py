"""What the OpenAPI document says the API takes and answers.

Routes build their JSON by hand (bodies.py) and return a ``JsonResponse``; the models here are
named as ``response_model`` and in ``responses`` only to document it: FastAPI neither validates
nor re-serializes a returned Response, so they cost nothing per request.
tests/api/test_schemathesis.py holds every answer to them. Objects allow more properties than
they list: workflows keep n8n's fields, and new fields may appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from relayflow.engine.run import ExecutionStatus, NodeRunStatus
from relayflow.workflow.model import Workflow

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = "#/components/schemas/Problem"


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- errors


class ProblemIssue(Open):
    """One thing wrong with the request; ``node`` and ``field`` locate it where known."""

    message: str
    code: str
    field: str | None = None
    node: str | None = None


class Problem(Open):
    """An error, as ``application/problem+json`` (RFC 9457)."""

    type: str = Field(description="`urn:relayflow:problem:<code>`")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    code: str = Field(description="Stable error code (relayflow/errors.py), e.g. `not_found`.")
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    issues: list[ProblemIssue] | None = Field(
        default=None, description="Validation problems, each naming its field (and node)."
    )


_PROBLEMS = {
    400: "The request is not acceptable (`code` says why).",
    401: "Not authenticated, or the token is not valid (`unauthorized`).",
    403: "The caller's role or the key's scope is too small (`forbidden`).",
    404: "Unknown id (`not_found`).",
    409: "The resource is not in a state that allows this (`conflict`).",
    413: "The request body is too large (`payload_too_large`).",
    422: "Invalid input: `issues` names each field (`input_invalid`, `workflow_invalid`...).",
    429: "Too many requests (`rate_limited`); `Retry-After` says when to try again.",
    503: "A store does not answer (`not_ready`).",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error statuses, each a Problem."""
    return {status: {"model": Problem, "description": _PROBLEMS[status]} for status in statuses}


def install(app: FastAPI) -> None:
    """Document error answers as ``application/problem+json``.

    FastAPI files a ``responses`` model under the route's media type (``application/json``) and
    gives routes with parameters a 422 of its own shape; once, when the document is built, every
    4xx/5xx answer moves to the problem media type and every 422 becomes a Problem (the shape
    problems.py answers with).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if operation.get("security"):
                        # every authenticated operation may refuse the caller or slow it down
                        for status in (401, 403, 429):
                            responses.setdefault(
                                str(status),
                                {
                                    "description": _PROBLEMS[status],
                                    "content": {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}},
                                },
                            )
                    if "422" in responses:
                        responses["422"] = {
                            "description": _PROBLEMS[422],
                            "content": {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}},
                        }
                    for status, response in responses.items():
                        content = response.get("content", {})
                        if status[0] in "45" and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
            schemas = document.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@dataclass(frozen=True)
class DocumentedAs:
    """``Annotated`` marker: a value validated as its own type but documented as ``model`` (a
    workflow body is read as a plain object and checked by the workflow parser, whose errors
    name the node and field)."""

    model: type[BaseModel]

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self.model.__pydantic_core_schema__)


# --- workflows


class TagRef(Open):
    name: str


WORKFLOW_EXAMPLE: dict[str, Any] = {
    "name": "Hello",
    "nodes": [
        {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
        {
            "name": "Greet",
            "type": "n8n-nodes-base.set",
            "typeVersion": 3.4,
            "parameters": {
                "assignments": {
                    "assignments": [
                        {"name": "greeting", "value": "=Hello, {{ $json.name }}!", "type": "string"}
                    ]
                }
            },
        },
    ],
    "connections": {"Start": {"main": [[{"node": "Greet", "type": "main", "index": 0}]]}},
    "tags": ["examples"],
}


class WorkflowIn(Workflow):
    """A workflow in n8n's export shape (n8n exports included). `id`, `active`, `createdAt` and
    `updatedAt` are the store's and ignored; `versionId`, when sent, must be the current one."""

    tags: list[str | TagRef] | None = Field(default=None, description="Tag names, or n8n's tag objects.")
    versionId: str | None = None


class WorkflowPatch(WorkflowIn):
    """The top-level fields to replace; the others stay as they are."""

    model_config = ConfigDict(json_schema_extra=lambda schema: schema.pop("required", None))


class ResolvedCredentialRef(Open):
    node: str
    type: str
    id: str
    name: str


class MissingCredentialRef(Open):
    node: str
    type: str
    name: str | None = None


class CredentialsReport(Open):
    resolved: list[ResolvedCredentialRef]
    missing: list[MissingCredentialRef]


class WorkflowOut(Open):
    """A stored workflow: the JSON as it was saved, with the store's fields."""

    id: str
    name: str
    active: bool
    versionId: str = Field(description="Changes on every save.")
    tags: list[str]
    createdAt: datetime
    updatedAt: datetime
    nodes: list[dict[str, Any]]
    connections: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    projectId: str | None = Field(
        default=None, description="The project that owns it (none: made before there were users)."
    )
    sharedWith: list[str] | None = Field(
        default=None, description="The projects it is shared with (not in lists)."
    )
    credentialsReport: CredentialsReport | None = Field(
        default=None,
        description="On create (import), when a node references a credential: the references "
        "resolved against the credentials the workflow's project owns or was shared (by id, else "
        "by type and name: then the reference's id is rewritten), and those that must be created.",
    )


class WorkflowExport(Open):
    """The workflow as n8n exports it (tags as objects, no timestamps)."""

    id: str
    name: str
    active: bool
    versionId: str
    tags: list[TagRef]
    nodes: list[dict[str, Any]]


class WorkflowPage(Open):
    data: list[WorkflowOut]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class VersionSummary(Open):
    workflowId: str
    versionId: str
    name: str
    createdAt: datetime


class VersionOut(VersionSummary):
    workflow: dict[str, Any] = Field(description="The workflow JSON as saved in this version.")


class VersionList(Open):
    data: list[VersionSummary]


class TestWebhook(Open):
    method: str
    path: str
    url: str = Field(description="Where to call it: `/webhook-test/<path>`.")


class TestWebhooks(Open):
    webhooks: list[TestWebhook]


# --- executions


class SourceOut(Open):
    node: str
    output: int
    run: int


class NodeRunOut(Open):
    node: str
    runIndex: int
    status: NodeRunStatus
    startedAt: datetime
    finishedAt: datetime | None
    durationMs: float
    itemsIn: list[int]
    itemsOut: list[int] = Field(description="Items per output, the error output included.")
    tries: int
    source: list[SourceOut | None]
    error: dict[str, Any] | None = None
    logs: list[str] | None = None
    output: list[list[dict[str, Any]]] | None = Field(
        default=None, description="Items per output (`{json, binary?, pairedItem?}`)."
    )


class ExecutionSummary(Open):
    """An execution without its node runs."""

    id: str
    workflowId: str | None
    workflowName: str
    mode: str
    status: ExecutionStatus
    startedAt: datetime
    finishedAt: datetime | None
    error: dict[str, Any] | None
    lastNode: str | None
    retryOf: str | None = Field(description="The execution this one retries.")
    waitTill: datetime | None = Field(description="Status `waiting`: when a timer resumes it.")


class ExecutionOut(ExecutionSummary):
    """An execution with every node run and its output."""

    nodeRuns: list[NodeRunOut]


class ExecutionResult(ExecutionSummary):
    """A finished execution (`wait: true`) and its output as `relayflow run` prints it."""

    data: Any = Field(
        description="One terminal node: its items' `json`; several: an object keyed by node name."
    )


class ExecutionPage(Open):
    data: list[ExecutionSummary]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


# --- node types


class NodeAlias(Open):
    type: str = Field(description="An n8n type name this node answers to.")
    versions: list[float]


class NodeCredential(Open):
    name: str
    required: bool


class NodeTypeSummary(Open):
    type: str
    version: int
    title: str
    group: str
    description: str
    trigger: bool
    inputs: list[str] | Literal["dynamic"]
    outputs: list[str] | Literal["dynamic"]
    credentials: list[NodeCredential]
    aliases: list[NodeAlias]


class NodeTypeOut(NodeTypeSummary):
    parameters: dict[str, Any] = Field(description="The JSON Schema of the node's parameters.")


class NodeTypeList(Open):
    data: list[NodeTypeSummary]


# --- credentials


class CredentialIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    type: str = Field(
        description="A credential type's name (`GET /credential-types`), e.g. `httpHeaderAuth`."
    )
    data: dict[str, Any] = Field(default_factory=dict, description="The type's fields.")
    projectId: str | None = Field(
        default=None,
        description="The owning project (also `?projectId=`); the caller's personal one if absent.",
    )


class CredentialPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    data: dict[str, Any] | None = Field(
        default=None,
        description="Fields to change; absent fields keep their value, and so does a secret field "
        "sent as `__relayflow_redacted__`; `null` clears a field.",
    )


class CredentialOut(Open):
    id: str
    name: str
    type: str
    projectId: str
    sharedWith: list[str]
    createdAt: datetime
    updatedAt: datetime
    data: dict[str, Any] | None = Field(
        default=None,
        description="Only for editors of the owning project; secret fields are `__relayflow_redacted__`.",
    )


class CredentialList(Open):
    data: list[CredentialOut]


class CredentialTestOut(Open):
    status: Literal["ok", "error"]
    message: str


class CredentialShare(BaseModel):
    projectIds: list[str] = Field(description="Every project the credential is shared with (replaces).")


class CredentialTransfer(BaseModel):
    projectId: str = Field(min_length=1)


class CredentialFieldOut(Open):
    name: str
    displayName: str
    type: Literal["string", "number", "boolean", "options", "json"]
    required: bool
    default: Any = None
    secret: bool
    options: list[str] | None = None


class CredentialTypeOut(Open):
    name: str
    displayName: str
    fields: list[CredentialFieldOut]
    testable: bool


class CredentialTypeList(Open):
    data: list[CredentialTypeOut]


class OAuth2Authorization(Open):
    authorizationUrl: str = Field(description="Open this in the browser; it returns to /oauth2/callback.")


# --- probes


class Status(Open):
    status: Literal["ok"]
