import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AirlockError, type ErrorCode } from '../../src/errors.ts';
import { Connection, type ConnectionFields } from '../../src/model/connection.ts';
import { jsonDumps, jsonLoads } from '../../src/model/connection-uri.ts';

/** The nine fields of a connection, as compared in these tests (description is checked apart). */
interface Fields {
  connType: string | null;
  host: string | null;
  login: string | null;
  password: string | null;
  schema: string | null;
  port: number | null;
  extra: string | null;
}

/** What a URI parse gives when a part is absent: host and schema `''`, the rest `null`. */
function parsed(fields: Partial<Fields>): Fields {
  return {
    connType: '',
    host: '',
    login: null,
    password: null,
    schema: '',
    port: null,
    extra: null,
    ...fields,
  };
}

function fieldsOf(c: Connection): Fields {
  return {
    connType: c.connType,
    host: c.host,
    login: c.login,
    password: c.password,
    schema: c.schema,
    port: c.port,
    extra: c.extra,
  };
}

interface ParseCase {
  name: string;
  uri: string;
  want: Fields;
  /** What Airflow 3.x core `get_uri` writes for the parsed connection. */
  out: string;
  /** Set when the parsed connection cannot come back unchanged from its own URI. */
  lossy?: string;
}

// Expected values are worked out from Airflow's `_parse_from_uri` / `get_uri` and CPython 3.11's
// urllib.parse (docs: /work/shared/reference/airflow-semantics.md §3.2, §3.3, §3.5).
const PARSE_CASES: ParseCase[] = [
  // --- percent-encoding in login and password ---------------------------------------------
  {
    name: 'percent-encoded @ : / ? in login and password',
    uri: 'mysql://us%40er%3A1:p%40ss%3Aw%2Frd%3F@host/db',
    want: parsed({
      connType: 'mysql',
      host: 'host',
      login: 'us@er:1',
      password: 'p@ss:w/rd?',
      schema: 'db',
    }),
    out: 'mysql://us%40er%3A1:p%40ss%3Aw%2Frd%3F@host/db',
  },
  {
    name: 'raw @ in the password (last @ ends the user info)',
    uri: 'mysql://user:p@ss@host',
    want: parsed({ connType: 'mysql', host: 'host', login: 'user', password: 'p@ss' }),
    out: 'mysql://user:p%40ss@host',
  },
  {
    name: 'raw : in the password (first : splits)',
    uri: 'mysql://user:pa:ss@host',
    want: parsed({ connType: 'mysql', host: 'host', login: 'user', password: 'pa:ss' }),
    out: 'mysql://user:pa%3Ass@host',
  },
  {
    name: 'raw @ in the login',
    uri: 'x://u@v@h',
    want: parsed({ connType: 'x', host: 'h', login: 'u@v' }),
    out: 'x://u%40v@h',
  },
  {
    name: 'an encoded : in the login is not a password separator',
    uri: 'x://u%3Ap@h',
    want: parsed({ connType: 'x', host: 'h', login: 'u:p' }),
    out: 'x://u%3Ap@h',
  },
  {
    name: '+ in the password stays +',
    uri: 'x://u:p+q@h',
    want: parsed({ connType: 'x', host: 'h', login: 'u', password: 'p+q' }),
    out: 'x://u:p%2Bq@h',
  },
  {
    name: 'an invalid %zz escape is kept',
    uri: 'x://u:%zz@h',
    want: parsed({ connType: 'x', host: 'h', login: 'u', password: '%zz' }),
    out: 'x://u:%25zz@h',
  },
  {
    name: 'a truncated UTF-8 escape becomes U+FFFD',
    uri: 'x://u:%C3@h',
    want: parsed({ connType: 'x', host: 'h', login: 'u', password: '\ufffd' }),
    out: 'x://u:%EF%BF%BD@h',
  },
  {
    name: 'encoded unicode login, password and host',
    uri: 'x://%C3%A9l%C3%A8ve:%F0%9F%94%91@h%C3%A9',
    want: parsed({ connType: 'x', host: 'hé', login: 'élève', password: '🔑' }),
    out: 'x://%C3%A9l%C3%A8ve:%F0%9F%94%91@h%C3%A9',
  },
  {
    name: 'raw unicode login, password and host (host lower-cased)',
    uri: 'x://ÉLÈVE:pä@HÖST/db',
    want: parsed({ connType: 'x', host: 'höst', login: 'ÉLÈVE', password: 'pä', schema: 'db' }),
    out: 'x://%C3%89L%C3%88VE:p%C3%A4@h%C3%B6st/db',
  },
  // --- empty parts of the user info ---------------------------------------------------------
  {
    name: 'empty password user:@host',
    uri: 'mysql://user:@host',
    want: parsed({ connType: 'mysql', host: 'host', login: 'user' }),
    out: 'mysql://user@host',
  },
  {
    name: 'empty login :pw@host',
    uri: 'mysql://:pw@host',
    want: parsed({ connType: 'mysql', host: 'host', login: '', password: 'pw' }),
    out: 'mysql://:pw@host',
  },
  {
    name: 'empty user info @host',
    uri: 'mysql://@host',
    want: parsed({ connType: 'mysql', host: 'host', login: '' }),
    out: 'mysql://host',
    lossy: "login '' without a password is not written",
  },
  {
    name: 'port without host or login @:5432',
    uri: 'x://@:5432',
    want: parsed({ connType: 'x', login: '', port: 5432 }),
    out: 'x://@:5432',
  },
  // --- protocol inside the host -------------------------------------------------------------
  {
    name: 'http://http://x (str.replace eats both)',
    uri: 'http://http://x',
    want: parsed({ connType: 'http' }),
    out: 'http://',
  },
  {
    name: 'spark://mesos://host:5050',
    uri: 'spark://mesos://host:5050',
    want: parsed({ connType: 'spark', host: 'mesos://host', port: 5050 }),
    out: 'spark://mesos://host:5050',
  },
  {
    name: 'a host protocol that is not the conn type',
    uri: 'http://https://Example.com/path',
    want: parsed({ connType: 'http', host: 'https://example.com', schema: 'path' }),
    out: 'http://https://example.com/path',
  },
  {
    name: 'an upper-case scheme with a host protocol',
    uri: 'SPARK://mesos://host',
    want: parsed({ connType: 'spark', host: 'spark://mesos', schema: '/host' }),
    out: 'spark://spark%3A%2F%2Fmesos/%2Fhost',
  },
  {
    name: 'a raw :// in a query value flips to host-with-protocol mode',
    uri: 'x://host?cb=https://y',
    want: parsed({ connType: 'x', schema: 'ost', extra: '{"cb": "https://y"}' }),
    out: 'x:///ost?cb=https%3A%2F%2Fy',
  },
  // --- query and extra ---------------------------------------------------------------------
  {
    name: '__extra__ wins over other params',
    uri: 'x://h/?__extra__=%7B%22a%22%3A+1%7D&b=2',
    want: parsed({ connType: 'x', host: 'h', extra: '{"a": 1}' }),
    out: 'x://h/?a=1',
    lossy: 'the number 1 comes back as the string "1"',
  },
  {
    name: '__extra__ after another param',
    uri: 'x://h?b=2&__extra__=%7B%7D',
    want: parsed({ connType: 'x', host: 'h', extra: '{}' }),
    out: 'x://h/?__extra__=%7B%7D',
  },
  {
    name: '__extra__ with a nested list',
    uri: 'x://h/db?__extra__=%7B%22k%22%3A+%5B1%2C+2%5D%7D',
    want: parsed({ connType: 'x', host: 'h', schema: 'db', extra: '{"k": [1, 2]}' }),
    out: 'x://h/db?k=%5B1%2C+2%5D',
    lossy: 'the list comes back as a JSON string',
  },
  {
    name: 'an empty __extra__',
    uri: 'x://h?__extra__=',
    want: parsed({ connType: 'x', host: 'h', extra: '' }),
    out: 'x://h',
    lossy: "extra '' is not written",
  },
  {
    name: 'repeated query keys (last wins) and a bare key',
    uri: 'x://h?a=1&a=2&b',
    want: parsed({ connType: 'x', host: 'h', extra: '{"a": "2", "b": ""}' }),
    out: 'x://h/?a=2&b=',
  },
  {
    name: '? with nothing gives no extra',
    uri: 'x://h?',
    want: parsed({ connType: 'x', host: 'h' }),
    out: 'x://h',
  },
  {
    name: 'a query of only separators gives {}',
    uri: 'x://h?&&',
    want: parsed({ connType: 'x', host: 'h', extra: '{}' }),
    out: 'x://h/?__extra__=%7B%7D',
  },
  {
    name: 'query values are unquote_plus-ed',
    uri: 'x://h?a=%2B+b',
    want: parsed({ connType: 'x', host: 'h', extra: '{"a": "+ b"}' }),
    out: 'x://h/?a=%2B+b',
  },
  {
    name: 'query values that are JSON are stringified back (3.x)',
    uri: 'x://h?x=1&y=true&z=123&w=1e5&v=%22s%22&n=null&o=%7B%7D',
    want: parsed({
      connType: 'x',
      host: 'h',
      extra:
        '{"x": "1", "y": "true", "z": "123", "w": "1e5", "v": "\\"s\\"", "n": "null", "o": "{}"}',
    }),
    out: 'x://h/?x=1&y=true&z=123&w=100000.0&v=s&n=null&o=%7B%7D',
    lossy: '"1e5" and "\\"s\\"" are rewritten by the JSON round trip',
  },
  {
    name: 'non-ASCII query values are \\u-escaped in extra',
    uri: 'x://h?a=é',
    want: parsed({ connType: 'x', host: 'h', extra: '{"a": "\\u00e9"}' }),
    out: 'x://h/?a=%C3%A9',
  },
  {
    name: 'an invalid UTF-8 query value',
    uri: 'x://h?a=%ED%A0%80',
    want: parsed({ connType: 'x', host: 'h', extra: '{"a": "\\ufffd\\ufffd\\ufffd"}' }),
    out: 'x://h/?a=%EF%BF%BD%EF%BF%BD%EF%BF%BD',
  },
  {
    name: 'query keys keep their order, even integer-like ones',
    uri: 'x://h?b=c&0=a',
    want: parsed({ connType: 'x', host: 'h', extra: '{"b": "c", "0": "a"}' }),
    out: 'x://h/?b=c&0=a',
  },
  {
    name: 'query keys are case-sensitive',
    uri: 'x://h?a=1&A=2',
    want: parsed({ connType: 'x', host: 'h', extra: '{"a": "1", "A": "2"}' }),
    out: 'x://h/?a=1&A=2',
  },
  {
    name: 'a postgres URI with options',
    uri: 'x://h:5432/db?sslmode=require&options=-c%20search_path%3Dx',
    want: parsed({
      connType: 'x',
      host: 'h',
      port: 5432,
      schema: 'db',
      extra: '{"sslmode": "require", "options": "-c search_path=x"}',
    }),
    out: 'x://h:5432/db?sslmode=require&options=-c+search_path%3Dx',
  },
  {
    name: 'a fragment is dropped',
    uri: 'x://h/db#frag',
    want: parsed({ connType: 'x', host: 'h', schema: 'db' }),
    out: 'x://h/db',
  },
  // --- schema ------------------------------------------------------------------------------
  {
    name: 'schema with slashes',
    uri: 'x://h/a/b/',
    want: parsed({ connType: 'x', host: 'h', schema: 'a/b/' }),
    out: 'x://h/a%2Fb%2F',
  },
  {
    name: 'schema with an encoded slash',
    uri: 'x://h/a%2Fb',
    want: parsed({ connType: 'x', host: 'h', schema: 'a/b' }),
    out: 'x://h/a%2Fb',
  },
  {
    name: 'a schema that is a space',
    uri: 'x://h/%20',
    want: parsed({ connType: 'x', host: 'h', schema: ' ' }),
    out: 'x://h/%20',
  },
  {
    name: 'a lone trailing slash',
    uri: 'x://h/',
    want: parsed({ connType: 'x', host: 'h' }),
    out: 'x://h',
  },
  // --- hosts -------------------------------------------------------------------------------
  {
    name: 'IPv6 [::1]:5432',
    uri: 'postgres://[::1]:5432/db',
    want: parsed({ connType: 'postgres', host: '::1', port: 5432, schema: 'db' }),
    out: 'postgres://%3A%3A1:5432/db',
  },
  {
    name: 'IPv6 with user info is lower-cased',
    uri: 'x://u:p@[FE80::A]:1/s',
    want: parsed({
      connType: 'x',
      host: 'fe80::a',
      login: 'u',
      password: 'p',
      port: 1,
      schema: 's',
    }),
    out: 'x://u:p@fe80%3A%3Aa:1/s',
  },
  {
    name: 'IPv6 zone keeps its case',
    uri: 'x://[fe80::1%25eTh0]:80',
    want: parsed({ connType: 'x', host: 'fe80::1%eTh0', port: 80 }),
    out: 'x://fe80%3A%3A1%25eTh0:80',
  },
  {
    name: 'an IPvFuture host',
    uri: 'x://[v7.x]',
    want: parsed({ connType: 'x', host: 'v7.x' }),
    out: 'x://v7.x',
  },
  {
    name: 'host with an encoded / keeps its case',
    uri: 'x://My%2Fhost/x',
    want: parsed({ connType: 'x', host: 'My/host', schema: 'x' }),
    out: 'x://My%2Fhost/x',
  },
  {
    name: 'host is lower-cased only up to its first %',
    uri: 'x://AB%20CD',
    want: parsed({ connType: 'x', host: 'ab CD' }),
    out: 'x://ab%20CD',
  },
  {
    name: 'a unicode host is lower-cased',
    uri: 'x://ÉCOLE.fr',
    want: parsed({ connType: 'x', host: 'école.fr' }),
    out: 'x://%C3%A9cole.fr',
  },
  {
    name: 'dotted capital I lower-cases to two code points',
    uri: 'x://İ',
    want: parsed({ connType: 'x', host: 'i\u0307' }),
    out: 'x://i%CC%87',
  },
  {
    name: 'a fullwidth host is kept',
    uri: 'x://ｈｏｓｔ',
    want: parsed({ connType: 'x', host: 'ｈｏｓｔ' }),
    out: 'x://%EF%BD%88%EF%BD%8F%EF%BD%93%EF%BD%94',
  },
  {
    name: 'a tab inside the URI is removed',
    uri: 'x://h\tost',
    want: parsed({ connType: 'x', host: 'host' }),
    out: 'x://host',
  },
  {
    name: 'leading whitespace before the scheme',
    uri: ' postgres://h',
    want: parsed({ connType: 'postgres', host: 'h' }),
    out: 'postgres://h',
  },
  // --- no host -----------------------------------------------------------------------------
  {
    name: 'sqlite://',
    uri: 'sqlite://',
    want: parsed({ connType: 'sqlite' }),
    out: 'sqlite://',
  },
  {
    name: '//user@/db (no scheme, no host)',
    uri: '//user@/db',
    want: parsed({ login: 'user', schema: 'db' }),
    out: '//user@/db',
  },
  {
    name: 'x:///db (empty host)',
    uri: 'x:///db',
    want: parsed({ connType: 'x', schema: 'db' }),
    out: 'x:///db',
  },
  // --- ports -------------------------------------------------------------------------------
  {
    name: 'port 0 (parsed, then dropped by get_uri)',
    uri: 'x://h:0',
    want: parsed({ connType: 'x', host: 'h', port: 0 }),
    out: 'x://h',
    lossy: 'core get_uri drops a falsy port',
  },
  {
    name: 'port 65535',
    uri: 'x://h:65535',
    want: parsed({ connType: 'x', host: 'h', port: 65535 }),
    out: 'x://h:65535',
  },
  {
    name: 'port with leading zeros',
    uri: 'x://h:0080',
    want: parsed({ connType: 'x', host: 'h', port: 80 }),
    out: 'x://h:80',
  },
  // --- schemes and conn types --------------------------------------------------------------
  {
    name: 'a full postgres URI',
    uri: 'postgres://user:pass@host:5432/db',
    want: parsed({
      connType: 'postgres',
      host: 'host',
      login: 'user',
      password: 'pass',
      schema: 'db',
      port: 5432,
    }),
    out: 'postgres://user:pass@host:5432/db',
  },
  {
    name: 'postgresql:// becomes postgres',
    uri: 'postgresql://u:p@H.Example.COM/db',
    want: parsed({
      connType: 'postgres',
      host: 'h.example.com',
      login: 'u',
      password: 'p',
      schema: 'db',
    }),
    out: 'postgres://u:p@h.example.com/db',
  },
  {
    name: 'upper-case scheme and host',
    uri: 'MySQL://Host',
    want: parsed({ connType: 'mysql', host: 'host' }),
    out: 'mysql://host',
  },
  {
    name: 'a-b:// becomes a_b',
    uri: 'a-b://x',
    want: parsed({ connType: 'a_b', host: 'x' }),
    out: 'a-b://x',
  },
  {
    name: 'google-cloud-platform:// with only a query',
    uri: 'google-cloud-platform://?key_path=%2Fk.json',
    want: parsed({ connType: 'google_cloud_platform', extra: '{"key_path": "/k.json"}' }),
    out: 'google-cloud-platform:///?key_path=%2Fk.json',
  },
  {
    name: 'google_cloud_platform:// (underscore: no scheme, garbage schema)',
    uri: 'google_cloud_platform://user:pass@host:1234/db?a=1',
    want: parsed({ schema: 'oogle_cloud_platform//user:pass@host:1234/db', extra: '{"a": "1"}' }),
    out: '///oogle_cloud_platform%2F%2Fuser%3Apass%40host%3A1234%2Fdb?a=1',
  },
  {
    name: 'a scheme starting with a digit is no scheme',
    uri: '1x://h',
    want: parsed({ schema: 'x//h' }),
    out: '///x%2F%2Fh',
  },
  {
    name: 'a scheme with . and +',
    uri: 'a.b+c://h',
    want: parsed({ connType: 'a.b+c', host: 'h' }),
    out: 'a.b+c://h',
  },
];

