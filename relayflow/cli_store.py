"""What the store commands of ``relayflow`` (import, export, executions ...) do; relayflow/cli.py
holds their options. Bad input raises a UserError (``main`` prints one line, exit 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer

from relayflow.access.model import InstanceRole, ObjectKind
from relayflow.access.ports import AccessStore
from relayflow.engine.run import ExecutionRecord, ExecutionStatus
from relayflow.errors import InputInvalid, NotFound, WorkflowInvalid
from relayflow.store.common import MAX_PAGE_SIZE
from relayflow.store.ports import ExecutionStore, StoredWorkflow, WorkflowQuery, WorkflowStore

T = TypeVar("T")


def with_stores(work: Callable[[WorkflowStore, ExecutionStore], Awaitable[T]]) -> T:
    """Open the stores from the environment, run ``work``, close them."""
    from relayflow.store.config import open_stores

    async def go() -> T:
        workflows, executions = await open_stores()
        try:
            return await work(workflows, executions)
        finally:
            await executions.close()
            await workflows.close()

    return asyncio.run(go())


def dump(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()


# -- import ----------------------------------------------------------------------------------


def read_workflows(path: Path) -> Iterator[tuple[str, Any]]:
    """(label, raw workflow) for each workflow in a file: an object, or an array of them."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputInvalid(f"cannot read file: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(f"invalid JSON: {exc}") from exc
    if isinstance(data, list):
        for i, raw in enumerate(data):
            yield f"{path}[{i}]", raw
    else:
        yield str(path), data


async def import_one(
    store: WorkflowStore, raw: Any, target: ImportTarget | None = None
) -> tuple[StoredWorkflow, dict[str, Any] | None]:
    """Validate and store one workflow, inactive, in ``target``'s project when there is one;
    returns it and its credentials report (``relayflow/api/credential_refs.py``)."""
    from relayflow.api.bodies import WorkflowBody
    from relayflow.api.credential_refs import credentials_report
    from relayflow.nodes.registry import default_registry

    if not isinstance(raw, dict):
        raise InputInvalid("a workflow must be a JSON object")
    body = WorkflowBody(raw, default_registry())
    report = None
    if target is not None:
        # references resolved by name get the local id before the workflow is stored
        report = await credentials_report(target.access, body.data, target.project_id)
    wf = await store.create(body.data, tags=body.tags or ())
    if target is not None:
        await target.access.set_owner(ObjectKind.WORKFLOW, wf.id, target.project_id)
    return wf, report


def problem(exc: Exception) -> str:
    if isinstance(exc, WorkflowInvalid):
        return "; ".join(str(issue) for issue in exc.issues)
    return str(exc)


@dataclass(frozen=True)
class ImportTarget:
    """Where imported workflows go: a project of the access store."""

    access: AccessStore
    project_id: str


async def import_target(access: AccessStore, project_id: str | None) -> ImportTarget | None:
    """``--project``, else the owner's personal project; None while the instance has no owner
    (the server gives such workflows to the owner once there is one)."""
    if project_id is not None:
        if await access.get_project(project_id) is None:
            raise InputInvalid(f"--project: no project {project_id!r}")
        return ImportTarget(access, project_id)
    owner = next((u for u in await access.users() if u.role is InstanceRole.OWNER), None)
    return ImportTarget(access, owner.personal_project_id) if owner is not None else None


async def import_files(
    store: WorkflowStore,
    files: list[Path],
    advance: Callable[[], None],
    target: ImportTarget | None = None,
) -> int:
    """Import every valid workflow, echo ``id  name`` for each, one line on stderr per credential
    it references that does not exist in its project, and one line per failure; returns how many
    failed."""
    failed = 0
    for path in files:
        try:
            for label, raw in list(read_workflows(path)):
                try:
                    wf, report = await import_one(store, raw, target)
                except (WorkflowInvalid, InputInvalid) as exc:
                    failed += 1
                    typer.echo(f"relayflow: {label}: {problem(exc)}", err=True)
                    continue
                typer.echo(f"{wf.id}  {wf.name}")
                for missing in (report or {}).get("missing", ()):
                    typer.echo(
                        f"relayflow: {wf.id}: create the {missing['type']} credential "
                        f"{missing['name']!r} (node {missing['node']!r})",
                        err=True,
                    )
        except InputInvalid as exc:
            failed += 1
            typer.echo(f"relayflow: {path}: {exc}", err=True)
        advance()
    return failed


