// relayflow expression prelude: DateTime.toFormat / DateTime.fromFormat tokens (Luxon's token table).
'use strict';
(function (G) {
  const RF = G.__rf;
  const pad = RF.pad;

  // Split a format into [token, isLiteral] pairs: runs of one letter, or quoted/other text.
  function lex(fmt) {
    const out = [];
    let i = 0;
    while (i < fmt.length) {
      const c = fmt[i];
      if (c === "'") {
        if (fmt[i + 1] === "'") { out.push(["'", true]); i += 2; continue; }
        let j = i + 1, text = '';
        while (j < fmt.length) {
          if (fmt[j] === "'") {
            if (fmt[j + 1] === "'") { text += "'"; j += 2; continue; }
            break;
          }
          text += fmt[j++];
        }
        out.push([text, true]);
        i = j + 1;
      } else if (/[A-Za-z]/.test(c)) {
        let j = i;
        while (j < fmt.length && fmt[j] === c) j++;
        out.push([fmt.slice(i, j), false]);
        i = j;
      } else {
        out.push([c, true]);
        i++;
      }
    }
    return out;
  }

  const MACROS = {
    D: { year: 'numeric', month: 'numeric', day: 'numeric' },
    DD: { year: 'numeric', month: 'short', day: 'numeric' },
    DDD: { year: 'numeric', month: 'long', day: 'numeric' },
    DDDD: { year: 'numeric', month: 'long', day: 'numeric', weekday: 'long' },
    t: { hour: 'numeric', minute: '2-digit' },
    tt: { hour: 'numeric', minute: '2-digit', second: '2-digit' },
    T: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
    TT: { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
  };
  function macro(dt, tok) {
    const both = { f: ['D', 't'], ff: ['DD', 't'], fff: ['DDD', 't'], F: ['D', 'tt'], FF: ['DD', 'tt'], FFF: ['DDD', 'tt'] };
    if (both[tok]) return both[tok].map((t) => macro(dt, t)).join(', ');
    return dt.toLocaleString(MACROS[tok]);
  }

  function token(dt, t) {
    const hour12 = dt.hour % 12 === 0 ? 12 : dt.hour % 12;
    switch (t) {
      case 'S': return String(dt.millisecond);
      case 'SSS': return pad(dt.millisecond, 3);
      case 's': return String(dt.second);
      case 'ss': return pad(dt.second, 2);
      case 'm': return String(dt.minute);
      case 'mm': return pad(dt.minute, 2);
      case 'h': return String(hour12);
      case 'hh': return pad(hour12, 2);
      case 'H': return String(dt.hour);
      case 'HH': return pad(dt.hour, 2);
      case 'Z': return RF.fmtOffset(dt.offset, 'short');
      case 'ZZ': return RF.fmtOffset(dt.offset);
      case 'ZZZ': return RF.fmtOffset(dt.offset, 'techie');
      case 'ZZZZ': return dt.offsetNameShort;
      case 'ZZZZZ': return dt.offsetNameLong;
      case 'z': return dt.zoneName;
      case 'a': return dt.hour < 12 ? 'AM' : 'PM';
      case 'd': return String(dt.day);
      case 'dd': return pad(dt.day, 2);
      case 'c': case 'E': return String(dt.weekday);
      case 'ccc': case 'EEE': return dt.weekdayShort;
      case 'cccc': case 'EEEE': return dt.weekdayLong;
      case 'ccccc': case 'EEEEE': return dt.weekdayLong[0];
      case 'L': case 'M': return String(dt.month);
      case 'LL': case 'MM': return pad(dt.month, 2);
      case 'LLL': case 'MMM': return dt.monthShort;
      case 'LLLL': case 'MMMM': return dt.monthLong;
      case 'LLLLL': case 'MMMMM': return dt.monthLong[0];
      case 'y': return String(dt.year);
      case 'yy': return pad(dt.year % 100, 2);
      case 'yyyy': return pad(dt.year, 4);
      case 'yyyyyy': return pad(dt.year, 6);
      case 'G': case 'GG': return dt.year > 0 ? 'AD' : 'BC';
      case 'GGGGG': return dt.year > 0 ? 'A' : 'B';
      case 'kk': return pad(dt.weekYear % 100, 2);
      case 'kkkk': return pad(dt.weekYear, 4);
      case 'W': return String(dt.weekNumber);
      case 'WW': return pad(dt.weekNumber, 2);
      case 'o': return String(dt.ordinal);
      case 'ooo': return pad(dt.ordinal, 3);
      case 'q': return String(dt.quarter);
      case 'qq': return pad(dt.quarter, 2);
      case 'X': return String(Math.floor(dt.ts / 1000));
      case 'x': return String(dt.ts);
      default:
        if (t in MACROS || /^(f|ff|fff|F|FF|FFF)$/.test(t)) return macro(dt, t);
        return t;
    }
  }

  RF.formatDateTime = function (dt, fmt) {
    let out = '';
    for (const [t, literal] of lex(fmt)) out += literal ? t : token(dt, t);
    return out;
  };

  // ---- parsing -------------------------------------------------------------------------------
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const NAMES = (list, len) => list.map((n) => (len ? n.slice(0, len) : n)).join('|');
  function matcher(t) {
    switch (t) {
      case 'yyyy': return ['(\\d{4})', 'year'];
      case 'yy': return ['(\\d{2})', 'year2'];
      case 'y': return ['(\\d{1,6})', 'year'];
      case 'M': case 'L': return ['(\\d{1,2})', 'month'];
      case 'MM': case 'LL': return ['(\\d{2})', 'month'];
      case 'MMM': case 'LLL': return [`(${NAMES(RF.MONTHS, 3)})`, 'monthShort'];
      case 'MMMM': case 'LLLL': return [`(${NAMES(RF.MONTHS)})`, 'monthLong'];
      case 'd': return ['(\\d{1,2})', 'day'];
      case 'dd': return ['(\\d{2})', 'day'];
      case 'H': case 'h': return ['(\\d{1,2})', 'hour'];
      case 'HH': case 'hh': return ['(\\d{2})', 'hour'];
      case 'm': return ['(\\d{1,2})', 'minute'];
      case 'mm': return ['(\\d{2})', 'minute'];
      case 's': return ['(\\d{1,2})', 'second'];
      case 'ss': return ['(\\d{2})', 'second'];
      case 'S': return ['(\\d{1,3})', 'millisecond'];
      case 'SSS': return ['(\\d{3})', 'millisecond'];
      case 'a': return ['(AM|PM|am|pm)', 'meridiem'];
      case 'EEE': case 'ccc': return [`(${NAMES(RF.WEEKDAYS, 3)})`, null];
      case 'EEEE': case 'cccc': return [`(${NAMES(RF.WEEKDAYS)})`, null];
      case 'Z': case 'ZZ': case 'ZZZ': return ['(Z|[+-]\\d{1,2}(?::?\\d{2})?)', 'offset'];
      case 'z': return ['([A-Za-z_]+(?:/[A-Za-z_+-]+)*)', 'zone'];
      case 'X': return ['(-?\\d+)', 'unix'];
      case 'x': return ['(-?\\d+)', 'unixMs'];
      default: return null;
    }
  }

  RF.parseFormat = function (DateTime, s, fmt, opts) {
    let re = '^';
    const fields = [];
    for (const [t, literal] of lex(fmt)) {
      const m = literal ? null : matcher(t);
      if (m === null) { re += esc(t); continue; }
      re += m[0];
      fields.push(m[1]);
    }
    const found = new RegExp(re + '$', 'i').exec(s.trim());
    if (!found) return DateTime.invalid(`the input "${s}" can't be parsed as format ${fmt}`);
    const o = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 };
    let offset = null, zone = null, meridiem = null;
    fields.forEach((f, i) => {
      const v = found[i + 1];
      const cap = (x) => x[0].toUpperCase() + x.slice(1).toLowerCase();
      if (f === 'year2') o.year = 2000 + Number(v) - (Number(v) > 60 ? 100 : 0);
      else if (f === 'monthShort') o.month = RF.MONTHS.findIndex((n) => n.slice(0, 3) === cap(v)) + 1;
      else if (f === 'monthLong') o.month = RF.MONTHS.indexOf(cap(v)) + 1;
      else if (f === 'meridiem') meridiem = v.toUpperCase();
      else if (f === 'offset') offset = v;
      else if (f === 'zone') zone = v;
      else if (f === 'unix') o.unix = Number(v) * 1000;
      else if (f === 'unixMs') o.unix = Number(v);
      else if (f === 'millisecond') o.millisecond = Number(v.padEnd(3, '0'));
      else if (f) o[f] = Number(v);
    });
    if (o.unix !== undefined) return DateTime.fromMillis(o.unix, opts);
    if (meridiem === 'PM' && o.hour < 12) o.hour += 12;
    if (meridiem === 'AM' && o.hour === 12) o.hour = 0;
    let off = offset;
    if (off && off !== 'Z' && !off.includes(':') && off.length > 3) off = off.slice(0, 3) + ':' + off.slice(3);
    if (off && /^[+-]\d$/.test(off)) off = off[0] + '0' + off[1];
    if (off && /^[+-]\d{2}$/.test(off)) off += ':00';
    return DateTime._withOffset(o, off, zone, opts);
  };
})(globalThis);
