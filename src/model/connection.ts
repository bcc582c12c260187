/**
 * @module model/connection
 * The Airflow-compatible `Connection`: parsed from a URI or a JSON document, written back as
 * Airflow 3.x core writes it (`get_uri`, `as_json`, `to_dict`).
 *
 * Where Airflow 2.x, 3.x core and the Task SDK differ, this follows **3.x core** (the ORM
 * `airflow.models.connection.Connection`), and each such place carries a `why` comment.
 * No error message or cause ever contains the URI, login, password or extra.
 */

import { AirlockError, type ErrorCode } from '../errors.ts';
import {
  fromJsValue,
  JsonDecodeError,
  jsonDumps,
  jsonLoads,
  type PyDict,
  type PyJson,
  parseQsl,
  pyStr,
  pyStrip,
  pyTruthy,
  quote,
  type SplitResult,
  toJsValue,
  UrlValueError,
  unquote,
  urlencode,
  urlsplit,
} from './connection-uri.ts';

/**
 * Connection fields under the snake_case names Airflow uses (`to_dict`, the JSON form, the
 * `Connection(...)` keyword arguments). Input of {@link Connection.fromFields}.
 *
 * @example
 * ```ts
 * const fields: ConnectionFields = { conn_type: 'postgres', host: 'db', port: 5432, extra: { sslmode: 'require' } };
 * ```
 */
export interface ConnectionFields {
  conn_type?: string | null | undefined;
  description?: string | null | undefined;
  host?: string | null | undefined;
  login?: string | null | undefined;
  /** `''` is stored as `null`, as the Airflow ORM does. */
  password?: string | null | undefined;
  schema?: string | null | undefined;
  /** An integer 0..65535, or a string Python's `int()` accepts. */
  port?: number | string | null | undefined;
  /** A JSON-object string, or a value that is `json.dumps`-ed (it must then be an object). */
  extra?: string | Readonly<Record<string, unknown>> | null | undefined;
}

/**
 * The fields of a Connection, in Airflow's order: the one list the JSON form, the files, the
 * API, the UI and the CLI derive theirs from.
 */
export const CONNECTION_FIELD_NAMES = Object.freeze([
  'conn_type',
  'description',
  'host',
  'login',
  'password',
  'schema',
  'port',
  'extra',
] as const satisfies readonly (keyof ConnectionFields)[]);

/**
 * What {@link Connection.toDict} returns: Airflow's `to_dict()` (snake_case keys, `extra`
 * parsed; `{}` when there is none, as Airflow gives).
 *
 * @example
 * ```ts
 * const d: ConnectionDict = Connection.fromUri('http://h', 'web').toDict();
 * ```
 */
export interface ConnectionDict {
  conn_id: string | null;
  conn_type: string | null;
  description: string | null;
  host: string | null;
  login: string | null;
  password: string | null;
  schema: string | null;
  port: number | null;
  extra: Record<string, unknown>;
}

/** The fields of a connection once every constructor rule has been applied. */
interface ConnectionInit {
  connId: string | null;
  connType: string | null;
  description: string | null;
  host: string | null;
  login: string | null;
  password: string | null;
  schema: string | null;
  port: number | null;
  extra: string | null;
}