describe('Connection.fromUri', () => {
  it('has at least 60 parse cases', () => {
    expect(PARSE_CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(PARSE_CASES)('parses $name', ({ uri, want }) => {
    expect(fieldsOf(Connection.fromUri(uri, 'c'))).toEqual(want);
  });

  it.each(PARSE_CASES)('writes $name back as Airflow 3.x does', ({ uri, out }) => {
    expect(Connection.fromUri(uri, 'c').getUri()).toBe(out);
  });

  it.each(PARSE_CASES.filter((c) => c.lossy === undefined))(
    'round-trips $name through getUri',
    ({ uri }) => {
      const first = Connection.fromUri(uri, 'c');
      expect(fieldsOf(Connection.fromUri(first.getUri(), 'c'))).toEqual(fieldsOf(first));
    },
  );

  it.each(PARSE_CASES)('reaches a fixed point after one round trip for $name', ({ out }) => {
    expect(Connection.fromUri(out, 'c').getUri()).toBe(out);
  });

  it('sets description to null and keeps the conn_id', () => {
    const c = Connection.fromUri('x://h', 'my_db');
    expect(c.description).toBeNull();
    expect(c.connId).toBe('my_db');
  });

  it("sets conn_id to null when Airflow's sanitize_conn_id rejects it", () => {
    expect(Connection.fromUri('x://h', 'a b').connId).toBeNull();
    expect(Connection.fromUri('x://h', 'a'.repeat(251)).connId).toBeNull();
    expect(Connection.fromUri('x://h', 'a/b:c#(1)\\').connId).toBe('a/b:c#(1)\\');
    // Python's `$` matches before a final newline, and the match excludes it.
    expect(Connection.fromUri('x://h', 'x\n').connId).toBe('x');
    expect(Connection.fromUri('x://h').connId).toBeNull();
  });

  it('gives an empty connection for an empty URI, as the constructor does', () => {
    expect(fieldsOf(Connection.fromUri('', 'c'))).toEqual({
      connType: null,
      host: null,
      login: null,
      password: null,
      schema: null,
      port: null,
      extra: null,
    });
  });

  it('returns a frozen instance', () => {
    expect(Object.isFrozen(Connection.fromUri('x://h'))).toBe(true);
  });
});

describe('Connection.getUri', () => {
  it.each<[string, ConnectionFields, string]>([
    [
      'a host whose protocol is the conn type is quoted whole (PR #51953)',
      { conn_type: 'http', host: 'http://x' },
      'http://http%3A%2F%2Fx',
    ],
    [
      'a host with another protocol',
      { conn_type: 'spark', host: 'mesos://h', port: 5050 },
      'spark://mesos://h:5050',
    ],
    ['an empty protocol in the host is dropped', { conn_type: 'x', host: '://h' }, 'x://h'],
    [
      '_ in the conn type becomes -',
      { conn_type: 'google_cloud_platform' },
      'google-cloud-platform://',
    ],
    ['the scheme is lower-cased', { conn_type: 'X_Y', host: 'h' }, 'x-y://h'],
    ['no conn type gives //', { host: 'h' }, '//h'],
    [
      'non-string extras become query params (PR #59339)',
      { conn_type: 'x', host: 'h', extra: { a: 1, b: true, c: null, d: [1, 'x'], e: { f: 1.5 } } },
      'x://h/?a=1&b=true&c=null&d=%5B1%2C+%22x%22%5D&e=%7B%22f%22%3A+1.5%7D',
    ],
    [
      'float extras are written as Python str()',
      { conn_type: 'x', host: 'h', extra: { k: 0.1, m: 1e22 } },
      'x://h/?k=0.1&m=1e%2B22',
    ],
    [
      'an empty extra object goes to __extra__',
      { conn_type: 'x', host: 'h', extra: '{}' },
      'x://h/?__extra__=%7B%7D',
    ],
    [
      'a schema puts ? right after it',
      { conn_type: 'x', schema: 'db', extra: '{"a": "b"}' },
      'x:///db?a=b',
    ],
    ['port 0 is dropped', { conn_type: 'x', host: 'h', port: 0 }, 'x://h'],
    ['only a port gives @:port', { port: 5432 }, '//@:5432'],
    ["login '' alone writes nothing", { conn_type: 'x', host: 'h', login: '' }, 'x://h'],
    ['a password without a login', { conn_type: 'x', host: 'h', password: 'p' }, 'x://:p@h'],
    ['a login without a password', { conn_type: 'x', host: 'h', login: 'u' }, 'x://u@h'],
    [
      'every special character is quoted with safe=""',
      { conn_type: 'x', host: 'h st', login: 'a b', password: "~._-!*'();&=+$,", schema: 's/ q' },
      'x://a%20b:~._-%21%2A%27%28%29%3B%26%3D%2B%24%2C@h%20st/s%2F%20q',
    ],
  ])('writes %s', (_name, fields, expected) => {
    expect(Connection.fromFields(fields, 'c').getUri()).toBe(expected);
  });

  it('fails without the value when a field has no UTF-8 form', () => {
    const conn = Connection.fromFields(
      { conn_type: 'x', login: '\ud800', password: 'pw-SECRET' },
      'c',
    );
    expect(() => conn.getUri()).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_ERR_CONN_URI_INVALID' }),
    );
  });
});

describe('Connection.fromJson', () => {
  it.each<[string, string, Partial<Fields> & { description?: string | null }]>([
    [
      'normalises the conn type and reads a string port',
      '{"conn_type": "postgresql", "host": "db", "port": "5432"}',
      { connType: 'postgres', host: 'db', port: 5432 },
    ],
    [
      'json.dumps-es an object extra keeping float and key order',
      '{"conn_type": "x", "extra": {"b": 1.0, "a": [1, 2], "0": "x"}}',
      { connType: 'x', extra: '{"b": 1.0, "a": [1, 2], "0": "x"}' },
    ],
    [
      'keeps a string extra verbatim',
      '{"conn_type": "x", "extra": "{\\"a\\":1}"}',
      { connType: 'x', extra: '{"a":1}' },
    ],
    [
      'escapes non-ASCII and keeps NaN in a dumped extra',
      '{"conn_type": "x", "extra": {"k": "é😀", "n": NaN}}',
      { connType: 'x', extra: '{"k": "\\u00e9\\ud83d\\ude00", "n": NaN}' },
    ],
    ['drops a falsy extra {}', '{"conn_type": "x", "extra": {}}', { connType: 'x' }],
    ['drops a falsy extra ""', '{"conn_type": "x", "extra": ""}', { connType: 'x' }],
    [
      'keeps a truthy "{}" extra',
      '{"conn_type": "x", "extra": "{}"}',
      { connType: 'x', extra: '{}' },
    ],
    ['drops port 0', '{"conn_type": "x", "port": 0}', { connType: 'x' }],
    ['drops port ""', '{"conn_type": "x", "port": ""}', { connType: 'x' }],
    [
      'truncates a float port as int() does',
      '{"conn_type": "x", "port": 5432.9}',
      { connType: 'x', port: 5432 },
    ],
    [
      'reads a port with spaces and _',
      '{"conn_type": "x", "port": " 54_32 "}',
      { connType: 'x', port: 5432 },
    ],
    [
      'reads a port in Arabic-Indic digits',
      '{"conn_type": "x", "port": "٥٤٣٢"}',
      { connType: 'x', port: 5432 },
    ],
    ['reads port true as 1', '{"conn_type": "x", "port": true}', { connType: 'x', port: 1 }],
    ['turns an empty password into null', '{"conn_type": "x", "password": ""}', { connType: 'x' }],
    [
      "keeps '' for host, login and schema",
      '{"conn_type": "x", "host": "", "login": "", "schema": ""}',
      { connType: 'x', host: '', login: '', schema: '' },
    ],
    ['accepts team_name', '{"conn_type": "a-b", "team_name": "t1"}', { connType: 'a_b' }],
    [
      'accepts uri with a description',
      '{"uri": "x://u:p@h/db", "description": "d"}',
      { connType: 'x', host: 'h', login: 'u', password: 'p', schema: 'db', description: 'd' },
    ],
    [
      'accepts uri with falsy fields',
      '{"uri": "x://h", "port": 0, "host": "", "conn_type": ""}',
      { connType: 'x', host: 'h', schema: '' },
    ],
    ['keeps the last of a repeated key', '{"conn_type": "a", "conn_type": "b"}', { connType: 'b' }],
  ])('%s', (_name, json, want) => {
    const c = Connection.fromJson(json, 'c');
    const { description = null, ...fields } = want;
    expect(fieldsOf(c)).toEqual({
      connType: null,
      host: null,
      login: null,
      password: null,
      schema: null,
      port: null,
      extra: null,
      ...fields,
    });
    expect(c.description).toBe(description);
  });
});

describe('Connection.fromFields', () => {
  it('json.dumps-es an object extra with Python spacing', () => {
    expect(
      Connection.fromFields({ conn_type: 'http', extra: { timeout: 5, ok: true } }).extra,
    ).toBe('{"timeout": 5, "ok": true}');
  });

  it('treats a falsy non-string extra as none', () => {
    expect(Connection.fromFields({ conn_type: 'x', extra: {} }).extra).toBeNull();
  });

  it('allows a uri with port 0, empty fields and a description', () => {
    const c = Connection.fromFields({ uri: 'x://h:1', port: 0, host: '', description: 'd' }, 'c');
    expect([c.host, c.port, c.description]).toEqual(['h', 1, 'd']);
  });

  it('reads a string port and keeps port 0', () => {
    expect(Connection.fromFields({ port: '0080' }).port).toBe(80);
    expect(Connection.fromFields({ port: 0 }).port).toBe(0);
  });

  it('keeps fields that are not given as null', () => {
    expect(Connection.fromFields({}).toDict()).toEqual({
      conn_id: null,
      conn_type: null,
      description: null,
      host: null,
      login: null,
      password: null,
      schema: null,
      port: null,
      extra: {},
    });
  });
});

describe('Connection.deserialize', () => {
  it('reads JSON after stripping Python whitespace', () => {
    const c = Connection.deserialize('db', '  {"conn_type": "mysql", "host": "h"}\n');
    expect([c.connId, c.connType, c.host]).toEqual(['db', 'mysql', 'h']);
  });

  it('reads a URI after stripping \\x1c and \\x85 as Python does', () => {
    const c = Connection.deserialize('db', '\u001c postgres://h \u0085');
    expect([c.connType, c.host]).toEqual(['postgres', 'h']);
  });

  it('reads a value that is not JSON-looking as a URI', () => {
    expect(Connection.deserialize('db', 'mysql://u:p@h:1/s').getUri()).toBe('mysql://u:p@h:1/s');
  });
});

describe('Connection.toJson', () => {
  it.each([
    [
      'mysql://u@h:3306',
      '{"conn_type": "mysql", "host": "h", "login": "u", "schema": "", "port": 3306}',
    ],
    [
      'x://h?a=123&b=x&c=%5B1%5D',
      '{"conn_type": "x", "host": "h", "schema": "", "extra": {"a": 123, "b": "x", "c": [1]}}',
    ],
    [
      'x://%C3%A9:p@h',
      '{"conn_type": "x", "host": "h", "login": "\\u00e9", "password": "p", "schema": ""}',
    ],
    ['x://h?__extra__=%7B%7D', '{"conn_type": "x", "host": "h", "schema": ""}'],
  ])('writes %s as Airflow as_json does', (uri, expected) => {
    expect(Connection.fromUri(uri, 'c').toJson()).toBe(expected);
  });

  it('round-trips through fromJson', () => {
    const c = Connection.fromFields(
      { conn_type: 'x', description: 'd', host: 'h', password: 'p', port: 1, extra: { k: 'v' } },
      'c',
    );
    const back = Connection.fromJson(c.toJson(), 'c');
    expect(back.toDict()).toEqual(c.toDict());
    expect(back.extra).toBe(c.extra);
  });
});

describe('Connection.toDict', () => {
  it('uses snake_case keys and parses extra', () => {
    expect(Connection.fromUri('x://u:p@h:1/s?k=v', 'id').toDict()).toEqual({
      conn_id: 'id',
      conn_type: 'x',
      description: null,
      host: 'h',
      login: 'u',
      password: 'p',
      schema: 's',
      port: 1,
      extra: { k: 'v' },
    });
  });
});

describe('Connection.extraDejson', () => {
  it('parses string values that are JSON, as Airflow 3.x does', () => {
    const c = Connection.fromUri('x://h?x=1&y=true&w=1e5&v=%22s%22&n=null&o=%7B%7D&s=abc');
    expect(c.extraDejson).toEqual({ x: 1, y: true, w: 100000, v: 's', n: null, o: {}, s: 'abc' });
  });

  it('is empty without an extra', () => {
    expect(Connection.fromUri('x://h').extraDejson).toEqual({});
  });
});

describe('Connection.isValidConnId', () => {
  it.each([
    ['my_db.prod-1', true],
    ['ünïcödé_1', true],
    ['٣', true],
    ['a'.repeat(200), true],
    ['𝐀'.repeat(200), true],
    ['a'.repeat(201), false],
    ['', false],
    ['my db', false],
    ['a/b', false],
    ['x\n', false],
    ['😀', false],
    ['e\u0301', false],
  ])('says %j is %s', (id, expected) => {
    expect(Connection.isValidConnId(id)).toBe(expected);
  });
});

// --- rejections ---------------------------------------------------------------------------

const SECRET = 'pw-SECRET-42';

const REJECTIONS: Array<[string, () => unknown, ErrorCode]> = [
  [
    'a port that is not a number',
    () => Connection.fromUri(`postgres://user:${SECRET}@host:abc/db`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a port above 65535',
    () => Connection.fromUri(`postgres://user:${SECRET}@host:65536/db`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a negative port',
    () => Connection.fromUri(`x://user:${SECRET}@host:-1`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a raw / in the password',
    () => Connection.fromUri(`x://user:${SECRET}/x@host`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a raw # in the password',
    () => Connection.fromUri(`x://user:${SECRET}#x@host`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a raw ? in the password',
    () => Connection.fromUri(`x://user:${SECRET}?x@host`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'three ://',
    () => Connection.fromUri(`x://user:${SECRET}@a://b://c`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'user info before the second ://',
    () => Connection.fromUri(`x://user:${SECRET}@mesos://host`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'a port before the second ://',
    () => Connection.fromUri(`x://h:1://y?password=${SECRET}`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'a raw :// in a query after a login',
    () => Connection.fromUri(`x://user:${SECRET}@host?cb=https://y`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'an unbalanced IPv6 bracket',
    () => Connection.fromUri(`x://user:${SECRET}@[::1/db`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'an IPv4 address in brackets',
    () => Connection.fromUri(`x://user:${SECRET}@[10.0.0.1]/db`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'a host that NFKC-normalises to a /',
    () => Connection.fromUri(`x://user:${SECRET}@h\u2100`, 'db'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    '__extra__ that is not JSON',
    () => Connection.fromUri(`x://user:${SECRET}@h?__extra__=%7B%22k%22%3A+%22${SECRET}`, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    '__extra__ that is a JSON list',
    () => Connection.fromUri(`x://user:${SECRET}@h?__extra__=%5B%22${SECRET}%22%5D`, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'an unknown JSON key',
    () => Connection.fromJson(`{"conn_type": "x", "password": "${SECRET}", "bogus": 1}`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'a conn_id key in the JSON',
    () => Connection.fromJson(`{"conn_type": "x", "password": "${SECRET}", "conn_id": "y"}`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'a JSON extra that is a list',
    () =>
      Connection.fromJson(
        `{"conn_type": "x", "password": "${SECRET}", "extra": ["${SECRET}"]}`,
        'db',
      ),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a JSON extra string that is a list',
    () => Connection.fromJson(`{"conn_type": "x", "extra": "[\\"${SECRET}\\"]"}`, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a JSON extra string that is not JSON',
    () => Connection.fromJson(`{"conn_type": "x", "extra": "${SECRET}"}`, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a JSON uri together with a field',
    () => Connection.fromJson(`{"uri": "x://u:${SECRET}@h", "password": "${SECRET}"}`, 'db'),
    'AIRLOCK_ERR_CONN_FIELDS_CONFLICT',
  ],
  [
    'JSON without conn_type or uri',
    () => Connection.fromJson(`{"host": "h", "password": "${SECRET}"}`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'JSON with a blank conn_type',
    () => Connection.fromJson(`{"conn_type": " \\t", "password": "${SECRET}"}`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'a JSON port that is not an integer',
    () => Connection.fromJson(`{"conn_type": "x", "port": "${SECRET}"}`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a JSON port above 65535',
    () => Connection.fromJson(`{"conn_type": "x", "password": "${SECRET}", "port": 70000}`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a JSON port that is NaN',
    () => Connection.fromJson(`{"conn_type": "x", "password": "${SECRET}", "port": NaN}`, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'truncated JSON',
    () => Connection.fromJson(`{"conn_type": "x", "password": "${SECRET}"`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'JSON that is not an object',
    () => Connection.fromJson(`["${SECRET}"]`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'a JSON host that is not a string',
    () => Connection.fromJson(`{"conn_type": "x", "password": "${SECRET}", "host": 5}`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'a JSON conn_type that is not a string',
    () => Connection.fromJson(`{"conn_type": 5, "password": "${SECRET}", "uri": "x://h"}`, 'db'),
    'AIRLOCK_ERR_CONN_JSON_INVALID',
  ],
  [
    'an all-whitespace serialized value',
    () => Connection.deserialize('db', ' \n\t\u3000'),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
  [
    'a deserialized JSON with a bad extra',
    () => Connection.deserialize('db', ` {"conn_type": "x", "extra": "${SECRET}"} `),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a deserialized URI with a bad port',
    () => Connection.deserialize('db', ` x://u:${SECRET}@h:${SECRET} `),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a uri together with a login',
    () => Connection.fromFields({ uri: `x://u:${SECRET}@h`, login: 'u' }, 'db'),
    'AIRLOCK_ERR_CONN_FIELDS_CONFLICT',
  ],
  [
    'a uri together with an object extra',
    () => Connection.fromFields({ uri: `x://u:${SECRET}@h`, extra: { k: SECRET } }, 'db'),
    'AIRLOCK_ERR_CONN_FIELDS_CONFLICT',
  ],
  [
    'a fields extra that is a list',
    () =>
      Connection.fromFields({ conn_type: 'x', password: SECRET, extra: [SECRET] as never }, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a fields extra that is not JSON',
    () => Connection.fromFields({ conn_type: 'x', extra: SECRET }, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a fields extra that JSON cannot hold',
    () => Connection.fromFields({ conn_type: 'x', extra: { k: new Date(0), s: SECRET } }, 'db'),
    'AIRLOCK_ERR_CONN_EXTRA_INVALID',
  ],
  [
    'a fields port that is not an integer',
    () => Connection.fromFields({ conn_type: 'x', password: SECRET, port: 1.5 }, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a fields port string that is not a number',
    () => Connection.fromFields({ conn_type: 'x', password: SECRET, port: SECRET }, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a negative fields port',
    () => Connection.fromFields({ conn_type: 'x', password: SECRET, port: -1 }, 'db'),
    'AIRLOCK_ERR_CONN_PORT_INVALID',
  ],
  [
    'a URI with no UTF-8 form',
    () =>
      Connection.fromFields({ conn_type: 'x', login: '\udc00', password: SECRET }, 'db').getUri(),
    'AIRLOCK_ERR_CONN_URI_INVALID',
  ],
];

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('Connection rejections', () => {
  it.each(REJECTIONS)('rejects %s', (_name, run, code) => {
    const err = thrown(run);
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe(code);
    expect((err as AirlockError).message).toMatch(/^connection `db`: /);
    expect((err as AirlockError).details).toEqual({ connId: 'db' });
  });

  it.each(REJECTIONS)(
    'keeps the planted password out of the message, stack, cause and JSON when rejecting %s',
    (_name, run) => {
      const err = thrown(run) as AirlockError;
      expect(err.message).not.toContain(SECRET);
      expect(err.stack ?? '').not.toContain(SECRET);
      expect(JSON.stringify(err)).not.toContain(SECRET);
      expect(err.cause).toBeUndefined();
      expect(err.message).not.toContain('user:');
    },
  );

  it('names no conn_id when none is given', () => {
    expect(() => Connection.fromUri('x://h:x')).toThrow(
      /^connection: the URI has an invalid port$/,
    );
  });
});

// --- properties ---------------------------------------------------------------------------

/** Text with every code point (no lone surrogates) and the characters URIs care about. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('@', ':', '/', '?', '#', '%', '%41', '+', ' ', '[::1]', 'é', 'Σ', '😀', '://'),
);

/**
 * Airflow lower-cases the host up to its first percent-escape, so a host round-trips only if
 * the unreserved ASCII run it starts with has no capital letter, unless it contains a `/`
 * (then the host is re-read from the raw netloc, case kept).
 */
function hostSurvivesLowerCasing(host: string): boolean {
  const head = /^[A-Za-z0-9_.~-]*/.exec(host)?.[0] ?? '';
  return host.includes('/') || head === head.toLowerCase();
}

function isJson(s: string): boolean {
  try {
    jsonLoads(s);
    return true;
  } catch {
    return false;
  }
}

/** Extra values the 3.x JSON-then-str() round trip leaves as they are. */
const extraValue = fc.oneof(
  text.filter((v) => !isJson(v)),
  fc.constantFrom('true', 'false', 'null', '123', '-7', '1.5', '[1, 2]', '{"a": 1}'),
);

const extra = fc
  .uniqueArray(fc.tuple(text, extraValue), { selector: ([k]) => k, maxLength: 4 })
  .filter((entries) => entries.every(([k]) => k !== '__extra__'))
  .map((entries) => jsonDumps(new Map(entries)));

/** Conn types whose scheme survives urlsplit and normalisation unchanged. */
const connType = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[a-z][a-z0-9+.]{0,6}(_[a-z0-9]{1,4})?$/).filter((t) => t !== 'postgresql'),
);

const representable = fc
  .record({
    connType,
    plainHost: text.filter((h) => !h.includes('://') && hostSurvivesLowerCasing(h)),
    protocol: fc.option(fc.constantFrom('https', 'mesos', 'ftp', 'h2.x+y'), { nil: null }),
    login: fc.option(text, { nil: null }),
    password: fc.option(
      text.filter((p) => p !== ''),
      { nil: null },
    ),
    schema: text,
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
    extra: fc.option(extra, { nil: null }),
  })
  .map(({ plainHost, protocol, ...rest }) => ({
    ...rest,
    host: protocol !== null && plainHost !== '' ? `${protocol}://${plainHost}` : plainHost,
    protocol: plainHost !== '' ? protocol : null,
  }))
  .filter((c) => {
    // A password needs a login slot before it (`:pw@` reads back as login '').
    if (c.password !== null && c.login === null) return false;
    // login '' alone is only written as `@:port` when there is no host either.
    if (c.login === '' && c.password === null && !(c.host === '' && c.port !== null)) return false;
    // `@:port` without a login reads back as login ''.
    if (c.host === '' && c.port !== null && c.login === null) return false;
    if (c.protocol !== null) {
      // A host protocol needs a scheme in front, one that str.replace cannot find inside it.
      const scheme = c.connType.replaceAll('_', '-');
      if (scheme === '' || (c.protocol !== c.connType && c.protocol.endsWith(scheme))) return false;
    }
    return true;
  });

describe('Connection round trips', () => {
  it('parses back from getUri() every connection the URI format can represent', () => {
    fc.assert(
      fc.property(representable, (c) => {
        const conn = Connection.fromFields(
          {
            conn_type: c.connType,
            host: c.host,
            login: c.login,
            password: c.password,
            schema: c.schema,
            port: c.port,
            extra: c.extra,
          },
          'prop_id',
        );
        const back = Connection.fromUri(conn.getUri(), 'prop_id');
        expect(fieldsOf(back)).toEqual(fieldsOf(conn));
        expect(back.connId).toBe('prop_id');
      }),
      { numRuns: 1000 },
    );
  });

  it('parses back from toJson() every connection with a conn type and a non-zero port', () => {
    const jsonExtra = fc
      .uniqueArray(
        fc.tuple(
          text,
          text.filter((v) => !isJson(v)),
        ),
        {
          selector: ([k]) => k,
          minLength: 1,
          maxLength: 3,
        },
      )
      .map((entries) => jsonDumps(new Map(entries)));
    const fields = fc.record({
      conn_type: fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/).filter((t) => t !== 'postgresql'),
      description: fc.option(text, { nil: null }),
      host: fc.option(text, { nil: null }),
      login: fc.option(text, { nil: null }),
      password: fc.option(
        text.filter((p) => p !== ''),
        { nil: null },
      ),
      schema: fc.option(text, { nil: null }),
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
      extra: fc.option(jsonExtra, { nil: null }),
    });
    fc.assert(
      fc.property(fields, (f) => {
        const conn = Connection.fromFields(f, 'j');
        const back = Connection.fromJson(conn.toJson(), 'j');
        expect(fieldsOf(back)).toEqual(fieldsOf(conn));
        expect(back.description).toBe(conn.description);
      }),
      { numRuns: 500 },
    );
  });
});
