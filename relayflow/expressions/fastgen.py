"""The fast path's code generator: one compiled Python function per template, over a column.

The closures ``fastpath.py`` builds describe themselves (``fastops.tag``); from that description
this module writes the Python source of a loop over a batch of items, with the common cases
inline and type-specialised (``type(v) is int`` → native arithmetic, a ``$json.key`` read → one
``dict.get``) and the exact JavaScript helpers of ``jsvalue`` everywhere else. A closure without a
description is called as it is. Each item runs in its own ``try``: an item the code cannot answer
exactly (``Fallback``, ...) gets ``None`` in ``out`` and its position in ``missing`` (for V8).

The generated function is ``batch(f, ids, its, out, missing)``: ``its`` the items, ``ids`` their
indexes (only read when the template uses ``$itemIndex`` or a closure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayflow.expressions import jsvalue as jsv
from relayflow.expressions.fastops import ARITH, Ev, Frame, member, node_of
from relayflow.expressions.jsvalue import OBJECT_PROTO_NAMES, UNDEFINED, Fallback

Batch = Callable[[Frame, Any, list[dict[str, Any]], list[Any], list[int]], None]
ERRORS = (Fallback, ArithmeticError, TypeError, ValueError, RecursionError, KeyError, IndexError)
_MAX = jsv.MAX_SAFE_INT
_COMPARE_OPS = frozenset({"<", "<=", ">", ">=", "===", "!==", "==", "!="})
_EQUALITY = {"===": "==", "==": "==", "!==": "!=", "!=": "!="}


def _as_json(j: Any) -> dict[str, Any]:
    return j if isinstance(j, dict) else {}


_HELPERS: dict[str, Any] = {
    "Fallback": Fallback, "U": UNDEFINED, "M": object(), "ERRORS": ERRORS, "as_json": _as_json,
    "member": member, "truthy": jsv.truthy, "neg": jsv.neg, "to_number": jsv.to_number,
    "type_of": jsv.type_of, "export": jsv.export, "interpolate": jsv.interpolate, "compare": jsv.compare,
}  # fmt: skip
_OP_HELPER = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod", "===": "strict_eq",
              "==": "loose_eq", "!==": "strict_ne", "!=": "loose_ne"}  # fmt: skip
_HELPERS.update({name: ARITH[op] for op, name in _OP_HELPER.items()})


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ns: dict[str, Any] = dict(_HELPERS)
        self.count = 0
        self.uses_json = False
        self.uses_index = False

    def tmp(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def emit(self, ind: int, text: str) -> None:
        self.lines.append("    " * ind + text)

    def bind(self, obj: Any) -> str:
        name = f"K{len(self.ns)}"
        self.ns[name] = obj
        return name

    def literal(self, v: Any) -> str:
        if v is None or type(v) in (bool, str) or (type(v) is int and -_MAX <= v <= _MAX):
            return repr(v)
        return self.bind(v)

    # expressions: each returns an atom (a local name or a literal) holding the value -----------
    def expr(self, ev: Ev, ind: int) -> str:
        node = node_of(ev)
        if node is None:
            return self.opaque(ev, ind)
        kind = node[0]
        if kind == "const":
            return self.literal(node[1])
        if kind == "json":
            self.uses_json = True
            return "J"
        if kind == "index":
            self.uses_index = True
            return "i"
        if kind == "chain":
            return self.chain(node[1], node[2], ind)
        if kind == "binary":
            return self.binary(node[1], node[2], node[3], ind)
        if kind == "cond":
            return self.cond(node[1], node[2], node[3], ind)
        if kind == "unary":
            return self.unary(node[1], node[2], ind)
        return self.opaque(ev, ind)

    def opaque(self, ev: Ev, ind: int) -> str:
        self.uses_index = True
        dst = self.tmp()
        self.emit(ind, f"{dst} = {self.bind(ev)}(f, it, i)")
        return dst

    def branch(self, ev: Ev, dst: str, ind: int) -> None:
        """Evaluate ``ev`` into ``dst`` (inside an if/else block at ``ind``)."""
        self.emit(ind, f"{dst} = {self.expr(ev, ind)}")

    def chain(self, base: Ev, steps: tuple[tuple[bool, Ev], ...], ind: int) -> str:
        src = self.expr(base, ind)
        known_dict = node_of(base) == ("json",)
        dst = self.tmp()
        for optional, key in steps:
            if optional:
                self.emit(ind, f"if {src} is None or {src} is U:")
                self.emit(ind + 1, f"{dst} = U")
                self.emit(ind, "else:")
                ind += 1
            k = node_of(key)
            if k is not None and k[0] == "const" and type(k[1]) is str:
                self.key(src, dst, k[1], known_dict, ind)
            else:
                self.emit(ind, f"{dst} = member({src}, {self.expr(key, ind)})")
            src, known_dict = dst, False
        return dst

    def key(self, src: str, dst: str, key: str, known_dict: bool, ind: int) -> None:
        """``dst = src[key]`` with JavaScript's rules: the dict case inline, the rest via ``member``."""
        if not known_dict:
            self.emit(ind, f"if type({src}) is not dict:")
            self.emit(ind + 1, f"{dst} = member({src}, {key!r})")
            self.emit(ind, "else:")
            ind += 1
        self.emit(ind, f"{dst} = {src}.get({key!r}, M)")
        self.emit(ind, f"if type({dst}) is int:")
        self.emit(ind + 1, f"if {dst} > {_MAX} or {dst} < -{_MAX}:")
        self.emit(ind + 2, "raise Fallback")
        self.emit(ind, f"elif {dst} is M:")
        # an inherited property (toString...) is not the data's: V8 answers
        self.emit(ind + 1, "raise Fallback" if key in OBJECT_PROTO_NAMES else f"{dst} = U")

    def truth(self, atom: str) -> str:
        return f"({atom} if type({atom}) is bool else truthy({atom}))"

    def cond(self, test: Ev, yes: Ev, no: Ev, ind: int) -> str:
        t = self.expr(test, ind)
        dst = self.tmp()
        self.emit(ind, f"if {self.truth(t)}:")
        self.branch(yes, dst, ind + 1)
        self.emit(ind, "else:")
        self.branch(no, dst, ind + 1)
        return dst

    def unary(self, op: str, arg: Ev, ind: int) -> str:
        a = self.expr(arg, ind)
        dst = self.tmp()
        if op == "!":
            self.emit(ind, f"{dst} = not {self.truth(a)}")
        elif op == "typeof":
            self.emit(ind, f"{dst} = type_of({a})")
        elif op == "+":
            self.emit(ind, f"{dst} = {a} if type({a}) is int or type({a}) is float else to_number({a})")
        else:
            self.emit(ind, f"if type({a}) is float or (type({a}) is int and {a} != 0):")
            self.emit(ind + 1, f"{dst} = -({a})")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"{dst} = neg({a})")
        return dst

    def binary(self, op: str, left: Ev, right: Ev, ind: int) -> str:
        a = self.expr(left, ind)
        dst = self.tmp()
        if op in ("&&", "||", "??"):
            if op == "??":
                self.emit(ind, f"if {a} is None or {a} is U:")
            else:
                self.emit(ind, f"if {'' if op == '&&' else 'not '}{self.truth(a)}:")
            self.branch(right, dst, ind + 1)
            self.emit(ind, "else:")
            self.emit(ind + 1, f"{dst} = {a}")
            return dst
        b = self.expr(right, ind)
        rc = node_of(right)
        const = rc[1] if rc is not None and rc[0] == "const" else None
        ta = self.tmp()
        self.emit(ind, f"{ta} = type({a})")
        if (type(const) is int or type(const) is float) and op in ("+", "-", "*"):
            self.with_number(op, a, b, const, ta, dst, ind)
        elif type(const) in (int, float):
            self.emit(ind, f"if {ta} is int or {ta} is float:")
            self.numbers(op, a, b, dst, ind + 1)
        elif type(const) is str and op in _EQUALITY:
            self.emit(ind, f"if {ta} is str:")
            self.emit(ind + 1, f"{dst} = {a} {_EQUALITY[op]} {b}")
        else:
            tb = self.tmp()
            self.emit(ind, f"{tb} = type({b})")
            if op in _EQUALITY:
                self.emit(ind, f"if {ta} is str and {tb} is str:")
                self.emit(ind + 1, f"{dst} = {a} {_EQUALITY[op]} {b}")
                self.emit(ind, f"elif ({ta} is int or {ta} is float) and ({tb} is int or {tb} is float):")
            else:
                self.emit(ind, f"if ({ta} is int or {ta} is float) and ({tb} is int or {tb} is float):")
            self.numbers(op, a, b, dst, ind + 1)
        self.emit(ind, "else:")
        self.emit(ind + 1, f"{dst} = {self.general(op, a, b)}")
        return dst

    @staticmethod
    def general(op: str, a: str, b: str) -> str:
        helper = _OP_HELPER.get(op)
        return f"{helper}({a}, {b})" if helper else f"compare({a}, {b}, {op!r})"

    def with_number(self, op: str, a: str, b: str, c: int | float, ta: str, dst: str, ind: int) -> None:
        """``x + 1``, ``x * 2``...: the commonest arithmetic. Floats: IEEE as in JavaScript; ints
        (safe) exactly, rounded to a double beyond 2^53; an int 0 times a negative is -0."""
        self.emit(ind, f"if {ta} is int{f' and {a} != 0' if op == '*' else ''}:")
        if op == "*" and c == 0:
            self.emit(ind + 1, f"{dst} = {self.general(op, a, b)}")
        else:
            self.emit(ind + 1, f"{dst} = {a} {op} {b}")
            if type(c) is int:
                self.emit(ind + 1, f"if {dst} > {_MAX} or {dst} < -{_MAX}:")
                self.emit(ind + 2, f"{dst} = float({dst})")
        self.emit(ind, f"elif {ta} is float:")
        self.emit(ind + 1, f"{dst} = {a} {op} {b}")

    def numbers(self, op: str, a: str, b: str, dst: str, ind: int) -> None:
        """Both operands are numbers (ints are safe): Python's IEEE arithmetic is JavaScript's,
        except where signed zeros, division by zero or overflow need the general rule."""
        if op in _COMPARE_OPS:
            self.emit(ind, f"{dst} = {a} {_EQUALITY.get(op, op)} {b}")
        elif op == "/":
            self.emit(ind, f"{dst} = {a} / {b} if {b} != 0 and -{_MAX} <= {a} <= {_MAX} else div({a}, {b})")
        elif op == "%":
            self.emit(ind, f"{dst} = mod({a}, {b})")
        else:
            if op == "*":
                self.emit(ind, f"if {a} == 0 or {b} == 0:")
                self.emit(ind + 1, f"{dst} = mul({a}, {b})")
                self.emit(ind, "else:")
                ind += 1
            self.emit(ind, f"{dst} = {a} {op} {b}")
            self.emit(ind, f"if type({dst}) is int and ({dst} > {_MAX} or {dst} < -{_MAX}):")
            self.emit(ind + 1, f"{dst} = float({dst})")


