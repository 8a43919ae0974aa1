"""The ``relayflow`` command line.

Exit status: 0 success, 1 the workflow failed, 2 bad input (one readable line on stderr).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from relayflow.cli_access import api_key_app, user_app
from relayflow.cli_credentials import credentials_app
from relayflow.errors import RelayflowError, UnknownNodeType, UserError, WorkflowInvalid

app = typer.Typer(
    name="relayflow",
    help="Open workflow automation: n8n-compatible workflows, from a laptop to a cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
nodes_app = typer.Typer(
    help="List node types, or show one with its parameter schema.", invoke_without_command=True
)
app.add_typer(nodes_app, name="nodes")
executions_app = typer.Typer(help="List, show and prune stored executions.", no_args_is_help=True)
app.add_typer(executions_app, name="executions")
app.add_typer(user_app, name="user")
app.add_typer(api_key_app, name="api-key")
app.add_typer(credentials_app, name="credentials")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _bad_input(message: str) -> NoReturn:
    typer.echo(f"relayflow: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _read_input(value: str | None) -> Any:
    if value is None:
        return None
    raw: bytes
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            raw = path.read_bytes()
        except OSError as exc:
            _bad_input(f"--input: cannot read {path}: {exc.strerror}")
    else:
        raw = value.encode()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        _bad_input(f"--input is not valid JSON: {exc}")


def _dump(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()


def _summary(record: Any) -> None:
    for run in record.node_runs:
        items = "/".join(str(n) for n in run.items_out) or "0"
        suffix = f"  {run.error.get('message')}" if run.error else ""
        label = run.node if run.run_index == 0 else f"{run.node} #{run.run_index}"
        typer.echo(
            f"  {run.status.value:<10} {label:<32} {items:>8} items {run.duration_ms:9.2f} ms{suffix}",
            err=True,
        )
    total = (record.finished_at - record.started_at).total_seconds() * 1000 if record.finished_at else 0.0
    typer.echo(f"{record.status.value} in {total:.1f} ms ({len(record.node_runs)} node runs)", err=True)


async def _run_and_settle(
    engine: Any, wf: Any, items: Any, start: str | None, binary_dir: Path | None = None
) -> Any:
    """Run, then let detached work (an error workflow) finish before the process exits; with
    ``binary_dir``, write the terminal nodes' files there (they live in memory until then)."""
    record = await engine.run(wf, input_items=items, start_node=start)
    await engine.wait_background()
    if binary_dir is not None:
        from relayflow.binary.export import save_terminal_binaries

        saved = await save_terminal_binaries(record, engine.services.binary, binary_dir)
        if saved:
            typer.echo(f"relayflow: wrote {len(saved)} file(s) to {binary_dir}", err=True)
    return record


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Workflow JSON file (n8n export shape).")],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="Input items as JSON, or @file.json.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the whole run record as JSON.")] = False,
    start: Annotated[str | None, typer.Option("--start", help="Name of the node to start from.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-node summary on stderr.")] = False,
    binary_dir: Annotated[
        Path | None,
        typer.Option("--binary-dir", help="Write the terminal nodes' binary data (files) into this folder."),
    ] = None,
) -> None:
    """Run a workflow from its manual trigger (or first trigger) and print the terminal nodes' output."""
    from relayflow.engine.items import normalize_items
    from relayflow.runtime import build_engine
    from relayflow.workflow.parse import load_workflow

    data = _read_input(input)
    try:
        wf = load_workflow(file)
    except WorkflowInvalid as exc:
        _bad_input(str(exc))
    if start is not None and all(n.name != start for n in wf.nodes):
        _bad_input(f"--start: no node named {start!r}")
    engine = build_engine(base_dir=file.resolve().parent)
    items = normalize_items(data) if data is not None else None
    try:
        record = asyncio.run(_run_and_settle(engine, wf, items, start, binary_dir))
    finally:
        if engine.expressions is not None:
            engine.expressions.close()
    if not quiet:
        _summary(record)
    if json_out:
        typer.echo(_dump(record.to_dict()))
    elif record.status.value == "succeeded":
        typer.echo(_dump(record.output_json()))
    if record.status.value != "succeeded":
        err = record.error or {}
        where = f"node {err['node']!r}: " if err.get("node") else ""
        typer.echo(f"relayflow: workflow failed: {where}{err.get('message', record.status.value)}", err=True)
        raise typer.Exit(EXIT_FAILED)


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Workflow JSON files.")]) -> None:
    """Check workflows; print every problem (naming node and field) and exit 2 on any."""
    from relayflow.workflow.parse import load_workflow

    bad = 0
    for f in files:
        try:
            wf = load_workflow(f)
        except WorkflowInvalid as exc:
            bad += 1
            for issue in exc.issues:
                typer.echo(f"{f}: {issue}", err=True)
            continue
        typer.echo(f"{f}: ok ({len(wf.nodes)} nodes)")
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def start() -> None:
    """Serve the REST API on RELAYFLOW_HOST:RELAYFLOW_PORT (127.0.0.1:5678) until SIGTERM or SIGINT."""
    from relayflow.server import ServerSettings
    from relayflow.server import run as serve

    serve(ServerSettings.from_env())


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Workflow JSON files (an object or an array).")],
    project: Annotated[
        str | None,
        typer.Option("--project", help="The project to import into (default: the owner's personal project)."),
    ] = None,
) -> None:
    """Import workflows into the store, inactive; print `id  name` for each and, on stderr, the
    credentials they reference that must still be created; exit 2 if any failed."""
    from rich.console import Console
    from rich.progress import Progress

    from relayflow.cli_store import import_files, import_target, with_stores

    console = Console(stderr=True)

    async def work(workflows: Any, _: Any) -> int:
        from relayflow.access.sql import open_access_store
        from relayflow.store.config import database_url

        access = await open_access_store(database_url())
        try:
            target = await import_target(access, project)
            return await import_files(workflows, files, lambda: bar.advance(task), target)
        finally:
            await access.close()

    with Progress(console=console, transient=True, disable=len(files) < 2 or not console.is_terminal) as bar:
        task = bar.add_task("importing", total=len(files))
        failed = with_stores(work)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("n8n-report")
