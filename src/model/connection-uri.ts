/**
 * @module model/connection-uri
 * Pure re-implementations of the parts of Python's `urllib.parse` and `json` that Airflow's
 * `Connection` relies on (CPython 3.11 behaviour), so that airlock parses and writes connection
 * URIs and `extra` strings byte-for-byte as Airflow does.
 *
 * Why not WHATWG `URL`: it percent-decodes, normalises hosts and ports, treats `\` as `/`
 * for special schemes and rejects inputs Python accepts. Airflow's format is defined by
 * `urllib.parse.urlsplit`, `quote(safe='')`, `unquote`, `parse_qsl` and `json.dumps`, so this
 * module follows those functions instead, quirks included.
 *
 * Errors thrown here never contain the input: URIs and extras can hold secrets.
 */

/**
 * The `ValueError` Python's `urllib.parse` raises (bad port, bad IPv6 literal, a string that
 * cannot be encoded as UTF-8). Unlike Python's, the message never repeats the input.
 *
 * @example
 * ```ts
 * try { urlsplit('//h:x').port } catch (err) { if (err instanceof UrlValueError) … }
 * ```
 */
export class UrlValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrlValueError';
  }
}

/**
 * The `json.JSONDecodeError` of Python's `json.loads`; the message gives the position only.
 *
 * @example
 * ```ts
 * try { jsonLoads('{') } catch (err) { if (err instanceof JsonDecodeError) console.log(err.position) }
 * ```
 */
export class JsonDecodeError extends Error {
  readonly position: number;

  constructor(message: string, position: number) {
    super(`${message} at character ${position}`);
    this.name = 'JsonDecodeError';
    this.position = position;
  }
}

// ---------------------------------------------------------------------------------------------
// Python string helpers
// ---------------------------------------------------------------------------------------------

/** The characters for which Python's `str.isspace()` is true (Unicode 14). */
const PY_WHITESPACE =
  '\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003' +
  '\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

function isPyWhitespace(ch: string): boolean {
  return ch.length === 1 && PY_WHITESPACE.includes(ch);
}

/**
 * Python's `str.strip()` with no argument: removes `str.isspace()` characters at both ends
 * (unlike `String.prototype.trim`, it strips `\x1c`–`\x1f` and `\x85` and keeps `\ufeff`).
 *
 * @example
 * ```ts
 * pyStrip('\u001c abc \n'); // 'abc'
 * ```
 */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isPyWhitespace(s.charAt(start))) start++;
  while (end > start && isPyWhitespace(s.charAt(end - 1))) end--;
  return s.slice(start, end);
}

/** Python's `str.partition(sep)`. */
function partition(s: string, sep: string): [string, boolean, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, false, ''] : [s.slice(0, i), true, s.slice(i + sep.length)];
}

/** Python's `str.rpartition(sep)`. */
function rpartition(s: string, sep: string): [string, boolean, string] {
  const i = s.lastIndexOf(sep);
  return i < 0 ? ['', false, s] : [s.slice(0, i), true, s.slice(i + sep.length)];
}

// ---------------------------------------------------------------------------------------------
// urlsplit
// ---------------------------------------------------------------------------------------------

/** `urllib.parse._WHATWG_C0_CONTROL_OR_SPACE`, stripped from the left of every URL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python's sets include C0 controls
const LEADING_C0_OR_SPACE = /^[\u0000-\u0020]+/;
/** `urllib.parse._UNSAFE_URL_BYTES_TO_REMOVE`, removed everywhere. */
const UNSAFE_URL_CHARS = /[\t\r\n]/g;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python's sets include C0 controls
const ASCII_ONLY = /^[\u0000-\u007f]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python's sets include C0 controls
const ASCII_RUN = /[\u0000-\u007f]+/g;

/**
 * The result of {@link urlsplit}: Python's `SplitResult`. `username`, `password`, `hostname`
 * and `port` are computed on access, as in Python, so a bad port only throws when read.
 *
 * @example
 * ```ts
 * const p = urlsplit('postgres://u:p@Db.Example:5432/x?a=1');
 * p.hostname; // 'db.example'
 * p.port;     // 5432
 * ```
 */
