// relayflow expression prelude: the core. Loaded once per V8 context, in strict mode.
// Python calls __rf.dispatch(payloadJson) and gets one JSON string back.
'use strict';
(function (G) {
  const RF = {};
  Object.defineProperty(G, '__rf', { value: RF, enumerable: false, writable: false, configurable: false });

  // The names every expression function receives, in order (template.py VARIABLES).
  const VARS = ['$json', '$binary', '$input', '$', '$node', '$items', '$item', '$itemIndex', '$position',
    '$runIndex', '$prevNode', '$execution', '$workflow', '$now', '$today', '$env', '$vars',
    '$parameter', '$jmespath', '$if', '$ifEmpty', '$min', '$max', '$data', '$mode',
    '$getWorkflowStaticData', 'DateTime', 'Duration', 'Interval', '$response', '$request', '$pageCount'];
  RF.VARS = VARS;
  const J = 0, B = 1, IDX = 7, POS = 8, DATA = 23;

  const cache = new Map();
  function compile(src) {
    let fn = cache.get(src);
    if (fn === undefined) {
      if (cache.size > 5000) cache.clear();
      fn = new Function(...VARS, src);
      // frozen: `arguments.callee` reaches the cached function, which must not carry state
      // from one evaluation to the next
      Object.freeze(fn.prototype);
      Object.freeze(fn);
      cache.set(src, fn);
    }
    return fn;
  }

  function message(e) {
    if (e && typeof e === 'object' && typeof e.message === 'string') {
      const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name + ': ' : '';
      return (name + e.message).replace(/__rfx_/g, '');
    }
    try { return String(e); } catch (_) { return 'an error was thrown'; }
  }
  RF.message = message;

  // ---- n8n's interpolation of values inside text -------------------------------------------
  function show(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'object') {
      if (RF.isDateTime && RF.isDateTime(v)) return v.toString();
      if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
      try { return JSON.stringify(v); } catch (_) { return String(v); }
    }
    return String(v);
  }
  RF.show = show;
  Object.defineProperty(G, '__rf_join', {
    value: function (parts) {
      let out = '';
      for (let i = 0; i < parts.length; i++) out += show(parts[i]);
      return out;
    },
    enumerable: false, writable: false, configurable: false,
  });

  // ---- the variables of one batch ------------------------------------------------------------
  function deny() {
    return new Proxy({}, { get() { throw new Error('access to env vars denied'); },
      has() { throw new Error('access to env vars denied'); },
      ownKeys() { throw new Error('access to env vars denied'); } });
  }

  function deepFreeze(v) {
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const k of Object.keys(v)) deepFreeze(v[k]);
    }
    return v;
  }

  function lastRun(nd) {
    return nd && nd.runs && nd.runs.length ? nd.runs[nd.runs.length - 1] : null;
  }

  function outputItems(name, nd, branch, run) {
    if (!nd || !nd.executed) throw new Error(`Node '${name}' hasn't been executed`);
    const runs = nd.runs || [];
    const r = run === undefined || run === null || run < 0 ? runs[runs.length - 1] : runs[run];
    if (!r) throw new Error(`Node '${name}' has no run ${run}`);
    return r[branch || 0] || [];
  }

  function makeEnv(p) {
    const st = { pos: 0 };
    const meta = p.meta || {};
    const idx = p.idx || [];
    const all = p.all || null;
    const nodes = p.nodes || {};
    const jsonAt = (k) => (p.json ? p.json[k] : all && all[idx[k]] ? all[idx[k]].json : {});
    const binaryAt = (k) => {
      const b = p.binary ? p.binary[k] : all && all[idx[k]] ? all[idx[k]].binary : undefined;
      return b === undefined || b === null ? {} : b;
    };
    const itemAt = (k) => (all ? all[idx[k]] : { json: jsonAt(k), binary: binaryAt(k) });

    // a node's state (n8n's node context, e.g. Split In Batches' noItemsLeft): a frozen copy
    const contexts = new Map();
    function contextOf(name) {
      let c = contexts.get(name);
      if (c === undefined) {
        const nd = nodes[name];
        c = deepFreeze(nd && nd.context ? nd.context : {});
        contexts.set(name, c);
      }
      return c;
    }
    const proxies = new Map();
    function pairedAt(name, nd) {
      let it = nd && nd.paired ? nd.paired[st.pos] : null;
      if (!it && nd && nd.pairedAll) it = nd.pairedAll[idx[st.pos]];
      if (it) return it;
      const r = lastRun(nd);
      if (r && r[0] && r[0].length === 1) return r[0][0];
      if (!nd || !nd.executed) throw new Error(`Node '${name}' hasn't been executed`);
      throw new Error(`Can't get data for expression: the item paired with item ${idx[st.pos]} ` +
        `is unavailable in node '${name}'`);
    }
    function $(name) {
      if (typeof name !== 'string') throw new Error('$() expects a node name (a string)');
      let px = proxies.get(name);
      if (px) return px;
      const nd = nodes[name];
      px = Object.freeze({
        get item() { return pairedAt(name, nd); },
        get isExecuted() { return !!(nd && nd.executed); },
        get params() { return {}; },
        get context() { return contextOf(name); },
        first(branch, run) { return outputItems(name, nd, branch, run)[0]; },
        last(branch, run) { const o = outputItems(name, nd, branch, run); return o[o.length - 1]; },
        all(branch, run) { return outputItems(name, nd, branch, run).slice(); },
        itemMatching(i) {
          const it = nd && nd.pairedAll ? nd.pairedAll[i] : null;
          if (it) return it;
          const r = lastRun(nd);
          if (r && r[0] && r[0].length === 1) return r[0][0];
          throw new Error(`Can't get data for expression: no item of node '${name}' matches item ${i}`);
        },
        pairedItem(i) { return i === undefined ? this.item : this.itemMatching(i); },
      });
      proxies.set(name, px);
      return px;
    }
    function legacyNode(name, forIndex) {
      const nd = nodes[name];
      if (!nd || !nd.executed) throw new Error(`Node '${name}' hasn't been executed`);
      let it = forIndex === undefined && nd.legacy ? nd.legacy[st.pos] : undefined;
      // only .context was asked for: no items were shipped
      if (nd.runs === undefined && nd.legacy === undefined) it = { json: {} };
      if (it === undefined || it === null) {
        const out = outputItems(name, nd, 0);
        const i = forIndex === undefined ? idx[st.pos] : forIndex;
        it = out.length ? (i < out.length ? out[i] : out[out.length - 1]) : { json: {} };
      }
      return Object.freeze({ json: it.json, binary: it.binary || {},
        context: nd.context ? contextOf(name) : {}, parameter: {}, runIndex: (nd.runs || []).length - 1 });
    }
    const legacyProxy = (forIndex) => new Proxy({}, {
      get(_, name) { return typeof name === 'string' ? legacyNode(name, forIndex) : undefined; },
    });
    const $node = legacyProxy(undefined);
    function $items(name, branch, run) {
      if (name === undefined) return (all || []).slice();
      return outputItems(name, nodes[name], branch, run).slice();
    }
    function $item(i) {
      return Object.freeze({ $node: legacyProxy(i), $json: all && all[i] ? all[i].json : undefined,
        $binary: all && all[i] ? all[i].binary || {} : undefined });
    }
    const $input = Object.freeze({
      get item() { return itemAt(st.pos); },
      all() { return (all || []).slice(); },
      first() { return all ? all[0] : undefined; },
      last() { return all ? all[all.length - 1] : undefined; },
      get params() { return meta.parameter || {}; },
      get context() { return meta.prevNode && meta.prevNode.name ? contextOf(meta.prevNode.name) : {}; },
    });
    const customData = {};
    const $execution = Object.freeze(Object.assign({}, meta.execution || {}, {
      customData: Object.freeze({
        set(k, v) { customData[k] = String(v); }, get(k) { return customData[k]; },
        setAll(o) { Object.assign(customData, o); }, getAll() { return Object.assign({}, customData); },
      }),
    }));
    const DT = RF.DateTime;
    if (DT) DT.__setDefaultZone(meta.tz || 'UTC');
    let now;
    const nowDT = () => (now === undefined ? (now = DT.fromMillis(typeof meta.now === 'number' ? meta.now : Date.now())) : now);
    const staticData = meta.staticData || {};
    function $getWorkflowStaticData(type) {
      if (type === 'global') return (staticData.global = staticData.global || {});
      if (type === 'node') {
        const key = 'node:' + (meta.node || '');
        return (staticData[key] = staticData[key] || {});
      }
      throw new Error("$getWorkflowStaticData expects 'global' or 'node'");
    }
    const args = new Array(VARS.length);
    args[2] = $input; args[3] = $; args[4] = $node; args[5] = $items; args[6] = $item;
    args[9] = meta.runIndex || 0;
    args[10] = Object.freeze(meta.prevNode || {});
    args[11] = $execution;
    args[12] = Object.freeze(meta.workflow || {});
    args[15] = meta.env === null || meta.env === undefined ? deny() : Object.freeze(meta.env);
    args[16] = Object.freeze(meta.vars || {});
    args[17] = meta.parameter || {};
    args[18] = (obj, path) => RF.jmespath(obj, path);
    args[19] = (c, a, b) => (c ? a : b);
    args[20] = (v, d) => (RF.isEmptyValue(v) ? d : v);
    args[21] = (...a) => Math.min(...a);
    args[22] = (...a) => Math.max(...a);
    args[24] = meta.mode || 'manual';
    args[25] = $getWorkflowStaticData;
    args[26] = RF.DateTime; args[27] = RF.Duration; args[28] = RF.Interval;
    // a node's own variables (ExpressionScope.extra: HTTP Request pagination)
    const extra = meta.extra || {};
    args[29] = extra.$response; args[30] = extra.$request; args[31] = extra.$pageCount;
    return {
      st, args, idx, all, staticData, jsonAt, binaryAt, itemAt,
      // $now and $today: once per batch, and only when the code uses them
      setNow() { args[13] = nowDT(); args[14] = args[13].startOf('day'); },
      setItem(k) {
        st.pos = k;
        args[J] = jsonAt(k); args[B] = binaryAt(k); args[DATA] = args[J];
        args[IDX] = args[POS] = idx[k];
      },
    };
  }
  RF.makeEnv = makeEnv;

  // ---- results ---------------------------------------------------------------------------------
  function encode(v) {
    if (typeof v === 'number' && !isFinite(v)) return { $rfnum: String(v) };
    if (typeof v === 'function' || typeof v === 'symbol') return null;
    if (typeof v === 'bigint') return v.toString();
    return v;
  }
  RF.encode = encode;

  function evalBatch(p) {
    let fn;
    try { fn = compile(p.src); } catch (e) { return { err: message(e), kind: 'syntax' }; }
    const env = makeEnv(p);
    const n = env.idx.length;
    const out = new Array(n);
    const args = env.args;
    const single = !!p.single;
    if (p.usesNow) env.setNow();
    for (let k = 0; k < n; k++) {
      env.setItem(k);
      let v;
      try { v = fn.apply(undefined, args); } catch (e) { return { err: message(e), pos: k }; }
      if (v !== null && typeof v === 'object' && typeof v.then === 'function') {
        return { err: 'an expression cannot return a Promise (await is only available in the Code node)', pos: k };
      }
      out[k] = single ? encode(v) : v;
    }
    return { ok: out };
  }

  function check(p) {
    try { new Function(...VARS, p.src); return { ok: '' }; } catch (e) { return { ok: message(e) }; }
  }

  // ---- hygiene between calls: user code must not leave state behind -----------------------------
  let baseline = null;
  let globalProto = null;
  // called once, by lockdown.js: from then on user code cannot reset the baseline or add operations
  RF.sealBaseline = function () {
    if (baseline !== null) return;
    baseline = new Set(Reflect.ownKeys(G));
    globalProto = Object.getPrototypeOf(G);
  };
  function cleanGlobals() {
    const keys = Reflect.ownKeys(G);
    let clean = Object.getPrototypeOf(G) === globalProto;
    if (keys.length !== baseline.size) {
      for (const k of keys) {
        if (!baseline.has(k) && !Reflect.deleteProperty(G, k)) clean = false;
      }
    }
    return clean;
  }

  const OPS = { eval: evalBatch, check };
  RF.addOp = function (name, fn) {
    if (baseline !== null) throw new Error('the sandbox is sealed');
    OPS[name] = fn;
  };
  // the key Python gives the context once (RF.lock) and sends with every payload: a callback
  // that runs outside a call (a stray microtask, a finalizer) cannot drive the dispatcher, e.g.
  // poll away another run's result
  let key = null;
  RF.lock = function (k) {
    if (key !== null) throw new Error('the sandbox is sealed');
    key = String(k);
    return mark.buffer;
  };

  // ---- the end of a call's aftermath ---------------------------------------------------------
  // mini-racer runs the microtasks a call queued (promise reactions, await) after it has returned
  // the call's result, outside its time limit. So each call wakes a waiter of its own: V8 resolves
  // it in a task, which starts only once the microtask queue is empty, and the reaction writes the
  // call's number into memory Python reads without a round trip (sandbox.py waits for it within
  // the call's time limit). Negative: what the microtasks left on the global object could not be
  // removed. The memory: [the number written, the call's number (set by Python before each call:
  // in the payload it would defeat V8's code cache), the waiter's cell (always 0)]. Python gets it
  // once, from RF.lock; user code never sees it.
  const Atom = G.Atomics, waitAsync = G.Atomics.waitAsync, notify = G.Atomics.notify;
  const store = G.Atomics.store, apply = Reflect.apply;
  const mark = new Int32Array(new G.SharedArrayBuffer(12));
  function armMark() {
    const seq = mark[1];
    if (seq <= 0) return;
    // if this fails, no number is written: Python then asks V8 with a task of its own
    try {
      const w = apply(waitAsync, Atom, [mark, 2, 0]);
      if (!w.async) return;
      w.value.then(() => apply(store, Atom, [mark, 0, settle() ? seq : -seq]));
      apply(notify, Atom, [mark, 2]);
    } catch (_) { /* see above */ }
  }
  const resetRegExp = /(?:)/;
  // what one call may leave behind for the next: globals, timers, RegExp.$1/lastMatch/input
  function scrub() {
    if (RF.clearTimers !== undefined) RF.clearTimers();
    resetRegExp.exec('');
    return cleanGlobals();
  }
  // after a call's microtasks: its clean-up again (unless a Code node run goes on)
  function settle() {
    if (active || baseline === null || (RF.codeRunning !== undefined && RF.codeRunning())) return true;
    return scrub();
  }
  RF.settle = settle;
  let active = false;
  RF.dispatch = function (payload) {
    if (active) throw new Error('not available to expressions');
    let text;
    active = true;
    // what the previous call's microtasks left behind is gone already: settle() ran after them,
    // before Python could start this call (armMark, sandbox.py)
    try {
      const p = JSON.parse(payload);
      if (key === null || p === null || p.key !== key) throw new Error('not available to expressions');
      armMark();
      const op = Object.prototype.hasOwnProperty.call(OPS, p.op) ? OPS[p.op] : undefined;
      const out = op ? op(p) : { err: 'unknown operation' };
      // serialised inside the call: a toJSON or getter of the result is user code, and must
      // run before the clean-up below, never after it
      try {
        text = JSON.stringify(out);
      } catch (e) {
        text = JSON.stringify({ err: 'the result cannot be converted to JSON: ' + message(e) });
      }
    } catch (e) {
      text = JSON.stringify({ err: message(e) });
    } finally {
      active = false;
    }
    const running = RF.codeRunning !== undefined && RF.codeRunning();
    if (baseline !== null && !running && !scrub()) {
      text = JSON.stringify(Object.assign(JSON.parse(text), { poisoned: true }));
    }
    return text;
  };
})(globalThis);
