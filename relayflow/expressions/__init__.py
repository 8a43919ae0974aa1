"""(stub) The {{ }} expression evaluator."""

from __future__ import annotations

from typing import Any


def default_expression_engine() -> Any:
    return None