const EXTRA_KEY = '__extra__';
// The two Unicode patterns are made on first use: V8 builds a `\p{…}` class when the literal is
// evaluated, a cost every process that loads this module (each task process) would pay.
let sanitizeConnIdPattern: RegExp | undefined;
let validConnIdPattern: RegExp | undefined;
/** `RE_SANITIZE_CONN_ID` of Airflow core (Python `\w` is Unicode: letters, numbers, `_`). */
const SANITIZE_CONN_ID = () => {
  sanitizeConnIdPattern ??= /^[\p{L}\p{N}_#!()\-.:/\\]+/u;
  return sanitizeConnIdPattern;
};
const CONN_ID_MAX_LEN = 250;
/** The CLI / REST API rule (`^[\w.-]+$`, at most 200 characters). */
const VALID_CONN_ID = () => {
  validConnIdPattern ??= /^[\p{L}\p{N}_.-]+$/u;
  return validConnIdPattern;
};
const VALID_CONN_ID_MAX_LEN = 200;
/** Keyword arguments of the 3.x core constructor that the JSON form may carry. */
const JSON_KEYS: ReadonlySet<string> = new Set([...CONNECTION_FIELD_NAMES, 'uri', 'team_name']);
const STRING_FIELDS = ['description', 'host', 'login', 'password', 'schema'] as const;

/** Python's `len(s)`: code points, not UTF-16 units. */
function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Airflow's `sanitize_conn_id`: the longest prefix matching the character class, accepted only
 * if it is the whole id, or the whole id but a final `\n` (Python's `$` matches before it).
 */
function sanitizeConnId(connId: string): string | null {
  if (pyLen(connId) > CONN_ID_MAX_LEN) return null;
  const match = SANITIZE_CONN_ID().exec(connId)?.[0];
  if (match === undefined) return null;
  return match === connId || `${match}\n` === connId ? match : null;
}

function fail(code: ErrorCode, connId: string | null | undefined, problem: string): AirlockError {
  const subject = typeof connId === 'string' ? `connection \`${connId}\`` : 'connection';
  return new AirlockError(
    code,
    `${subject}: ${problem}`,
    typeof connId === 'string' ? { details: { connId } } : {},
  );
}

/** Python truthiness of a JS field value. */
function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false;
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'bigint') return value !== 0n;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null ? Object.keys(value).length > 0 : true;
  }
  return true;
}

/** `_normalize_conn_type`: exactly `postgresql` → `postgres`, otherwise `-` → `_`. */
function normalizeConnType(connType: string): string {
  return connType === 'postgresql' ? 'postgres' : connType.replaceAll('-', '_');
}

/** The numeric value of a Unicode decimal digit (`\p{Nd}` comes in aligned runs of ten). */
function decimalDigitValue(ch: string): number {
  let cp = ch.codePointAt(0) ?? 0;
  let run = 0;
  while (cp > 0 && /\p{Nd}/u.test(String.fromCodePoint(cp - 1))) {
    cp--;
    run++;
  }
  return run % 10;
}

/**
 * Python's `int(text)` for a string: surrounding whitespace, a sign, Unicode decimal digits and
 * single `_` between digits. Returns `null` where Python raises `ValueError`.
 */
function pyIntFromString(text: string): bigint | null {
  let ascii = '';
  for (const ch of text) {
    if (pyStrip(ch) === '') ascii += ' ';
    else if (/\p{Nd}/u.test(ch)) ascii += String(decimalDigitValue(ch));
    else ascii += ch;
  }
  const m = /^[ \t\n\r\v\f]*([+-]?)([0-9]+(?:_[0-9]+)*)[ \t\n\r\v\f]*$/.exec(ascii);
  if (!m) return null;
  const value = BigInt((m[2] ?? '').replaceAll('_', ''));
  return m[1] === '-' ? -value : value;
}

function checkPort(value: bigint | number, connId: string | undefined): number {
  const n = typeof value === 'bigint' ? value : Number.isInteger(value) ? BigInt(value) : null;
  if (n === null || n < 0n || n > 65535n) {
    throw fail('AIRLOCK_ERR_CONN_PORT_INVALID', connId, 'the port is not an integer in 0..65535');
  }
  return Number(n);
}

/**
 * `_validate_extra`: a truthy extra must be JSON whose top level is an object. Returns the
 * parsed object (or an empty one for an empty extra).
 */
function parseExtra(extra: string | null, connId: string | null | undefined): PyDict {
  if (!extra) return new Map();
  let parsed: PyJson;
  try {
    parsed = jsonLoads(extra);
  } catch {
    throw fail('AIRLOCK_ERR_CONN_EXTRA_INVALID', connId, 'the extra is not valid JSON');
  }
  if (!(parsed instanceof Map)) {
    throw fail('AIRLOCK_ERR_CONN_EXTRA_INVALID', connId, 'the extra is not a JSON object');
  }
  return parsed;
}

/** `_stringify_extra_value` of 3.x core (PR #59339). */
function stringifyExtraValue(value: PyJson): string {
  if (Array.isArray(value) || value instanceof Map) return jsonDumps(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null) return 'null';
  return pyStr(value);
}

