"""Conditions shared by IF, Filter and Switch.

- ``filter``: n8n's typed "filter" conditions (IF v2, Filter v2, Switch v3), with strict or loose
  type validation (``coerce``) and JavaScript-style regular expressions (``regex``).
- ``legacy``: the per-data-type conditions of IF v1, Filter v1 and Switch v1/v2.
"""

from __future__ import annotations

from relayflow.nodes.conditions.coerce import ConditionTypeError, js_string, to_datetime, to_number, validate
from relayflow.nodes.conditions.filter import (
    OPERATORS,
    Condition,
    ConditionOptions,
    FilterConditions,
    Operator,
    evaluate_filter,
)
from relayflow.nodes.conditions.legacy import (
    LegacyConditions,
    LegacyRule,
    evaluate_legacy,
    legacy_compare,
    translate_legacy,
)
from relayflow.nodes.conditions.params import ConditionParams, translate_conditions

__all__ = [
    "OPERATORS",
    "Condition",
    "ConditionOptions",
    "ConditionParams",
    "ConditionTypeError",
    "FilterConditions",
    "LegacyConditions",
    "LegacyRule",
    "Operator",
    "evaluate_filter",
    "evaluate_legacy",
    "js_string",
    "legacy_compare",
    "to_datetime",
    "to_number",
    "translate_conditions",
    "translate_legacy",
    "validate",
]
