import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  floatRepr,
  fromJsValue,
  JsonDecodeError,
  jsonDumps,
  jsonLoads,
  type PyJson,
  parseQsl,
  pyFloat,
  pyInt,
  pyStr,
  pyStrip,
  pyTruthy,
  quote,
  quotePlus,
  toJsValue,
  UrlValueError,
  unquote,
  unquotePlus,
  urlencode,
  urlsplit,
} from '../../src/model/connection-uri.ts';

describe('urlsplit', () => {
  it.each([
    // [url, scheme, netloc, path, query, fragment]
    ['HTTP://h/p?q#f', 'http', 'h', '/p', 'q', 'f'],
    ['google_cloud_platform://u@h/x', '', '', 'google_cloud_platform://u@h/x', '', ''],
    ['1x://h', '', '', '1x://h', '', ''],
    ['a.b+c-d://h', 'a.b+c-d', 'h', '', '', ''],
    ['localhost:5432', 'localhost', '', '5432', '', ''],
    ['//user@/db', '', 'user@', '/db', '', ''],
    [' \u0000\u001f http://h', 'http', 'h', '', '', ''],
    ['ht\ttp://h\nost/p\r', 'http', 'host', '/p', '', ''],
    ['x://h?a#b?c', 'x', 'h', '', 'a', 'b?c'],
    ['x://h#a?b', 'x', 'h', '', '', 'a?b'],
    ['x://a?b/c', 'x', 'a', '', 'b/c', ''],
    ['x:', 'x', '', '', '', ''],
    ['x', '', '', 'x', '', ''],
    ['', '', '', '', '', ''],
  ])('splits %j', (url, scheme, netloc, path, query, fragment) => {
    const p = urlsplit(url);
    expect([p.scheme, p.netloc, p.path, p.query, p.fragment]).toEqual([
      scheme,
      netloc,
      path,
      query,
      fragment,
    ]);
  });

  it.each([
    // [url, username, password, hostname, port]
    ['x://u:p@Host.COM:80', 'u', 'p', 'host.com', 80],
    ['x://u:p:q@h', 'u', 'p:q', 'h', null],
    ['x://a@b@h', 'a@b', null, 'h', null],
    ['x://:@h:', '', '', 'h', null],
    ['x://@:5432', '', null, null, 5432],
    ['x://[::1]:5432', null, null, '::1', 5432],
    ['x://[FE80::A%25eTh0]', null, null, 'fe80::a%25eTh0', null],
    ['x://AB%20CD', null, null, 'ab%20CD', null],
    ['x://h:0080', null, null, 'h', 80],
    ['x://h:0', null, null, 'h', 0],
    ['x://h:65535', null, null, 'h', 65535],
  ])('reads the netloc of %j', (url, username, password, hostname, port) => {
    const p = urlsplit(url);
    expect([p.username, p.password, p.hostname, p.port]).toEqual([
      username,
      password,
      hostname,
      port,
    ]);
  });

  it.each([
    'x://h:65536',
    'x://h:-1',
    'x://h:+1',
    'x://h: 1',
    'x://h:1e3',
    'x://h:\u0661',
    'x://h:x',
  ])('throws on reading the invalid port of %j, not on splitting', (url) => {
    const p = urlsplit(url);
    expect(() => p.port).toThrow(UrlValueError);
  });

  it.each([
    'x://[::1',
    'x://::1]',
    'x://[1.2.3.4]',
    'x://[not-an-ip]',
    'x://[vz.x]',
    'x://[::1%]',
    'x://[1::2::3]',
    'x://h\u2100',
  ])('rejects the netloc of %j', (url) => {
    expect(() => urlsplit(url)).toThrow(UrlValueError);
  });

  it.each([
    'x://[v7.x]',
    'x://[::ffff:1.2.3.4]',
    'x://[1:2:3:4:5:6:7:8]',
    'x://[::]',
    'x://ｈｏｓｔ',
  ])('accepts the netloc of %j', (url) => {
    expect(() => urlsplit(url)).not.toThrow();
  });

  it('never repeats the input in its errors', () => {
    expect(() => urlsplit('x://u:topsecret@h:topsecret').port).toThrow(
      expect.not.objectContaining({ message: expect.stringContaining('topsecret') }),
    );
  });
});

