"""The Python fast path: simple templates compiled to closures with JavaScript semantics (which
``fastgen`` turns into one generated Python function per template).

Understood: literals; ``$json`` / ``$binary`` / ``$input.item`` / ``$input.first()`` /
``$input.last()`` member chains (``.a``, ``["a b"]``, ``[0]``, ``?.``); ``$('X').item|first()|last()``
and ``$node["X"]``; ``$itemIndex``, ``$position``, ``$runIndex``; ``$execution``, ``$workflow``,
``$prevNode`` fields and ``$vars``; unary ``- + ! typeof``; ``+ - * / %``; comparisons;
``&& || ??`` and ``? :``. Anything else does not compile here (the template goes to V8), and
whatever the closures cannot answer exactly at run time raises ``Fallback`` (the batch goes to V8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayflow.expressions import jsvalue as jsv
from relayflow.expressions.fastops import (
    Ev,
    Frame,
    chain,
    combine,
    const,
    item_binary,
    item_json,
    legacy_node_item,
    node_output_item,
    paired,
    tag,
)
from relayflow.expressions.jsvalue import UNDEFINED, Fallback
from relayflow.expressions.lexer import Token


class NotSimple(Exception):
    """The expression is outside the fast path's subset."""


_BINARY_PREC = {
    "||": 1, "??": 1, "&&": 2,
    "==": 3, "!=": 3, "===": 3, "!==": 3,
    "<": 4, "<=": 4, ">": 4, ">=": 4,
    "+": 5, "-": 5, "*": 6, "/": 6, "%": 6,
}  # fmt: skip
_META_FIELDS = {
    "$execution": ("execution", frozenset({"id", "mode", "resumeUrl"})),
    "$workflow": ("workflow", frozenset({"id", "name", "active"})),
}


def _number(text: str) -> int | float:
    if "_" in text or text.endswith("n"):
        raise NotSimple
    low = text.lower()
    if low.startswith(("0x", "0b", "0o")):
        v = int(text[2:], {"x": 16, "b": 2, "o": 8}[low[1]])
        return v if v <= jsv.MAX_SAFE_INT else float(v)
    if len(text) > 1 and text[0] == "0" and text[1].isdigit():
        raise NotSimple  # legacy octal
    if "." in text or "e" in low:
        return float(text)
    v = int(text)
    return v if v <= jsv.MAX_SAFE_INT else float(v)