# -- export ----------------------------------------------------------------------------------


async def workflows_to_export(store: WorkflowStore, ids: list[str], everything: bool) -> list[Any]:
    from relayflow.api.bodies import workflow_json

    if not ids and not everything:
        raise InputInvalid("name workflow ids to export, or --all")
    found: list[StoredWorkflow] = []
    for wf_id in ids:
        wf = await store.get(wf_id)
        if wf is None:
            raise NotFound(f"no workflow {wf_id!r}")
        found.append(wf)
    if everything:
        cursor: str | None = None
        while True:
            page = await store.find(WorkflowQuery(limit=MAX_PAGE_SIZE, cursor=cursor))
            found.extend(w for w in page.items if w.id not in ids)
            if (cursor := page.next_cursor) is None:
                break
    return [workflow_json(wf) for wf in found]


def write_export(data: list[Any], single: bool, output: Path | None) -> None:
    if output is not None and output.is_dir():
        for wf in data:
            target = output / f"{wf['id']}.json"
            target.write_text(dump(wf) + "\n")
            typer.echo(str(target))
        return
    text = dump(data[0] if single else data)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n")
    except OSError as exc:
        raise InputInvalid(f"--output: cannot write {output}: {exc.strerror}") from exc
    typer.echo(str(output))


# -- executions ------------------------------------------------------------------------------


def parse_status(status: str | None) -> ExecutionStatus | None:
    if status is None:
        return None
    try:
        return ExecutionStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in ExecutionStatus)
        raise InputInvalid(f"--status must be one of {choices}, not {status!r}") from None


def duration(rec: ExecutionRecord) -> str:
    if rec.finished_at is None:
        return "-"
    ms = (rec.finished_at - rec.started_at).total_seconds() * 1000
    return f"{ms:.1f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def execution_table(records: list[ExecutionRecord]) -> str:
    header = ("id", "workflow", "status", "mode", "started", "duration")
    rows = [header] + [
        (
            r.id,
            r.workflow_id or f"({r.workflow_name})",
            r.status.value,
            r.mode,
            r.started_at.isoformat(timespec="seconds"),
            duration(r),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def execution_header(rec: ExecutionRecord) -> list[str]:
    lines = [
        f"execution {rec.id}",
        f"  workflow  {rec.workflow_name}" + (f" ({rec.workflow_id})" if rec.workflow_id else ""),
        f"  status    {rec.status.value}",
        f"  mode      {rec.mode}",
        f"  started   {rec.started_at.isoformat()}",
        f"  duration  {duration(rec)}",
    ]
    if rec.error:
        where = f"node {rec.error['node']!r}: " if rec.error.get("node") else ""
        lines.append(f"  error     {where}{rec.error.get('message', '')}")
    return lines


def node_lines(rec: ExecutionRecord) -> list[str]:
    lines = []
    for run in rec.node_runs:
        items = "/".join(str(n) for n in run.items_out) or "0"
        suffix = f"  {run.error.get('message')}" if run.error else ""
        label = run.node if run.run_index == 0 else f"{run.node} #{run.run_index}"
        lines.append(
            f"  {run.status.value:<10} {label:<32} {items:>8} items {run.duration_ms:9.2f} ms{suffix}"
        )
    return lines


async def get_execution(store: ExecutionStore, execution_id: str) -> ExecutionRecord:
    await store.flush()
    rec = await store.get(execution_id)
    if rec is None:
        raise NotFound(f"no execution {execution_id!r}")
    return rec


def max_age(hours: float | None) -> timedelta | None:
    if hours is None or hours == 0:
        return None
    if hours < 0:
        raise InputInvalid(f"--max-age-hours must not be negative, not {hours:g}")
    return timedelta(hours=hours)
