"""Which top-level functions of Code-node code may be created once per V8 context, not per run.

V8 optimises a function best while a single closure exists for its code; user code that
declares ``function fib(n) {...}`` creates a new closure on every run, and from the second run
on V8 settles for slower generic code (about 1.7x slower for a recursive fib). A declaration is
*hoisted* (created once, frozen, and passed to every run as a parameter) only when that cannot
change what the code does:

- it is a plain ``function NAME(...) {...}`` statement at the top level of the code, declared
  once, without ``this``, ``arguments``, ``eval``, ``with``, ``super``, ``yield``, ``await``;
- NAME is only ever called (``NAME(...)``): the function object itself is never seen by the code,
  so no state can be attached to it;
- every other name it uses is another hoisted function (called), or a name the rest of the code
  never binds (a built-in, the function's own parameters and locals, or a global the code
  creates, looked up at run time either way), and none of the run's variables (``$input``...).

Anything the token-level check cannot vouch for is left alone (the code runs as before).
"""

from __future__ import annotations

from dataclasses import dataclass

from relayflow.expressions.lexer import Token
from relayflow.expressions.template import VARIABLES

_FORBIDDEN = frozenset(
    {"this", "arguments", "eval", "with", "super", "yield", "await", "async", "import", "export", "debugger"}
)
_KEYWORDS = frozenset(
    """return if else for while do let const var new typeof instanceof in of break continue switch case
    default throw try catch finally true false null delete void function""".split()  # noqa: SIM905
)
_RUN_PARAMS = frozenset(VARIABLES) | {"items", "item", "getWorkflowStaticData"}
_OPEN = {"(": ")", "[": "]", "{": "}"}
_STATEMENT_END = frozenset({";", "}"})
# what may follow a name that is read, never one that is declared
_OPERATORS = frozenset(
    """. ?. ( [ + - * / % ** < > <= >= == != === !== && || ?? & | ^ << >> >>> ?""".split()  # noqa: SIM905
)


@dataclass
class _Candidate:
    name: str
    first: int  # token index of ``function``
    last: int  # token index of the closing ``}``


def _utf16(src: str, index: int) -> int:
    head = src[:index]
    return len(head) if head.isascii() else len(head.encode("utf-16-le")) // 2


def _is_punct(t: Token, *values: str) -> bool:
    return t.kind == "punct" and t.value in values


def _closing(tokens: list[Token], k: int) -> int:
    """Index of the bracket closing the one at ``k``, or -1."""
    depth = 0
    for j in range(k, len(tokens)):
        t = tokens[j]
        if t.kind == "punct" and t.value in _OPEN:
            depth += 1
        elif t.kind == "punct" and t.value in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return j
    return -1


def _starts_statement(src: str, tokens: list[Token], k: int) -> bool:
    """``function`` at ``k`` begins a declaration statement (not an expression, not Annex B)."""
    if k == 0:
        return True
    prev = tokens[k - 1]
    if _is_punct(prev, *_STATEMENT_END):
        return True
    if "\n" not in src[prev.end : tokens[k].start]:
        return False
    # a new line after a complete expression: automatic semicolon insertion
    if prev.kind in ("num", "str", "regex") or _is_punct(prev, "]"):
        return True
    if prev.kind == "tpl":
        return prev.value.endswith("`")
    return prev.kind == "ident" and prev.value not in _KEYWORDS and prev.value not in _FORBIDDEN


def _candidates(src: str, tokens: list[Token]) -> list[_Candidate]:
    found: list[_Candidate] = []
    depth, k = 0, 0
    while k < len(tokens) - 1:
        t = tokens[k]
        if t.kind == "punct" and t.value in _OPEN:
            depth += 1
        elif _is_punct(t, ")", "]", "}"):
            depth -= 1
        elif depth == 0 and t.kind == "ident" and t.value == "function" and _starts_statement(src, tokens, k):
            name, paren = tokens[k + 1], tokens[k + 2] if k + 2 < len(tokens) else tokens[-1]
            close = _closing(tokens, k + 2) if name.kind == "ident" and _is_punct(paren, "(") else -1
            if close > 0 and _is_punct(tokens[close + 1], "{"):
                end = _closing(tokens, close + 1)
                if end > 0:
                    found.append(_Candidate(name.value, k, end))
                    k = end + 1
                    continue
        k += 1
    return found


