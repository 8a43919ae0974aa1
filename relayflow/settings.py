"""Reading settings from the environment: one parser per kind, one wording for its errors."""

from __future__ import annotations

from collections.abc import Mapping

from relayflow.errors import InputInvalid


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """``env[name]`` as a whole number of at least 1, ``default`` when unset or blank; anything
    else is InputInvalid naming the variable (the server exits 2 with that line)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputInvalid(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise InputInvalid(f"{name} must be at least 1, not {value}")
    return value
