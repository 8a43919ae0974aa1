// relayflow expression prelude: DateTime, a Luxon-like API written for relayflow on top of Intl
// (time zones) and Date (calendar arithmetic). Not Luxon's code. Duration/Interval: duration.js.
'use strict';
(function (G) {
  const RF = G.__rf;
  let defaultZone = 'UTC';

  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
    'October', 'November', 'December'];
  const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
  const { UNIT_MS, UNITS, unitName, toDurationValues } = RF;
  const Duration = RF.Duration, Interval = RF.Interval;
  const pad = (n, w) => {
    const s = String(Math.abs(Math.trunc(n)));
    return (n < 0 ? '-' : '') + (s.length >= w ? s : '0'.repeat(w - s.length) + s);
  };

  // ---- zones -------------------------------------------------------------------------------
  const formatters = new Map();
  function formatter(name) {
    let f = formatters.get(name);
    if (!f) {
      f = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric',
        month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short' });
      formatters.set(name, f);
    }
    return f;
  }
  const zones = new Map();
  function zoneOf(z) {
    if (z && typeof z === 'object' && 'fixed' in z) return z;
    if (z === undefined || z === null || z === 'local' || z === 'default' || z === 'system') z = defaultZone;
    if (typeof z !== 'string') return null;
    let found = zones.get(z);
    if (found !== undefined) return found;
    const m = /^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(z);
    if (/^(utc|gmt|z|etc\/utc|etc\/gmt)$/i.test(z)) found = { name: 'UTC', fixed: 0 };
    else if (m) {
      const off = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] || 0));
      found = { name: off === 0 ? 'UTC' : 'UTC' + fmtOffset(off, 'short'), fixed: off };
    } else {
      try { formatter(z); found = { name: z, fixed: null }; } catch (_) { found = null; }
    }
    if (zones.size < 500) zones.set(z, found);
    return found;
  }
  function fmtOffset(off, style) {
    const sign = off < 0 ? '-' : '+';
    const h = Math.floor(Math.abs(off) / 60), m = Math.abs(off) % 60;
    if (style === 'short') return sign + h + (m ? ':' + pad(m, 2) : '');
    if (style === 'techie') return sign + pad(h, 2) + pad(m, 2);
    return sign + pad(h, 2) + ':' + pad(m, 2);
  }
  function offsetAt(zone, ts) {
    if (zone.fixed !== null) return zone.fixed;
    const parts = formatter(zone.name).formatToParts(new Date(ts));
    const v = {};
    for (const p of parts) v[p.type] = p.value;
    let year = Number(v.year);
    if (v.era === 'BC' || v.era === 'B') year = 1 - year;
    const wall = wallToMs(year, Number(v.month), Number(v.day), Number(v.hour), Number(v.minute), Number(v.second), 0);
    return Math.round((wall - (ts - (((ts % 1000) + 1000) % 1000))) / 60000);
  }
  function wallToMs(y, mo, d, h, mi, s, ms) {
    const dt = new Date(0);
    dt.setUTCFullYear(y, mo - 1, d);
    dt.setUTCHours(h, mi, s, ms);
    return dt.getTime();
  }
  function tsFromWall(zone, o) {
    const wall = wallToMs(o.year, o.month, o.day, o.hour, o.minute, o.second, o.millisecond);
    if (zone.fixed !== null) return wall - zone.fixed * 60000;
    const o1 = offsetAt(zone, wall);
    let ts = wall - o1 * 60000;
    const o2 = offsetAt(zone, ts);
    if (o1 !== o2) {
      const ts2 = wall - o2 * 60000;
      if (offsetAt(zone, ts2) === o2) ts = ts2;
    }
    return ts;
  }

  // ---- DateTime ------------------------------------------------------------------------------
  class DateTime {
    constructor(ts, zone, invalid, locale) {
      this.ts = ts;
      this._zone = zone;
      this.invalidReason = invalid || null;
      this.loc = locale || 'en-US';
      this._c = null;
    }
    static __setDefaultZone(z) { defaultZone = zoneOf(z) ? z : 'UTC'; }
    static _make(ts, zone, locale) {
      const z = zoneOf(zone);
      if (!z) return DateTime.invalid(`unsupported zone: ${zone}`);
      if (typeof ts !== 'number' || !isFinite(ts)) return DateTime.invalid('invalid timestamp');
      return new DateTime(ts, z, null, locale);
    }
    static invalid(reason) { return new DateTime(NaN, zoneOf('UTC'), reason || 'invalid'); }
    static isDateTime(o) { return o instanceof DateTime; }
    static now() { return DateTime._make(Date.now(), defaultZone); }
    static local(...a) { return a.length ? DateTime._fromParts(a, defaultZone) : DateTime.now(); }
    static utc(...a) { return a.length ? DateTime._fromParts(a, 'UTC') : DateTime._make(Date.now(), 'UTC'); }
    static _fromParts(a, zone) {
      const [year, month = 1, day = 1, hour = 0, minute = 0, second = 0, millisecond = 0] = a;
      return DateTime.fromObject({ year, month, day, hour, minute, second, millisecond }, { zone });
    }
    static fromMillis(ms, opts) { return DateTime._make(Number(ms), (opts && opts.zone) || defaultZone, opts && opts.locale); }
    static fromSeconds(s, opts) { return DateTime.fromMillis(Number(s) * 1000, opts); }
    static fromJSDate(d, opts) { return DateTime.fromMillis(d instanceof Date ? d.getTime() : NaN, opts); }
    static fromObject(o, opts) {
      const zone = zoneOf((opts && opts.zone) || defaultZone);
      if (!zone) return DateTime.invalid('unsupported zone');
      const now = DateTime._make(Date.now(), zone);
      const hasDate = o && (o.year !== undefined || o.month !== undefined || o.day !== undefined);
      const parts = {
        year: o.year !== undefined ? o.year : now.year,
        month: o.month !== undefined ? o.month : hasDate ? 1 : now.month,
        day: o.day !== undefined ? o.day : hasDate ? 1 : now.day,
        hour: o.hour || 0, minute: o.minute || 0, second: o.second || 0, millisecond: o.millisecond || 0,
      };
      return new DateTime(tsFromWall(zone, parts), zone, null, opts && opts.locale);
    }
    static fromISO(s, opts) {
      const m = ISO_RE.exec(String(s).trim());
      if (!m) return DateTime.invalid(`unparsable: the input "${s}" can't be parsed as ISO 8601`);
      const o = { year: Number(m[1]), month: Number(m[2] || 1), day: Number(m[3] || 1), hour: Number(m[4] || 0),
        minute: Number(m[5] || 0), second: Number(m[6] || 0),
        millisecond: m[7] ? Math.round(Number('0.' + m[7]) * 1000) : 0 };
      return DateTime._withOffset(o, m[8], m[9], opts);
    }
    static fromSQL(s, opts) { return DateTime.fromISO(String(s).replace(' ', 'T'), opts); }
    static fromRFC2822(s, opts) { return DateTime.fromMillis(Date.parse(s), opts); }
    static fromHTTP(s, opts) { return DateTime.fromMillis(Date.parse(s), opts); }
    static _withOffset(o, offText, zoneText, opts) {
      const target = (opts && opts.zone) || defaultZone;
      let ts;
      let zone = zoneOf(zoneText || target);
      if (!zone) return DateTime.invalid('unsupported zone');
      if (offText) {
        const off = offText === 'Z' || offText === 'z' ? 0 : parseOffset(offText);
        ts = wallToMs(o.year, o.month, o.day, o.hour, o.minute, o.second, o.millisecond) - off * 60000;
        if (opts && opts.setZone) zone = zoneOf(off === 0 ? 'UTC' : fmtOffset(off));
      } else {
        ts = tsFromWall(zoneOf(zoneText || target), o);
      }
      return new DateTime(ts, zone, null, opts && opts.locale);
    }
    static fromFormat(s, fmt, opts) { return RF.parseFormat(DateTime, String(s), String(fmt), opts); }
    static fromString(s, opts) { return DateTime.fromISO(s, opts); }
    static min(...a) { return a.reduce((x, y) => (y.ts < x.ts ? y : x)); }
    static max(...a) { return a.reduce((x, y) => (y.ts > x.ts ? y : x)); }

    get isValid() { return this.invalidReason === null; }
    get zone() { return { name: this._zone.name, type: this._zone.fixed === null ? 'iana' : 'fixed' }; }
    get zoneName() { return this._zone.name; }
    get offset() { return this.isValid ? offsetAt(this._zone, this.ts) : NaN; }
    get isOffsetFixed() { return this._zone.fixed !== null; }
    get offsetNameShort() { return this._zoneText('short'); }
    get offsetNameLong() { return this._zoneText('long'); }
    get locale() { return this.loc; }
    _parts() {
      if (this._c === null) {
        if (!this.isValid) return (this._c = {});
        const d = new Date(this.ts + this.offset * 60000);
        this._c = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
          hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(),
          millisecond: d.getUTCMilliseconds(), weekday: ((d.getUTCDay() + 6) % 7) + 1 };
      }
      return this._c;
    }
    get year() { return this._parts().year; }
    get month() { return this._parts().month; }
    get day() { return this._parts().day; }
    get hour() { return this._parts().hour; }
    get minute() { return this._parts().minute; }
    get second() { return this._parts().second; }
    get millisecond() { return this._parts().millisecond; }
    get weekday() { return this._parts().weekday; }
    get quarter() { return Math.ceil(this.month / 3); }
    get monthLong() { return this._name('month', 'long'); }
    get monthShort() { return this._name('month', 'short'); }
    get weekdayLong() { return this._name('weekday', 'long'); }
    get weekdayShort() { return this._name('weekday', 'short'); }
    get daysInMonth() { return new Date(Date.UTC(this.year, this.month, 0)).getUTCDate(); }
    get daysInYear() { return this.isInLeapYear ? 366 : 365; }
    get isInLeapYear() { const y = this.year; return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0; }
    get ordinal() { return Math.round((Date.UTC(this.year, this.month - 1, this.day) - Date.UTC(this.year, 0, 1)) / 864e5) + 1; }
    get weekNumber() { return isoWeek(this)[1]; }
    get weekYear() { return isoWeek(this)[0]; }
    get isInDST() {
      if (this._zone.fixed !== null) return false;
      const jan = offsetAt(this._zone, Date.UTC(this.year, 0, 1)), jul = offsetAt(this._zone, Date.UTC(this.year, 6, 1));
      return jan !== jul && this.offset === Math.max(jan, jul);
    }
    _name(what, style) {
      if (this.loc.startsWith('en')) {
        const full = what === 'month' ? MONTHS[this.month - 1] : WEEKDAYS[this.weekday - 1];
        return style === 'long' ? full : style === 'short' ? full.slice(0, 3) : full[0];
      }
      const f = new Intl.DateTimeFormat(this.loc, { timeZone: 'UTC', [what]: style });
      return f.format(new Date(Date.UTC(this.year, this.month - 1, this.day)));
    }
    _zoneText(style) {
      if (this._zone.fixed !== null) return this._zone.name;
      const parts = new Intl.DateTimeFormat(this.loc, { timeZone: this._zone.name, timeZoneName: style })
        .formatToParts(new Date(this.ts));
      const p = parts.find((x) => x.type === 'timeZoneName');
      return p ? p.value : this._zone.name;
    }
    get(unit) { return this[unit]; }

    // output -----------------------------------------------------------------------------------
    toISO(opts) {
      if (!this.isValid) return null;
      return this.toISODate() + 'T' + this.toISOTime(opts);
    }
    toISODate() {
      if (!this.isValid) return null;
      const y = this.year;
      return (y > 9999 || y < 0 ? (y < 0 ? '-' : '+') + pad(Math.abs(y), 6) : pad(y, 4)) + '-' + pad(this.month, 2) + '-' + pad(this.day, 2);
    }
    toISOTime(opts) {
      if (!this.isValid) return null;
      const o = opts || {};
      let s = pad(this.hour, 2) + ':' + pad(this.minute, 2);
      if (!(o.suppressSeconds && this.second === 0 && this.millisecond === 0)) {
        s += ':' + pad(this.second, 2);
        if (!(o.suppressMilliseconds && this.millisecond === 0)) s += '.' + pad(this.millisecond, 3);
      }
      if (o.includeOffset !== false) s += this._zone.name === 'UTC' && this.offset === 0 ? 'Z' : fmtOffset(this.offset);
      return s;
    }
    toString() { return this.isValid ? this.toISO() : 'Invalid DateTime'; }
    toJSON() { return this.toISO(); }
    valueOf() { return this.ts; }
    toMillis() { return this.ts; }
    toSeconds() { return this.ts / 1000; }
    toUnixInteger() { return Math.floor(this.ts / 1000); }
    toJSDate() { return new Date(this.ts); }
    toSQLDate() { return this.toISODate(); }
    toSQL() { return this.toISODate() + ' ' + this.toFormat('HH:mm:ss.SSS ZZ'); }
    toRFC2822() { return this.toFormat('EEE, d MMM yyyy HH:mm:ss ZZZ'); }
    toHTTP() { return this.toUTC().toFormat("EEE, dd MMM yyyy HH:mm:ss 'GMT'"); }
    toObject() {
      const p = this._parts();
      return { year: p.year, month: p.month, day: p.day, hour: p.hour, minute: p.minute, second: p.second,
        millisecond: p.millisecond };
    }
    toLocaleString(fmt, opts) {
      if (!this.isValid) return 'Invalid DateTime';
      const locale = (opts && opts.locale) || this.loc;
      const o = Object.assign({}, fmt || { year: 'numeric', month: 'numeric', day: 'numeric' },
        { timeZone: this._zone.fixed === null ? this._zone.name : 'UTC' });
      const d = this._zone.fixed === null ? new Date(this.ts) : new Date(this.ts + this._zone.fixed * 60000);
      return new Intl.DateTimeFormat(locale, o).format(d);
    }
    toFormat(fmt, opts) { return this.isValid ? RF.formatDateTime(this, String(fmt), opts) : 'Invalid DateTime'; }
    toRelative(opts) {
      const base = (opts && opts.base) || DateTime.now();
      const diff = this.ts - base.ts;
      const units = [['years', 31536e6], ['months', 2592e6], ['days', 864e5], ['hours', 36e5], ['minutes', 6e4], ['seconds', 1e3]];
      for (const [u, ms] of units) {
        if (Math.abs(diff) >= ms || u === 'seconds') {
          return new Intl.RelativeTimeFormat(this.loc, { numeric: 'always' }).format(Math.trunc(diff / ms), u);
        }
      }
      return '';
    }

    // changes ------------------------------------------------------------------------------------
    setZone(zone, opts) {
      const z = zoneOf(zone);
      if (!z) return DateTime.invalid(`unsupported zone: ${zone}`);
      if (opts && opts.keepLocalTime) return new DateTime(tsFromWall(z, this._parts()), z, null, this.loc);
      return new DateTime(this.ts, z, null, this.loc);
    }
    toUTC() { return this.setZone('UTC'); }
    toLocal() { return this.setZone(defaultZone); }
    setLocale(l) { return new DateTime(this.ts, this._zone, this.invalidReason, l); }
    reconfigure(o) { return o && o.locale ? this.setLocale(o.locale) : this; }
    set(values) {
      const p = Object.assign(this.toObject(), values || {});
      if (values && values.weekday !== undefined) {
        p.day += values.weekday - this.weekday;
      }
      return new DateTime(tsFromWall(this._zone, p), this._zone, null, this.loc);
    }
    plus(amount, unit) { return this._shift(toDurationValues(amount, unit), 1); }
    minus(amount, unit) { return this._shift(toDurationValues(amount, unit), -1); }
    _shift(v, sign) {
      if (!this.isValid) return this;
      const p = this.toObject();
      const months = sign * ((v.years || 0) * 12 + (v.quarters || 0) * 3 + (v.months || 0));
      const days = sign * ((v.weeks || 0) * 7 + (v.days || 0));
      let ts = this.ts;
      if (months || days) {
        if (months) {
          const total = p.year * 12 + (p.month - 1) + months;
          p.year = Math.floor(total / 12);
          p.month = total - p.year * 12 + 1;
          p.day = Math.min(p.day, new Date(Date.UTC(p.year, p.month, 0)).getUTCDate());
        }
        p.day += days;
        ts = tsFromWall(this._zone, p);
      }
      ts += sign * ((v.hours || 0) * 36e5 + (v.minutes || 0) * 6e4 + (v.seconds || 0) * 1e3 + (v.milliseconds || 0));
      return new DateTime(ts, this._zone, null, this.loc);
    }
    startOf(unit) {
      const u = unitName(unit);
      const p = this.toObject();
      switch (u) {
        case 'years': p.month = 1; // falls through
        case 'quarters': if (u === 'quarters') p.month = (this.quarter - 1) * 3 + 1; // falls through
        case 'months': p.day = 1; // falls through
        case 'weeks': if (u === 'weeks') p.day -= this.weekday - 1; // falls through
        case 'days': p.hour = 0; // falls through
        case 'hours': p.minute = 0; // falls through
        case 'minutes': p.second = 0; // falls through
        case 'seconds': p.millisecond = 0; break;
        default: break;
      }
      return new DateTime(tsFromWall(this._zone, p), this._zone, null, this.loc);
    }
    endOf(unit) {
      const u = unitName(unit);
      return this.startOf(u).plus({ [u]: 1 }).minus({ milliseconds: 1 });
    }
    diff(other, unit, opts) {
      const units = (Array.isArray(unit) ? unit : [unit || 'milliseconds']).map(unitName);
      return diffDurations(this, toDT(other), units);
    }
    diffNow(unit) { return this.diff(DateTime.now(), unit); }
    hasSame(other, unit) { return this.startOf(unit).ts === toDT(other).setZone(this._zone).startOf(unit).ts; }
    equals(other) { return other instanceof DateTime && other.ts === this.ts && other._zone.name === this._zone.name; }
    until(other) { return Interval.fromDateTimes(this, other); }

    // n8n's data transformation functions on dates
    format(fmt, zone) { return (zone ? this.setZone(zone) : this).toFormat(fmt); }
    isBetween(a, b) { const x = toDT(a).ts, y = toDT(b).ts; return this.ts > Math.min(x, y) && this.ts < Math.max(x, y); }
    isWeekend() { return this.weekday >= 6; }
    beginningOf(unit) { return this.startOf(unit || 'week'); }
    endOfMonth() { return this.endOf('month'); }
    extract(unit) {
      const u = unit || 'week';
      if (u === 'week' || u === 'weekNumber') return this.weekNumber;
      if (u === 'yearDayNumber') return this.ordinal;
      return this[u.endsWith('s') ? u.slice(0, -1) : u];
    }
    isDst() { return this.isInDST; }
    isInLast(n, unit) { const now = DateTime.now(); return this.ts <= now.ts && this.ts >= now.minus(n || 0, unit || 'minutes').ts; }
    diffTo(other, unit) { return toDT(other).diff(this, unit || 'days').as(unit || 'days') * -1; }
    diffToNow(unit) { return this.diffTo(DateTime.now(), unit); }
    toDateTime() { return this; }
  }
  const ISO_RE = /^([+-]\d{6}|\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?(?:\[([^\]]+)\])?$/;
  function parseOffset(s) {
    const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(s);
    return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] || 0)) : 0;
  }
  function isoWeek(dt) {
    const d = new Date(Date.UTC(dt.year, dt.month - 1, dt.day));
    d.setUTCDate(d.getUTCDate() + 4 - dt.weekday);
    const y = d.getUTCFullYear();
    return [y, Math.ceil(((d - Date.UTC(y, 0, 1)) / 864e5 + 1) / 7)];
  }
  function toDT(x) {
    if (x instanceof DateTime) return x;
    if (x instanceof Date) return DateTime.fromJSDate(x);
    if (typeof x === 'number') return DateTime.fromMillis(x);
    if (typeof x === 'string') return DateTime.fromISO(x);
    throw new Error(`not a date: ${x}`);
  }
  RF.toDateTime = toDT;
  RF.isDateTime = (x) => x instanceof DateTime;
  RF.pad = pad;
  RF.fmtOffset = fmtOffset;
  RF.MONTHS = MONTHS;
  RF.WEEKDAYS = WEEKDAYS;

  function diffDurations(a, b, units) {
    const order = UNITS.filter((u) => units.includes(u));
    const out = {};
    let cursor = b;
    const neg = a.ts < b.ts;
    for (const u of order) {
      if (u === 'years' || u === 'quarters' || u === 'months') {
        const per = u === 'years' ? 12 : u === 'quarters' ? 3 : 1;
        let n = Math.trunc(((a.year - cursor.year) * 12 + (a.month - cursor.month)) / per);
        while (n !== 0 && (neg ? cursor.plus({ months: n * per }).ts < a.ts : cursor.plus({ months: n * per }).ts > a.ts)) n += neg ? 1 : -1;
        out[u] = n;
        cursor = cursor.plus({ months: n * per });
      } else {
        out[u] = 0;
      }
    }
    let rest = a.ts - cursor.ts;
    const small = order.filter((u) => !['years', 'quarters', 'months'].includes(u));
    for (const u of small) {
      const q = Math.trunc(rest / UNIT_MS[u]);
      out[u] = q;
      rest -= q * UNIT_MS[u];
    }
    const last = order[order.length - 1];
    if (rest !== 0) {
      if (small.includes(last)) out[last] += rest / UNIT_MS[last];
      else out[last] += rest / (cursor.plus({ [last]: 1 }).ts - cursor.ts);
    }
    return new Duration(out);
  }

  RF.DateTime = DateTime;
  for (const [k, v] of [['DateTime', DateTime], ['Duration', Duration], ['Interval', Interval]]) {
    Object.defineProperty(G, k, { value: v, enumerable: false, writable: false, configurable: false });
  }
})(globalThis);
