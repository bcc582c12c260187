import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.ts';
import {
  connectionFromRecord,
  fileFormatOf,
  formatConnections,
  readConnectionFile,
  readVariableFile,
  writeVariablesJson,
} from '../../src/metastore/import-export.ts';
import { readJsonEntries } from '../../src/metastore/json-entries.ts';
import type { ConnectionRecord, VariableRecord } from '../../src/metastore/metastore.ts';
import { comparePyStr, pyJsonDumps } from '../../src/metastore/py-json.ts';
import { jsonLoads } from '../../src/model/connection-uri.ts';
import { tempDir } from '../helpers/tmp.ts';

/** `text` as a stream of chunks cut at the given offsets. */
async function* chunked(text: string, cuts: number[]): AsyncGenerator<string> {
  let last = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= last || cut >= text.length) continue;
    yield text.slice(last, cut);
    last = cut;
  }
  yield text.slice(last);
}

async function entries(text: string, cuts: number[] = []) {
  const out: Array<{ key: string; raw: string; line: number }> = [];
  for await (const e of readJsonEntries(chunked(text, cuts), 'f.json')) out.push(e);
  return out;
}

async function failure(run: () => Promise<unknown>): Promise<AirlockError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof AirlockError) return err;
    throw err;
  }
  throw new Error('expected an AirlockError');
}

