"""Which executions are kept, from a workflow's settings as in n8n, with instance defaults.

Workflow ``settings`` (n8n's names): ``saveDataSuccessExecution`` and ``saveDataErrorExecution``
("all" | "none"), ``saveManualExecutions`` and ``saveExecutionProgress`` (booleans). A missing
setting, n8n's ``"DEFAULT"``, or a value of the wrong kind means the instance default, from
``RELAYFLOW_SAVE_SUCCESS`` / ``RELAYFLOW_SAVE_ERROR`` ("all" | "none", default "all"),
``RELAYFLOW_SAVE_MANUAL`` (true | false, default true) and ``RELAYFLOW_SAVE_PROGRESS`` (true |
false, default false).

As in n8n: a manual execution is dropped when manual executions are not saved; otherwise a
succeeded one follows the success setting and a failed, crashed or cancelled one the error
setting. Executions that have not finished (running, waiting...) are always kept.

This module is the policy only; ``SavePolicyStore`` (store/policy.py) applies it to an
ExecutionStore, and says what ``saveExecutionProgress`` changes there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relayflow.engine.run import ExecutionStatus
from relayflow.errors import InputInvalid

_ALL_NONE = {"all": True, "none": False}
_BOOLEAN = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class SaveDefaults:
    success: bool = True
    error: bool = True
    manual: bool = True
    progress: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SaveDefaults:
        return cls(
            success=_env(env, "RELAYFLOW_SAVE_SUCCESS", _ALL_NONE, True),
            error=_env(env, "RELAYFLOW_SAVE_ERROR", _ALL_NONE, True),
            manual=_env(env, "RELAYFLOW_SAVE_MANUAL", _BOOLEAN, True),
            progress=_env(env, "RELAYFLOW_SAVE_PROGRESS", _BOOLEAN, False),
        )


def _env(env: Mapping[str, str], name: str, allowed: Mapping[str, bool], default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        raise InputInvalid(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return allowed[raw]


def _all_none(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key)
    return _ALL_NONE[value] if isinstance(value, str) and value in _ALL_NONE else default


def _flag(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key)
    return value if isinstance(value, bool) else default


def decide(
    settings: Mapping[str, Any] | None, mode: str, status: str, defaults: SaveDefaults = SaveDefaults()
) -> bool:
    """Keep this execution?"""
    settings = settings or {}
    state = ExecutionStatus(status)
    if not state.terminal:
        return True
    if mode == "manual" and not _flag(settings, "saveManualExecutions", defaults.manual):
        return False
    if state is ExecutionStatus.SUCCEEDED:
        return _all_none(settings, "saveDataSuccessExecution", defaults.success)
    return _all_none(settings, "saveDataErrorExecution", defaults.error)


def save_progress(settings: Mapping[str, Any] | None, defaults: SaveDefaults = SaveDefaults()) -> bool:
    """Write each node's result as it finishes (``saveExecutionProgress``)?"""
    return _flag(settings or {}, "saveExecutionProgress", defaults.progress)
