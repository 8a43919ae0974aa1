"""n8n's Python Code variables, and running the user's code once (all items) or per item.

The code is a function body: it may ``return`` at top level (and ``await``). Items and their
``json`` are dicts that also allow attribute access (``item.json.name``) and ``.to_py()``, as
the Pyodide proxies of n8n's ``python`` language did; ``pythonNative`` code uses brackets,
which work as well.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import io
import json
import resource
import sys
import types
from datetime import datetime
from decimal import Decimal
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the sandbox always has it; plain json keeps working
    _orjson = None  # type: ignore[assignment]

FILENAME = "<python code>"
_FUNC = "__n8n_code__"
_TRIM_LOG_CHARS = 2000


# ---- JSON ---------------------------------------------------------------------------------------
def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def loads(raw: bytes) -> Any:
    return _orjson.loads(raw) if _orjson is not None else json.loads(raw)


def dumps(value: Any) -> bytes:
    if _orjson is not None:
        opts = _orjson.OPT_NON_STR_KEYS | _orjson.OPT_SERIALIZE_NUMPY
        return _orjson.dumps(value, default=_default, option=opts)
    return json.dumps(value, default=_default).encode()


class JsonDict(dict[str, Any]):
    """A dict that also reads and writes its keys as attributes (``item.json.name``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no key {name!r} (keys: {', '.join(map(str, self)) or 'none'})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_py(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.items()}


class JsonList(list[Any]):
    __slots__ = ()

    def to_py(self) -> list[Any]:
        return [_plain(v) for v in self]


def wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return JsonDict((k, wrap(v)) for k, v in value.items())
    if isinstance(value, list):
        return JsonList(wrap(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ---- n8n's variables ----------------------------------------------------------------------------
class Input:
    """``_input``: ``all()``, ``first()``, ``last()``, and ``item`` when run for each item."""

    def __init__(self, items: list[Any], each: bool) -> None:
        self._items = items
        self._each = each
        self._item: Any = None

    def all(self) -> list[Any]:
        return self._items

    def first(self) -> Any:
        return self._items[0] if self._items else None

    def last(self) -> Any:
        return self._items[-1] if self._items else None

    @property
    def item(self) -> Any:
        if not self._each:
            raise RuntimeError(
                "_input.item exists only when the node runs once for each item; "
                "use _input.all() or _input.first() in 'Run Once for All Items' mode"
            )
        return self._item


def _other_node(*_: Any) -> Any:
    raise NotImplementedError(
        "_('Node name') is not available in relayflow's Python Code node: "
        "use the items that reach this node (_input.all())"
    )


# ---- output capture -----------------------------------------------------------------------------
class OutputLimitExceeded(BaseException):
    """Raised in the code when its printed output passes the cap (not an Exception: plain
    ``except Exception`` in user code does not swallow it)."""


class Capture(io.TextIOBase):
    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self.used = 0
        self.exceeded = False
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.exceeded:
            raise OutputLimitExceeded(self.message())
        self.used += len(text.encode("utf-8", "replace"))
        if self.used > self.cap_bytes:
            self.exceeded = True
            raise OutputLimitExceeded(self.message())
        self.parts.append(text)
        return len(text)

    def message(self) -> str:
        return (
            f"the code's output (printed text and returned items) is larger than the limit of "
            f"{self.cap_bytes} bytes (RELAYFLOW_CODE_MAX_OUTPUT_BYTES)"
        )

    def lines(self) -> list[str]:
        lines = "".join(self.parts).split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines


# ---- import policy ------------------------------------------------------------------------------
class ImportPolicy:
    """The code may import the standard library and the operator's allowed modules; modules
    those import for themselves are not checked. Not a security boundary: the sandbox is."""

    def __init__(self, allowed: list[str]) -> None:
        self.allowed = frozenset(sys.stdlib_module_names) | frozenset(allowed)
        self._real_import = builtins.__import__

    def check(self, name: str) -> None:
        top = name.partition(".")[0]
        if top not in self.allowed:
            raise ImportError(
                f"import of {top!r} is not allowed: the Python Code node may import the standard "
                "library and the modules the operator lists in RELAYFLOW_CODE_ALLOW_MODULES",
                name=name,
            )

    def guarded_import(
        self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        if level == 0:
            self.check(name)
        return self._real_import(name, globals, locals, fromlist, level)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        """A meta-path hook for ``importlib.import_module`` called from the code itself."""
        frame = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            if not (filename.startswith("<frozen importlib") or filename in _MACHINERY):
                if filename == FILENAME:
                    self.check(fullname)
                return None
            frame = frame.f_back  # type: ignore[assignment]
        return None

    def install(self) -> dict[str, Any]:
        """Forget modules the code may not import (so the cache does not bypass the policy) and
        return the builtins the code runs with."""
        for name in list(sys.modules):
            top = name.partition(".")[0]
            if top not in self.allowed and top != __name__.partition(".")[0]:
                del sys.modules[name]
        sys.meta_path.insert(0, self)  # type: ignore[arg-type]
        code_builtins = dict(builtins.__dict__)
        code_builtins["__import__"] = self.guarded_import
        return code_builtins


_MACHINERY = {__file__, importlib.__file__}


# ---- running ------------------------------------------------------------------------------------
def compile_code(source: str) -> types.CodeType:
    """The code as the body of a function (top-level ``return`` and ``await``), lines kept."""
    tree = ast.parse(source, FILENAME)
    is_async = any(isinstance(n, ast.Await | ast.AsyncFor | ast.AsyncWith) for n in _top_level(tree))
    kind = ast.AsyncFunctionDef if is_async else ast.FunctionDef
    args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
    fn = kind(name=_FUNC, args=args, body=tree.body or [ast.Pass()], decorator_list=[], returns=None)
    module = ast.Module(body=[fn], type_ignores=[])
    ast.fix_missing_locations(module)
    return compile(module, FILENAME, "exec")


def _top_level(tree: ast.AST) -> list[ast.AST]:
    """Nodes outside nested functions and classes."""
    out: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return out


def _call(fn: Any) -> Any:
    result = fn()
    if isinstance(result, types.CoroutineType):
        import asyncio  # only code that awaits pays for it

        return asyncio.run(result)
    return result


def describe_error(exc: BaseException) -> dict[str, Any]:
    line: int | None = None
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        line = exc.lineno
        message = exc.msg
    else:
        message = str(exc)
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == FILENAME:
                line = tb.tb_lineno
            tb = tb.tb_next
    return {"type": type(exc).__name__, "message": message, "line": line}


def _globals(request: dict[str, Any], items: list[Any], code_builtins: dict[str, Any]) -> dict[str, Any]:
    now = datetime.fromisoformat(request["now"]) if request.get("now") else datetime.now().astimezone()
    return {
        "__builtins__": code_builtins,
        "__name__": "__n8n_code__",
        "_input": Input(items, request["mode"] == "each"),
        "_items": items,
        "_node": wrap(request.get("node") or {}),
        "_workflow": wrap(request.get("workflow") or {}),
        "_execution": wrap(request.get("execution") or {}),
        "_runIndex": request.get("runIndex", 0),
        "_now": now,
        "_today": now.replace(hour=0, minute=0, second=0, microsecond=0),
        "_": _other_node,
    }


def _run_each(fn: Any, scope: dict[str, Any], items: list[Any], keep_going: bool) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    inp: Input = scope["_input"]
    for index, item in enumerate(items):
        inp._item = item
        scope.update(_item=item, _json=item.get("json") if isinstance(item, dict) else None)
        try:
            results.append({"i": index, "ok": _call(fn)})
        except Exception as exc:  # the user's code failed: report it
            err = {**describe_error(exc), "item": index}
            if not keep_going:
                return {"results": results, "err": err}
            results.append({"i": index, "err": err})
    return {"results": results}


def _execute(request: dict[str, Any], code_builtins: dict[str, Any]) -> dict[str, Any]:
    items = wrap(request.get("items") or [])
    scope = _globals(request, items, code_builtins)
    try:
        exec(compile_code(request["code"]), scope)  # this is the Code node
    except SyntaxError as exc:
        return {"results": [], "err": describe_error(exc)}
    fn = scope.pop(_FUNC)
    if request["mode"] == "each":
        return _run_each(fn, scope, items, bool(request.get("continueOnFail")))
    try:
        return {"results": [_call(fn)]}
    except Exception as exc:  # the user's code failed: report it
        return {"results": [], "err": describe_error(exc)}


def run(raw: bytes, config: dict[str, Any]) -> bytes:
    """Run one request (JSON) and return the response (JSON), never larger than the cap."""
    request: dict[str, Any] = loads(raw)
    cap = int(request.get("maxOutputBytes") or config["max_output_bytes"])
    cpu_s = int(request.get("cpuSeconds") or 0)
    if cpu_s > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    capture = Capture(cap)
    code_builtins = ImportPolicy(list(config.get("allow") or [])).install()
    sys.stdout = sys.stderr = capture
    try:
        response = _execute(request, code_builtins)
    except OutputLimitExceeded:
        response = {"results": []}
    except BaseException as exc:  # SystemExit and the like end the run as errors
        response = {"results": [], "err": describe_error(exc)}
    if capture.exceeded:
        response = {"results": [], "err": {"type": "OutputLimitExceeded", "message": capture.message()}}
    response["logs"] = capture.lines()
    try:
        out = dumps(response)
    except TypeError as exc:
        err = {"type": "TypeError", "message": f"the code returned a value that is not JSON: {exc}"}
        out = dumps({"results": [], "err": err, "logs": response["logs"]})
    if len(out) > cap:
        err = {"type": "OutputLimitExceeded", "message": capture.message()}
        logs = [line[:_TRIM_LOG_CHARS] for line in response["logs"][:20]]
        out = dumps({"results": [], "err": err, "logs": logs})
    return out
