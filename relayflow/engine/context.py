"""``NodeContext``: everything a node may use while it runs."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel

from relayflow.engine.binary import BinaryData
from relayflow.engine.expression import ExpressionEngine, ExpressionScope
from relayflow.engine.items import Item, Items
from relayflow.engine.params import ParamPlan, Path
from relayflow.engine.run import Park
from relayflow.errors import CredentialUnavailable, ExpressionError, NodeError, RelayflowError

if TYPE_CHECKING:
    from relayflow.engine.run import ExecutionRecord
    from relayflow.engine.state import Execution
    from relayflow.workflow.model import Node, Workflow


@functools.lru_cache(maxsize=1024)
def _logger(node_type: str) -> logging.Logger:
    return logging.getLogger(f"relayflow.node.{node_type}")


class NodeContext:
    """Handed to ``execute``. Time, ids, sub-workflows, expressions and logs come from here."""

    def __init__(
        self,
        execution: Execution,
        node: Node,
        run_index: int,
        inputs: list[Items],
        plan: ParamPlan,
        scope: ExpressionScope,
    ) -> None:
        self._execution = execution
        self.node = node
        self.run_index = run_index
        self.inputs = inputs
        self._plan = plan
        self._scope = scope
        self.error_items: Items = []
        self.logs: list[str] = []
        self.log = _logger(node.type)

    # identity -----------------------------------------------------------------------------------
    @property
    def node_name(self) -> str:
        return self.node.name

    @property
    def execution_id(self) -> str:
        return self._execution.record.id

    @property
    def mode(self) -> str:
        return self._execution.record.mode

    @property
    def workflow(self) -> Workflow:
        return self._execution.workflow

    @property
    def clock(self) -> Any:
        return self._execution.engine.services.clock

    @property
    def services(self) -> Any:
        return self._execution.engine.services

    # data ---------------------------------------------------------------------------------------
    def input(self, index: int = 0) -> Items:
        return self.inputs[index] if index < len(self.inputs) else []

    async def item_params(self) -> Sequence[BaseModel]:
        """One validated ``Params`` per item of input 0 (the same object when nothing varies)."""
        return await self._plan.for_items(self._scope, len(self.input(0)))

    async def params_for(self, index: int) -> BaseModel:
        return await self._plan.for_item(self._scope, index)

    @property
    def params_dynamic(self) -> bool:
        return self._plan.dynamic

    async def param_columns(self) -> dict[Path, list[Any]]:
        """Evaluated expression values per parameter path, one per item (hot-path nodes)."""
        return await self._plan.columns(self._scope, len(self.input(0)))

    async def evaluate(
        self,
        value: Any,
        index: int = 0,
        variables: Mapping[str, Any] | None = None,
        parameter: str | None = None,
    ) -> Any:
        """A deferred parameter value (``NodeSpec.deferred_params``) for item ``index``: an
        ``=`` expression is evaluated with ``variables`` added (``$response``... see
        ``ExpressionScope.extra``); any other value is returned as it is. ``parameter`` names
        it in errors."""
        if not isinstance(value, str) or not value.startswith("="):
            return value
        body = value[1:]
        if "{{" not in body:
            return body
        scope = dataclasses.replace(self._scope, extra=dict(variables or {}))
        try:
            (result,) = await self.expressions.evaluate(self.expressions.compile(body), scope, [index])
        except ExpressionError as exc:
            raise exc.located(node=self.node_name, parameter=parameter) from None
        return result

    @property
    def expressions(self) -> ExpressionEngine:
        engine = self._execution.engine.expressions
        if engine is None:
            raise NodeError("no expression engine is configured", node=self.node_name, retryable=False)
        return engine

    def scope(self) -> ExpressionScope:
        """The expression scope of this node run (for Code nodes)."""
        return self._scope

    @property
    def state(self) -> dict[str, Any]:
        """State of this node that lives across its runs within one execution (loops)."""
        return self._execution.node_state.setdefault(self.node_name, {})

    @property
    def static_data(self) -> dict[str, Any]:
        """The workflow's static data (``$getWorkflowStaticData('global')``)."""
        return self._execution.static_data

    @property
    def binary(self) -> BinaryData:
        """Binary item data of this execution (``relayflow.engine.binary``)."""
        return BinaryData(self._execution.engine.services.binary, self.execution_id, self.node_name)

    # credentials --------------------------------------------------------------------------------
    async def credentials(self, type_: str) -> dict[str, Any]:
        """The fields of the node's credential of ``type_`` (its ``credentials[type_]`` ref),
        as the vault hands them to this execution's workflow; raises ``CredentialUnavailable``.
        The secret values are remembered: what the execution records is scrubbed of them."""
        ref = (self.node.credentials or {}).get(type_)
        if not isinstance(ref, Mapping):
            raise CredentialUnavailable(
                f"node {self.node_name!r} has no {type_} credential selected", node=self.node_name
            )
        vault = self._execution.engine.services.credentials
        if vault is None:
            raise CredentialUnavailable(
                f"no credential vault is configured: {type_} credential {ref.get('name')!r} is unavailable",
                node=self.node_name,
            )
        try:
            data = await vault.get(type_, ref, workflow_id=self._execution.workflow.id)
        except CredentialUnavailable as exc:
            exc.node = exc.node or self.node_name
            raise
        self._execution.remember_secrets(type_, data)
        return data

    # errors -------------------------------------------------------------------------------------
    @property
    def continue_on_fail(self) -> bool:
        return self.node.error_mode != "stopWorkflow"

    def fail_item(self, exc: BaseException, index: int, item: Item | None = None) -> Item | None:
        """Handle one item's failure per the node's ``onError``.

        Raises when the workflow must stop. With ``continueErrorOutput`` the item goes to the error
        output and ``None`` is returned; with ``continueRegularOutput`` an ``{error}`` item to put in
        the regular output is returned.
        """
        mode = self.node.error_mode
        if mode == "stopWorkflow":
            if isinstance(exc, NodeError) and exc.item_index is None:
                exc.item_index = index
            if isinstance(exc, RelayflowError):
                raise exc
            raise NodeError(str(exc), node=self.node_name, item_index=index) from exc
        message = exc.message if isinstance(exc, RelayflowError) else str(exc)
        src = (
            item
            if item is not None
            else (self.input(0)[index] if index < len(self.input(0)) else {"json": {}})
        )
        if mode == "continueErrorOutput":
            self.error_items.append(
                {"json": {**src.get("json", {}), "error": message}, "pairedItem": {"item": index}}
            )
            return None
        return {"json": {"error": message}, "pairedItem": {"item": index}}

    # sub-workflows and waiting ------------------------------------------------------------------
    async def execute_workflow(
        self, workflow: Workflow, items: Items, *, wait: bool = True
    ) -> ExecutionRecord | None:
        return await self._execution.engine.run_child(self._execution, workflow, items, wait=wait)

    async def load_workflow(self, source: str, ref: Any) -> Workflow:
        loader = self._execution.engine.services.workflows
        if loader is None:
            raise NodeError("no workflow loader is configured", node=self.node_name, retryable=False)
        wf: Workflow = await loader.load(source, ref)
        return wf

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    @property
    def can_park(self) -> bool:
        """Whether ``park`` is available: the server stores waiting executions, and this is not a
        sub-workflow that its parent waits for in process."""
        return bool(self._execution.engine.services.durable_waits) and self._execution.depth == 0

    def park(self, until: datetime | None, webhook: Mapping[str, Any] | None = None) -> NoReturn:
        """Park the execution: it is stored as waiting and this node runs again, with the same
        input, when ``until`` comes or (with ``webhook``) its resume URL is called; ``take_resume``
        then says which. Check ``can_park`` first."""
        if not self.can_park:
            raise NodeError("this execution cannot wait durably here", node=self.node_name, retryable=False)
        raise Park(until, webhook)

    def take_resume(self) -> Mapping[str, Any] | None:
        """Once, after a resume: ``{"until": ISO text or None, "request": the call's item or
        None}`` for this node; None when this run is not a resume of this node."""
        return self._execution.resume_state.pop(self.node_name, None)

    def resume_url(self) -> str:
        return f"{self._execution.engine.services.base_url}/webhook-waiting/{self.execution_id}"

    def print(self, *parts: Any) -> None:
        """Captured output (console.log / print) kept in the node's run record."""
        self.logs.append(" ".join(str(p) for p in parts))
