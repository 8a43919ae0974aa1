"""Pydantic models of a workflow in the n8n export shape.

Unknown fields are kept (``extra="allow"``) so an n8n export round-trips unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

OnError = Literal["stopWorkflow", "continueRegularOutput", "continueErrorOutput"]


class Connection(BaseModel):
    model_config = ConfigDict(extra="allow")

    node: str
    type: str = "main"
    index: int = 0


class Node(BaseModel):
    """One node. Field names follow n8n's export exactly."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str
    type: str
    typeVersion: float = 1
    position: list[float] = Field(default_factory=lambda: [0.0, 0.0])
    parameters: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] | None = None
    disabled: bool = False
    notes: str | None = None
    retryOnFail: bool = False
    maxTries: int = 3
    waitBetweenTries: int = 1000
    # relayflow extension: "fixed" (n8n's behaviour) or "exponential" doubling up to maxWaitBetweenTries.
    retryBackoff: Literal["fixed", "exponential"] = "fixed"
    maxWaitBetweenTries: int = 60_000
    onError: OnError | None = None
    continueOnFail: bool = False
    alwaysOutputData: bool = False
    executeOnce: bool = False
    # relayflow extension: per-node timeout in seconds (None = no limit beyond the workflow's).
    timeout: float | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _node_id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("typeVersion", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return 1 if v is None else v

    @field_validator("position", mode="before")
    @classmethod
    def _position(cls, v: Any) -> Any:
        return [0.0, 0.0] if v is None else v

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, v: Any) -> Any:
        return {} if v is None else v

    @property
    def error_mode(self) -> OnError:
        if self.onError is not None:
            return self.onError
        return "continueRegularOutput" if self.continueOnFail else "stopWorkflow"


class WorkflowSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    # "v1" / "v0" (n8n) and "parallel" run independent branches concurrently; "sequential" runs
    # one node at a time, depth first, in n8n's v1 order.
    executionOrder: str = "v1"
    maxConcurrency: int = Field(default=16, ge=1, le=1024)
    # seconds; n8n writes -1 for "no timeout"
    executionTimeout: float | None = None
    timezone: str | None = None
    errorWorkflow: str | None = None

    @property
    def sequential(self) -> bool:
        return self.executionOrder == "sequential"

    @property
    def timeout_s(self) -> float | None:
        t = self.executionTimeout
        return t if t is not None and t > 0 else None


class Workflow(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str = "My workflow"
    active: bool = False
    nodes: list[Node]
    connections: dict[str, dict[str, list[list[Connection] | None] | None]] = Field(default_factory=dict)
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)
    pinData: dict[str, list[dict[str, Any]]] | None = None
    staticData: dict[str, Any] | str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("connections", mode="before")
    @classmethod
    def _connections(cls, v: Any) -> Any:
        return {} if v is None else v

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
