// relayflow expression prelude, loaded last: make the context safe to reuse.
// - remove what expressions have no use for (WebAssembly, Atomics, FinalizationRegistry), replace
//   mini-racer's timers,
// - freeze every intrinsic reachable from the global object (prototype pollution cannot leak
//   into the next evaluation), keeping assignments such as obj.toString = f or this.name = 'X'
//   working on instances,
// - make the built-in globals read-only, and record the global names: anything a call adds is
//   deleted when it returns (see core.js cleanGlobals).
'use strict';
(function (G) {
  const RF = G.__rf;
  delete G.WebAssembly;
  // a finalizer runs in a task of its own, after the call that registered it has ended: outside
  // its time limit, and maybe during another execution's call
  delete G.FinalizationRegistry;

  // timers: our own, so that none outlives the call that set it (mini-racer's manager stays
  // unreachable, and so do Atomics, which could schedule wake-ups of their own)
  const SAB = G.SharedArrayBuffer, I32 = G.Int32Array, A = G.Atomics, waitAsync = G.Atomics.waitAsync;
  const live = new Set();
  let nextTimer = 1;
  function setTimeout(fn, delay, ...args) {
    if (typeof fn !== 'function') throw new TypeError('setTimeout expects a function');
    const id = nextTimer++;
    live.add(id);
    const wait = Reflect.apply(waitAsync, A, [new I32(new SAB(4)), 0, 0, Math.max(0, Number(delay) || 0)]);
    Promise.resolve(wait.value).then(() => { if (live.delete(id)) fn(...args); });
    return id;
  }
  function clearTimeout(id) { live.delete(id); }
  RF.clearTimers = () => live.clear();
  for (const [name, value] of [['setTimeout', setTimeout], ['clearTimeout', clearTimeout], ['__timer_manager', undefined]]) {
    Object.defineProperty(G, name, { value, writable: false });
  }
  delete G.Atomics;
  delete G.SharedArrayBuffer;

  // console: captured by the Code node (RF.logs), ignored elsewhere
  const logs = [];
  let logBytes = 0;
  function fmt(v) {
    if (typeof v === 'string') return v;
    if (v === undefined) return 'undefined';
    if (typeof v === 'function') return `[Function: ${v.name || 'anonymous'}]`;
    if (v instanceof Error) return v.stack || String(v);
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch (_) { return String(v); }
  }
  function log(...args) {
    if (logs.length >= 1000 || logBytes > 1e6) return;
    const line = args.map(fmt).join(' ');
    logBytes += line.length;
    logs.push(line);
  }
  RF.takeLogs = () => { const out = logs.splice(0); logBytes = 0; return out; };
  const console = Object.freeze({ log, info: log, warn: log, error: log, debug: log, trace: log,
    dir: log, table: log, time() {}, timeEnd() {}, group() {}, groupEnd() {}, assert(c, ...a) { if (!c) log(...a); } });
  Object.defineProperty(G, 'console', { value: console, writable: false, enumerable: false, configurable: false });

  // properties that ordinary code assigns on instances: keep that possible once prototypes freeze
  function enable(proto, prop) {
    const desc = Object.getOwnPropertyDescriptor(proto, prop);
    if (!desc || !('value' in desc) || !desc.configurable) return;
    const value = desc.value;
    Object.defineProperty(proto, prop, {
      get() { return value; },
      set(v) {
        if (this === proto) throw new TypeError(`Cannot assign to read only property '${String(prop)}'`);
        Object.defineProperty(this, prop, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: desc.enumerable, configurable: false,
    });
  }
  for (const p of Object.getOwnPropertyNames(Object.prototype)) if (p !== '__proto__') enable(Object.prototype, p);
  for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError]) {
    for (const p of ['name', 'message', 'toString', 'constructor']) enable(E.prototype, p);
  }
  for (const p of ['toString', 'constructor']) enable(Function.prototype, p);
  for (const p of ['toString', 'toJSON', 'constructor']) enable(Array.prototype, p);

  // hidden intrinsics: reachable only through syntax
  const hidden = [
    Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}), Object.getPrototypeOf(Int8Array),
    Object.getPrototypeOf([][Symbol.iterator]()), Object.getPrototypeOf(new Map().entries()),
    Object.getPrototypeOf(new Set().values()), Object.getPrototypeOf(''[Symbol.iterator]()),
    Object.getPrototypeOf('a'.matchAll(/a/g)), Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())),
    (function () { return arguments; })(),
  ];
  const seen = new Set();
  function harden(root) {
    const stack = [root];
    while (stack.length) {
      const o = stack.pop();
      if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
      seen.add(o);
      const proto = Object.getPrototypeOf(o);
      if (proto) stack.push(proto);
      for (const key of Reflect.ownKeys(o)) {
        const d = Object.getOwnPropertyDescriptor(o, key);
        if (!d) continue;
        if ('value' in d) stack.push(d.value);
        else { if (d.get) stack.push(d.get); if (d.set) stack.push(d.set); }
      }
      Object.freeze(o);
    }
  }
  const skip = new Set(['globalThis']);
  for (const name of Reflect.ownKeys(G)) {
    if (skip.has(name)) continue;
    const d = Object.getOwnPropertyDescriptor(G, name);
    if ('value' in d) harden(d.value);
    if (d.configurable) {
      Object.defineProperty(G, name, 'value' in d ? { writable: false, configurable: false } : { configurable: false });
    }
  }
  for (const h of hidden) harden(h);
  RF.sealBaseline();
})(globalThis);