/**
 * An Airflow connection: `connId`, `connType`, `description`, `host`, `login`, `password`,
 * `schema`, `port` and `extra` (the JSON **string** of an object, as Airflow keeps it).
 * Instances are frozen; build them with {@link Connection.fromUri},
 * {@link Connection.fromJson}, {@link Connection.fromFields} or {@link Connection.deserialize}.
 *
 * @example
 * ```ts
 * const conn = Connection.fromUri('postgresql://user:p%40ss@db.local:5432/app?sslmode=require', 'app_db');
 * conn.connType;    // 'postgres'
 * conn.password;    // 'p@ss'
 * conn.extraDejson; // { sslmode: 'require' }
 * conn.getUri();    // 'postgres://user:p%40ss@db.local:5432/app?sslmode=require'
 * ```
 */
export class Connection {
  readonly connId: string | null;
  readonly connType: string | null;
  readonly description: string | null;
  readonly host: string | null;
  readonly login: string | null;
  readonly password: string | null;
  readonly schema: string | null;
  readonly port: number | null;
  readonly extra: string | null;

  private constructor(init: ConnectionInit) {
    this.connId = init.connId;
    this.connType = init.connType;
    this.description = init.description;
    this.host = init.host;
    this.login = init.login;
    this.password = init.password;
    this.schema = init.schema;
    this.port = init.port;
    this.extra = init.extra;
    Object.freeze(this);
  }

  /**
   * Whether `connId` is accepted by Airflow's CLI and REST API: `^[\w.-]+$` (Python's Unicode
   * `\w`: letters, numbers and `_`) and at most 200 characters.
   *
   * @example
   * ```ts
   * Connection.isValidConnId('my_db.prod-1'); // true
   * Connection.isValidConnId('my db');        // false
   * ```
   */
  static isValidConnId(id: string): boolean {
    return typeof id === 'string' && VALID_CONN_ID().test(id) && pyLen(id) <= VALID_CONN_ID_MAX_LEN;
  }

  /**
   * Parses an Airflow connection URI (`Connection(conn_id=…, uri=…)` of Airflow 3.x core).
   *
   * The scheme becomes `connType` (`postgresql` → `postgres`, `-` → `_`; a scheme Python does
   * not recognise, such as one with `_`, gives `''`); a second `://` makes the host carry a
   * protocol; login, password, host and schema are percent-decoded (`+` stays `+`); the host is
   * lower-cased unless it contains an encoded `/`; the query becomes `extra` (`__extra__` wins,
   * otherwise a JSON object of strings, last duplicate wins). An empty `uri` gives an empty
   * connection, as Airflow's constructor does.
   *
   * @throws {AirlockError} `AIRLOCK_ERR_CONN_URI_INVALID` (more than two `://`, a login or port
   *   before the host's protocol, a bad `[…]` host), `AIRLOCK_ERR_CONN_PORT_INVALID`,
   *   `AIRLOCK_ERR_CONN_EXTRA_INVALID` (`__extra__` is not a JSON object).
   * @example
   * ```ts
   * Connection.fromUri('spark://mesos://host:5050').host; // 'mesos://host'
   * ```
   */
  static fromUri(uri: string, connId?: string): Connection {
    return Connection.fromFields({ uri }, connId);
  }