def n8n_report(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A folder of n8n exports, recursively.")],
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable, every failure listed.")] = False,
    top: Annotated[int, typer.Option("--top", min=0, help="Rows of the missing node types table.")] = 30,
) -> None:
    """Check every workflow in a folder without storing anything: how many parse, how many use
    only implemented node types, the missing node types by frequency. Exit 0 even if some fail."""
    from rich.console import Console
    from rich.progress import Progress

    from relayflow.cli_report import build_report, json_files, render

    files = json_files(folder)
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("checking", total=len(files))
        report = build_report(files, lambda: bar.advance(task))
    typer.echo(_dump(report.to_json()) if json_out else render(report, top))


@app.command()
def export(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...", help="Workflow ids.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every stored workflow.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="A directory (one file per workflow) or a file.")
    ] = None,
) -> None:
    """Print (or write) workflows as n8n-shaped JSON: one as an object, several as an array."""
    from relayflow.cli_store import with_stores, workflows_to_export, write_export

    wanted = list(ids or [])
    data = with_stores(lambda workflows, _: workflows_to_export(workflows, wanted, everything))
    write_export(data, len(wanted) == 1 and not everything, output)


@executions_app.command("list")
def executions_list(
    workflow: Annotated[str | None, typer.Option("--workflow", help="Only this workflow's.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only executions in this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 50,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored executions, newest first."""
    from relayflow.cli_store import execution_table, parse_status, with_stores
    from relayflow.store.ports import ExecutionQuery

    query = ExecutionQuery(workflow_id=workflow, status=parse_status(status), limit=limit)
    page = with_stores(lambda _, executions: executions.find(query))
    records = list(page.items)
    if json_out:
        typer.echo(_dump([r.to_dict(with_data=False) for r in records]))
    elif records:
        typer.echo(execution_table(records))


@executions_app.command("show")
def executions_show(
    execution_id: Annotated[str, typer.Argument(metavar="ID")],
    json_out: Annotated[bool, typer.Option("--json", help="The whole run record with node outputs.")] = False,
) -> None:
    """One execution with a per-node summary."""
    from relayflow.cli_store import execution_header, get_execution, node_lines, with_stores

    rec = with_stores(lambda _, executions: get_execution(executions, execution_id))
    if json_out:
        typer.echo(_dump(rec.to_dict()))
        return
    for line in [*execution_header(rec), "nodes:", *node_lines(rec)]:
        typer.echo(line)


@executions_app.command("prune")
def executions_prune(
    max_age_hours: Annotated[
        float | None,
        typer.Option("--max-age-hours", help="Default RELAYFLOW_EXECUTIONS_MAX_AGE_HOURS; 0: off."),
    ] = None,
    max_count: Annotated[
        int | None,
        typer.Option("--max-count", help="Default RELAYFLOW_EXECUTIONS_MAX_COUNT; keep the newest N."),
    ] = None,
) -> None:
    """Delete finished executions older than the age or beyond the count (never running/waiting)."""
    from relayflow.cli_store import max_age, with_stores
    from relayflow.store.retention import RetentionSettings, prune

    settings = RetentionSettings.from_env()
    age = max_age(max_age_hours) if max_age_hours is not None else settings.max_age
    if max_count is not None and max_count < 0:
        _bad_input(f"--max-count must not be negative, not {max_count}")
    count = max_count if max_count is not None else settings.max_count
    deleted = with_stores(lambda _, executions: prune(executions, max_age=age, max_count=count))
    typer.echo(f"deleted {deleted} executions")


@nodes_app.callback()
def nodes_list(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="The catalogue as in docs/nodes.md.")] = False,
) -> None:
    """List node types."""
    if ctx.invoked_subcommand is not None:
        return
    from relayflow.nodes.registry import default_registry

    specs = list(default_registry())
    if markdown:
        typer.echo(catalogue_markdown(specs), nl=False)
        return
    if json_out:
        typer.echo(_dump([{k: v for k, v in s.describe().items() if k != "parameters"} for s in specs]))
        return
    for s in specs:
        aliases = ", ".join(a.type for a in s.aliases)
        typer.echo(
            f"{s.type:<36} v{s.version}  {s.group:<10} {s.title}" + (f"  ({aliases})" if aliases else "")
        )


def catalogue_markdown(specs: list[Any]) -> str:
    lines = [
        "# Built-in nodes",
        "",
        "Generated by `relayflow nodes --markdown`; a test keeps it in step with the registry.",
        "`relayflow nodes show TYPE` prints a node's parameter JSON Schema.",
        "",
        "| type | title | group | n8n alias: typeVersions | description |",
        "|---|---|---|---|---|",
    ]
    for s in specs:
        aliases = "<br>".join(f"`{a.type}`: {', '.join(f'{v:g}' for v in a.versions)}" for a in s.aliases)
        desc = s.description.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{s.type}` v{s.version} | {s.title} | {s.group} | {aliases} | {desc} |")
    return "\n".join(lines) + "\n"


@nodes_app.command("show")
def nodes_show(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="relayflow or n8n type name.")],
) -> None:
    """Print one node type with its parameter JSON Schema."""
    from relayflow.nodes.registry import default_registry

    found = default_registry().find(type_)
    if not found:
        _bad_input(f"unknown node type {type_!r} (see `relayflow nodes`)")
    described = [s.describe() for s in found]
    typer.echo(_dump(described[0] if len(described) == 1 else described))


def main() -> None:
    try:
        app()
    except (UserError, UnknownNodeType) as exc:
        typer.echo(f"relayflow: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except RelayflowError as exc:
        typer.echo(f"relayflow: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