def generate(parts: list[tuple[str, Ev | None]], single: bool) -> tuple[str, dict[str, Any]]:
    """Python source of ``batch`` for a template, and its globals. ``parts``: (text, None) or
    ("", closure) per template part; ``single``: the one closure's value is the result."""
    g = _Gen()
    body_ind = 3
    if single:
        ev = next(e for _, e in parts if e is not None)
        r = g.expr(ev, body_ind)
        t = g.tmp()
        g.emit(body_ind, f"{t} = type({r})")
        g.emit(body_ind, f"if {t} is int or {t} is str or {t} is bool or {r} is None:")
        g.emit(body_ind + 1, f"out.append({r})")
        g.emit(body_ind, "else:")
        g.emit(body_ind + 1, f"out.append(export({r}))")
    else:
        pieces = []
        for text, e in parts:
            if e is None:
                pieces.append(repr(text))
                continue
            a = g.expr(e, body_ind)
            s = g.tmp()
            g.emit(body_ind, f"if type({a}) is str:")
            g.emit(body_ind + 1, f"{s} = {a}")
            g.emit(body_ind, f"elif type({a}) is int and -{_MAX} <= {a} <= {_MAX}:")
            g.emit(body_ind + 1, f"{s} = str({a})")
            g.emit(body_ind, "else:")
            g.emit(body_ind + 1, f"{s} = interpolate({a})")
            pieces.append(s)
        g.emit(body_ind, f"out.append({' + '.join(pieces) if pieces else repr('')})")
    head = ["def batch(f, ids, its, out, missing):"]
    head.append("    for i, it in zip(ids, its):" if g.uses_index else "    for it in its:")
    head.append("        try:")
    if g.uses_json:
        head += [
            '            J = it.get("json")',
            "            if type(J) is not dict:",
            "                J = as_json(J)",
        ]
    tail = ["        except ERRORS:", "            missing.append(len(out))", "            out.append(None)"]
    return "\n".join(head + g.lines + tail) + "\n", g.ns


def compile_batch(parts: list[tuple[str, Ev | None]], single: bool) -> Batch:
    """The compiled ``batch`` function of a template (see the module docstring)."""
    source, ns = generate(parts, single)
    exec(compile(source, "<relayflow fast path>", "exec"), ns)  # our own source, from the parsed template
    fn: Batch = ns["batch"]
    return fn


def closure_batch(fn: Ev) -> Batch:
    """A ``batch`` that calls a per-item closure (for templates Python cannot compile as source)."""

    def batch(f: Frame, ids: Any, its: list[dict[str, Any]], out: list[Any], missing: list[int]) -> None:
        for i, it in zip(ids, its, strict=True):
            try:
                v = fn(f, it, i)
            except ERRORS:
                missing.append(len(out))
                out.append(None)
                continue
            out.append(v)

    return batch
