// relayflow expression prelude: size guards. Some V8 builtins loop over a huge array length in
// C++ without checking for termination, and some abort the whole process when a table grows past
// V8's own maximum (e.g. new Array(2**31 - 1).fill(0)). These wrappers refuse such sizes up front
// with a RangeError; the memory limit and the time limit handle everything else.
'use strict';
(function (G) {
  const RF = G.__rf;
  const MAX_ELEMENTS = 2 ** 25;
  const MAX_CHARS = 2 ** 27;
  const MAX_BYTES = 2 ** 27;
  RF.limits = Object.freeze({ MAX_ELEMENTS, MAX_CHARS, MAX_BYTES });

  function lengthOf(o) {
    if (o === null || o === undefined) return 0;
    const n = Number(o.length);
    return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
  }
  function tooBig(what, n, max) {
    return new RangeError(`${what} too large for the expression sandbox (${n}; the limit is ${max})`);
  }
  function checkArray(o) {
    const n = lengthOf(o);
    if (n > MAX_ELEMENTS) throw tooBig('array', n, MAX_ELEMENTS);
  }
  function wrap(holder, name, check) {
    const native = holder[name];
    if (typeof native !== 'function') return;
    const guarded = {
      [name](...args) {
        check(this, args);
        return Reflect.apply(native, this, args);
      },
    }[name];
    Object.defineProperty(holder, name, { value: guarded, writable: true, configurable: true, enumerable: false });
  }

  const AP = Array.prototype;
  for (const name of ['fill', 'copyWithin', 'slice', 'splice', 'sort', 'reverse', 'map', 'filter', 'forEach',
    'reduce', 'reduceRight', 'every', 'some', 'find', 'findIndex', 'findLast', 'findLastIndex', 'indexOf',
    'lastIndexOf', 'includes', 'flat', 'flatMap', 'join', 'toReversed', 'toSorted', 'toSpliced', 'with',
    'toLocaleString', 'toString']) {
    wrap(AP, name, (self) => checkArray(self));
  }
  wrap(AP, 'concat', (self, args) => {
    let n = lengthOf(self);
    for (const a of args) n += a !== null && typeof a === 'object' ? lengthOf(a) : 1;
    if (n > MAX_ELEMENTS) throw tooBig('array', n, MAX_ELEMENTS);
  });
  wrap(Array, 'from', (self, args) => {
    const src = args[0];
    if (src !== null && src !== undefined && typeof src[Symbol.iterator] !== 'function') checkArray(src);
  });

  const SP = String.prototype;
  wrap(SP, 'repeat', (self, args) => {
    const n = String(self).length * Math.max(0, Number(args[0]) || 0);
    if (n > MAX_CHARS) throw tooBig('string', n, MAX_CHARS);
  });
  for (const name of ['padStart', 'padEnd']) {
    wrap(SP, name, (self, args) => {
      if (Number(args[0]) > MAX_CHARS) throw tooBig('string', Number(args[0]), MAX_CHARS);
    });
  }
  const split = SP.split;
  Object.defineProperty(SP, 'split', {
    value: function split2(separator, limit) {
      const cap = limit === undefined ? MAX_ELEMENTS + 1 : Math.min(limit >>> 0, MAX_ELEMENTS + 1);
      const out = Reflect.apply(split, this, [separator, cap]);
      if (out.length > MAX_ELEMENTS) throw tooBig('array', out.length, MAX_ELEMENTS);
      return out;
    },
    writable: true, configurable: true, enumerable: false,
  });
  Object.defineProperty(SP.split, 'name', { value: 'split' });

  // typed arrays and buffers: bytes live outside the V8 heap, so the memory limit does not see them
  const bytesOf = (C, args) => {
    const a = args[0];
    if (typeof a === 'number') return a * (C.BYTES_PER_ELEMENT || 1);
    if (a !== null && typeof a === 'object' && !(a instanceof ArrayBuffer)) return lengthOf(a) * (C.BYTES_PER_ELEMENT || 1);
    return 0;
  };
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array',
    'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array',
    'BigUint64Array']) {
    const C = G[name];
    if (typeof C !== 'function') continue;
    const guarded = new Proxy(C, {
      construct(target, args, newTarget) {
        const n = Math.max(bytesOf(C, args), Number(args[1] && args[1].maxByteLength) || 0);
        if (n > MAX_BYTES) throw tooBig('buffer', n, MAX_BYTES);
        return Reflect.construct(target, args, newTarget === guarded ? target : newTarget);
      },
    });
    Object.defineProperty(G, name, { value: guarded, writable: true, configurable: true, enumerable: false });
    // species and `x.constructor` lookups reach the guarded constructor too
    Object.defineProperty(C.prototype, 'constructor', { value: guarded, writable: true, configurable: true, enumerable: false });
  }
})(globalThis);