  /**
   * Builds a connection from separate fields or a `uri`, applying Airflow's constructor rules:
   * `uri` together with any truthy field is a conflict (`port: 0` and `description` are
   * allowed); a non-string `extra` is `json.dumps`-ed; a non-empty `extra` must be a JSON
   * object; `password: ''` becomes `null`; `port` must be an integer 0..65535 (a string is read
   * as Python's `int()` reads it); a `connId` Airflow's `sanitize_conn_id` rejects becomes `null`.
   *
   * @throws {AirlockError} `AIRLOCK_ERR_CONN_FIELDS_CONFLICT`, `AIRLOCK_ERR_CONN_EXTRA_INVALID`,
   *   `AIRLOCK_ERR_CONN_PORT_INVALID`, `AIRLOCK_ERR_CONN_JSON_INVALID` (a field of the wrong
   *   type), and the errors of {@link Connection.fromUri}.
   * @example
   * ```ts
   * Connection.fromFields({ conn_type: 'http', host: 'example.com', extra: { timeout: 5 } }, 'web').extra;
   * // '{"timeout": 5}'
   * ```
   */
  static fromFields(
    fields: ConnectionFields & { uri?: string | null | undefined },
    connId?: string,
  ): Connection {
    let extra: string | null;
    const rawExtra: unknown = fields.extra;
    if (rawExtra === null || rawExtra === undefined || typeof rawExtra === 'string') {
      extra = rawExtra ?? null;
    } else if (!truthy(rawExtra)) {
      // why: Python keeps a falsy non-string extra ({} / [] / 0) as is, and every reader then
      // treats it as "no extra"; null is the faithful equivalent here.
      extra = null;
    } else {
      try {
        extra = jsonDumps(fromJsValue(rawExtra));
      } catch {
        throw fail('AIRLOCK_ERR_CONN_EXTRA_INVALID', connId, 'the extra cannot be written as JSON');
      }
    }
    const uri: unknown = fields.uri;
    if (uri !== undefined && uri !== null && typeof uri !== 'string') {
      throw fail('AIRLOCK_ERR_CONN_JSON_INVALID', connId, 'the field `uri` must be a string');
    }
    for (const key of ['conn_type', ...STRING_FIELDS] as const) {
      const value: unknown = fields[key];
      if (value !== undefined && value !== null && typeof value !== 'string') {
        throw fail(
          'AIRLOCK_ERR_CONN_JSON_INVALID',
          connId,
          `the field \`${key}\` must be a string`,
        );
      }
    }
    const description = fields.description ?? null;
    if (
      uri &&
      (truthy(fields.conn_type) ||
        truthy(fields.host) ||
        truthy(fields.login) ||
        truthy(fields.password) ||
        truthy(fields.schema) ||
        truthy(fields.port) ||
        truthy(extra))
    ) {
      throw fail(
        'AIRLOCK_ERR_CONN_FIELDS_CONFLICT',
        connId,
        'give either a URI or separate fields (conn_type, host, login, password, schema, port, extra), not both',
      );
    }
    const sanitizedId = typeof connId === 'string' ? sanitizeConnId(connId) : null;
    let init: ConnectionInit;
    if (uri) {
      init = { ...parseUri(uri, connId), connId: sanitizedId, description };
    } else {
      let port: number | null = null;
      const rawPort: unknown = fields.port;
      if (typeof rawPort === 'number' || typeof rawPort === 'bigint') {
        port = checkPort(rawPort, connId);
      } else if (typeof rawPort === 'string') {
        const parsed = pyIntFromString(rawPort);
        if (parsed === null) {
          throw fail('AIRLOCK_ERR_CONN_PORT_INVALID', connId, 'the port is not an integer');
        }
        port = checkPort(parsed, connId);
      } else if (rawPort !== null && rawPort !== undefined) {
        throw fail('AIRLOCK_ERR_CONN_PORT_INVALID', connId, 'the port is not an integer');
      }
      init = {
        connId: sanitizedId,
        connType: fields.conn_type ?? null,
        description,
        host: fields.host ?? null,
        login: fields.login ?? null,
        // why: the ORM password setter stores only truthy values (the Task SDK keeps '').
        password: fields.password || null,
        schema: fields.schema ?? null,
        port,
        extra,
      };
    }
    parseExtra(init.extra, connId);
    return new Connection(init);
  }

