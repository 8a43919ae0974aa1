"""``relayflow n8n-report DIR``: how much of a folder of n8n exports relayflow can run.

Every ``*.json`` file under DIR (recursively) is read as ``relayflow import`` reads it (one
workflow object or an array of them) and checked by the parser ``relayflow validate`` uses;
nothing is stored. Each workflow ends in exactly one of three places, so the counts add up:

- a *failure*: the parser refuses it for a reason other than a node type we lack (not JSON, not
  the n8n export shape, a dangling connection, bad parameters of an implemented node ...); a file
  that is not valid JSON counts as one such workflow;
- *parsed* but using node types (or typeVersions) the registry lacks: those are the *missing*
  types, counted per workflow and per node instance;
- *parsed* and *fully supported*: ``relayflow validate`` would say ok. Sticky notes are
  registered (and ignored at run time), so they never make a workflow unsupported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relayflow.cli_store import problem, read_workflows
from relayflow.errors import InputInvalid, Issue, WorkflowInvalid

UNKNOWN_TYPE = "unknown_type"


@dataclass
class Report:
    files: int = 0
    workflows: int = 0
    parsed: int = 0
    fully_supported: int = 0
    # type -> workflows using it, node instances, the typeVersions in use we lack
    missing_workflows: Counter[str] = field(default_factory=Counter)
    missing_nodes: Counter[str] = field(default_factory=Counter)
    missing_versions: dict[str, set[float]] = field(default_factory=dict)
    # (file or file[i], first problem), and the problem without its node/position for grouping
    failures: list[tuple[str, str]] = field(default_factory=list)
    failure_kinds: Counter[str] = field(default_factory=Counter)

    def missing(self) -> list[dict[str, Any]]:
        """Most used first: by workflows, then node instances, then name (a stable order)."""
        rows = sorted(
            self.missing_workflows, key=lambda t: (-self.missing_workflows[t], -self.missing_nodes[t], t)
        )
        return [
            {
                "type": t,
                "workflows": self.missing_workflows[t],
                "nodes": self.missing_nodes[t],
                "versions": sorted(self.missing_versions[t]),
            }
            for t in rows
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "workflows": self.workflows,
            "parsed": self.parsed,
            "fully_supported": self.fully_supported,
            "missing": self.missing(),
            "failures": [{"file": f, "error": e} for f, e in self.failures],
        }


def json_files(folder: Path) -> list[Path]:
    """The ``*.json`` files under ``folder``, sorted; InputInvalid (exit 2) when there are none."""
    if not folder.is_dir():
        raise InputInvalid(f"{folder} is not a directory")
    files = sorted(p for p in folder.rglob("*.json") if p.is_file())
    if not files:
        raise InputInvalid(f"no *.json file under {folder}")
    return files


def _kind(issue: Issue) -> str:
    """The problem without the node it is about, so that the same problem in many workflows
    groups into one line of the summary."""
    if issue.code == "invalid_json":
        return "invalid JSON"
    return str(Issue(issue.message, field=issue.field, code=issue.code))


def _fail(report: Report, label: str, error: str, kind: str) -> None:
    report.failures.append((label, error))
    report.failure_kinds[kind] += 1


def check_one(report: Report, label: str, raw: Any, registry: Any) -> None:
    from relayflow.workflow.model import Workflow
    from relayflow.workflow.parse import parse_workflow

    report.workflows += 1
    try:
        parse_workflow(raw, source=label, registry=registry)
    except WorkflowInvalid as exc:
        others = [i for i in exc.issues if i.code != UNKNOWN_TYPE]
        if others:
            _fail(report, label, str(others[0]), _kind(others[0]))
            return
        # only node types we lack: the shape was accepted, so the model reads again
        wf = Workflow.model_validate(raw)
        unknown = {i.node for i in exc.issues}
        report.parsed += 1
        seen: set[str] = set()
        for node in wf.nodes:
            if node.name in unknown:
                report.missing_nodes[node.type] += 1
                report.missing_versions.setdefault(node.type, set()).add(float(node.typeVersion))
                seen.add(node.type)
        report.missing_workflows.update(seen)
        return
    report.parsed += 1
    report.fully_supported += 1


def build_report(files: list[Path], advance: Callable[[], None] = lambda: None) -> Report:
    """Read and check every file; ``advance`` is called once per file (the progress bar)."""
    from relayflow.nodes.registry import default_registry

    registry = default_registry()
    report = Report(files=len(files))
    for path in files:
        try:
            workflows = list(read_workflows(path))
        except InputInvalid as exc:
            # the file holds an unknown number of workflows: it counts as one that does not parse
            report.workflows += 1
            _fail(report, str(path), problem(exc), str(exc).split(":", 1)[0])
        else:
            for label, raw in workflows:
                check_one(report, label, raw, registry)
        advance()
    return report


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _columns(rows: Sequence[tuple[str, ...]], numbers: set[int]) -> list[str]:
    """Aligned columns; those in ``numbers`` are right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.rjust(w) if i in numbers else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def render(report: Report, top: int) -> str:
    """The table ``relayflow n8n-report`` prints: the counts, the missing types, the commonest
    parse problems."""
    failed = len(report.failures)
    lines = _columns(
        [
            ("files", str(report.files), ""),
            ("workflows", str(report.workflows), ""),
            ("parsed", str(report.parsed), _percent(report.parsed, report.workflows)),
            (
                "fully supported",
                str(report.fully_supported),
                _percent(report.fully_supported, report.workflows),
            ),
            ("failed to parse", str(failed), _percent(failed, report.workflows)),
        ],
        numbers={1, 2},
    )
    missing = report.missing()
    if missing:
        shown = missing[:top]
        lines += [
            "",
            f"missing node types: {len(missing)}"
            + (f" (top {len(shown)})" if len(shown) < len(missing) else ""),
        ]
        rows = [("type", "typeVersions", "workflows", "nodes")] + [
            (m["type"], ", ".join(f"{v:g}" for v in m["versions"]), str(m["workflows"]), str(m["nodes"]))
            for m in shown
        ]
        lines += _columns(rows, numbers={2, 3})
    if failed:
        lines += ["", f"parse problems (top {min(5, len(report.failure_kinds))}):"]
        rows = [("workflows", "problem")] + [(str(n), k) for k, n in report.failure_kinds.most_common(5)]
        lines += _columns(rows, numbers={0})
    return "\n".join(lines)
