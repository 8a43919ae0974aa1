// relayflow expression prelude: UTF-8, base64 and message digests (MD5, SHA-1, SHA-2) in plain JS,
// for the string extension methods hash(), base64Encode() and base64Decode().
'use strict';
(function (G) {
  const RF = G.__rf;

  function utf8(str) {
    const out = [];
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < str.length) {
        const d = str.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
      }
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }
  function fromUtf8(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i];
      let c, n;
      if (b < 0x80) { c = b; n = 1; } else if (b >= 0xf0) { c = b & 7; n = 4; } else if (b >= 0xe0) { c = b & 15; n = 3; } else if (b >= 0xc0) { c = b & 31; n = 2; } else { c = 0xfffd; n = 1; }
      for (let k = 1; k < n; k++) c = (c << 6) | ((bytes[i + k] || 0) & 63);
      s += String.fromCodePoint(c);
      i += n;
    }
    return s;
  }
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function b64encode(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
      s += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=';
      s += i + 2 < bytes.length ? B64[n & 63] : '=';
    }
    return s;
  }
  function b64decode(str) {
    const clean = String(str).replace(/[^A-Za-z0-9+/_-]/g, '').replace(/-/g, '+').replace(/_/g, '/');
    const out = [];
    let buf = 0, bits = 0;
    for (const ch of clean) {
      buf = (buf << 6) | B64.indexOf(ch);
      bits += 6;
      if (bits >= 8) { bits -= 8; out.push((buf >> bits) & 255); }
    }
    return out;
  }
  const hex = (bytes) => bytes.map((b) => (b < 16 ? '0' : '') + b.toString(16)).join('');

  function pad64(bytes, bigEndian, blockBytes) {
    const len = bytes.length;
    const m = bytes.slice();
    m.push(0x80);
    const lenBytes = blockBytes === 128 ? 16 : 8;
    while (m.length % blockBytes !== blockBytes - lenBytes) m.push(0);
    const bitsLen = len * 8;
    const lb = [];
    for (let i = 0; i < lenBytes; i++) lb.push(i < 6 ? Math.floor(bitsLen / 2 ** (8 * i)) & 255 : 0);
    if (bigEndian) lb.reverse();
    return m.concat(lb);
  }
  function words(m, i, bigEndian) {
    return bigEndian
      ? ((m[i] << 24) | (m[i + 1] << 16) | (m[i + 2] << 8) | m[i + 3]) >>> 0
      : (m[i] | (m[i + 1] << 8) | (m[i + 2] << 16) | (m[i + 3] << 24)) >>> 0;
  }
  const rotl = (x, n) => ((x << n) | (x >>> (32 - n))) >>> 0;
  const rotr = (x, n) => ((x >>> n) | (x << (32 - n))) >>> 0;

  function md5(bytes) {
    const K = [], S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0;
    const m = pad64(bytes, false, 64);
    let [a0, b0, c0, d0] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    for (let off = 0; off < m.length; off += 64) {
      const M = [];
      for (let i = 0; i < 16; i++) M[i] = words(m, off + i * 4, false);
      let [A, B, C, D] = [a0, b0, c0, d0];
      for (let i = 0; i < 64; i++) {
        let F, g;
        if (i < 16) { F = (B & C) | (~B & D); g = i; } else if (i < 32) { F = (D & B) | (~D & C); g = (5 * i + 1) % 16; } else if (i < 48) { F = B ^ C ^ D; g = (3 * i + 5) % 16; } else { F = C ^ (B | ~D); g = (7 * i) % 16; }
        F = (F + A + K[i] + M[g]) >>> 0;
        A = D; D = C; C = B;
        B = (B + rotl(F, S[(i >> 4) * 4 + (i % 4)])) >>> 0;
      }
      a0 = (a0 + A) >>> 0; b0 = (b0 + B) >>> 0; c0 = (c0 + C) >>> 0; d0 = (d0 + D) >>> 0;
    }
    const out = [];
    for (const w of [a0, b0, c0, d0]) for (let i = 0; i < 4; i++) out.push((w >>> (8 * i)) & 255);
    return out;
  }

  function sha1(bytes) {
    const m = pad64(bytes, true, 64);
    let h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    for (let off = 0; off < m.length; off += 64) {
      const w = [];
      for (let i = 0; i < 16; i++) w[i] = words(m, off + i * 4, true);
      for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
      let [a, b, c, d, e] = h;
      for (let i = 0; i < 80; i++) {
        const [f, k] = i < 20 ? [(b & c) | (~b & d), 0x5a827999] : i < 40 ? [b ^ c ^ d, 0x6ed9eba1] : i < 60 ? [(b & c) | (b & d) | (c & d), 0x8f1bbcdc] : [b ^ c ^ d, 0xca62c1d6];
        const t = (rotl(a, 5) + f + e + k + w[i]) >>> 0;
        e = d; d = c; c = rotl(b, 30); b = a; a = t;
      }
      h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e].map((x) => x >>> 0);
    }
    return toBytes(h);
  }
  function toBytes(ws) {
    const out = [];
    for (const w of ws) out.push((w >>> 24) & 255, (w >>> 16) & 255, (w >>> 8) & 255, w & 255);
    return out;
  }

  const K256 = [];
  (function () {
    const primes = [];
    for (let n = 2; primes.length < 80; n++) if (primes.every((p) => n % p)) primes.push(n);
    for (let i = 0; i < 64; i++) K256[i] = (Math.cbrt(primes[i]) % 1) * 2 ** 32 >>> 0;
  })();
  function sha256(bytes, is224) {
    const m = pad64(bytes, true, 64);
    let h = is224
      ? [0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4]
      : [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    for (let off = 0; off < m.length; off += 64) {
      const w = [];
      for (let i = 0; i < 16; i++) w[i] = words(m, off + i * 4, true);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e, h[5] + f, h[6] + g, h[7] + hh].map((x) => x >>> 0);
    }
    return toBytes(is224 ? h.slice(0, 7) : h);
  }

  // SHA-512 / SHA-384 on BigInt words (slower, but these are rare in expressions)
  const M64 = (1n << 64n) - 1n;
  const rotr64 = (x, n) => ((x >> n) | (x << (64n - n))) & M64;
  let K512 = null;
  function sha512(bytes, is384) {
    if (K512 === null) {
      const primes = [];
      for (let n = 2; primes.length < 80; n++) if (primes.every((p) => n % p)) primes.push(n);
      K512 = primes.map((p) => fracBits(p, 3));
    }
    const IV = is384
      ? ['cbbb9d5dc1059ed8', '629a292a367cd507', '9159015a3070dd17', '152fecd8f70e5939', '67332667ffc00b31', '8eb44a8768581511', 'db0c2e0d64f98fa7', '47b5481dbefa4fa4']
      : ['6a09e667f3bcc908', 'bb67ae8584caa73b', '3c6ef372fe94f82b', 'a54ff53a5f1d36f1', '510e527fade682d1', '9b05688c2b3e6c1f', '1f83d9abfb41bd6b', '5be0cd19137e2179'];
    let h = IV.map((x) => BigInt('0x' + x));
    const m = pad64(bytes, true, 128);
    for (let off = 0; off < m.length; off += 128) {
      const w = [];
      for (let i = 0; i < 16; i++) w[i] = (BigInt(words(m, off + i * 8, true)) << 32n) | BigInt(words(m, off + i * 8 + 4, true));
      for (let i = 16; i < 80; i++) {
        const s0 = rotr64(w[i - 15], 1n) ^ rotr64(w[i - 15], 8n) ^ (w[i - 15] >> 7n);
        const s1 = rotr64(w[i - 2], 19n) ^ rotr64(w[i - 2], 61n) ^ (w[i - 2] >> 6n);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M64;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 80; i++) {
        const t1 = (hh + (rotr64(e, 14n) ^ rotr64(e, 18n) ^ rotr64(e, 41n)) + ((e & f) ^ (~e & M64 & g)) + K512[i] + w[i]) & M64;
        const t2 = ((rotr64(a, 28n) ^ rotr64(a, 34n) ^ rotr64(a, 39n)) + ((a & b) ^ (a & c) ^ (b & c))) & M64;
        hh = g; g = f; f = e; e = (d + t1) & M64; d = c; c = b; b = a; a = (t1 + t2) & M64;
      }
      h = [a, b, c, d, e, f, g, hh].map((x, i) => (h[i] + x) & M64);
    }
    const out = [];
    for (const x of is384 ? h.slice(0, 6) : h) for (let i = 7; i >= 0; i--) out.push(Number((x >> BigInt(8 * i)) & 255n));
    return out;
  }
  // first 64 bits of the fractional part of the cube root of p, exactly (BigInt Newton iteration)
  function fracBits(p, root) {
    const scale = 1n << 64n;
    const target = BigInt(p) * scale ** BigInt(root);
    let x = BigInt(Math.floor(Math.cbrt(p))) * scale;
    for (let i = 0; i < 100; i++) {
      const nx = (2n * x + target / (x * x)) / 3n;
      if (nx === x || nx === x + 1n || nx === x - 1n) { x = nx; break; }
      x = nx;
    }
    while (x * x * x > target) x -= 1n;
    while ((x + 1n) ** 3n <= target) x += 1n;
    return x & M64;
  }

  RF.utf8 = utf8;
  RF.fromUtf8 = fromUtf8;
  RF.base64Encode = (s) => b64encode(utf8(String(s)));
  RF.base64Decode = (s) => fromUtf8(b64decode(s));
  RF.hash = function (s, algo) {
    const a = String(algo || 'md5').toLowerCase().replace('-', '');
    const bytes = utf8(String(s));
    switch (a) {
      case 'md5': return hex(md5(bytes));
      case 'sha1': return hex(sha1(bytes));
      case 'sha224': return hex(sha256(bytes, true));
      case 'sha256': return hex(sha256(bytes, false));
      case 'sha384': return hex(sha512(bytes, true));
      case 'sha512': return hex(sha512(bytes, false));
      case 'base64': return b64encode(bytes);
      default: throw new Error(`hash: unsupported algorithm '${algo}' (md5, sha1, sha224, sha256, sha384, sha512, base64)`);
    }
  };
})(globalThis);