class _Uses:
    """Where each name occurs as an identifier (property names after ``.`` excluded)."""

    def __init__(self, src: str, tokens: list[Token]) -> None:
        self.src = src
        self.tokens = tokens
        self.at: dict[str, list[int]] = {}
        for j, t in enumerate(tokens):
            if t.kind == "ident" and not (j and _is_punct(tokens[j - 1], ".", "?.")):
                self.at.setdefault(t.value, []).append(j)

    def called(self, j: int) -> bool:
        """The identifier at ``j`` is the callee of a call (not ``new``)."""
        nxt = self.tokens[j + 1]
        return _is_punct(nxt, "(") and not (j and self.tokens[j - 1].value == "new")

    def key(self, j: int) -> bool:
        """The identifier at ``j`` is an object key (``{x: 1}``)."""
        return _is_punct(self.tokens[j + 1], ":") and j > 0 and _is_punct(self.tokens[j - 1], "{", ",")

    def reads(self, j: int) -> bool:
        """The identifier at ``j`` cannot be a binding (``x + 1``, ``Math.max``, ``{x: 1}``)."""
        nxt, prev = self.tokens[j + 1], self.tokens[j - 1] if j else None
        if self.key(j):
            return True
        if not (_is_punct(nxt, *_OPERATORS) or (nxt.kind == "ident" and nxt.value == "instanceof")):
            return False
        if prev is not None and prev.value in ("function", "*", "let", "const", "var", "class"):
            return False
        # on the same line: no automatic semicolon can end a declaration before the operator
        return "\n" not in self.src[self.tokens[j].end : nxt.start]


def _acceptable(c: _Candidate, hoisted: set[str], uses: _Uses, scopes: list[range]) -> bool:
    """``scopes``: the token ranges of all top-level function declarations; a name inside one
    of them cannot bind anything in the code's top-level scope."""
    decls = [j for j in uses.at.get(c.name, []) if j and uses.tokens[j - 1].value == "function"]
    if decls != [c.first + 1] or c.name in _RUN_PARAMS or c.name in _KEYWORDS:
        return False
    if not all(uses.called(j) or uses.key(j) for j in uses.at[c.name] if j != c.first + 1):
        return False

    def top_level(o: int) -> bool:
        return not any(o in r for r in scopes)

    for j in range(c.first + 2, c.last + 1):
        t = uses.tokens[j]
        if t.kind != "ident" or (j and _is_punct(uses.tokens[j - 1], ".", "?.")):
            continue
        v = t.value
        if v in _FORBIDDEN or (v == "new" and _is_punct(uses.tokens[j + 1], ".")):
            return False
        if v in _KEYWORDS:
            continue
        if v in hoisted:
            if not uses.called(j):
                return False
        # anything else resolves inside the function or to a global, unless the code binds it
        elif v in _RUN_PARAMS or not all(uses.reads(o) for o in uses.at[v] if top_level(o)):
            return False
    return True


def hoistable(src: str, tokens: list[Token]) -> list[tuple[str, int, int]]:
    """The top-level functions of ``src`` that may be created once: (name, start, end) with
    UTF-16 offsets of the declaration (what JavaScript's string indexes count)."""
    if any(t.kind == "str" and t.value == "use strict" for t in tokens):
        return []
    found = _candidates(src, tokens)
    if not found:
        return []
    uses = _Uses(src, tokens)
    keep = {c.name: c for c in found}
    scopes = [range(c.first + 2, c.last + 1) for c in found]
    changed = True
    while changed:
        changed = False
        for name, c in list(keep.items()):
            if not _acceptable(c, set(keep), uses, scopes):
                del keep[name]
                changed = True
    return [
        (c.name, _utf16(src, tokens[c.first].start), _utf16(src, tokens[c.last].end))
        for c in found
        if c.name in keep
    ]
