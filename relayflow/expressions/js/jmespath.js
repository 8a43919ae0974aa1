// relayflow expression prelude: a JMESPath evaluator ($jmespath(object, path)), written from the
// JMESPath specification: fields, sub-expressions, indexes, slices, projections ([*], *, [], [?]),
// comparisons, && || !, pipes, multi-select lists/hashes, literals and the built-in functions.
'use strict';
(function (G) {
  const RF = G.__rf;

  function lex(src) {
    const toks = [];
    let i = 0;
    const push = (type, value, len) => { toks.push({ type, value }); i += len; };
    while (i < src.length) {
      const c = src[i];
      const two = src.slice(i, i + 2);
      if (/\s/.test(c)) { i++; continue; }
      if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
        push('ident', m[0], m[0].length);
      } else if (/[-0-9]/.test(c) && /^-?\d/.test(src.slice(i))) {
        const m = /^-?\d+/.exec(src.slice(i));
        push('number', Number(m[0]), m[0].length);
      } else if (c === '"') {
        const m = /^"(?:[^"\\]|\\.)*"/.exec(src.slice(i));
        if (!m) throw new Error('jmespath: unterminated quoted identifier');
        push('ident', JSON.parse(m[0]), m[0].length);
      } else if (c === "'") {
        const m = /^'(?:[^'\\]|\\.)*'/.exec(src.slice(i));
        if (!m) throw new Error('jmespath: unterminated raw string');
        push('literal', m[0].slice(1, -1).replace(/\\'/g, "'"), m[0].length);
      } else if (c === '`') {
        const m = /^`(?:[^`\\]|\\.)*`/.exec(src.slice(i));
        if (!m) throw new Error('jmespath: unterminated literal');
        const body = m[0].slice(1, -1).replace(/\\`/g, '`');
        let v;
        try { v = JSON.parse(body); } catch (_) { v = JSON.parse('"' + body + '"'); }
        push('literal', v, m[0].length);
      } else if (two === '[?' || two === '[]' || two === '||' || two === '&&' || two === '==' || two === '!=' || two === '<=' || two === '>=') {
        push(two, two, 2);
      } else if ('.*[]{}(),:|!<>@&'.includes(c)) {
        push(c, c, 1);
      } else {
        throw new Error(`jmespath: unexpected character '${c}' in "${src}"`);
      }
    }
    toks.push({ type: 'eof' });
    return toks;
  }

  const BP = { eof: 0, ident: 0, literal: 0, number: 0, ']': 0, ')': 0, ',': 0, '}': 0, ':': 0, '|': 1,
    '||': 2, '&&': 3, '==': 5, '!=': 5, '<': 5, '<=': 5, '>': 5, '>=': 5, '[]': 9, '*': 20, '[?': 21,
    '.': 40, '!': 45, '{': 50, '[': 55, '(': 60 };

  function parse(src) {
    const toks = lex(src);
    let k = 0;
    const peek = (n = 0) => toks[k + n];
    const next = () => toks[k++];
    const expect = (t) => { if (peek().type !== t) throw new Error(`jmespath: expected '${t}' in "${src}"`); return next(); };

    function expr(rbp) {
      let left = nud(next());
      while (rbp < (BP[peek().type] || 0)) left = led(next(), left);
      return left;
    }
    function projRhs(bp) {
      const t = peek().type;
      if (BP[t] < 10) return { type: 'current' };
      if (t === '[' || t === '[?') return expr(bp);
      if (t === '.') { next(); return dotRhs(bp); }
      throw new Error(`jmespath: unexpected token after projection in "${src}"`);
    }
    function dotRhs(bp) {
      const t = peek().type;
      if (t === 'ident' || t === '*') return expr(bp);
      if (t === '[') { next(); return multiList(); }
      if (t === '{') { next(); return multiHash(); }
      throw new Error(`jmespath: unexpected token after '.' in "${src}"`);
    }
    function multiList() {
      const items = [];
      while (peek().type !== ']') { items.push(expr(0)); if (peek().type === ',') next(); }
      next();
      return { type: 'multi_list', items };
    }
    function multiHash() {
      const pairs = [];
      while (peek().type !== '}') {
        const key = expect('ident').value;
        expect(':');
        pairs.push([key, expr(0)]);
        if (peek().type === ',') next();
      }
      next();
      return { type: 'multi_hash', pairs };
    }
    function bracket() {
      // after '[': index, slice, '*' projection, or multi-select list
      if (peek().type === 'number' || peek().type === ':') {
        const parts = [null, null, null];
        let p = 0;
        while (peek().type !== ']') {
          if (peek().type === ':') { p++; next(); } else parts[p] = next().value;
        }
        next();
        if (p === 0) return { type: 'index', value: parts[0] };
        return { type: 'slice', parts };
      }
      if (peek().type === '*' && peek(1).type === ']') {
        next(); next();
        return { type: 'projection', left: { type: 'current' }, right: projRhs(BP['*']) };
      }
      return multiList();
    }
    function nud(t) {
      switch (t.type) {
        case 'literal': return { type: 'literal', value: t.value };
        case 'number': return { type: 'literal', value: t.value };
        case 'ident':
          if (peek().type === '(') { next(); return fn(t.value); }
          return { type: 'field', name: t.value };
        case '@': return { type: 'current' };
        case '*': return { type: 'value_projection', left: { type: 'current' }, right: projRhs(BP['*']) };
        case '!': return { type: 'not', expr: expr(BP['!']) };
        case '(': { const e = expr(0); expect(')'); return e; }
        case '[': {
          const b = bracket();
          if (b.type === 'index' || b.type === 'slice') {
            const base = { type: 'index_expr', left: { type: 'current' }, right: b };
            return b.type === 'slice' ? { type: 'projection', left: base, right: projRhs(BP['*']) } : base;
          }
          return b;
        }
        case '[]': return { type: 'projection', left: { type: 'flatten', expr: { type: 'current' } }, right: projRhs(BP['[]']) };
        case '[?': return filter({ type: 'current' });
        case '{': return multiHash();
        case '&': return { type: 'expref', expr: expr(0) };
        default: throw new Error(`jmespath: unexpected token '${t.type}' in "${src}"`);
      }
    }
    function filter(left) {
      const cond = expr(0);
      expect(']');
      return { type: 'filter', left, cond, right: projRhs(BP['[?']) };
    }
    function fn(name) {
      const args = [];
      while (peek().type !== ')') { args.push(expr(0)); if (peek().type === ',') next(); }
      next();
      return { type: 'function', name, args };
    }
    function led(t, left) {
      switch (t.type) {
        case '.': {
          if (peek().type === '*') { next(); return { type: 'value_projection', left, right: projRhs(BP['*']) }; }
          return { type: 'sub', left, right: dotRhs(BP['.']) };
        }
        case '|': return { type: 'pipe', left, right: expr(BP['|']) };
        case '||': return { type: 'or', left, right: expr(BP['||']) };
        case '&&': return { type: 'and', left, right: expr(BP['&&']) };
        case '==': case '!=': case '<': case '<=': case '>': case '>=':
          return { type: 'cmp', op: t.type, left, right: expr(BP[t.type]) };
        case '[]': return { type: 'projection', left: { type: 'flatten', expr: left }, right: projRhs(BP['[]']) };
        case '[?': return filter(left);
        case '[': {
          const b = bracket();
          if (b.type === 'index') return { type: 'index_expr', left, right: b };
          if (b.type === 'slice') return { type: 'projection', left: { type: 'index_expr', left, right: b }, right: projRhs(BP['*']) };
          if (b.type === 'projection') return { type: 'projection', left, right: b.right };
          return { type: 'sub', left, right: b };
        }
        default: throw new Error(`jmespath: unexpected token '${t.type}' in "${src}"`);
      }
    }
    const tree = expr(0);
    if (peek().type !== 'eof') throw new Error(`jmespath: unexpected token '${peek().type}' in "${src}"`);
    return tree;
  }

  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const truthy = (v) => !(v === null || v === undefined || v === false || v === '' ||
    (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0));
  const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b) || (isObj(a) && isObj(b) && JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b)));
  const sortKeys = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  const type = (v) => (v === null || v === undefined ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v);

  function slice(arr, [start, stop, step]) {
    const st = step === null ? 1 : step;
    if (st === 0) throw new Error('jmespath: slice step cannot be 0');
    const n = arr.length;
    const norm = (v, dflt) => (v === null ? dflt : v < 0 ? Math.max(v + n, st < 0 ? -1 : 0) : Math.min(v, st < 0 ? n - 1 : n));
    const a = norm(start, st > 0 ? 0 : n - 1), b = norm(stop, st > 0 ? n : -1);
    const out = [];
    if (st > 0) for (let i = a; i < b; i += st) out.push(arr[i]);
    else for (let i = a; i > b; i += st) out.push(arr[i]);
    return out;
  }

  function project(list, right) {
    const out = [];
    for (const v of list) { const r = ev(right, v); if (r !== null && r !== undefined) out.push(r); }
    return out;
  }

  function ev(node, cur) {
    switch (node.type) {
      case 'current': return cur;
      case 'literal': return node.value;
      case 'field': return isObj(cur) && node.name in cur ? cur[node.name] : null;
      case 'sub': { const l = ev(node.left, cur); return l === null || l === undefined ? null : ev(node.right, l); }
      case 'pipe': return ev(node.right, ev(node.left, cur));
      case 'index_expr': {
        const l = ev(node.left, cur);
        if (!Array.isArray(l)) return null;
        if (node.right.type === 'slice') return slice(l, node.right.parts);
        const i = node.right.value < 0 ? l.length + node.right.value : node.right.value;
        return i >= 0 && i < l.length ? l[i] : null;
      }
      case 'projection': { const l = ev(node.left, cur); return Array.isArray(l) ? project(l, node.right) : null; }
      case 'value_projection': { const l = ev(node.left, cur); return isObj(l) ? project(Object.values(l), node.right) : null; }
      case 'flatten': {
        const l = ev(node.expr, cur);
        if (!Array.isArray(l)) return null;
        const out = [];
        for (const v of l) if (Array.isArray(v)) out.push(...v); else out.push(v);
        return out;
      }
      case 'filter': {
        const l = ev(node.left, cur);
        if (!Array.isArray(l)) return null;
        return project(l.filter((v) => truthy(ev(node.cond, v))), node.right);
      }
      case 'cmp': {
        const a = ev(node.left, cur), b = ev(node.right, cur);
        if (node.op === '==') return eq(a, b);
        if (node.op === '!=') return !eq(a, b);
        if (typeof a !== 'number' || typeof b !== 'number') return null;
        return node.op === '<' ? a < b : node.op === '<=' ? a <= b : node.op === '>' ? a > b : a >= b;
      }
      case 'or': { const l = ev(node.left, cur); return truthy(l) ? l : ev(node.right, cur); }
      case 'and': { const l = ev(node.left, cur); return truthy(l) ? ev(node.right, cur) : l; }
      case 'not': return !truthy(ev(node.expr, cur));
      case 'multi_list': return cur === null || cur === undefined ? null : node.items.map((e) => ev(e, cur));
      case 'multi_hash': {
        if (cur === null || cur === undefined) return null;
        const o = {};
        for (const [k, e] of node.pairs) o[k] = ev(e, cur);
        return o;
      }
      case 'expref': return { __expref: node.expr };
      case 'function': return call(node.name, node.args.map((a) => (a.type === 'expref' ? a : ev(a, cur))), cur);
      default: throw new Error(`jmespath: cannot evaluate ${node.type}`);
    }
  }

  const byExpr = (ref, v) => ev(ref.expr, v);
  function call(name, a, cur) {
    const num = (v) => { if (typeof v !== 'number') throw new Error(`jmespath: ${name}() expects a number`); return v; };
    switch (name) {
      case 'abs': return Math.abs(num(a[0]));
      case 'avg': return a[0].length ? a[0].reduce((s, v) => s + num(v), 0) / a[0].length : null;
      case 'ceil': return Math.ceil(num(a[0]));
      case 'floor': return Math.floor(num(a[0]));
      case 'contains': return typeof a[0] === 'string' ? a[0].includes(a[1]) : a[0].some((v) => eq(v, a[1]));
      case 'ends_with': return a[0].endsWith(a[1]);
      case 'starts_with': return a[0].startsWith(a[1]);
      case 'join': return a[1].join(a[0]);
      case 'keys': return Object.keys(a[0]);
      case 'values': return Object.values(a[0]);
      case 'length': return typeof a[0] === 'string' ? Array.from(a[0]).length : Array.isArray(a[0]) ? a[0].length : Object.keys(a[0]).length;
      case 'map': return a[1].map((v) => { const r = byExpr(a[0], v); return r === undefined ? null : r; });
      case 'max': return a[0].length ? a[0].reduce((m, v) => (v > m ? v : m)) : null;
      case 'min': return a[0].length ? a[0].reduce((m, v) => (v < m ? v : m)) : null;
      case 'max_by': return a[0].length ? a[0].reduce((m, v) => (byExpr(a[1], v) > byExpr(a[1], m) ? v : m)) : null;
      case 'min_by': return a[0].length ? a[0].reduce((m, v) => (byExpr(a[1], v) < byExpr(a[1], m) ? v : m)) : null;
      case 'merge': return Object.assign({}, ...a);
      case 'not_null': return a.find((v) => v !== null && v !== undefined) ?? null;
      case 'reverse': return typeof a[0] === 'string' ? Array.from(a[0]).reverse().join('') : a[0].slice().reverse();
      case 'sort': return a[0].slice().sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      case 'sort_by': return a[0].slice().sort((x, y) => { const p = byExpr(a[1], x), q = byExpr(a[1], y); return p < q ? -1 : p > q ? 1 : 0; });
      case 'sum': return a[0].reduce((s, v) => s + num(v), 0);
      case 'to_array': return Array.isArray(a[0]) ? a[0] : [a[0]];
      case 'to_string': return typeof a[0] === 'string' ? a[0] : JSON.stringify(a[0]);
      case 'to_number': { if (typeof a[0] === 'number') return a[0]; const n = Number(a[0]); return typeof a[0] === 'string' && a[0].trim() !== '' && !Number.isNaN(n) ? n : null; }
      case 'type': return type(a[0]);
      default: throw new Error(`jmespath: unknown function ${name}()`);
    }
  }

  const cache = new Map();
  RF.jmespath = function (obj, path) {
    if (typeof path !== 'string') throw new Error('$jmespath(object, path): the path must be a string');
    let tree = cache.get(path);
    if (!tree) {
      tree = parse(path);
      if (cache.size > 1000) cache.clear();
      cache.set(path, tree);
    }
    const r = ev(tree, obj);
    return r === undefined ? null : r;
  };
})(globalThis);