export class SplitResult {
  /** The lower-cased scheme, or `''`. */
  readonly scheme: string;
  /** Everything between `//` and the next `/`, `?` or `#`, raw. */
  readonly netloc: string;
  /** The path, raw. */
  readonly path: string;
  /** The query without `?`, raw. */
  readonly query: string;
  /** The fragment without `#`, raw. */
  readonly fragment: string;

  constructor(scheme: string, netloc: string, path: string, query: string, fragment: string) {
    this.scheme = scheme;
    this.netloc = netloc;
    this.path = path;
    this.query = query;
    this.fragment = fragment;
  }

  /** The text before the first `:` of the part before the last `@`; `null` without `@`. */
  get username(): string | null {
    const [userinfo, haveInfo] = rpartition(this.netloc, '@');
    return haveInfo ? partition(userinfo, ':')[0] : null;
  }

  /** The text after the first `:` of the part before the last `@`; `null` without it. */
  get password(): string | null {
    const [userinfo, haveInfo] = rpartition(this.netloc, '@');
    if (!haveInfo) return null;
    const [, havePassword, password] = partition(userinfo, ':');
    return havePassword ? password : null;
  }

  /**
   * The host, lower-cased up to the first `%` (an IPv6 zone keeps its case), IPv6 brackets
   * removed, still percent-encoded; `null` when empty.
   */
  get hostname(): string | null {
    const hostname = this.#hostinfo()[0];
    if (!hostname) return null;
    const [head, havePercent, zone] = partition(hostname, '%');
    return head.toLowerCase() + (havePercent ? `%${zone}` : '');
  }

  /**
   * The port as a number, `null` when absent or empty.
   *
   * @throws {UrlValueError} when it is not ASCII digits or not in 0..65535.
   */
  get port(): number | null {
    const port = this.#hostinfo()[1];
    if (port === null) return null;
    if (!/^[0-9]+$/.test(port)) {
      throw new UrlValueError('Port could not be cast to integer value');
    }
    const value = Number(port);
    if (!(value >= 0 && value <= 65535)) throw new UrlValueError('Port out of range 0-65535');
    return value;
  }

  #hostinfo(): [string, string | null] {
    const hostinfo = rpartition(this.netloc, '@')[2];
    const [, haveOpenBracket, bracketed] = partition(hostinfo, '[');
    let hostname: string;
    let port: string;
    if (haveOpenBracket) {
      let afterBracket: string;
      [hostname, , afterBracket] = partition(bracketed, ']');
      port = partition(afterBracket, ':')[2];
    } else {
      [hostname, , port] = partition(hostinfo, ':');
    }
    return [hostname, port === '' ? null : port];
  }
}

/** `ipaddress.IPv4Address` parsing: four decimal octets, no leading zeros. */
function parseIpv4(s: string): number[] | null {
  const octets = s.split('.');
  if (octets.length !== 4) return null;
  const out: number[] = [];
  for (const octet of octets) {
    if (!/^[0-9]{1,3}$/.test(octet) || (octet !== '0' && octet.startsWith('0'))) return null;
    const n = Number(octet);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** `ipaddress.IPv6Address` validation (scope id allowed), without building the integer. */
function isIpv6(address: string): boolean {
  if (address.includes('/')) return false;
  const [addr, haveScope, scope] = partition(address, '%');
  if (haveScope && (scope === '' || scope.includes('%'))) return false;
  if (addr === '') return false;
  const parts = addr.split(':');
  if (parts.length < 3) return false;
  const last = parts.at(-1) ?? '';
  if (last.includes('.')) {
    if (parseIpv4(last) === null) return false;
    parts.splice(-1, 1, '0', '0');
  }
  if (parts.length > 9) return false;
  let skipIndex: number | null = null;
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === '') {
      if (skipIndex !== null) return false;
      skipIndex = i;
    }
  }
  let hi: number;
  let lo: number;
  if (skipIndex !== null) {
    hi = skipIndex;
    lo = parts.length - skipIndex - 1;
    if (parts[0] === '') {
      hi -= 1;
      if (hi) return false;
    }
    if (parts.at(-1) === '') {
      lo -= 1;
      if (lo) return false;
    }
    if (8 - (hi + lo) < 1) return false;
  } else {
    if (parts.length !== 8 || parts[0] === '' || parts.at(-1) === '') return false;
    hi = parts.length;
    lo = 0;
  }
  const hextets = [...parts.slice(0, hi), ...parts.slice(parts.length - lo)];
  return hextets.every((h) => /^[0-9A-Fa-f]{1,4}$/.test(h));
}

