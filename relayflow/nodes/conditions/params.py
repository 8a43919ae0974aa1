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
        return evaluate_filter(
            self.conditions, loose=self.loose_type_validation, ignore_case=self.ignore_case
        )


ValueColumns = list[tuple[list[Any] | None, list[Any] | None]]


def value_columns(params: ConditionParams, cols: dict[Any, list[Any]]) -> ValueColumns | None:
    """Per condition, the per-item (left, right) columns of its expressions, or None when an
    expression sits anywhere else (then each item needs its own validated parameters)."""
    if params.legacy_conditions is not None:
        return None
    count = len(params.conditions.conditions)
    wanted = {
        ("conditions", "conditions", k, side) for k in range(count) for side in ("leftValue", "rightValue")
    }
    if not set(cols) <= wanted:
        return None
    return [
        (
            cols.get(("conditions", "conditions", k, "leftValue")),
            cols.get(("conditions", "conditions", k, "rightValue")),
        )
        for k in range(count)
    ]


def holds_for_item(params: ConditionParams, columns: ValueColumns, index: int) -> bool:
    """``params.holds()`` with item ``index``'s values taken from ``columns``."""
    conds = params.conditions.conditions
    values = [
        (
            left[index] if left is not None else c.leftValue,
            right[index] if right is not None else c.rightValue,
        )
        for c, (left, right) in zip(conds, columns, strict=True)
    ]
    return evaluate_filter(
        params.conditions, loose=params.loose_type_validation, ignore_case=params.ignore_case, values=values
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_legacy(conditions: Any) -> bool:
    return (
        isinstance(conditions, dict)
        and "conditions" not in conditions
        and bool(_LEGACY_KEYS & conditions.keys())
    )


def translate_conditions(params: dict[str, Any], version: float) -> dict[str, Any]:
    """n8n IF / Filter parameters (any version) as ``ConditionParams`` data."""
    conditions = params.get("conditions")
    if version < 2 or is_legacy(conditions):
        combine = params.get("combineOperation", params.get("combineConditions"))
        return {"legacy_conditions": translate_legacy(conditions, combine)}
    options = _dict(params.get("options"))
    out: dict[str, Any] = {}
    if conditions is not None:
        out["conditions"] = conditions
    loose = params.get("looseTypeValidation", options.get("looseTypeValidation"))
    if loose is not None:
        out["loose_type_validation"] = loose
    if options.get("ignoreCase") is not None:
        out["ignore_case"] = options["ignoreCase"]
    return out
