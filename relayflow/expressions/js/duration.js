// relayflow expression prelude: Duration and Interval (Luxon-like API, our own code).
'use strict';
(function (G) {
  const RF = G.__rf;
  const UNIT_MS = { milliseconds: 1, seconds: 1e3, minutes: 6e4, hours: 36e5, days: 864e5, weeks: 6048e5,
    months: 2592e6, quarters: 7776e6, years: 31536e6 };
  const UNITS = ['years', 'quarters', 'months', 'weeks', 'days', 'hours', 'minutes', 'seconds', 'milliseconds'];
  function unitName(u) {
    if (typeof u !== 'string') throw new Error(`invalid unit: ${u}`);
    let s = u.toLowerCase();
    if (!s.endsWith('s')) s += 's';
    if (!(s in UNIT_MS)) throw new Error(`invalid unit: ${u}`);
    return s;
  }
  function toDurationValues(amount, unit) {
    if (amount instanceof Duration) return amount.values;
    if (typeof amount === 'number') return { [unitName(unit || 'milliseconds')]: amount };
    if (amount && typeof amount === 'object') {
      const v = {};
      for (const k of Object.keys(amount)) v[unitName(k)] = amount[k];
      return v;
    }
    throw new Error('plus/minus expect a number and a unit, an object or a Duration');
  }

  const pad = (n, w) => String(Math.abs(Math.trunc(n))).padStart(w, '0');
  const toDT = (x) => RF.toDateTime(x);

  // ---- Duration ------------------------------------------------------------------------------
  class Duration {
    constructor(values, invalid) {
      this.values = Object.freeze(Object.assign({}, values));
      this.invalidReason = invalid || null;
    }
    static fromObject(o) { return new Duration(toDurationValues(o || {})); }
    static fromMillis(ms) { return new Duration({ milliseconds: Number(ms) }); }
    static fromISO(s) {
      const m = /^(-)?P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/.exec(String(s));
      if (!m) return new Duration({}, 'unparsable');
      const n = (x) => (x === undefined ? 0 : Number(x.replace(',', '.')) * (m[1] ? -1 : 1));
      return new Duration({ years: n(m[2]), months: n(m[3]), weeks: n(m[4]), days: n(m[5]), hours: n(m[6]),
        minutes: n(m[7]), seconds: n(m[8]) });
    }
    static isDuration(o) { return o instanceof Duration; }
    get isValid() { return this.invalidReason === null; }
    get years() { return this.values.years || 0; }
    get quarters() { return this.values.quarters || 0; }
    get months() { return this.values.months || 0; }
    get weeks() { return this.values.weeks || 0; }
    get days() { return this.values.days || 0; }
    get hours() { return this.values.hours || 0; }
    get minutes() { return this.values.minutes || 0; }
    get seconds() { return this.values.seconds || 0; }
    get milliseconds() { return this.values.milliseconds || 0; }
    get(unit) { return this[unitName(unit)]; }
    toMillis() { let t = 0; for (const u of UNITS) t += (this.values[u] || 0) * UNIT_MS[u]; return t; }
    valueOf() { return this.toMillis(); }
    as(unit) { return this.toMillis() / UNIT_MS[unitName(unit)]; }
    shiftTo(...units) {
      const us = UNITS.filter((u) => units.map(unitName).includes(u));
      let rest = this.toMillis();
      const out = {};
      us.forEach((u, i) => {
        const v = i === us.length - 1 ? rest / UNIT_MS[u] : Math.trunc(rest / UNIT_MS[u]);
        out[u] = v;
        rest -= v * UNIT_MS[u];
      });
      return new Duration(out);
    }
    plus(d) { const o = Object.assign({}, this.values); const v = toDurationValues(d); for (const k in v) o[k] = (o[k] || 0) + v[k]; return new Duration(o); }
    minus(d) { const o = Object.assign({}, this.values); const v = toDurationValues(d); for (const k in v) o[k] = (o[k] || 0) - v[k]; return new Duration(o); }
    negate() { const o = {}; for (const k in this.values) o[k] = -this.values[k]; return new Duration(o); }
    toObject() { return Object.assign({}, this.values); }
    toISO() {
      const v = this.values;
      let s = 'P';
      if (v.years) s += v.years + 'Y';
      if (v.months || v.quarters) s += (v.months || 0) + (v.quarters || 0) * 3 + 'M';
      if (v.weeks) s += v.weeks + 'W';
      if (v.days) s += v.days + 'D';
      if (v.hours || v.minutes || v.seconds || v.milliseconds) {
        s += 'T';
        if (v.hours) s += v.hours + 'H';
        if (v.minutes) s += v.minutes + 'M';
        if (v.seconds || v.milliseconds) s += Math.round(((v.seconds || 0) + (v.milliseconds || 0) / 1000) * 1000) / 1000 + 'S';
      }
      return s === 'P' ? 'PT0S' : s;
    }
    toJSON() { return this.toISO(); }
    toString() { return this.toISO(); }
    toHuman() {
      return UNITS.filter((u) => this.values[u]).map((u) => {
        const n = this.values[u];
        return `${n} ${Math.abs(n) === 1 ? u.slice(0, -1) : u}`;
      }).join(', ');
    }
    toFormat(fmt) {
      let rest = this.toMillis();
      const take = (ms) => { const v = Math.trunc(rest / ms); rest -= v * ms; return v; };
      const hasD = /d/.test(fmt), hasH = /h/.test(fmt), hasM = /m/.test(fmt), hasS = /s/.test(fmt);
      const v = { d: hasD ? take(864e5) : 0, h: hasH ? take(36e5) : 0, m: hasM ? take(6e4) : 0, s: hasS ? take(1e3) : 0 };
      const S = rest;
      return fmt.replace(/dd|d|hh|h|mm|m|ss|s|SSS|S/g, (t) => (t[0] === 'S' ? pad(S, t.length) : pad(v[t[0]], t.length)));
    }
  }

  class Interval {
    constructor(start, end) { this.start = start; this.end = end; }
    static fromDateTimes(a, b) { return new Interval(toDT(a), toDT(b)); }
    static after(start, d) { const s = toDT(start); return new Interval(s, s.plus(d)); }
    static before(end, d) { const e = toDT(end); return new Interval(e.minus(d), e); }
    get isValid() { return this.start.isValid && this.end.isValid && this.start.ts <= this.end.ts; }
    length(unit) { return (this.end.ts - this.start.ts) / UNIT_MS[unitName(unit || 'milliseconds')]; }
    contains(dt) { const t = toDT(dt).ts; return t >= this.start.ts && t < this.end.ts; }
    toDuration(unit) { return this.end.diff(this.start, unit); }
    toString() { return `[${this.start.toISO()} – ${this.end.toISO()})`; }
    toJSON() { return this.toString(); }
  }

  Object.assign(RF, { UNIT_MS, UNITS, unitName, toDurationValues, Duration, Interval });
})(globalThis);