/** `urllib.parse._check_bracketed_host`. */
function checkBracketedHost(hostname: string): void {
  if (hostname.startsWith('v')) {
    // Python's `.` does not match `\n` (already removed); JS's also skips \r, \u2028, \u2029.
    if (!/^v[a-fA-F0-9]+\.[^\n]+$/.test(hostname)) {
      throw new UrlValueError('IPvFuture address is invalid');
    }
  } else if (parseIpv4(hostname) !== null) {
    throw new UrlValueError('An IPv4 address cannot be in brackets');
  } else if (!isIpv6(hostname)) {
    throw new UrlValueError('The bracketed host does not appear to be an IPv4 or IPv6 address');
  }
}

/** `urllib.parse._checknetloc`: rejects hosts that NFKC-normalise into URL delimiters. */
function checkNetloc(netloc: string): void {
  if (!netloc || ASCII_ONLY.test(netloc)) return;
  const n = netloc.replace(/[@:#?]/g, '');
  const normalized = n.normalize('NFKC');
  if (n === normalized) return;
  for (const c of '/?#@:') {
    if (normalized.includes(c)) {
      throw new UrlValueError('netloc contains invalid characters under NFKC normalization');
    }
  }
}

/**
 * Python's `urllib.parse.urlsplit(url)` (3.11): strips leading C0 controls and spaces, drops
 * tabs and newlines, takes a scheme only if everything before the first `:` matches
 * `[A-Za-z][A-Za-z0-9+.-]*` (lower-cased), then splits netloc, path, query and fragment.
 *
 * @throws {UrlValueError} for unbalanced or invalid `[…]` hosts and NFKC-unsafe netlocs.
 * @example
 * ```ts
 * urlsplit('google_cloud_platform://x').scheme; // '' — `_` is not a scheme character
 * urlsplit('HTTP://h/p?q#f');                   // scheme 'http', netloc 'h', path '/p', query 'q'
 * ```
 */
export function urlsplit(url: string): SplitResult {
  let rest = url.replace(LEADING_C0_OR_SPACE, '').replace(UNSAFE_URL_CHARS, '');
  let scheme = '';
  let netloc = '';
  let query = '';
  let fragment = '';
  const colon = rest.indexOf(':');
  if (colon > 0 && SCHEME.test(rest.slice(0, colon))) {
    scheme = rest.slice(0, colon).toLowerCase();
    rest = rest.slice(colon + 1);
  }
  if (rest.startsWith('//')) {
    let delim = rest.length;
    for (const c of '/?#') {
      const at = rest.indexOf(c, 2);
      if (at >= 0) delim = Math.min(delim, at);
    }
    netloc = rest.slice(2, delim);
    rest = rest.slice(delim);
    const open = netloc.includes('[');
    const close = netloc.includes(']');
    if (open !== close) throw new UrlValueError('Invalid IPv6 URL');
    if (open && close) checkBracketedHost(partition(partition(netloc, '[')[2], ']')[0]);
  }
  [rest, , fragment] = partition(rest, '#');
  [rest, , query] = partition(rest, '?');
  checkNetloc(netloc);
  return new SplitResult(scheme, netloc, rest, query, fragment);
}

// ---------------------------------------------------------------------------------------------
// quote / unquote
// ---------------------------------------------------------------------------------------------

const ALWAYS_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~';
const HEX = '0123456789ABCDEF';
const utf8Encoder = new TextEncoder();
// ignoreBOM: Python keeps a decoded BOM as U+FEFF; WHATWG's replacement rules match Python's.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

function encodeUtf8Strict(s: string): Uint8Array {
  if (!s.isWellFormed()) {
    // Python raises UnicodeEncodeError (a ValueError) for lone surrogates.
    throw new UrlValueError('the string contains a lone surrogate and cannot be encoded as UTF-8');
  }
  return utf8Encoder.encode(s);
}

/**
 * Python's `urllib.parse.quote(s, safe)`: UTF-8 bytes, `A-Za-z0-9_.-~` and the ASCII
 * characters of `safe` kept, every other byte written as `%XX` (upper-case hex).
 *
 * Why the default differs: Python's default `safe` is `'/'`; every call Airflow makes passes
 * `safe=''`, so that is the default here.
 *
 * @default safe `''`
 * @throws {UrlValueError} when `s` holds a lone surrogate (Python's `UnicodeEncodeError`).
 * @example
 * ```ts
 * quote('p@ss:w/rd é'); // 'p%40ss%3Aw%2Frd%20%C3%A9'
 * ```
 */
export function quote(s: string, safe = ''): string {
  const safeSet = new Set(ALWAYS_SAFE);
  for (const c of safe) if (c.charCodeAt(0) < 0x80) safeSet.add(c);
  let out = '';
  for (const byte of encodeUtf8Strict(s)) {
    const c = String.fromCharCode(byte);
    out += safeSet.has(c) ? c : `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

/**
 * Python's `urllib.parse.quote_plus(s, safe)`: {@link quote} with spaces written as `+`.
 *
 * @default safe `''`
 * @example
 * ```ts
 * quotePlus('a b+c'); // 'a+b%2Bc'
 * ```
 */
export function quotePlus(s: string, safe = ''): string {
  if (!s.includes(' ')) return quote(s, safe);
  return quote(s, `${safe} `).replaceAll(' ', '+');
}

function unquoteToBytes(ascii: string): Uint8Array {
  const bits = ascii.split('%');
  const out: number[] = [];
  const pushAscii = (text: string) => {
    for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
  };
  pushAscii(bits[0] ?? '');
  for (const item of bits.slice(1)) {
    const hex = item.slice(0, 2);
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(Number.parseInt(hex, 16));
      pushAscii(item.slice(2));
    } else {
      out.push(0x25);
      pushAscii(item);
    }
  }
  return Uint8Array.from(out);
}

/**
 * Python's `urllib.parse.unquote(s)`: `%XX` escapes in each run of ASCII characters are turned
 * into bytes and decoded as UTF-8 with `errors='replace'` (U+FFFD); invalid escapes such as
 * `%zz` are left as they are; `+` stays `+`.
 *
 * @example
 * ```ts
 * unquote('a%40b%zz+%C3'); // 'a@b%zz+\ufffd'
 * ```
 */
export function unquote(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(ASCII_RUN, (run) => utf8Decoder.decode(unquoteToBytes(run)));
}

/**
 * Python's `urllib.parse.unquote_plus(s)`: `+` becomes a space, then {@link unquote}.
 *
 * @example
 * ```ts
 * unquotePlus('a+b%2B'); // 'a b+'
 * ```
 */
export function unquotePlus(s: string): string {
  return unquote(s.replaceAll('+', ' '));
}

/** Options of {@link parseQsl}. */
export interface ParseQslOptions {
  /**
   * Keep `k=` and bare `k` (as `''`), as Airflow does.
   * @default false
   */
  keepBlankValues?: boolean;
}

/**
 * Python's `urllib.parse.parse_qsl(qs, keep_blank_values)`: only `&` separates, each field is
 * split at its first `=`, names and values go through {@link unquotePlus}, empty fields are
 * skipped. Returns every pair in order (duplicates included).
 *
 * @example
 * ```ts
 * parseQsl('a=1&b&a=2', { keepBlankValues: true }); // [['a','1'], ['b',''], ['a','2']]
 * ```
 */
export function parseQsl(qs: string, options: ParseQslOptions = {}): Array<[string, string]> {
  const keepBlankValues = options.keepBlankValues ?? false;
  const out: Array<[string, string]> = [];
  if (!qs) return out;
  for (const field of qs.split('&')) {
    if (!field) continue;
    const [name, haveEquals, value] = partition(field, '=');
    if (!haveEquals && !keepBlankValues) continue;
    if (value.length > 0 || keepBlankValues) out.push([unquotePlus(name), unquotePlus(value)]);
  }
  return out;
}

/**
 * Python's `urllib.parse.urlencode(pairs)`: `quote_plus(key)=quote_plus(value)` joined by `&`.
 *
 * @example
 * ```ts
 * urlencode([['__extra__', '{"a": 1}']]); // '__extra__=%7B%22a%22%3A+1%7D'
 * ```
 */
export function urlencode(pairs: Iterable<readonly [string, string]>): string {
  const parts: string[] = [];
  for (const [key, value] of pairs) parts.push(`${quotePlus(key)}=${quotePlus(value)}`);
  return parts.join('&');
}

// ---------------------------------------------------------------------------------------------
// Python json
// ---------------------------------------------------------------------------------------------

/** A Python `int` from JSON (exact, arbitrary size). */
export interface PyInt {
  readonly type: 'int';
  readonly value: bigint;
}

/** A Python `float` from JSON (including `NaN` and `±Infinity`). */
export interface PyFloat {
  readonly type: 'float';
  readonly value: number;
}

/**
 * A value as Python's `json.loads` returns it: ints and floats kept apart (`1` vs `1.0`) and
 * objects as insertion-ordered `Map`s (a JS object would move integer-like keys first).
 */
export type PyJson = null | boolean | string | PyInt | PyFloat | PyJson[] | PyDict;

/** A Python `dict` with string keys, in insertion order. */
export type PyDict = Map<string, PyJson>;

/**
 * Makes a Python `int`.
 *
 * @example
 * ```ts
 * jsonDumps(pyInt(5432)); // '5432'
 * ```
 */
export function pyInt(value: bigint | number): PyInt {
  return { type: 'int', value: BigInt(value) };
}

/**
 * Makes a Python `float`.
 *
 * @example
 * ```ts
 * jsonDumps(pyFloat(1)); // '1.0'
 * ```
 */
export function pyFloat(value: number): PyFloat {
  return { type: 'float', value };
}

function isPyNumber(value: PyJson): value is PyInt | PyFloat {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'type' in value;
}

/** Python's `int` digit limit for `str → int` (3.11 `sys.get_int_max_str_digits()`). */
const INT_MAX_STR_DIGITS = 4300;
const MAX_DEPTH = 1000;

class JsonParser {
  readonly #s: string;
  #i = 0;

  constructor(s: string) {
    this.#s = s;
  }

  parse(): PyJson {
    if (this.#s.startsWith('\ufeff')) throw new JsonDecodeError('Unexpected UTF-8 BOM', 0);
    this.#ws();
    const value = this.#value(0);
    this.#ws();
    if (this.#i !== this.#s.length) throw new JsonDecodeError('Extra data', this.#i);
    return value;
  }

  #ws(): void {
    while (this.#i < this.#s.length && ' \t\n\r'.includes(this.#s.charAt(this.#i))) this.#i++;
  }

  #literal(word: string): boolean {
    if (this.#s.startsWith(word, this.#i)) {
      this.#i += word.length;
      return true;
    }
    return false;
  }

  #value(depth: number): PyJson {
    if (depth > MAX_DEPTH) throw new JsonDecodeError('Nesting too deep', this.#i);
    const c = this.#s.charAt(this.#i);
    if (c === '"') return this.#string();
    if (c === '{') return this.#object(depth);
    if (c === '[') return this.#array(depth);
    if (this.#literal('null')) return null;
    if (this.#literal('true')) return true;
    if (this.#literal('false')) return false;
    if (this.#literal('NaN')) return pyFloat(Number.NaN);
    if (this.#literal('Infinity')) return pyFloat(Number.POSITIVE_INFINITY);
    if (this.#literal('-Infinity')) return pyFloat(Number.NEGATIVE_INFINITY);
    const m = /^(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(this.#s.slice(this.#i));
    if (m) {
      const start = this.#i;
      this.#i += m[0].length;
      if (m[2] !== undefined || m[3] !== undefined) return pyFloat(Number(m[0]));
      const digits = (m[1] ?? '').replace('-', '');
      if (digits.length > INT_MAX_STR_DIGITS) {
        throw new JsonDecodeError('Exceeds the limit for integer string conversion', start);
      }
      return pyInt(BigInt(m[0]));
    }
    throw new JsonDecodeError('Expecting value', this.#i);
  }

  #string(): string {
    const s = this.#s;
    let i = this.#i + 1;
    let out = '';
    for (;;) {
      if (i >= s.length) throw new JsonDecodeError('Unterminated string', this.#i);
      const c = s.charAt(i);
      if (c === '"') break;
      if (c < ' ') throw new JsonDecodeError('Invalid control character', i);
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = s.charAt(i + 1);
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (e === 'u') {
        const hex = s.slice(i + 2, i + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw new JsonDecodeError('Invalid \\uXXXX escape', i);
        // Surrogate pairs written as two escapes join into one astral character, which in
        // UTF-16 is just the two code units side by side; lone surrogates stay, as in Python.
        out += String.fromCharCode(Number.parseInt(hex, 16));
        i += 6;
      } else if (e !== '' && Object.hasOwn(simple, e)) {
        out += simple[e];
        i += 2;
      } else {
        throw new JsonDecodeError('Invalid \\escape', i);
      }
    }
    this.#i = i + 1;
    return out;
  }

  #object(depth: number): PyDict {
    const map: PyDict = new Map();
    this.#i++;
    this.#ws();
    if (this.#s.charAt(this.#i) === '}') {
      this.#i++;
      return map;
    }
    for (;;) {
      if (this.#s.charAt(this.#i) !== '"') {
        throw new JsonDecodeError('Expecting property name enclosed in double quotes', this.#i);
      }
      const key = this.#string();
      this.#ws();
      if (this.#s.charAt(this.#i) !== ':') throw new JsonDecodeError("Expecting ':'", this.#i);
      this.#i++;
      this.#ws();
      // Map.set keeps the first position of a repeated key and the last value, as a dict does.
      map.set(key, this.#value(depth + 1));
      this.#ws();
      const c = this.#s.charAt(this.#i);
      this.#i++;
      if (c === '}') return map;
      if (c !== ',') throw new JsonDecodeError("Expecting ',' delimiter", this.#i - 1);
      this.#ws();
    }
  }

  #array(depth: number): PyJson[] {
    const list: PyJson[] = [];
    this.#i++;
    this.#ws();
    if (this.#s.charAt(this.#i) === ']') {
      this.#i++;
      return list;
    }
    for (;;) {
      list.push(this.#value(depth + 1));
      this.#ws();
      const c = this.#s.charAt(this.#i);
      this.#i++;
      if (c === ']') return list;
      if (c !== ',') throw new JsonDecodeError("Expecting ',' delimiter", this.#i - 1);
      this.#ws();
    }
  }
}

/**
 * Python's `json.loads(text)`: accepts `NaN`, `Infinity`, `-Infinity`, keeps ints exact and
 * apart from floats, keeps key order (last duplicate wins), rejects raw control characters in
 * strings and a leading BOM.
 *
 * @throws {JsonDecodeError} when `text` is not JSON as Python reads it.
 * @example
 * ```ts
 * jsonLoads('{"b": 1.0, "0": NaN}'); // Map { 'b' => {type:'float',value:1}, '0' => {type:'float',value:NaN} }
 * ```
 */
export function jsonLoads(text: string): PyJson {
  return new JsonParser(text).parse();
}

/**
 * Python's `repr(float)`: the shortest round-trip digits, fixed notation for exponents
 * -4 < e <= 16 (always with a `.0`), otherwise `1e+16` / `1e-05` style; `nan`, `inf`, `-inf`.
 *
 * @example
 * ```ts
 * floatRepr(1e16); // '1e+16'
 * floatRepr(0.1);  // '0.1'
 * floatRepr(5);    // '5.0'
 * ```
 */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa = '', exponent = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const decpt = Number(exponent) + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const e = decpt - 1;
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${head}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** Printable ASCII only: Python's `json.dumps` and `JSON.stringify` write it the same way. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Python's `json.encoder.py_encode_basestring_ascii` (`ensure_ascii=True`). */
function encodeJsonString(s: string): string {
  // The common case (a key, a URI, most values): `"` and `\\` escaped, nothing else.
  if (PRINTABLE_ASCII.test(s)) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    const code = s.charCodeAt(i);
    if (c === '\\') out += '\\\\';
    else if (c === '"') out += '\\"';
    else if (code >= 0x20 && code <= 0x7e) out += c;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '\b') out += '\\b';
    else if (c === '\f') out += '\\f';
    // One escape per UTF-16 unit: astral characters come out as surrogate pairs, as in Python.
    else out += `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

/**
 * Python's `json.dumps(value)` with its defaults: separators `', '` and `': '`,
 * `ensure_ascii=True` (`\uXXXX`, lower-case hex, surrogate pairs), floats as `repr`, `NaN`,
 * `Infinity`, `-Infinity`.
 *
 * @example
 * ```ts
 * jsonDumps(new Map([['a', 'é'], ['b', [pyInt(1), pyFloat(2)]]])); // '{"a": "\\u00e9", "b": [1, 2.0]}'
 * ```
 */
export function jsonDumps(value: PyJson): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return encodeJsonString(value);
  if (Array.isArray(value)) return `[${value.map(jsonDumps).join(', ')}]`;
  if (value instanceof Map) {
    const items: string[] = [];
    for (const [k, v] of value) items.push(`${encodeJsonString(k)}: ${jsonDumps(v)}`);
    return `{${items.join(', ')}}`;
  }
  if (value.type === 'int') return value.value.toString();
  const x = value.value;
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  return floatRepr(x);
}

/**
 * Python's `str(value)` for a JSON scalar: ints exact, floats as {@link floatRepr},
 * `True`/`False`/`None` as Python spells them; containers as their `json.dumps`.
 *
 * @example
 * ```ts
 * pyStr(pyFloat(1e22)); // '1e+22'
 * ```
 */
export function pyStr(value: PyJson): string {
  if (typeof value === 'string') return value;
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (isPyNumber(value)) {
    return value.type === 'int' ? value.value.toString() : floatRepr(value.value);
  }
  return jsonDumps(value);
}

/**
 * Python's truthiness of a JSON value (`""`, `0`, `0.0`, `[]`, `{}`, `None`, `False` are falsy).
 *
 * @example
 * ```ts
 * pyTruthy(new Map()); // false
 * ```
 */
export function pyTruthy(value: PyJson): boolean {
  if (value === null || value === false) return false;
  if (value === true) return true;
  if (typeof value === 'string' || Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  return value.type === 'int' ? value.value !== 0n : value.value !== 0;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Converts a JS value to the Python value `json.dumps` would see: safe integers and bigints
 * become ints, other numbers floats; plain objects and `Map`s become dicts (in JS
 * property order), arrays lists; object properties that are `undefined` are skipped.
 *
 * @throws {TypeError} for values JSON cannot hold (functions, symbols, class instances…).
 * @example
 * ```ts
 * jsonDumps(fromJsValue({ a: 1, b: 1.5, c: [true, null] })); // '{"a": 1, "b": 1.5, "c": [true, null]}'
 * ```
 */
export function fromJsValue(value: unknown): PyJson {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return pyInt(value);
  if (typeof value === 'number') {
    // Integers beyond 2^53 are not exact in JS; they most likely came from a float.
    return Number.isSafeInteger(value) ? pyInt(value) : pyFloat(value);
  }
  if (Array.isArray(value)) return value.map(fromJsValue);
  if (value instanceof Map) {
    const map: PyDict = new Map();
    for (const [k, v] of value) {
      if (typeof k !== 'string') throw new TypeError('keys must be strings');
      if (v !== undefined) map.set(k, fromJsValue(v));
    }
    return map;
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    const map: PyDict = new Map();
    for (const [k, v] of Object.entries(value)) if (v !== undefined) map.set(k, fromJsValue(v));
    return map;
  }
  throw new TypeError(`Object of type ${typeof value} is not JSON serializable`);
}

/**
 * Converts a Python JSON value to plain JS: dicts become objects, ints and floats numbers
 * (ints beyond 2^53 lose precision, as with `JSON.parse`).
 *
 * @example
 * ```ts
 * toJsValue(jsonLoads('{"a": [1, 2.5]}')); // { a: [1, 2.5] }
 * ```
 */
export function toJsValue(value: PyJson): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(toJsValue);
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, v]) => [k, toJsValue(v)]));
  }
  return Number(value.value);
}
