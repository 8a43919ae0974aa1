"""The condition parameters IF and Filter share, and their translation from n8n's shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from relayflow.nodes.conditions.filter import FilterConditions, evaluate_filter
from relayflow.nodes.conditions.legacy import LegacyConditions, evaluate_legacy, translate_legacy

_LEGACY_KEYS = frozenset({"boolean", "number", "string", "dateTime"})


class ConditionParams(BaseModel):
    """Typed conditions, or legacy ones when ``legacy_conditions`` is set (IF v1, Filter v1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    conditions: FilterConditions = FilterConditions()
    legacy_conditions: LegacyConditions | None = None
    # n8n's "Less Strict Type Validation": loose on top of conditions.options.typeValidation
    loose_type_validation: bool = False
    # n8n's "Ignore Case" option; None leaves conditions.options.caseSensitive in charge
    ignore_case: bool | None = None

    def holds(self) -> bool:
        """Evaluate the conditions; raises ``ConditionTypeError`` on a strict type mismatch."""
        if self.legacy_conditions is not None:
            return evaluate_legacy(self.legacy_conditions)
        return evaluate_filter(self.conditions, loose=self.loose_type_validation, ignore_case=self.ignore_case)


def is_legacy(conditions: Any) -> bool:
    return isinstance(conditions, dict) and "conditions" not in conditions and bool(_LEGACY_KEYS & conditions.keys())


def translate_conditions(params: dict[str, Any], version: float) -> dict[str, Any]:
    """n8n IF / Filter parameters (any version) as ``ConditionParams`` data."""
    conditions = params.get("conditions")
    if version < 2 or is_legacy(conditions):
        combine = params.get("combineOperation", params.get("combineConditions"))
        return {"legacy_conditions": translate_legacy(conditions, combine)}
    options = params.get("options") if isinstance(params.get("options"), dict) else {}
    out: dict[str, Any] = {}
    if conditions is not None:
        out["conditions"] = conditions
    loose = params.get("looseTypeValidation", options.get("looseTypeValidation"))
    if loose is not None:
        out["loose_type_validation"] = loose
    if options.get("ignoreCase") is not None:
        out["ignore_case"] = options["ignoreCase"]
    return out
