// relayflow expression prelude: n8n's data transformation functions ("extension methods").
// Templates call them as x.name(...); template.py rewrites that to x.__rfx_name(...), and the
// non-enumerable dispatchers below call x's own method of that name when it has one, the
// extension for x's type otherwise.
'use strict';
(function (G) {
  const RF = G.__rf;

  function isEmptyValue(v) {
    if (v === undefined || v === null || v === '') return true;
    if (Array.isArray(v)) return v.length === 0;
    if (typeof v === 'object' && !(v instanceof Date) && !RF.isDateTime(v)) return Object.keys(v).length === 0;
    return false;
  }
  RF.isEmptyValue = isEmptyValue;

  const EMAIL = /(?:[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*)@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?/;
  const URL_RE = /(?:https?|ftp):\/\/[^\s/$.?#][^\s"'<>]*/i;
  const DOMAIN = /^(?:(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)+[A-Za-z]{2,63}$/;
  function hostOf(s) {
    const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^@/\s]*@)?([^:/?#\s]+)/i.exec(s.trim());
    return m ? m[1].toLowerCase() : undefined;
  }
  function words(s) {
    return String(s).replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[^A-Za-z0-9\u00C0-\uFFFF]+/).filter(Boolean);
  }
  function toNumberStrict(s) {
    const t = String(s).trim();
    if (t === '') throw new Error(`'${s}' can't be converted to a number`);
    const n = Number(t.replace(/,(?=\d{3}(\D|$))/g, ''));
    if (Number.isNaN(n)) throw new Error(`'${s}' can't be converted to a number`);
    return n;
  }
  const toBool = (v) => {
    if (typeof v === 'string') return !['false', 'no', '0', 'n', 'off', ''].includes(v.trim().toLowerCase());
    return Boolean(v);
  };

  const STRING = {
    isEmpty: (s) => s.length === 0,
    isNotEmpty: (s) => s.length > 0,
    toNumber: toNumberStrict,
    toFloat: (s) => parseFloat(String(s).replace(/,(?=\d{3}(\D|$))/g, '')),
    toDecimalNumber: (s) => parseFloat(String(s).replace(/,(?=\d{3}(\D|$))/g, '')),
    toInt: (s, radix) => parseInt(String(s).replace(/,(?=\d{3}(\D|$))/g, ''), radix || 10),
    toWholeNumber: (s) => Math.trunc(parseFloat(s)),
    toBoolean: toBool,
    toDateTime: (s, fmt) => (fmt ? RF.DateTime.fromFormat(s, fmt) : parseDate(s)),
    toDate: (s) => new Date(s),
    extractDomain(s) {
      const e = EMAIL.exec(s);
      if (e && !/:\/\//.test(s)) return e[0].split('@')[1].toLowerCase();
      return hostOf(s);
    },
    extractEmail: (s) => { const m = EMAIL.exec(s); return m ? m[0] : undefined; },
    extractUrl: (s) => { const m = URL_RE.exec(s); return m ? m[0] : undefined; },
    extractUrlPath(s) {
      const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(s);
      return m ? m[1] || '/' : undefined;
    },
    isEmail: (s) => new RegExp('^' + EMAIL.source + '$').test(s.trim()),
    isUrl: (s) => /^(?:https?|ftp):\/\/[^\s/$.?#][^\s]*$/i.test(s),
    isDomain: (s) => DOMAIN.test(s),
    isNumeric: (s) => s.trim() !== '' && !Number.isNaN(Number(s)),
    removeTags: (s) => s.replace(/<[^>]*>/g, ''),
    removeMarkdown: (s) => s
      .replace(/```[\s\S]*?```/g, (m) => m.replace(/```\w*\n?/g, ''))
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/^#{1,6}\s+/gm, '').replace(/^\s*>\s?/gm, '').replace(/^\s*[-*+]\s+/gm, '')
      .replace(/(\*\*|__)(.*?)\1/g, '$2').replace(/(\*|_)(.*?)\1/g, '$2').replace(/~~(.*?)~~/g, '$1')
      .replace(/`([^`]*)`/g, '$1'),
    toTitleCase: (s) => s.toLowerCase().replace(/(^|[\s\-_(])(\p{L})/gu, (m, a, b) => a + b.toUpperCase()),
    toSentenceCase: (s) => s.toLowerCase().replace(/(^\s*|[.!?]\s+)(\p{L})/gu, (m, a, b) => a + b.toUpperCase()),
    toSnakeCase: (s) => words(s).map((w) => w.toLowerCase()).join('_'),
    toCamelCase: (s) => words(s).map((w, i) => (i ? w[0].toUpperCase() + w.slice(1).toLowerCase() : w.toLowerCase())).join(''),
    urlEncode: (s, all) => (all ? encodeURI(s) : encodeURIComponent(s)),
    urlDecode: (s, all) => (all ? decodeURI(s) : decodeURIComponent(s)),
    hash: (s, algo) => RF.hash(s, algo),
    base64Encode: (s) => RF.base64Encode(s),
    base64Decode: (s) => RF.base64Decode(s),
    quote: (s, mark) => { const q = mark === undefined ? '"' : mark; return q + s.split(q).join('\\' + q) + q; },
    replaceSpecialChars: (s) => s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x00-\x7F]/g, ''),
    parseJson: (s) => JSON.parse(s),
    toJsonString: (s) => JSON.stringify(s),
  };

  function parseDate(s) {
    const iso = RF.DateTime.fromISO(s);
    if (iso.isValid) return iso;
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return RF.DateTime.fromMillis(t);
    throw new Error(`'${s}' can't be converted to a date`);
  }

  function fieldsOf(keys) { return keys.length === 1 && typeof keys[0] === 'string' ? keys[0].split(',').map((k) => k.trim()) : keys; }
  function dedupe(a, keys) {
    const ks = keys && keys.length ? fieldsOf(keys) : null;
    const seen = new Set();
    return a.filter((v) => {
      const key = ks ? JSON.stringify(ks.map((k) => (v && typeof v === 'object' ? v[k] : undefined))) : typeof v === 'object' ? JSON.stringify(v) : typeof v + ':' + String(v);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  const nums = (a) => a.map((v) => (typeof v === 'number' ? v : Number(v))).filter((v) => !Number.isNaN(v));
  const same = (x, y) => (typeof x === 'object' ? JSON.stringify(x) === JSON.stringify(y) : x === y);

  const ARRAY = {
    isEmpty: (a) => a.length === 0,
    isNotEmpty: (a) => a.length > 0,
    first: (a) => a[0],
    last: (a) => a[a.length - 1],
    pluck(a, ...keys) {
      const ks = fieldsOf(keys);
      return a.map((v) => {
        if (!v || typeof v !== 'object') return null;
        if (ks.length === 1) return v[ks[0]];
        const o = {};
        for (const k of ks) if (k in v) o[k] = v[k];
        return o;
      }).filter((v) => v !== undefined);
    },
    unique: (a, ...keys) => dedupe(a, keys),
    removeDuplicates: (a, ...keys) => dedupe(a, keys),
    compact: (a) => a.filter((v) => !(v === null || v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v)) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0))),
    sum: (a) => nums(a).reduce((s, v) => s + v, 0),
    average: (a) => { const n = nums(a); return n.length ? n.reduce((s, v) => s + v, 0) / n.length : 0; },
    max: (a) => Math.max(...nums(a)),
    min: (a) => Math.min(...nums(a)),
    chunk(a, size) {
      const n = Math.max(1, Math.floor(size));
      const out = [];
      for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
      return out;
    },
    difference: (a, b) => a.filter((x) => !b.some((y) => same(x, y))),
    intersection: (a, b) => dedupe(a.filter((x) => b.some((y) => same(x, y)))),
    union: (a, b) => dedupe(a.concat(b)),
    merge(a, b) {
      if (!Array.isArray(b)) return a.map((x) => Object.assign({}, b, x));
      return a.map((x, i) => Object.assign({}, b[i] || {}, x));
    },
    randomItem: (a) => a[Math.floor(Math.random() * a.length)],
    renameKeys(a, ...pairs) {
      return a.map((v) => {
        if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
        const o = Object.assign({}, v);
        for (let i = 0; i + 1 < pairs.length; i += 2) {
          if (pairs[i] in o) { o[pairs[i + 1]] = o[pairs[i]]; delete o[pairs[i]]; }
        }
        return o;
      });
    },
    smartJoin(a, keyField, valueField) {
      const o = {};
      for (const v of a) {
        if (v && typeof v === 'object' && v[keyField] !== undefined && v[keyField] !== null && v[keyField] !== '') {
          o[String(v[keyField]).trim()] = typeof v[valueField] === 'string' ? v[valueField].trim() : v[valueField];
        }
      }
      return o;
    },
    toJsonString: (a) => JSON.stringify(a),
    append: (a, ...v) => a.concat(v),
  };

  const NUMBER = {
    round: (n, places) => { const f = 10 ** (places || 0); return Math.round(n * f) / f; },
    floor: (n) => Math.floor(n),
    ceil: (n) => Math.ceil(n),
    abs: (n) => Math.abs(n),
    isEven: (n) => n % 2 === 0,
    isOdd: (n) => Math.abs(n % 2) === 1,
    isInteger: (n) => Number.isInteger(n),
    format: (n, locales, options) => new Intl.NumberFormat(locales || 'en-US', options).format(n),
    toBoolean: (n) => n !== 0,
    toNumber: (n) => n,
    toInt: (n) => Math.trunc(n),
    toFloat: (n) => n,
    toDateTime(n, format) {
      if (format === 'ms' || format === undefined) return RF.DateTime.fromMillis(format === undefined && Math.abs(n) < 1e11 ? n * 1000 : n);
      if (format === 's') return RF.DateTime.fromSeconds(n);
      if (format === 'excel') return RF.DateTime.fromMillis(Math.round((n - 25569) * 864e5));
      throw new Error(`toDateTime: unknown format '${format}' (ms, s, excel)`);
    },
    isEmpty: () => false,
    isNotEmpty: () => true,
    toJsonString: (n) => JSON.stringify(n),
  };

  const BOOLEAN = {
    toNumber: (b) => (b ? 1 : 0),
    toInt: (b) => (b ? 1 : 0),
    toBoolean: (b) => b,
    isEmpty: () => false,
    isNotEmpty: () => true,
    toJsonString: (b) => JSON.stringify(b),
  };

  const OBJECT = {
    isEmpty: (o) => Object.keys(o).length === 0,
    isNotEmpty: (o) => Object.keys(o).length > 0,
    merge: (o, other) => Object.assign({}, other || {}, o),
    hasField: (o, k) => Object.prototype.hasOwnProperty.call(o, k),
    removeField: (o, k) => { const c = Object.assign({}, o); delete c[k]; return c; },
    removeFieldsContaining: (o, v) => Object.fromEntries(Object.entries(o).filter(([, x]) => !(typeof x === 'string' ? x.includes(v) : x === v))),
    keepFieldsContaining: (o, v) => Object.fromEntries(Object.entries(o).filter(([, x]) => (typeof x === 'string' ? x.includes(v) : x === v))),
    compact: (o) => Object.fromEntries(Object.entries(o).filter(([, x]) => !(x === null || x === undefined || x === '' || (typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 0)))),
    urlEncode: (o) => Object.entries(o).map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(typeof v === 'object' ? JSON.stringify(v) : String(v))).join('&'),
    keys: (o) => Object.keys(o),
    values: (o) => Object.values(o),
    toJsonString: (o) => JSON.stringify(o),
  };

  // JS Date gets the DateTime functions (results that are dates come back as Date)
  const DATE = {};
  for (const name of ['format', 'isBetween', 'isWeekend', 'beginningOf', 'endOfMonth', 'extract', 'isDst',
    'isInLast', 'diffTo', 'diffToNow', 'plus', 'minus', 'toDateTime']) {
    DATE[name] = (d, ...a) => {
      const dt = RF.DateTime.fromJSDate(d);
      const r = dt[name](...a);
      return RF.isDateTime(r) && name !== 'toDateTime' ? r.toJSDate() : r;
    };
  }
  DATE.toTimestamp = (d) => d.getTime();
  DATE.isEmpty = () => false;
  DATE.isNotEmpty = () => true;

  const TABLES = { string: STRING, number: NUMBER, boolean: BOOLEAN, array: ARRAY, object: OBJECT, date: DATE };
  function typeKey(v) {
    const t = typeof v;
    if (t === 'string' || t === 'number' || t === 'boolean') return t;
    if (Array.isArray(v)) return 'array';
    if (v instanceof Date) return 'date';
    return 'object';
  }
  RF.EXTENSION_NAMES = Array.from(new Set([].concat(...Object.values(TABLES).map(Object.keys)))).sort();
  RF.extensionTables = TABLES;
  for (const name of RF.EXTENSION_NAMES) {
    Object.defineProperty(Object.prototype, '__rfx_' + name, {
      value: function (...args) {
        const own = this[name];
        if (typeof own === 'function') return own.apply(this, args);
        const table = TABLES[typeKey(this)];
        const fn = table[name];
        if (fn === undefined) throw new TypeError(`${name}() is not available on ${typeKey(this)}s`);
        return fn(this, ...args);
      },
      enumerable: false, writable: false, configurable: false,
    });
  }
})(globalThis);