function python<T>(script: string, input: unknown): T {
  const result = spawnSync(
    'python3',
    ['-c', `import json, sys\nreq = json.load(sys.stdin)\n${script}`],
    {
      input: JSON.stringify(input),
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(`python3 failed: ${result.error?.message ?? result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

describe('readJsonEntries', () => {
  it('yields each entry with its raw value and the line of its key', async () => {
    const text =
      '\uFEFF{\n  "a": "x",\n  "b\\u00e9": {"n": [1, "}"]},\n  "c": 12.5e3, "d": null,\n"e":true}\n';
    expect(await entries(text)).toEqual([
      { key: 'a', raw: '"x"', line: 2 },
      { key: 'bé', raw: '{"n": [1, "}"]}', line: 3 },
      { key: 'c', raw: '12.5e3', line: 4 },
      { key: 'd', raw: 'null', line: 4 },
      { key: 'e', raw: 'true', line: 5 },
    ]);
    expect(await entries('{}')).toEqual([]);
  });

  it('gives the same entries however the text is cut into chunks (property)', async () => {
    const value = fc.jsonValue({ maxDepth: 3 });
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 6 }),
        fc.array(fc.nat({ max: 400 }), { maxLength: 8 }),
        async (object, cuts) => {
          const text = JSON.stringify(object, null, 1);
          const got = await entries(text, cuts);
          expect(got.map((e) => e.key)).toEqual(Object.keys(object));
          // (Through JSON text on both sides: `-0` is written `0`.)
          expect(got.map((e) => JSON.parse(e.raw))).toEqual(
            JSON.parse(JSON.stringify(Object.values(object))),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it.each([
    ['', 'line 1 column 0: the file is empty'],
    ['[1, 2]', 'line 1 column 1: the file must contain one JSON object'],
    ['{"a" 1}', 'line 1 column 6: expected `:` after a key'],
    ['{"a": 1 "b": 2}', 'line 1 column 9: expected `,` or `}` after a value'],
    ['{\n"a": 1,\n}', 'line 3 column 1: expected a key in double quotes'],
    ['{"a": 1', 'the file ends inside the object'],
    ['{"a": {"b": 1}', 'the file ends inside the object'],
    ['{"a": 1} x', 'line 1 column 10: text follows the JSON object'],
    ['{a: 1}', 'line 1 column 2: expected a key in double quotes'],
    ['{"a":,}', 'line 1 column 6: expected a value'],
  ])('rejects %j with the line and column', async (text, message) => {
    const err = await failure(() => entries(text));
    expect(err.code).toBe('AIRLOCK_ERR_STORE_IMPORT_INVALID');
    expect(err.message).toContain(message);
  });
});

describe('pyJsonDumps', () => {
  it("writes exactly what Python's json.dumps writes, with and without indent and sort_keys", () => {
    const docs = [
      '{"b": 1, "a": [1, 2.5, {"z": null, "y": true}], "é": "ü 🔐", "e": {}, "f": []}',
      '[1e100, -0.0, 12345678901234567890, "line\\nbreak"]',
      '"just a string"',
      '{"nested": {"deeper": {"deepest": [[], [[]]]}}}',
    ];
    const ours = docs.flatMap((d) => [
      pyJsonDumps(jsonLoads(d)),
      pyJsonDumps(jsonLoads(d), { indent: 2 }),
      pyJsonDumps(jsonLoads(d), { indent: 4, sortKeys: true }),
    ]);
    const theirs = python<string[]>(
      `out = []
for d in req:
    v = json.loads(d)
    out += [json.dumps(v), json.dumps(v, indent=2), json.dumps(v, indent=4, sort_keys=True)]
json.dump(out, sys.stdout)`,
      docs,
    );
    expect(ours).toEqual(theirs);
  });

  it('sorts keys by code point, as Python does', () => {
    expect(['b', '\u{1F511}', 'B', '\uFFFD', 'a'].sort(comparePyStr)).toEqual([
      'B',
      'a',
      'b',
      '\uFFFD',
      '\u{1F511}',
    ]);
  });
});

describe('variable files', () => {
  const dir = tempDir('airlock-files-');
  const file = (name: string, text: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const read = async (path: string, format?: 'json' | 'yaml' | 'env') => {
    const out = [];
    for await (const e of readVariableFile({ path, format })) out.push(e);
    return out;
  };

  it("stores strings as they are and other JSON as Airflow's json.dumps(indent=2)", async () => {
    const path = file(
      'v.json',
      '{"s": "text", "n": 3, "obj": {"b": 1, "a": "é"}, "wrapped": {"value": {"x": 1}, "description": "d"}, "wrapped_str": {"value": "plain"}}',
    );
    expect(await read(path)).toEqual([
      { key: 's', value: 'text', where: `\`${path}\` line 1` },
      { key: 'n', value: '3', where: `\`${path}\` line 1` },
      { key: 'obj', value: '{\n  "b": 1,\n  "a": "\\u00e9"\n}', where: `\`${path}\` line 1` },
      { key: 'wrapped', value: '{\n  "x": 1\n}', description: 'd', where: `\`${path}\` line 1` },
      { key: 'wrapped_str', value: 'plain', description: null, where: `\`${path}\` line 1` },
    ]);
  });

  it('reads .env files with Airflow rules and rejects bad lines with their number', async () => {
    const path = file('v.env', 'A=1\n# comment\n  # indented comment\n\nB=x=y\n');
    expect((await read(path)).map(({ key, value }) => [key, value])).toEqual([
      ['A', '1'],
      ['B', 'x=y'],
    ]);
    for (const [text, problem] of [
      ['A=1\nno equal sign\n', 'line 2: the line should contain at least one equal sign'],
      ['=value\n', 'line 1: the key is empty'],
      ['A=\n', 'line 1: the value is empty'],
    ]) {
      const err = await failure(() => read(file('bad.env', text as string)));
      expect(err.message).toContain(problem);
    }
  });

  it('splits .env lines as readline does (\\n, \\r\\n, a lone \\r), whatever the chunks', async () => {
    const path = file('crlf.env', 'A=1\r\nB=2\rC=3\n\nD=4');
    expect((await read(path)).map(({ key, value }) => [key, value])).toEqual([
      ['A', '1'],
      ['B', '2'],
      ['C', '3'],
      ['D', '4'],
    ]);
  });

  it('refuses a .env file that is not UTF-8 with a coded error the caller receives', async () => {
    const path = file('latin1.env', Buffer.from('A=1\nB=caf\xe9\n', 'latin1'));
    const err = await failure(() => read(path));
    expect(err.code).toBe('AIRLOCK_ERR_STORE_IMPORT_INVALID');
    expect(err.message).toContain('line 2: the file is not UTF-8 text');
  });

  it('stops reading at a bad line, leaving no error behind (bytes that are not UTF-8 at the end)', async () => {
    // The reader used to be a stream under readline: once the caller stopped at line 1, the
    // decoding error at the end of the file was an 'error' event nobody heard (a crash).
    const unhandled: unknown[] = [];
    const onError = (err: unknown) => unhandled.push(err);
    process.on('uncaughtException', onError);
    try {
      const path = file('tail.env', Buffer.concat([Buffer.from('A=\nB=1\n'), Buffer.from([0xc3])]));
      const err = await failure(() => read(path));
      expect(err.message).toContain('line 1: the value is empty');
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });

  it('reads YAML files with the line of each key, and rejects a repeated key', async () => {
    const path = file('v.yml', 'a: text\nb:\n  - 1\n  - 2\nc: 2024-01-01\n');
    expect(await read(path)).toEqual([
      { key: 'a', value: 'text', where: `\`${path}\` line 1` },
      { key: 'b', value: '[\n  1,\n  2\n]', where: `\`${path}\` line 2` },
      { key: 'c', value: '2024-01-01', where: `\`${path}\` line 5` },
    ]);
    const err = await failure(() => read(file('dup.yaml', 'a: 1\nb: 2\na: 3\n')));
    expect(err.message).toContain('line 3');
  });

  it('never quotes a value in an error', async () => {
    const secret = 'sekr3t-value-in-file';
    for (const [name, text] of [
      ['s1.json', `{"a": ${secret}}`],
      ['s2.json', `{"a": "ok", "b": [1, ${secret}]}`],
      ['s3.json', `{"a": "${secret}`],
      ['s4.yaml', `a: [${secret}`],
    ]) {
      const err = await failure(() => read(file(name as string, text as string)));
      expect(err.code).toBe('AIRLOCK_ERR_STORE_IMPORT_INVALID');
      expect(`${err.message}${JSON.stringify(err)}`).not.toContain(secret);
    }
  });

  it('reads standard input for -', async () => {
    const stdin = Readable.from([Buffer.from('{"a": "from '), Buffer.from('stdin"}')]);
    const out = [];
    for await (const e of readVariableFile({ path: '-', stdin })) out.push(e);
    expect(out).toEqual([{ key: 'a', value: 'from stdin', where: 'stdin line 1' }]);
  });

  it('picks the format from the extension or the option', () => {
    expect(fileFormatOf('a.JSON')).toBe('json');
    expect(fileFormatOf('a.yml')).toBe('yaml');
    expect(fileFormatOf('a.env')).toBe('env');
    expect(fileFormatOf('-')).toBe('json');
    expect(fileFormatOf('a.txt', 'yaml')).toBe('yaml');
    expect(() => fileFormatOf('a.txt')).toThrow(/unsupported file format/);
  });

  it("writes Airflow 3's export: decoded JSON, raw strings, descriptions wrapped", async () => {
    const rows: Array<[string, string | null, string | null]> = [
      ['a', 'text', null],
      ['b', '{"y": 2, "x": [1]}', null],
      ['c', '"quoted"', null],
      ['d', 'v', 'described'],
      ['e', '{"value": 1}', null],
      ['f', null, null],
    ];
    const records: VariableRecord[] = rows.map(([key, value, description]) => ({
      key,
      value,
      description,
      isEncrypted: true,
      createdAt: null,
      updatedAt: null,
    }));
    let text = '';
    const count = await writeVariablesJson(
      (async function* () {
        yield* records;
      })(),
      (t) => {
        text += t;
      },
    );
    expect(count).toBe(6);
    const expected = python<string>(
      `
d = {}
for key, val, description in req:
    try:
        v = json.JSONDecoder().decode(val)
    except Exception:
        v = val
    else:
        if isinstance(v, str):
            v = val
    if description or (isinstance(v, dict) and "value" in v):
        d[key] = {"value": v, "description": description}
    else:
        d[key] = v
json.dump(json.dumps(d, sort_keys=True, indent=4), sys.stdout)`,
      records.map((r) => [r.key, r.value, r.description]),
    );
    expect(text).toBe(`${expected}\n`);
    let empty = '';
    await writeVariablesJson((async function* () {})(), (t) => {
      empty += t;
    });
    expect(empty).toBe('{}\n');
  });
});

