// relayflow expression prelude: running Code / Function / Function Item node code.
// op "code" starts a run; when the code is asynchronous Python polls with op "poll".
'use strict';
(function (G) {
  const RF = G.__rf;
  // lines before the user's first line: V8's 'function anonymous(...) {' header, then our wrapper
  const LINE_OFFSET = 3;
  const PARAMS = RF.VARS.concat(['items', 'item', 'getWorkflowStaticData']);
  const ITEMS = RF.VARS.length, ITEM = ITEMS + 1, GSD = ITEMS + 2;
  const cache = new Map();
  const blank = (text) => text.replace(/[^\n\r\u2028\u2029]/g, ' ');
  const wrap = (body, isAsync) => (isAsync ? 'return (async () => {\n' + body + '\n})();' : 'return (() => {\n' + body + '\n})();');

  // Top-level functions Python found safe to share between runs (see hoist.py) are created
  // once, by a factory whose source keeps them at their lines (error positions stay right), and
  // are passed to each run as parameters; the run's source has them blanked out.
  function hoisted(src, hoist) {
    let run = '', keep = '', pos = 0;
    for (const [, s, e] of hoist) {
      run += src.slice(pos, s) + blank(src.slice(s, e));
      keep += blank(src.slice(pos, s)) + src.slice(s, e);
      pos = e;
    }
    run += src.slice(pos);
    const names = hoist.map((h) => h[0]);
    const fns = new Function('\n' + keep + '\nreturn [' + names.join(', ') + '];')();
    for (const f of fns) { Object.freeze(f.prototype); Object.freeze(f); }
    return { run, names, fns };
  }

  function compile(src, isAsync, hoist) {
    const key = (isAsync ? 'a:' : 's:') + src;
    let entry = cache.get(key);
    if (entry === undefined) {
      if (cache.size > 500) cache.clear();
      // the user's code runs in an inner function so that it may declare its own `items`, `item`...
      let fn = new Function(...PARAMS, wrap(src, isAsync));
      let fns = [];
      if (Array.isArray(hoist) && hoist.length) {
        try {
          const h = hoisted(src, hoist);
          fn = new Function(...PARAMS, ...h.names, wrap(h.run, isAsync));
          fns = h.fns;
        } catch (_) { /* keep the plain function */ }
      }
      // frozen: `arguments.callee` reaches the cached function, which must not carry state
      // from one run to the next
      Object.freeze(fn.prototype);
      Object.freeze(fn);
      entry = { fn, fns };
      cache.set(key, entry);
    }
    return entry;
  }

  function failure(e, pos) {
    const out = { err: RF.message(e), pos, logs: RF.takeLogs() };
    const stack = e && typeof e.stack === 'string' ? e.stack : '';
    const m = /, <anonymous>:(\d+):(\d+)\)/.exec(stack);
    if (m) { out.line = Number(m[1]) - LINE_OFFSET; out.column = Number(m[2]); }
    return out;
  }
  const isThenable = (v) => v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';

  // the state of the run in progress (one per context: contexts serve one call at a time)
  let run = null;

  function finish(result, env) {
    const out = { ok: result === undefined ? null : result, logs: RF.takeLogs() };
    if (env.meta.staticData) out.staticData = env.staticData;
    return out;
  }

  function start(p) {
    RF.takeLogs();
    let entry;
    try { entry = compile(p.src, !!p.async, p.hoist); } catch (e) { return { err: RF.message(e), kind: 'syntax' }; }
    const fn = entry.fn;
    const env = RF.makeEnv(p);
    env.meta = p.meta || {};
    if (p.usesNow) env.setNow();
    const args = env.args;
    args[GSD] = args[25];
    for (let k = 0; k < entry.fns.length; k++) args[GSD + 1 + k] = entry.fns[k];
    const state = { done: false, out: null };
    const settle = (out) => { state.done = true; state.out = out; };
    if (p.mode === 'each') {
      runEach(fn, env, p, settle);
    } else {
      args[ITEMS] = env.all || [];
      if (env.idx.length) env.setItem(0);
      let r;
      try { r = fn.apply(undefined, args); } catch (e) { return failure(e, null); }
      if (!isThenable(r)) return finish(r, env);
      r.then((v) => settle(finish(v, env)), (e) => settle(failure(e, null)));
    }
    if (state.done) return state.out;
    run = state;
    return { pending: true };
  }

  function runEach(fn, env, p, settle) {
    const n = env.idx.length;
    const first = p.from || 0;
    const results = [];
    const args = env.args;
    const setItem = (k) => {
      env.setItem(k);
      args[ITEM] = p.kind === 'functionItem' ? args[0] : env.itemAt(k);
      args[ITEMS] = env.all || [];
    };
    const partial = (out) => { out.partial = results.slice(); return out; };
    const keep = (r) => results.push(r === undefined && p.kind === 'functionItem' ? args[ITEM] : r);
    let k = first;
    // synchronous until the code returns a promise, then one item after the other
    for (; k < n; k++) {
      setItem(k);
      let r;
      try { r = fn.apply(undefined, args); } catch (e) { return settle(partial(failure(e, env.idx[k]))); }
      if (isThenable(r)) { continueAsync(r); return undefined; }
      keep(r);
    }
    return settle(finish(results, env));

    async function continueAsync(pending) {
      try {
        keep(await pending);
        for (k = k + 1; k < n; k++) {
          setItem(k);
          keep(await fn.apply(undefined, args));
        }
        settle(finish(results, env));
      } catch (e) {
        settle(partial(failure(e, env.idx[k])));
      }
    }
  }

  function poll() {
    if (run === null) return { err: 'no code is running' };
    if (!run.done) return { pending: true };
    const out = run.out;
    run = null;
    return out;
  }

  // the operations run only through __rf.dispatch, which user code cannot re-enter
  RF.addOp('code', start);
  RF.addOp('poll', poll);
  RF.codeRunning = () => run !== null;
})(globalThis);