describe('quote', () => {
  it.each([
    ['abcXYZ019_.-~', 'abcXYZ019_.-~'],
    ['p@ss:w/rd?#&=+% ', 'p%40ss%3Aw%2Frd%3F%23%26%3D%2B%25%20'],
    ['é', '%C3%A9'],
    ['😀', '%F0%9F%98%80'],
    ['\u0000\u007f', '%00%7F'],
    ['', ''],
  ])('quotes %j with safe="" as %j', (input, expected) => {
    expect(quote(input)).toBe(expected);
  });

  it('keeps the ASCII characters given as safe', () => {
    expect(quote('/a b/é', '/é')).toBe('/a%20b/%C3%A9');
  });

  it('throws on a lone surrogate as Python does', () => {
    expect(() => quote('a\ud800b')).toThrow(UrlValueError);
  });

  it('writes spaces as + in quotePlus', () => {
    expect(quotePlus('a b+c/d')).toBe('a+b%2Bc%2Fd');
    expect(quotePlus('ab')).toBe('ab');
  });
});

describe('unquote', () => {
  it.each([
    ['a%40b', 'a@b'],
    ['%c3%a9%C3%A9', 'éé'],
    ['%zz%4%', '%zz%4%'],
    ['+', '+'],
    ['%C3', '\ufffd'],
    ['%C3é%A9', '\ufffdé\ufffd'],
    ['%F0%9F%98%80', '😀'],
    ['%ED%A0%80', '\ufffd\ufffd\ufffd'],
    ['%EF%BB%BFx', '\ufeffx'],
    ['no escapes', 'no escapes'],
  ])('unquotes %j as %j', (input, expected) => {
    expect(unquote(input)).toBe(expected);
  });

  it('turns + into a space in unquotePlus only', () => {
    expect(unquotePlus('a+b%2B')).toBe('a b+');
  });
});

describe('parseQsl', () => {
  it.each([
    [
      'a=1&b&a=2',
      true,
      [
        ['a', '1'],
        ['b', ''],
        ['a', '2'],
      ],
    ],
    [
      'a=1&b&a=2',
      false,
      [
        ['a', '1'],
        ['a', '2'],
      ],
    ],
    ['a=&b=', false, []],
    ['a=1;b=2', true, [['a', '1;b=2']]],
    ['=', true, [['', '']]],
    ['&&', true, []],
    ['a=b=c', true, [['a', 'b=c']]],
    ['a+b=c+d%2B', true, [['a b', 'c d+']]],
    ['', true, []],
  ] as const)('parses %j (keep blank %s)', (qs, keepBlankValues, expected) => {
    expect(parseQsl(qs, { keepBlankValues })).toEqual(expected);
  });
});

describe('urlencode', () => {
  it('quotes keys and values with quotePlus', () => {
    expect(
      urlencode([
        ['a b', 'c&d=e'],
        ['', ''],
        ['é', '/'],
      ]),
    ).toBe('a+b=c%26d%3De&=&%C3%A9=%2F');
  });
});