  /**
   * Parses Airflow's JSON form (`Connection.from_json` of 3.x core): `conn_type` normalised,
   * a truthy non-string `extra` `json.dumps`-ed (a falsy one dropped), a truthy `port` read with
   * Python's `int()` (so `0` and `""` mean no port), `uri` accepted instead of the fields.
   *
   * @throws {AirlockError} `AIRLOCK_ERR_CONN_JSON_INVALID` (not JSON, not an object, an unknown
   *   key, no non-empty `conn_type` or `uri`), `AIRLOCK_ERR_CONN_PORT_INVALID`, and the errors of
   *   {@link Connection.fromFields}.
   * @example
   * ```ts
   * Connection.fromJson('{"conn_type": "postgresql", "host": "db", "port": "5432"}', 'db').port; // 5432
   * ```
   */
  static fromJson(json: string, connId: string): Connection {
    let data: PyJson;
    try {
      data = jsonLoads(json);
    } catch (err) {
      if (!(err instanceof JsonDecodeError)) throw err;
      throw fail('AIRLOCK_ERR_CONN_JSON_INVALID', connId, 'the JSON cannot be parsed');
    }
    if (!(data instanceof Map)) {
      throw fail('AIRLOCK_ERR_CONN_JSON_INVALID', connId, 'the JSON is not an object');
    }
    // why: the 3.x shared secrets-backend base refuses JSON without a usable conn_type or uri
    // (2.x and core from_json alone would build a connection without a type).
    const connTypeValue = data.get('conn_type');
    const uriValue = data.get('uri');
    const nonBlank = (v: PyJson | undefined) => typeof v === 'string' && pyStrip(v) !== '';
    if (!nonBlank(connTypeValue) && !nonBlank(uriValue)) {
      throw fail(
        'AIRLOCK_ERR_CONN_JSON_INVALID',
        connId,
        'the JSON has neither a non-empty `conn_type` nor a non-empty `uri`',
      );
    }

    const fields: ConnectionFields & { uri?: string | null } = {};
    const extra = data.get('extra') ?? null;
    if (pyTruthy(extra)) fields.extra = typeof extra === 'string' ? extra : jsonDumps(extra);
    const connType = connTypeValue ?? null;
    if (pyTruthy(connType)) {
      if (typeof connType !== 'string') {
        throw fail(
          'AIRLOCK_ERR_CONN_JSON_INVALID',
          connId,
          'the field `conn_type` must be a string',
        );
      }
      fields.conn_type = normalizeConnType(connType);
    }
    const port = data.get('port') ?? null;
    if (pyTruthy(port)) fields.port = jsonPortToNumber(port, connId);
    for (const [key, value] of data) {
      if (!JSON_KEYS.has(key)) {
        const name = /^[\w.-]{1,64}$/.test(key) ? ` \`${key}\`` : '';
        throw fail('AIRLOCK_ERR_CONN_JSON_INVALID', connId, `the JSON has an unknown key${name}`);
      }
      if (key === 'uri' || (STRING_FIELDS as readonly string[]).includes(key)) {
        if (value !== null && typeof value !== 'string') {
          throw fail(
            'AIRLOCK_ERR_CONN_JSON_INVALID',
            connId,
            `the field \`${key}\` must be a string`,
          );
        }
        (fields as Record<string, string | null>)[key] = value;
      }
      // why: `team_name` is a 3.x core constructor argument (multi-team); it is accepted and
      // not kept, since it is not part of the connection's own fields.
    }
    return Connection.fromFields(fields, connId);
  }

  /**
   * Airflow's `deserialize_connection`: strips the value (Python whitespace); a value starting
   * with `{` is the JSON form, anything else a URI.
   *
   * @throws {AirlockError} `AIRLOCK_ERR_CONN_URI_INVALID` for an empty or all-whitespace value,
   *   and the errors of {@link Connection.fromJson} and {@link Connection.fromUri}.
   * @example
   * ```ts
   * Connection.deserialize('db', '  {"conn_type": "mysql", "host": "h"}\n').connType; // 'mysql'
   * ```
   */
  static deserialize(connId: string, value: string): Connection {
    const stripped = pyStrip(value);
    if (stripped === '') {
      throw fail('AIRLOCK_ERR_CONN_URI_INVALID', connId, 'the serialized connection is empty');
    }
    if (stripped.startsWith('{')) return Connection.fromJson(stripped, connId);
    return Connection.fromUri(stripped, connId);
  }

  /**
   * The extra as an object (`extra_dejson` of 3.x core): `{}` without an extra, and each
   * string value that is itself JSON replaced by its parsed value (`"123"` → `123`,
   * `"true"` → `true`), as Airflow 3.x does since PR #59339.
   *
   * @example
   * ```ts
   * Connection.fromUri('http://h?timeout=5&mode=fast').extraDejson; // { timeout: 5, mode: 'fast' }
   * ```
   */
  get extraDejson(): Record<string, unknown> {
    return toJsValue(this.#extraDejson()) as Record<string, unknown>;
  }

  #extraDejson(): PyDict {
    const extra = parseExtra(this.extra, this.connId);
    // why: 3.x core get_extra_dejson tries json.loads on every string value; 2.x and the
    // Task SDK return the strings untouched.
    for (const [key, value] of extra) {
      if (typeof value !== 'string') continue;
      try {
        extra.set(key, jsonLoads(value));
      } catch {
        // not JSON: kept as the string it is
      }
    }
    return extra;
  }