def _unary(op: str, arg: Ev) -> Ev:
    if op == "-":
        return lambda f, it, i: jsv.neg(arg(f, it, i))
    if op == "+":
        return lambda f, it, i: jsv.to_number(arg(f, it, i))
    if op == "!":
        return lambda f, it, i: not jsv.truthy(arg(f, it, i))
    return lambda f, it, i: jsv.type_of(arg(f, it, i))


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.k = 0

    # helpers -----------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.t[min(self.k + ahead, len(self.t) - 1)]

    def take(self) -> Token:
        tok = self.t[self.k]
        self.k += 1
        return tok

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok.kind in ("punct", "ident") and tok.value == value:
            self.k += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise NotSimple

    def string(self) -> str:
        tok = self.take()
        if tok.kind != "str":
            raise NotSimple
        return tok.value

    # grammar -----------------------------------------------------------------------------------
    def parse(self) -> Ev:
        ev = self.conditional()
        if self.peek().kind != "eof":
            raise NotSimple
        return ev

    def conditional(self) -> Ev:
        test = self.binary(1)
        if not self.accept("?"):
            return test
        yes = self.conditional()
        self.expect(":")
        no = self.conditional()
        ev: Ev = lambda f, it, i: yes(f, it, i) if jsv.truthy(test(f, it, i)) else no(f, it, i)  # noqa: E731
        return tag(ev, "cond", test, yes, no)

    def binary(self, min_prec: int) -> Ev:
        return self._binary(min_prec)[0]

    def _binary(self, min_prec: int) -> tuple[Ev, str | None]:
        """An operand chain; also its top-level operator (JavaScript refuses ``a ?? b || c``)."""
        left, left_op = self.unary(), None
        while True:
            tok = self.peek()
            prec = _BINARY_PREC.get(tok.value) if tok.kind == "punct" else None
            if prec is None or prec < min_prec:
                return left, left_op
            self.k += 1
            right, right_op = self._binary(prec + 1)
            op = tok.value
            ops = {left_op, right_op}
            if (op == "??" and ops & {"&&", "||"}) or (op in ("&&", "||") and "??" in ops):
                raise NotSimple  # a SyntaxError: V8 reports it
            left, left_op = combine(op, left, right), op

    def unary(self) -> Ev:
        tok = self.peek()
        if tok.value in ("-", "+", "!", "typeof") and tok.kind in ("punct", "ident"):
            self.k += 1
            arg = self.unary()
            return tag(_unary(tok.value, arg), "unary", tok.value, arg)
        return self.postfix(self.primary())

    def postfix(self, base: Ev) -> Ev:
        steps: list[tuple[bool, Ev]] = []  # (optional, key)
        while True:
            tok = self.peek()
            if tok.kind != "punct" or tok.value not in (".", "?.", "["):
                break
            optional = tok.value == "?."
            self.k += 1
            if tok.value == "[" or (optional and self.peek().value == "["):
                if optional:
                    self.k += 1
                key = self.conditional()
                self.expect("]")
            else:
                name = self.take()
                if name.kind != "ident":
                    raise NotSimple
                key = const(name.value)
            if self.peek().value in ("(", "`"):
                raise NotSimple  # a method call
            steps.append((optional, key))
        if not steps:
            return base
        return chain(base, tuple(steps))

    def primary(self) -> Ev:
        tok = self.take()
        if tok.kind == "num":
            return const(_number(tok.value))
        if tok.kind == "str":
            return const(tok.value)
        if tok.kind == "tpl":
            if not (tok.value.startswith("`") and tok.value.endswith("`")) or len(tok.value) < 2:
                raise NotSimple
            body = tok.value[1:-1]
            if "\\" in body or "${" in body:
                raise NotSimple
            return const(body.replace("\r\n", "\n"))
        if tok.kind == "punct" and tok.value == "(":
            inner = self.conditional()
            self.expect(")")
            return inner
        if tok.kind == "ident":
            return self.identifier(tok.value)
        raise NotSimple

    def identifier(self, name: str) -> Ev:
        consts = {"true": True, "false": False, "null": None, "undefined": UNDEFINED,
                  "NaN": float("nan"), "Infinity": float("inf")}  # fmt: skip
        if name in consts:
            return const(consts[name])
        if name == "$json":
            return item_json
        if name == "$binary":
            return item_binary
        if name in ("$itemIndex", "$position"):
            return tag(lambda f, it, i: i, "index")
        if name == "$runIndex":
            return lambda f, it, i: f.scope.run_index
        if name == "$vars":
            return lambda f, it, i: f.scope.vars
        if name in _META_FIELDS:
            return self.meta(name)
        if name == "$prevNode":
            return self.prev_node()
        if name == "$input":
            return self.input_item()
        if name in ("$", "$node"):
            return self.node_ref(name)
        raise NotSimple

    def meta(self, name: str) -> Ev:
        attr, allowed = _META_FIELDS[name]
        self.expect(".")
        field = self.take().value
        if field not in allowed:
            raise NotSimple
        return lambda f, it, i: getattr(f.scope, attr).get(field, UNDEFINED)

    def prev_node(self) -> Ev:
        self.expect(".")
        field = self.take().value

        def get(f: Frame, it: dict[str, Any], i: int) -> Any:
            s = f.scope
            if s.prev_node is None:
                raise Fallback
            return {"name": s.prev_node, "outputIndex": s.prev_output, "runIndex": s.prev_run}[field]

        if field not in ("name", "outputIndex", "runIndex"):
            raise NotSimple
        return get

    def input_item(self) -> Ev:
        self.expect(".")
        how = self.take().value
        if how in ("first", "last"):
            self.expect("(")
            self.expect(")")
            pick = 0 if how == "first" else -1

            def item(f: Frame, it: dict[str, Any], i: int) -> Any:
                if not f.items:
                    raise Fallback
                return f.items[pick]

            return self.item_field(item)
        if how != "item":
            raise NotSimple
        self.expect(".")
        field = self.take().value
        if field not in ("json", "binary"):
            raise NotSimple
        return item_json if field == "json" else item_binary  # the current item's

    def item_field(self, item: Callable[[Frame, dict[str, Any], int], Any]) -> Ev:
        """``.json`` or ``.binary`` of an item-valued expression."""
        self.expect(".")
        field = self.take().value
        if field == "json":
            return lambda f, it, i: item_json(f, item(f, it, i), i)
        if field == "binary":
            return lambda f, it, i: item_binary(f, item(f, it, i), i)
        raise NotSimple

    def node_ref(self, kind: str) -> Ev:
        if kind == "$":
            self.expect("(")
            node = self.string()
            self.expect(")")
            self.expect(".")
            how = self.take().value
            if how in ("first", "last"):
                self.expect("(")
                self.expect(")")
                return self.item_field(node_output_item(node, 0 if how == "first" else -1))
            if how != "item":
                raise NotSimple
            return self.item_field(paired(node))
        if self.accept("["):
            node = self.string()
            self.expect("]")
        else:
            self.expect(".")
            tok = self.take()
            if tok.kind != "ident":
                raise NotSimple
            node = tok.value
        return self.item_field(legacy_node_item(node))


def compile_expression(tokens: list[Token]) -> Ev:
    """A closure for one ``{{ }}`` body, or NotSimple."""
    if len(tokens) <= 1:
        return const(UNDEFINED)
    return _Parser(tokens).parse()
