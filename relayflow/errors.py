"""The one error hierarchy of relayflow.

Every error carries a stable string ``code``. Three families by audience::

    RelayflowError
    ├── UserError                 bad workflow, parameters or input: 4xx, no alert
    │   ├── WorkflowInvalid       the workflow JSON does not validate (list of issues)
    │   ├── UnknownNodeType       type or typeVersion not registered
    │   ├── ParameterInvalid      a node's parameters fail its model
    │   ├── ExpressionError       a {{ }} expression failed (node, parameter path, item index)
    │   └── InputInvalid          CLI / API input that is not acceptable
    ├── NodeError                 a node failed while running (node, item index, retryable)
    │   ├── NodeTimeout           the per-node timeout elapsed
    │   └── StopAndError          raised on purpose by the Stop and Error node
    ├── ExecutionCancelled        someone stopped the execution
    ├── ExecutionTimeout          settings.executionTimeout elapsed
    ├── NotFound                  (UserError) no such workflow / execution / version: 404
    ├── Conflict                  (UserError) stale versionId, duplicate key: 409
    ├── Unauthorized              (UserError) not authenticated: 401
    ├── Forbidden                 (UserError) role or scope too small: 403
    ├── RateLimited               (UserError) too many requests: 429 + Retry-After
    ├── OperationalError          a service is down or slow: retryable
    └── InternalError             a bug in relayflow
    RegistryError                 (UserError) a node spec is malformed or registered twice
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class RelayflowError(Exception):
    code = "relayflow_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class UserError(RelayflowError):
    code = "user_error"


@dataclass(frozen=True)
class Issue:
    """One validation problem; ``node`` and ``field`` locate it."""

    message: str
    node: str | None = None
    field: str | None = None
    code: str = "invalid"

    def __str__(self) -> str:
        where = []
        if self.node is not None:
            where.append(f"node {self.node!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class WorkflowInvalid(UserError):
    code = "workflow_invalid"

    def __init__(self, issues: list[Issue], source: str | None = None) -> None:
        self.issues = issues
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(str(i) for i in issues))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["issues"] = [
            {"message": i.message, "node": i.node, "field": i.field, "code": i.code} for i in self.issues
        ]
        return d


class UnknownNodeType(UserError):
    code = "unknown_node_type"


class RegistryError(UserError):
    code = "registry_error"


class InputInvalid(UserError):
    code = "input_invalid"


class ParameterInvalid(UserError):
    code = "parameter_invalid"

    def __init__(self, message: str, *, node: str | None = None, field: str | None = None) -> None:
        self.node = node
        self.field = field
        super().__init__(message)

    def __str__(self) -> str:
        where = ", ".join(
            w
            for w in (
                f"node {self.node!r}" if self.node else "",
                f"field {self.field!r}" if self.field else "",
            )
            if w
        )
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(node=self.node, field=self.field)
        return d


class ExpressionError(UserError):
    code = "expression_error"

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        parameter: str | None = None,
        item_index: int | None = None,
        expression: str | None = None,
    ) -> None:
        self.node = node
        self.parameter = parameter
        self.item_index = item_index
        self.expression = expression
        super().__init__(message)

    def located(self, *, node: str | None, parameter: str | None) -> ExpressionError:
        """A copy of this error that names where it happened."""
        return ExpressionError(
            self.message,
            node=self.node or node,
            parameter=self.parameter or parameter,
            item_index=self.item_index,
            expression=self.expression,
        )

    def __str__(self) -> str:
        where = []
        if self.node:
            where.append(f"node {self.node!r}")
        if self.parameter:
            where.append(f"parameter {self.parameter!r}")
        if self.item_index is not None:
            where.append(f"item {self.item_index}")
        return (", ".join(where) + ": " if where else "") + self.message

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(node=self.node, parameter=self.parameter, itemIndex=self.item_index)
        return d


class NotFound(UserError):
    code = "not_found"


class Conflict(UserError):
    code = "conflict"


class PayloadTooLarge(UserError):
    """A body or file over its size limit: 413."""

    code = "payload_too_large"


class Unauthorized(UserError):
    """No credentials, or credentials that do not identify a live user: 401."""

    code = "unauthorized"


class Forbidden(UserError):
    """The caller is known but may not do this (a role or scope too small): 403. Objects the
    caller cannot see at all answer NotFound instead."""

    code = "forbidden"


class RateLimited(UserError):
    """Too many requests: 429 with ``Retry-After`` (whole seconds)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NodeError(RelayflowError):
    """A node failed. ``retryable`` tells the engine whether another try may help."""

    code = "node_error"

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        item_index: int | None = None,
        retryable: bool = True,
        code: str | None = None,
        description: str | None = None,
    ) -> None:
        self.node = node
        self.item_index = item_index
        self.retryable = retryable
        self.description = description
        super().__init__(message, code=code)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(node=self.node, itemIndex=self.item_index)
        if self.description:
            d["description"] = self.description
        return d


class CredentialUnavailable(NodeError):
    """A node's credential does not exist, is of another type, or belongs to a project the
    workflow's project cannot use. The message names its type and name, never its data."""

    code = "credential_unavailable"

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message, node=node, retryable=False, code=self.code)


class NodeTimeout(NodeError):
    code = "node_timeout"


class StopAndError(NodeError):
    code = "stop_and_error"


class ExecutionCancelled(RelayflowError):
    code = "execution_cancelled"


class ExecutionTimeout(RelayflowError):
    code = "execution_timeout"


class OperationalError(RelayflowError):
    code = "operational_error"


class InternalError(RelayflowError):
    code = "internal_error"