  /**
   * Writes the connection as an Airflow URI (`get_uri` of 3.x core): scheme from `connType`
   * (`_` → `-`, `//` without a type), login, password and host quoted with `safe=''`, port only
   * when truthy (`@:port` without host and login), schema quoted, extra as query parameters
   * (non-string values stringified, PR #59339) or as `__extra__` when it is `{}`. A host whose
   * protocol equals `connType` is quoted whole (PR #51953) so it parses back.
   *
   * @throws {AirlockError} `AIRLOCK_ERR_CONN_URI_INVALID` when a field holds a lone surrogate,
   *   which has no UTF-8 form (Python raises `UnicodeEncodeError`).
   * @example
   * ```ts
   * Connection.fromFields({ conn_type: 'http', host: 'http://x' }).getUri(); // 'http://http%3A%2F%2Fx'
   * ```
   */
  getUri(): string {
    try {
      return this.#getUri();
    } catch (err) {
      if (!(err instanceof UrlValueError)) throw err;
      throw fail(
        'AIRLOCK_ERR_CONN_URI_INVALID',
        this.connId,
        'a field holds text that cannot be encoded as UTF-8, so no URI can be written',
      );
    }
  }

  #getUri(): string {
    let uri = this.connType ? `${this.connType.toLowerCase().replaceAll('_', '-')}://` : '//';
    let hostToUse = this.host;
    if (this.host?.includes('://')) {
      const [protocol = '', host = ''] = splitOnce(this.host, '://');
      // why: 3.x (PR #51953) keeps a protocol equal to the conn_type inside the quoted host;
      // 2.x wrote `http://http://x`, which parses back without the host.
      if (protocol !== this.connType) {
        hostToUse = host;
        if (protocol) uri += `${protocol}://`;
      }
    }
    let authority = '';
    if (this.login !== null) authority += quote(this.login);
    if (this.password !== null) authority += `:${quote(this.password)}`;
    if (authority) {
      authority += '@';
      uri += authority;
    }
    let hostBlock = hostToUse ? quote(hostToUse) : '';
    // why: core writes the port only when truthy (port 0 is dropped); the Task SDK keeps 0.
    if (this.port)
      hostBlock += hostBlock === '' && authority === '' ? `@:${this.port}` : `:${this.port}`;
    if (this.schema) hostBlock += `/${quote(this.schema)}`;
    uri += hostBlock;
    if (this.extra) {
      const prefix = this.schema ? '?' : '/?';
      // why: 3.x core (PR #59339) stringifies non-string values so they become plain query
      // parameters; 2.x fell back to `__extra__=` for them.
      const stringified = new Map<string, string>();
      for (const [k, v] of this.#extraDejson()) stringified.set(k, stringifyExtraValue(v));
      const query = urlencode(stringified);
      if (query && sameStringDict(stringified, parseQsl(query, { keepBlankValues: true }))) {
        uri += prefix + query;
      } else {
        uri += prefix + urlencode([[EXTRA_KEY, this.extra]]);
      }
    }
    return uri;
  }

  /**
   * Airflow's `to_dict()`: snake_case keys and `extra` as an object ({@link extraDejson}).
   *
   * @example
   * ```ts
   * Connection.fromUri('mysql://h:3306', 'db').toDict().port; // 3306
   * ```
   */
  toDict(): ConnectionDict {
    return {
      conn_id: this.connId,
      conn_type: this.connType,
      description: this.description,
      host: this.host,
      login: this.login,
      password: this.password,
      schema: this.schema,
      port: this.port,
      extra: this.extraDejson,
    };
  }

  /**
   * Airflow's `as_json()`: `to_dict(prune_empty=True)` without `conn_id` (only `null`s are
   * dropped, `''` stays; `extra` only when non-empty), written by Python's `json.dumps`.
   *
   * @example
   * ```ts
   * Connection.fromUri('mysql://u@h:3306').toJson(); // '{"conn_type": "mysql", "host": "h", "login": "u", "schema": "", "port": 3306}'
   * ```
   */
  toJson(): string {
    const out: PyDict = new Map();
    const entries: Array<[string, PyJson]> = [
      ['conn_type', this.connType],
      ['description', this.description],
      ['host', this.host],
      ['login', this.login],
      ['password', this.password],
      ['schema', this.schema],
      ['port', this.port === null ? null : fromJsValue(this.port)],
    ];
    for (const [key, value] of entries) if (value !== null) out.set(key, value);
    const extra = this.#extraDejson();
    if (extra.size > 0) out.set('extra', extra);
    return jsonDumps(out);
  }
}

