"""Structured logs: ``RELAYFLOW_LOG_FORMAT=json`` makes the server write one JSON object per
line (``timestamp``, ``level``, ``logger``, ``message``; ``execution_id``, ``workflow_id``,
``node``, ``trace_id``, ``span_id`` when the line was logged inside an execution; ``exception``
with the traceback). The context comes from ``relayflow.observability.context.current``, which
``ContextSink`` (or the tracing sink) sets from the engine's events.

Secret scrubbing (``relayflow.engine.secrets_scrub``) happens when a record is made, before any
formatter: the JSON line carries the scrubbed message and traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from relayflow.observability.context import current

FORMAT_ENV = "RELAYFLOW_LOG_FORMAT"


def json_logs_requested(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(FORMAT_ENV, "").strip().lower() == "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = current.get()
        if ctx is not None:
            out["execution_id"] = ctx.execution_id
            if ctx.workflow_id is not None:
                out["workflow_id"] = ctx.workflow_id
            if ctx.node is not None:
                out["node"] = ctx.node
            if ctx.trace_id is not None:
                out["trace_id"] = ctx.trace_id
                out["span_id"] = ctx.span_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


def configure_json_logging(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send every record (uvicorn's too: start it with ``log_config=None``) to one handler on
    the root logger that writes JSON lines to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return handler