describe('jsonDumps', () => {
  it.each([
    [new Map([['a', 'b']]), '{"a": "b"}'],
    [[pyInt(1), pyFloat(1), pyFloat(0.5), null, true, false], '[1, 1.0, 0.5, null, true, false]'],
    [new Map(), '{}'],
    [[], '[]'],
    ['é😀', '"\\u00e9\\ud83d\\ude00"'],
    ['\u0000\u0001\u001f\u007f', '"\\u0000\\u0001\\u001f\\u007f"'],
    ['\b\f\n\r\t"\\/', '"\\b\\f\\n\\r\\t\\"\\\\/"'],
    ['\ud800', '"\\ud800"'],
    [[pyFloat(Number.NaN), pyFloat(Infinity), pyFloat(-Infinity)], '[NaN, Infinity, -Infinity]'],
    [pyInt(12345678901234567890n), '12345678901234567890'],
    [
      new Map([
        ['b', pyInt(1)],
        ['0', pyInt(2)],
      ]),
      '{"b": 1, "0": 2}',
    ],
  ])('writes %o as %s', (value, expected) => {
    expect(jsonDumps(value)).toBe(expected);
  });

  it("writes any string as Python's ensure_ascii encoder does (printable ASCII takes a shortcut)", () => {
    // The encoder, written out from Python's `py_encode_basestring_ascii`, one UTF-16 unit at a time.
    const SHORT: Record<string, string> = {
      '"': '\\"',
      '\\': '\\\\',
      '\n': '\\n',
      '\r': '\\r',
      '\t': '\\t',
      '\b': '\\b',
      '\f': '\\f',
    };
    const python = (s: string) =>
      `"${[...Array(s.length).keys()]
        .map((i) => {
          const c = s.charAt(i);
          const code = s.charCodeAt(i);
          if (SHORT[c] !== undefined) return SHORT[c];
          if (code >= 0x20 && code <= 0x7e) return c;
          return `\\u${code.toString(16).padStart(4, '0')}`;
        })
        .join('')}"`;
    const printable = fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((n) => String.fromCharCode(n)),
    });
    fc.assert(
      fc.property(fc.oneof(printable, fc.string({ unit: 'binary' }), fc.string()), (s) => {
        expect(jsonDumps(s)).toBe(python(s));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('jsonLoads', () => {
  it('keeps ints and floats apart and the key order', () => {
    const value = jsonLoads('{"b": 1, "0": 1.0, "b": 2, "c": 1e2}');
    expect(value).toEqual(
      new Map<string, PyJson>([
        ['b', pyInt(2)],
        ['0', pyFloat(1)],
        ['c', pyFloat(100)],
      ]),
    );
    expect(jsonDumps(value)).toBe('{"b": 2, "0": 1.0, "c": 100.0}');
  });

  it('accepts NaN, Infinity and -Infinity as Python does', () => {
    expect(jsonDumps(jsonLoads(' [NaN,Infinity,-Infinity] '))).toBe('[NaN, Infinity, -Infinity]');
  });

  it('joins escaped surrogate pairs and keeps lone ones', () => {
    expect(jsonLoads('"\\ud83d\\ude00"')).toBe('😀');
    expect(jsonLoads('"\\ud800x"')).toBe('\ud800x');
  });

  it('reads big ints exactly', () => {
    expect(jsonLoads('-12345678901234567890')).toEqual(pyInt(-12345678901234567890n));
  });

  it.each([
    '',
    '{',
    '{"a": 1,}',
    '[1,]',
    '01',
    '1.',
    '.5',
    '"a\u0001"',
    '"\\x"',
    '"\\u12"',
    '\ufeff{}',
    '{} x',
    "{'a': 1}",
    '{"a" 1}',
    'nul',
    '\u00a0{}',
  ])('rejects %j', (text) => {
    expect(() => jsonLoads(text)).toThrow(JsonDecodeError);
  });
});

describe('floatRepr', () => {
  it.each([
    [1, '1.0'],
    [0.1, '0.1'],
    [-0, '-0.0'],
    [1e16, '1e+16'],
    [1e15, '1000000000000000.0'],
    [9999999999999998, '9999999999999998.0'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [1.2345678901234567e30, '1.2345678901234567e+30'],
    [123456.789, '123456.789'],
    [Number.NaN, 'nan'],
    [-Infinity, '-inf'],
  ])('writes %d as %s', (value, expected) => {
    expect(floatRepr(value)).toBe(expected);
  });
});

describe('pyStrip', () => {
  it('strips what Python str.strip() strips, not what String.trim() strips', () => {
    expect(pyStrip('\u001c\u0085 a b \u3000\n')).toBe('a b');
    expect(pyStrip('\ufeffa')).toBe('\ufeffa');
    expect(pyStrip(' \t ')).toBe('');
  });
});

describe('pyStr', () => {
  it.each([
    [pyInt(5), '5'],
    [pyFloat(1e22), '1e+22'],
    [pyFloat(2), '2.0'],
    [null, 'None'],
    [true, 'True'],
    ['s', 's'],
    [new Map([['a', pyInt(1)]]), '{"a": 1}'],
  ])('writes %o as %s', (value, expected) => {
    expect(pyStr(value)).toBe(expected);
  });
});

describe('pyTruthy', () => {
  it('follows Python truthiness', () => {
    const falsy = ['', pyInt(0), pyFloat(0), [], new Map(), null, false];
    const truthy = [' ', pyInt(1), pyFloat(Number.NaN), [null], new Map([['', null]]), true];
    expect(falsy.map(pyTruthy)).toEqual(falsy.map(() => false));
    expect(truthy.map(pyTruthy)).toEqual(truthy.map(() => true));
  });
});

describe('fromJsValue', () => {
  it('turns safe integers into ints and other numbers into floats', () => {
    expect(jsonDumps(fromJsValue({ a: 1, b: 1.5, c: 1e21, d: 10n, e: [true, null] }))).toBe(
      '{"a": 1, "b": 1.5, "c": 1e+21, "d": 10, "e": [true, null]}',
    );
  });

  it('skips undefined properties and rejects what JSON cannot hold', () => {
    expect(jsonDumps(fromJsValue({ a: undefined, b: 1 }))).toBe('{"b": 1}');
    expect(() => fromJsValue({ a: () => 1 })).toThrow(TypeError);
    expect(() => fromJsValue(new Date(0))).toThrow(TypeError);
  });

  it('round-trips through toJsValue', () => {
    const value = { a: [1, 2.5, 'x', null, false], b: { c: {} } };
    expect(toJsValue(fromJsValue(value))).toEqual(value);
  });
});