describe('connection files', () => {
  const dir = tempDir('airlock-conn-files-');
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads URIs and field objects (extra or extra_dejson) from JSON and YAML', async () => {
    const json = file(
      'c.json',
      JSON.stringify({
        uri_form: 'mysql://u:p@h:3306/db',
        fields: { conn_type: 'http', host: 'h', port: '8080', extra_dejson: { a: 1 } },
        with_id: { conn_id: 'with_id', conn_type: 'ftp', extra: '{"b": 2}' },
      }),
    );
    const got = await readConnectionFile({ path: json });
    expect(
      got.map((e) => [e.connId, e.connection.connType, e.connection.port, e.connection.extra]),
    ).toEqual([
      ['uri_form', 'mysql', 3306, null],
      ['fields', 'http', 8080, '{"a": 1}'],
      ['with_id', 'ftp', null, '{"b": 2}'],
    ]);
    const yaml = file('c.yaml', 'pg:\n  conn_type: postgres\n  host: db\n  password: pw\n');
    const [pg] = await readConnectionFile({ path: yaml });
    expect(pg?.connection.toDict()).toMatchObject({
      conn_type: 'postgres',
      host: 'db',
      password: 'pw',
    });
    expect(pg?.where).toContain('line 1');
  });

  it.each([
    ['{"bad id": "http://h"}', 'the conn_id is not valid'],
    ['{"x": {"conn_type": "http", "extra": "{}", "extra_dejson": {}}}', 'mutually exclusive'],
    ['{"x": {"conn_type": "http", "conn_id": "y"}}', 'differs from its key'],
    ['{"x": {"conn_type": "http", "colour": "red"}}', 'illegal keys: colour'],
    ['{"x": {"host": "h"}}', 'has no conn_type'],
    ['{"x": 5}', 'must be a URI string or an object'],
    ['{"x": {"conn_type": "http", "port": "abc"}}', 'port'],
    ['[1]', 'must contain an object'],
    ['{"x": ', 'invalid JSON'],
  ])('rejects %s, naming the entry', async (text, problem) => {
    const err = await failure(() => readConnectionFile({ path: file('bad.json', text) }));
    expect(err.code).toBe('AIRLOCK_ERR_STORE_IMPORT_INVALID');
    expect(err.message).toContain(problem);
  });

  it('reads .env lines as URIs, and JSON values too', async () => {
    const path = file('c.env', 'a=http://u:p@h:80\nb={"conn_type": "http", "host": "j"}\n');
    const got = await readConnectionFile({ path });
    expect(got.map((e) => [e.connId, e.connection.host])).toEqual([
      ['a', 'h'],
      ['b', 'j'],
    ]);
  });

  it("formats exports as Airflow's connections export", async () => {
    const record: ConnectionRecord = {
      connId: 'db',
      connType: 'postgres',
      description: 'd',
      host: 'h',
      login: 'u',
      password: 'p@ss',
      schema: 's',
      port: 5432,
      extra: '{"sslmode": "require"}',
      isEncrypted: true,
      isExtraEncrypted: true,
      createdAt: null,
      updatedAt: null,
    };
    expect(await formatConnections([record], 'json')).toBe(
      '{\n  "db": {\n    "conn_type": "postgres",\n    "description": "d",\n    "login": "u",\n    "password": "p@ss",\n    "host": "h",\n    "port": 5432,\n    "schema": "s",\n    "extra": "{\\"sslmode\\": \\"require\\"}"\n  }\n}\n',
    );
    expect(await formatConnections([record], 'env')).toBe(
      'db=postgres://u:p%40ss@h:5432/s?sslmode=require\n',
    );
    expect(await formatConnections([record], 'env', 'json')).toBe(
      'db={"conn_type": "postgres", "description": "d", "login": "u", "password": "p@ss", "host": "h", "port": 5432, "schema": "s", "extra": "{\\"sslmode\\": \\"require\\"}"}\n',
    );
    const yaml = await formatConnections([record], 'yaml');
    expect(yaml.split('\n').slice(0, 3)).toEqual([
      'db:',
      '  conn_type: postgres',
      '  description: d',
    ]);
    expect(await formatConnections([], 'json')).toBe('{}\n');
    expect(connectionFromRecord(record).getUri()).toBe(
      'postgres://u:p%40ss@h:5432/s?sslmode=require',
    );
  });
});
