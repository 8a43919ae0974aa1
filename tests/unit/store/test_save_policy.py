"""The n8n save settings and their instance defaults."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.errors import InputInvalid
from relayflow.store.save_policy import SaveDefaults, decide, save_progress

NOTHING = SaveDefaults(success=False, error=False, manual=False)


def test_defaults_keep_everything() -> None:
    for status in ("succeeded", "failed", "crashed", "cancelled"):
        assert decide({}, "manual", status) is True
        assert decide(None, "webhook", status) is True


@pytest.mark.parametrize(
    ("settings", "status", "kept"),
    [
        ({"saveDataSuccessExecution": "none"}, "succeeded", False),
        ({"saveDataSuccessExecution": "none"}, "failed", True),
        ({"saveDataErrorExecution": "none"}, "failed", False),
        ({"saveDataErrorExecution": "none"}, "crashed", False),
        ({"saveDataErrorExecution": "none"}, "cancelled", False),
        ({"saveDataErrorExecution": "none"}, "succeeded", True),
    ],
)
def test_success_and_error_settings(settings: dict[str, Any], status: str, kept: bool) -> None:
    assert decide(settings, "trigger", status) is kept


def test_manual_setting_only_applies_to_manual_runs() -> None:
    settings = {"saveManualExecutions": False}
    assert decide(settings, "manual", "succeeded") is False
    assert decide(settings, "manual", "failed") is False
    assert decide(settings, "webhook", "succeeded") is True


def test_manual_kept_still_follows_the_status_setting() -> None:
    settings = {"saveManualExecutions": True, "saveDataSuccessExecution": "none"}
    assert decide(settings, "manual", "succeeded") is False
    assert decide(settings, "manual", "failed") is True


def test_workflow_settings_override_instance_defaults() -> None:
    assert decide({}, "manual", "succeeded", NOTHING) is False
    assert decide({}, "webhook", "failed", NOTHING) is False
    everything = {
        "saveDataSuccessExecution": "all",
        "saveDataErrorExecution": "all",
        "saveManualExecutions": True,
    }
    assert decide(everything, "manual", "succeeded", NOTHING) is True
    assert decide(everything, "manual", "failed", NOTHING) is True


@pytest.mark.parametrize("value", ["DEFAULT", "sometimes", 1, None])
def test_default_or_bad_values_mean_the_instance_default(value: Any) -> None:
    settings = {"saveDataSuccessExecution": value, "saveManualExecutions": value}
    assert decide(settings, "manual", "succeeded", NOTHING) is False
    assert decide(settings, "manual", "succeeded") is True


@pytest.mark.parametrize("status", ["running", "waiting", "new", "queued"])
def test_unfinished_executions_are_always_kept(status: str) -> None:
    assert decide({"saveDataErrorExecution": "none"}, "manual", status, NOTHING) is True


def test_progress() -> None:
    assert save_progress(None) is False
    assert save_progress({"saveExecutionProgress": True}) is True
    assert save_progress({"saveExecutionProgress": "DEFAULT"}, SaveDefaults(progress=True)) is True


def test_env_defaults() -> None:
    assert SaveDefaults.from_env({}) == SaveDefaults()
    env = {"RELAYFLOW_SAVE_SUCCESS": "none", "RELAYFLOW_SAVE_ERROR": "ALL", "RELAYFLOW_SAVE_MANUAL": "false"}
    assert SaveDefaults.from_env(env) == SaveDefaults(success=False, error=True, manual=False)


@pytest.mark.parametrize("name", ["RELAYFLOW_SAVE_SUCCESS", "RELAYFLOW_SAVE_ERROR", "RELAYFLOW_SAVE_MANUAL"])
def test_bad_env_values_are_refused(name: str) -> None:
    with pytest.raises(InputInvalid, match=name):
        SaveDefaults.from_env({name: "maybe"})
