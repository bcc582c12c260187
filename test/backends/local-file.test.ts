import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalFileBackend } from '../../src/backends/local-file.ts';
import { isAirlockError } from '../../src/errors.ts';
import { runBackendContract } from '../contract/backend-contract.ts';
import { tempDir } from '../helpers/tmp.ts';

function updateJson(path: string, key: string, value: unknown): void {
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    data = {};
  }
  data[key] = value;
  writeFileSync(path, JSON.stringify(data));
}

runBackendContract({
  name: 'local-file',
  setup: async () => {
    const dir = tempDir();
    const variables = join(dir, 'variables.json');
    const connections = join(dir, 'connections.json');
    writeFileSync(variables, '{}');
    writeFileSync(connections, '{}');
    return {
      backend: createLocalFileBackend({
        variables_file_path: variables,
        connections_file_path: connections,
      }),
      seedVariable: async (key, value) => updateJson(variables, key, value),
      seedConnection: async (connId, value) => updateJson(connections, connId, value),
      corruptVariable: async (key, secret) => {
        writeFileSync(variables, `{"other": "x",\n"${key}": "${secret}"\n`);
      },
      teardown: async () => {},
    };
  },
});

async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (isAirlockError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'no error';
}

describe('local-file backend', () => {
  const dir = tempDir();
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads .env files: first = splits, comments and empty lines skipped, no trimming', async () => {
    const vars = file(
      'vars.env',
      '# a comment\n   # an indented comment\n\nA=1\nB=x=y\nC= spaced \nD="quoted"\n',
    );
    const backend = createLocalFileBackend({ variables_file_path: vars });
    expect(await backend.getVariable('A')).toBe('1');
    expect(await backend.getVariable('B')).toBe('x=y');
    expect(await backend.getVariable('C')).toBe(' spaced ');
    expect(await backend.getVariable('D')).toBe('"quoted"');
    expect(await backend.getVariable('a')).toBeUndefined();
  });

  it('handles CRLF line endings in .env files', async () => {
    const vars = file('crlf.env', 'A=1\r\nB=2\r\n');
    const backend = createLocalFileBackend({ variables_file_path: vars });
    expect(await backend.getVariable('A')).toBe('1');
    expect(await backend.getVariable('B')).toBe('2');
  });

  it('rejects a .env line without =, with an empty key or value, naming the line only', async () => {
    for (const [content, line, problem] of [
      ['A=1\nno-equals-s3cret\n', 2, 'equal sign'],
      ['A=1\nB=2\n=s3cret\n', 3, 'key is empty'],
      ['EMPTY=\n', 1, 'value is empty'],
      ['A=1\n   \n', 2, 'equal sign'],
    ] as const) {
      const backend = createLocalFileBackend({ variables_file_path: file('bad.env', content) });
      const text = await codeOf(() => backend.getVariable('A'));
      expect(text).toContain('AIRLOCK_ERR_BACKEND_FILE_PARSE');
      expect(text).toContain(`line ${line}`);
      expect(text).toContain(problem);
      expect(text).not.toContain('s3cret');
    }
  });

  it('rejects the whole file when a key repeats', async () => {
    const vars = file('dup.env', 'A=1\nB=2\nB=3\n');
    const backend = createLocalFileBackend({ variables_file_path: vars });
    expect(await codeOf(() => backend.getVariable('A'))).toMatch(
      /AIRLOCK_ERR_BACKEND_FILE_PARSE: .*2 values for the variable `B`/,
    );
    const conns = file('dup-conns.env', 'c=postgres://h\nc=mysql://h\n');
    const cb = createLocalFileBackend({ connections_file_path: conns });
    expect(await codeOf(() => cb.getConnectionValue('c'))).toMatch(/2 values for the connection/);
  });

  it('reads connections from .env files as strings', async () => {
    const conns = file('conns.env', 'my_db=postgres://u:p@h:5432/s\n');
    const backend = createLocalFileBackend({ connections_file_path: conns });
    expect(await backend.getConnectionValue('my_db')).toBe('postgres://u:p@h:5432/s');
  });

  it('reads JSON variables, keeping non-string values as JSON', async () => {
    const vars = file(
      'vars.json',
      JSON.stringify({ s: 'text', n: 42, b: true, o: { k: [1, 2] }, nothing: null }),
    );
    const backend = createLocalFileBackend({ variables_file_path: vars });
    expect(await backend.getVariable('s')).toBe('text');
    expect(await backend.getVariable('n')).toBe('42');
    expect(await backend.getVariable('b')).toBe('true');
    expect(await backend.getVariable('o')).toBe('{"k":[1,2]}');
    expect(await backend.getVariable('nothing')).toBeUndefined();
  });

  it('reads YAML files (.yaml and .yml, any case)', async () => {
    const vars = file('vars.YML', 'greeting: hello\nlist:\n  - a\n  - b\n');
    const conns = file(
      'conns.yaml',
      [
        'uri_conn: mysql://u:p@h/db',
        'obj_conn:',
        '  conn_type: postgres',
        '  host: h',
        '  port: 5432',
        '  extra_dejson:',
        '    sslmode: require',
        '',
      ].join('\n'),
    );
    const backend = createLocalFileBackend({
      variables_file_path: vars,
      connections_file_path: conns,
    });
    expect(await backend.getVariable('greeting')).toBe('hello');
    expect(await backend.getVariable('list')).toBe('["a","b"]');
    expect(await backend.getConnectionValue('uri_conn')).toBe('mysql://u:p@h/db');
    expect(JSON.parse((await backend.getConnectionValue('obj_conn')) as string)).toEqual({
      conn_type: 'postgres',
      host: 'h',
      port: 5432,
      extra: { sslmode: 'require' },
    });
  });

  it('reports YAML and JSON syntax errors with their line, without the content', async () => {
    const yamlPath = file('bad.yaml', 'a: 1\nb: [unclosed s3cret\n');
    const yb = createLocalFileBackend({ variables_file_path: yamlPath });
    const yamlText = await codeOf(() => yb.getVariable('a'));
    expect(yamlText).toContain('AIRLOCK_ERR_BACKEND_FILE_PARSE');
    expect(yamlText).not.toContain('s3cret');
    const jsonPath = file('bad.json', '{\n"a": "1",\n"b": s3cret\n}');
    const jb = createLocalFileBackend({ variables_file_path: jsonPath });
    const jsonText = await codeOf(() => jb.getVariable('a'));
    expect(jsonText).toContain('line 3');
    expect(jsonText).not.toContain('s3cret');
  });

  it('requires an object at the top level and a non-empty file', async () => {
    const list = createLocalFileBackend({ variables_file_path: file('list.json', '[1]') });
    expect(await codeOf(() => list.getVariable('a'))).toContain('should contain an object');
    const empty = createLocalFileBackend({ variables_file_path: file('empty.yaml', '') });
    expect(await codeOf(() => empty.getVariable('a'))).toContain('the file is empty');
  });

  it('checks connection objects as Airflow does', async () => {
    const cases: [unknown, RegExp][] = [
      [{ c: { conn_type: 'x', bogus: 1 } }, /illegal keys: bogus/],
      [{ c: { conn_type: 'x', extra: '{}', extra_dejson: {} } }, /mutually exclusive/],
      [{ c: { conn_type: 'x', conn_id: 'other' } }, /differs from its key/],
      [{ c: 42 }, /URI string or an object/],
    ];
    for (const [content, pattern] of cases) {
      const backend = createLocalFileBackend({
        connections_file_path: file('conns.json', JSON.stringify(content)),
      });
      expect(await codeOf(() => backend.getConnectionValue('c'))).toMatch(pattern);
    }
    const ok = createLocalFileBackend({
      connections_file_path: file(
        'ok.json',
        JSON.stringify({ c: { conn_id: 'c', conn_type: 'x' } }),
      ),
    });
    expect(JSON.parse((await ok.getConnectionValue('c')) as string)).toEqual({ conn_type: 'x' });
  });

  it('reads the file again on every lookup', async () => {
    const vars = file('live.json', '{"a": "1"}');
    const backend = createLocalFileBackend({ variables_file_path: vars });
    expect(await backend.getVariable('a')).toBe('1');
    writeFileSync(vars, '{"a": "2"}');
    expect(await backend.getVariable('a')).toBe('2');
  });

  it('fails with a coded error for a missing file or an unsupported extension', async () => {
    const missing = createLocalFileBackend({ variables_file_path: join(dir, 'nope.json') });
    expect(await codeOf(() => missing.getVariable('a'))).toMatch(
      /AIRLOCK_ERR_BACKEND_FILE_MISSING: .*nope\.json.*ENOENT/,
    );
    const txt = createLocalFileBackend({ variables_file_path: file('vars.txt', 'a=1') });
    expect(await codeOf(() => txt.getVariable('a'))).toContain('unsupported extension');
  });

  it('disables a kind whose file is not set', async () => {
    const backend = createLocalFileBackend({ variables_file_path: file('v.json', '{"a":"1"}') });
    expect(backend.locate?.('connection', 'x')).toBeUndefined();
    expect(backend.locate?.('variable', 'a')).toMatch(/v\.json#a$/);
    expect(await backend.getConnectionValue('x')).toBeUndefined();
  });

  it('refuses unknown kwargs', () => {
    expect(() => createLocalFileBackend({ variables_file: 'x' } as never)).toThrow(
      /AIRLOCK_ERR_CONFIG_INVALID|invalid configuration: local-file kwargs: Unrecognized key: "variables_file"/,
    );
  });
});
