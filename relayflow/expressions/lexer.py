"""A small JavaScript tokenizer.

It serves three purposes: the Python fast path parses simple expressions from its tokens, the
static analysis finds ``$('Node')`` references, and the extension-method rewrite finds
``.name(`` calls outside strings, comments and regular expressions. It does not validate
JavaScript (V8 does that); on input it cannot tokenize it raises ``LexError`` and callers fall
back to safe behaviour (no fast path, no rewrite).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class LexError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident | num | str | tpl | regex | punct | eof
    value: str  # identifier name, decoded string, punctuator, or raw text
    start: int
    end: int


_IDENT = re.compile(r"[A-Za-z_$\u00a0-\uffff][\w$\u00a0-\uffff]*")
_NUMBER = re.compile(
    r"(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)n?"
)
_PUNCT = sorted(
    """>>>= ... === !== **= <<= >>= >>> ?.  && || ?? == != <= >= => ++ -- += -= *= /= %= &= |= ^= ** << >>
    &&= ||= ??= { } ( ) [ ] ; , < > + - * / % & | ^ ! ~ ? : = . @ #""".split(),  # noqa: SIM905
    key=len,
    reverse=True,
)
# A "/" after one of these starts a division, anywhere else a regular expression.
_VALUE_END_PUNCT = frozenset({")", "]", "}"})
_KEYWORDS_BEFORE_EXPR = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _read_string(src: str, i: int) -> tuple[str, int]:
    quote = src[i]
    out: list[str] = []
    i += 1
    n = len(src)
    while i < n:
        c = src[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            if i >= n:
                break
            e = src[i]
            if e == "x":
                out.append(chr(int(src[i + 1 : i + 3], 16)))
                i += 3
                continue
            if e == "u":
                if src[i + 1 : i + 2] == "{":
                    close = src.index("}", i)
                    out.append(chr(int(src[i + 2 : close], 16)))
                    i = close + 1
                    continue
                out.append(chr(int(src[i + 1 : i + 5], 16)))
                i += 5
                continue
            if e in "\r\n":  # line continuation
                i += 1
                continue
            out.append(_ESCAPES.get(e, e))
            i += 1
            continue
        if c in "\r\n":
            break
        out.append(c)
        i += 1
    raise LexError("unterminated string literal")


def _read_regex(src: str, i: int) -> int:
    in_class = False
    i += 1
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c in "\r\n":
            break
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "/":
            i += 1
            while i < n and (src[i].isalnum() or src[i] in "_$"):
                i += 1
            return i
        i += 1
    raise LexError("unterminated regular expression")


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens: list[Token] = []
        # brace depth stack: each entry is the depth at which a template substitution opened
        self.tpl_stack: list[int] = []
        self.depth = 0

    def regex_allowed(self) -> bool:
        if not self.tokens:
            return True
        last = self.tokens[-1]
        if last.kind in ("num", "str", "regex"):
            return False
        if last.kind == "tpl":
            return last.value.endswith("${")
        if last.kind == "ident":
            return last.value in _KEYWORDS_BEFORE_EXPR
        return last.value not in _VALUE_END_PUNCT or last.value == "}"

    def template(self, i: int) -> int:
        """Scan template text from ``i`` (just after ` or }) to the closing ` or a ``${``."""
        src, n, start = self.src, len(self.src), i - 1
        while i < n:
            c = src[i]
            if c == "\\":
                i += 2
                continue
            if c == "`":
                self.tokens.append(Token("tpl", src[start : i + 1], start, i + 1))
                return i + 1
            if c == "$" and src[i + 1 : i + 2] == "{":
                self.tokens.append(Token("tpl", src[start : i + 2], start, i + 2))
                self.tpl_stack.append(self.depth)
                self.depth += 1
                return i + 2
            i += 1
        raise LexError("unterminated template literal")

    def run(self) -> list[Token]:
        src, n, i = self.src, len(self.src), 0
        while i < n:
            c = src[i]
            if c in " \t\r\n\u00a0\ufeff\u2028\u2029":
                i += 1
            elif src.startswith("//", i):
                j = src.find("\n", i)
                i = n if j < 0 else j
            elif src.startswith("/*", i):
                j = src.find("*/", i + 2)
                if j < 0:
                    raise LexError("unterminated comment")
                i = j + 2
            elif c in "\"'":
                value, j = _read_string(src, i)
                self.tokens.append(Token("str", value, i, j))
                i = j
            elif c == "`":
                i = self.template(i + 1)
            elif c.isdigit() or (c == "." and src[i + 1 : i + 2].isdigit()):
                m = _NUMBER.match(src, i)
                if m is None:  # pragma: no cover - the regex matches any digit
                    raise LexError("bad number")
                self.tokens.append(Token("num", m.group(), i, m.end()))
                i = m.end()
            elif c == "/" and self.regex_allowed():
                j = _read_regex(src, i)
                self.tokens.append(Token("regex", src[i:j], i, j))
                i = j
            else:
                m = _IDENT.match(src, i)
                if m is not None:
                    self.tokens.append(Token("ident", m.group(), i, m.end()))
                    i = m.end()
                    continue
                i = self.punct(i)
        if self.tpl_stack:
            raise LexError("unterminated template literal")
        self.tokens.append(Token("eof", "", n, n))
        return self.tokens

    def punct(self, i: int) -> int:
        src = self.src
        for p in _PUNCT:
            if src.startswith(p, i):
                if p == "?." and src[i + 2 : i + 3].isdigit():
                    continue  # a ? .5 : b
                if p == "{":
                    self.depth += 1
                elif p == "}":
                    self.depth -= 1
                    if self.tpl_stack and self.tpl_stack[-1] == self.depth:
                        self.tpl_stack.pop()
                        return self.template(i + 1)
                self.tokens.append(Token("punct", p, i, i + len(p)))
                return i + len(p)
        raise LexError(f"unexpected character {src[i]!r}")


def tokenize(src: str) -> list[Token]:
    """Tokens of ``src`` ending with an ``eof`` token; raises LexError."""
    return _Lexer(src).run()