/** Python's `str.split(sep, 1)`. */
function splitOnce(s: string, sep: string): string[] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** `stringified == dict(parse_qsl(query))` in Python (dict equality ignores order). */
function sameStringDict(a: Map<string, string>, pairs: Array<[string, string]>): boolean {
  const b = new Map(pairs);
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * Python's `int(port)` on a truthy JSON value (the range is checked later, by the constructor
 * rules, so that a URI/fields conflict is reported first as in Airflow).
 */
function jsonPortToNumber(port: PyJson, connId: string): number {
  const bad = () => fail('AIRLOCK_ERR_CONN_PORT_INVALID', connId, 'the port is not an integer');
  if (port === true) return 1;
  let value: bigint | number | null = null;
  if (typeof port === 'string') value = pyIntFromString(port);
  else if (
    port !== null &&
    typeof port === 'object' &&
    !Array.isArray(port) &&
    !(port instanceof Map)
  ) {
    // int(float) truncates toward zero; NaN and infinities raise.
    if (port.type === 'int') value = port.value;
    else if (Number.isFinite(port.value)) value = Math.trunc(port.value);
  }
  if (value === null) throw bad();
  // Out-of-range values stay out of range as numbers; fromFields rejects them.
  return Number(value);
}

/** `_parse_from_uri` of Airflow core (identical in 2.x and 3.x). */
function parseUri(
  uri: string,
  connId: string | undefined,
): Omit<ConnectionInit, 'connId' | 'description'> {
  const invalid = (problem: string) => fail('AIRLOCK_ERR_CONN_URI_INVALID', connId, problem);
  const schemesCount = uri.split('://').length - 1;
  if (schemesCount > 2) throw invalid('the URI contains `://` more than twice');
  const hostWithProtocol = schemesCount === 2;
  let parts: SplitResult;
  try {
    parts = urlsplit(uri);
  } catch {
    throw invalid('the URI has an invalid host');
  }
  const scheme = parts.scheme;
  const connType = normalizeConnType(scheme);
  // Python's str.replace replaces every occurrence (of the lower-cased scheme).
  const rest = uri.replaceAll(`${scheme}://`, hostWithProtocol ? '' : '//');
  if (hostWithProtocol) {
    const head = splitOnce(rest, '://')[0] ?? '';
    if (head.includes('@') || head.includes(':')) {
      throw invalid('the URI has a login, password or port before the protocol of its host');
    }
  }
  try {
    parts = urlsplit(rest);
  } catch {
    throw invalid('the URI has an invalid host');
  }
  const protocol = hostWithProtocol ? parts.scheme : null;
  let host = unquote(parts.hostname ?? '');
  if (host.includes('/')) {
    // why: Airflow re-reads the host from the raw netloc so an encoded `/` keeps its case.
    host = parts.netloc;
    if (host.includes('@')) host = host.slice(host.lastIndexOf('@') + 1);
    if (host.includes(':')) host = host.slice(0, host.indexOf(':'));
    host = unquote(host);
  }
  if (host && protocol) host = `${protocol}://${host}`;
  // Python's path[1:] drops one code point, which may be two UTF-16 units.
  const quotedSchema = parts.path.slice(
    String.fromCodePoint(parts.path.codePointAt(0) ?? 0).length,
  );
  const username = parts.username;
  const password = parts.password;
  let port: number | null;
  try {
    port = parts.port;
  } catch {
    throw fail('AIRLOCK_ERR_CONN_PORT_INVALID', connId, 'the URI has an invalid port');
  }
  let extra: string | null = null;
  if (parts.query) {
    const query = new Map(parseQsl(parts.query, { keepBlankValues: true }));
    extra = query.get(EXTRA_KEY) ?? jsonDumps(query);
  }
  return {
    connType,
    host,
    schema: quotedSchema ? unquote(quotedSchema) : '',
    login: username ? unquote(username) : username,
    // why: `user:@host` gives '' which the ORM password setter turns into null.
    password: password ? unquote(password) : null,
    port,
    extra,
  };
}
