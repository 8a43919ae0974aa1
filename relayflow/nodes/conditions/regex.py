"""JavaScript-style regular expressions (``/pattern/flags`` or a bare pattern) in Python's ``re``."""

from __future__ import annotations

import re
from functools import lru_cache

from relayflow.errors import NodeError

_LITERAL = re.compile(r"^/(.*)/([a-z]*)$", re.DOTALL)
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}


@lru_cache(maxsize=256)
def js_regex(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile ``/pattern/flags`` (flags i, m, s; g and others are ignored) or a bare pattern."""
    flags = re.IGNORECASE if ignore_case else 0
    match = _LITERAL.match(source)
    pattern = source
    if match:
        pattern = match.group(1)
        for letter in match.group(2):
            flags |= _FLAGS.get(letter, 0)
    pattern = _NAMED_GROUP.sub("(?P<", pattern)
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise NodeError(f"invalid regular expression {source!r}: {exc}", retryable=False) from exc
