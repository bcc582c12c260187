import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { Fernet } from '../../src/metastore/fernet.ts';
import { LATEST_SCHEMA_VERSION } from '../../src/metastore/migrations/index.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { postgresDatabases } from '../metastore/_databases.ts';

const SECRET = 'cli-PLANTED-s3cret-41ab';

function expectOneLineError(stderr: string, code: string): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines.at(-1)).toMatch(new RegExp(`^airlock: error ${code}: `));
  expect(stderr).not.toMatch(/\n\s+at /);
}

/** A fresh AIRLOCK_HOME (and so a fresh SQLite metastore and key file). */
function home(): { dir: string; env: Record<string, string> } {
  const dir = tempDir('airlock-cli-home-');
  return { dir, env: { AIRLOCK_HOME: dir } };
}

/** Runs the CLI in this process (for a terminal stderr, which a child's pipe cannot be). */
async function inProcess(args: string[], env: Record<string, string>, stderrIsTty: boolean) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env,
    isTty: false,
    stderrIsTty,
  });
  return { code, stdout, stderr };
}

/**
 * The CLI in this process: the same code path as the executable (argument parsing, output,
 * errors, exit codes) without a process start per call, for the tests that run many commands.
 */
function run(args: string[], options: { env: Record<string, string> }) {
  return inProcess(args, options.env, false);
}

describe('airlock db', () => {
  it('migrate creates the schema and a 0600 key file and says so; check reports the version', async () => {
    const { dir, env } = home();
    const before = await runAirlock(['db', 'check-migrations'], { env });
    expect(before.code).toBe(1);
    expect(before.stdout).toContain('does not exist yet');
    expectOneLineError(before.stderr, 'AIRLOCK_ERR_MIGRATION_PENDING');
    expect(existsSync(join(dir, 'airlock.db'))).toBe(false);

    const migrate = await runAirlock(['db', 'migrate'], { env });
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toContain('Applied migration 0001-initial');
    expect(migrate.stderr).toContain(`generated a new Fernet key in ${join(dir, 'fernet.key')}`);
    expect(statSync(join(dir, 'fernet.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'airlock.db')).mode & 0o777).toBe(0o600);
    const key = readFileSync(join(dir, 'fernet.key'), 'utf8').trim();
    expect(() => new Fernet(key)).not.toThrow();

    const again = await runAirlock(['db', 'migrate'], { env });
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toContain(
      `The metastore schema is current: version ${LATEST_SCHEMA_VERSION}`,
    );
    expect(readFileSync(join(dir, 'fernet.key'), 'utf8').trim()).toBe(key);

    const check = await runAirlock(['db', 'check-migrations', '-o', 'json'], { env });
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({
      dialect: 'sqlite',
      exists: true,
      version: LATEST_SCHEMA_VERSION,
      latest: LATEST_SCHEMA_VERSION,
      current: true,
      pending: [],
    });
  });

  it('uses a configured key instead of generating one', async () => {
    const { dir, env } = home();
    const r = await runAirlock(['db', 'migrate'], {
      env: { ...env, AIRFLOW__CORE__FERNET_KEY: Fernet.generateKey() },
    });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(dir, 'fernet.key'))).toBe(false);
  });
});

describe('airlock variables (metastore)', () => {
  it('sets, gets through the chain, lists and deletes', async () => {
    const { env } = home();
    const set = await runAirlock(['variables', 'set', 'greeting', 'hello', '--description', 'hi'], {
      env,
    });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('Variable greeting created\n');
    // First use: the schema and the key are created, and the user is told.
    expect(set.stderr).toContain('generated a new Fernet key');
    const update = await runAirlock(['variables', 'set', 'greeting', 'hello again'], { env });
    expect(update).toMatchObject({ code: 0, stdout: 'Variable greeting updated\n', stderr: '' });

    const get = await runAirlock(['variables', 'get', 'greeting', '-o', 'json'], { env });
    expect(JSON.parse(get.stdout)).toEqual({
      key: 'greeting',
      value: 'hello again',
      source: 'metastore',
    });
    // The environment comes before the metastore.
    const shadowed = await runAirlock(['variables', 'get', 'greeting', '-o', 'json'], {
      env: { ...env, AIRFLOW_VAR_GREETING: 'from env' },
    });
    expect(JSON.parse(shadowed.stdout)).toMatchObject({ value: 'from env', source: 'env' });
    const which = await runAirlock(['secrets', 'which', 'variable', 'greeting'], { env });
    expect(which.stdout).toMatch(/2\. metastore +hit .*airlock\.db#variable\/greeting/);

    const list = await runAirlock(['variables', 'list', '-o', 'json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([
      { key: 'greeting', value: 'hello again', description: 'hi' },
    ]);

    const del = await runAirlock(['variables', 'delete', 'greeting'], { env });
    expect(del).toMatchObject({ code: 0, stdout: 'Variable greeting deleted\n' });
    const gone = await runAirlock(['variables', 'get', 'greeting'], { env });
    expect(gone.code).toBe(1);
    expectOneLineError(gone.stderr, 'AIRLOCK_ERR_VAR_NOT_FOUND');
    const again = await runAirlock(['variables', 'delete', 'greeting'], { env });
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, 'AIRLOCK_ERR_VAR_NOT_FOUND');
  });

  it('gets several keys at once: a JSON list, or key=value lines', async () => {
    const { env } = home();
    await run(['variables', 'set', 'a', 'one'], { env });
    await run(['variables', 'set', 'multi', 'line 1\nline 2'], { env });
    const withEnv = { ...env, AIRFLOW_VAR_B: '{"n": 2}', AIRFLOW_VAR_C: '[1]' };
    const json = await run(['variables', 'get', 'a', 'b', 'multi', '-o', 'json'], {
      env: withEnv,
    });
    expect(JSON.parse(json.stdout)).toEqual([
      { key: 'a', value: 'one', source: 'metastore' },
      { key: 'b', value: '{"n": 2}', source: 'env' },
      { key: 'multi', value: 'line 1\nline 2', source: 'metastore' },
    ]);
    const plain = await run(['variables', 'get', 'a', 'b', 'multi'], { env: withEnv });
    expect(plain.stdout).toBe('a=one\nb={"n": 2}\nmulti="line 1\\nline 2"\n');
    const parsed = await run(['variables', 'get', 'b', 'c', '--json', '-o', 'json'], {
      env: withEnv,
    });
    expect(JSON.parse(parsed.stdout)).toEqual([
      { key: 'b', value: { n: 2 }, source: 'env' },
      { key: 'c', value: [1], source: 'env' },
    ]);
    const notJson = await run(['variables', 'get', 'b', 'a', '--json'], { env: withEnv });
    expectOneLineError(notJson.stderr, 'AIRLOCK_ERR_VAR_JSON_INVALID');
    const missing = await run(['variables', 'get', 'a', 'nope', 'nada'], { env: withEnv });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('Variables `nope`, `nada` do not exist');
    const dflt = await run(['variables', 'get', 'a', 'nope', '-d', 'x', '-o', 'json'], {
      env: withEnv,
    });
    expect(JSON.parse(dflt.stdout)[1]).toEqual({ key: 'nope', value: 'x', source: 'default' });
  });

  it('never prints the values of sensitive keys in list, in any format', async () => {
    const { env } = home();
    await run(['variables', 'set', 'db_password', SECRET], { env });
    await run(['variables', 'set', 'API_KEY', SECRET], { env });
    await run(['variables', 'set', 'settings', JSON.stringify({ token: SECRET, n: 1 })], {
      env,
    });
    await run(['variables', 'set', 'my_word', SECRET], { env });
    await run(['variables', 'set', 'bucket', 's3://data'], { env });
    const extra = { ...env, AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES: 'word' };
    for (const output of ['table', 'json', 'yaml', 'plain']) {
      const r = await run(['variables', 'list', '-o', output], { env: extra });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toContain(SECRET);
      expect(r.stdout).toContain('s3://data');
      expect(r.stdout).toContain('db_password');
    }
    const json = JSON.parse(
      (await run(['variables', 'list', '-o', 'json'], { env: extra })).stdout,
    );
    expect(json).toEqual([
      { key: 'API_KEY', value: '***', description: null },
      { key: 'bucket', value: 's3://data', description: null },
      { key: 'db_password', value: '***', description: null },
      { key: 'my_word', value: '***', description: null },
      { key: 'settings', value: '{"token":"***","n":1}', description: null },
    ]);
    const table = await run(['variables', 'list'], { env });
    expect(table.stdout.split('\n')[0]).toMatch(/^key +\| value +\| description$/);
  });

  it('exports in Airflow format and imports it back, with counts and existing-key actions', async () => {
    const a = home();
    await run(['variables', 'set', 'plain', 'text'], { env: a.env });
    await run(['variables', 'set', 'doc', '{"b": [1, 2], "a": "x"}', '--description', 'd'], {
      env: a.env,
    });
    await run(['variables', 'set', 'quoted', '"a json string"'], { env: a.env });
    const file = join(a.dir, 'variables.json');
    const exported = await run(['variables', 'export', file], { env: a.env });
    expect(exported.stdout).toBe(`3 Variables successfully exported to ${file}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(
      '{\n    "doc": {\n        "description": "d",\n        "value": {\n            "a": "x",\n            "b": [\n                1,\n                2\n            ]\n        }\n    },\n    "plain": "text",\n    "quoted": "\\"a json string\\""\n}\n',
    );

    const b = home();
    await run(['variables', 'set', 'plain', 'kept'], { env: b.env });
    const skip = await run(['variables', 'import', file, '-a', 'skip'], { env: b.env });
    expect(skip.stdout).toContain('Imported 3 variables from');
    expect(skip.stdout).toContain('2 created, 0 overwritten, 1 skipped (existing keys: skip)');
    const fail = await run(['variables', 'import', file, '-a', 'fail'], { env: b.env });
    expect(fail.code).toBe(1);
    expectOneLineError(fail.stderr, 'AIRLOCK_ERR_STORE_CONFLICT');
    const over = await run(['variables', 'import', file], { env: b.env });
    expect(over.stdout).toContain('0 created, 3 overwritten, 0 skipped (existing keys: overwrite)');
    const got = await run(['variables', 'get', 'plain', 'doc', 'quoted', '-o', 'json'], {
      env: b.env,
    });
    // A JSON value is stored as Airflow's json.dumps(value, indent=2).
    expect(JSON.parse(got.stdout).map((r: { value: string }) => r.value)).toEqual([
      'text',
      '{\n  "a": "x",\n  "b": [\n    1,\n    2\n  ]\n}',
      '"a json string"',
    ]);
    const list = JSON.parse(
      (await run(['variables', 'list', '-o', 'json'], { env: b.env })).stdout,
    );
    expect(list.find((v: { key: string }) => v.key === 'doc').description).toBe('d');
  });

  it('imports nothing when an entry is bad, naming its line', async () => {
    const { dir, env } = home();
    await run(['variables', 'set', 'before', 'x'], { env });
    const file = join(dir, 'bad.json');
    const lines = ['{'];
    for (let i = 0; i < 2_000; i++) lines.push(`  "k${i}": "v${i}",`);
    lines.push(`  "broken": ${SECRET},`); // not JSON: a bare word
    lines.push('  "last": "v"', '}');
    writeFileSync(file, lines.join('\n'));
    const r = await run(['variables', 'import', file], { env });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
    expect(r.stderr).toContain(`\`${file}\` line 2002`);
    expect(r.stderr).not.toContain(SECRET);
    const list = JSON.parse((await run(['variables', 'list', '-o', 'json'], { env })).stdout);
    expect(list.map((v: { key: string }) => v.key)).toEqual(['before']);
    const env2 = join(dir, 'vars.env');
    writeFileSync(env2, 'A=1\n# comment\n\nB=2\nnot a pair\n');
    const bad = await run(['variables', 'import', env2], { env });
    expect(bad.stderr).toContain('line 5');
  });

  it('imports .env and YAML variable files', async () => {
    const { dir, env } = home();
    writeFileSync(join(dir, 'v.env'), 'FROM_ENV=a=b\n');
    writeFileSync(
      join(dir, 'v.yaml'),
      'from_yaml: text\nnumber: 3\nwith_description:\n  value: v\n  description: d\n',
    );
    expect((await run(['variables', 'import', join(dir, 'v.env')], { env })).code).toBe(0);
    expect((await run(['variables', 'import', join(dir, 'v.yaml')], { env })).code).toBe(0);
    const list = JSON.parse((await run(['variables', 'list', '-o', 'json'], { env })).stdout);
    expect(list).toEqual([
      { key: 'FROM_ENV', value: 'a=b', description: null },
      { key: 'from_yaml', value: 'text', description: null },
      { key: 'number', value: '3', description: null },
      { key: 'with_description', value: 'v', description: 'd' },
    ]);
  });

  it('imports 100,000 variables from a stream, in bounded memory, in seconds', async () => {
    const { dir, env } = home();
    const file = join(dir, 'many.json');
    const parts = ['{\n'];
    for (let i = 0; i < 100_000; i++) {
      const value =
        i % 10 === 0
          ? JSON.stringify({ i, tags: ['x', 'y'] })
          : JSON.stringify(`v${i}-${'x'.repeat(320)}`);
      parts.push(`  "key_${i}": ${value}${i < 99_999 ? ',' : ''}\n`);
    }
    parts.push('}\n');
    writeFileSync(file, parts.join(''));
    expect(statSync(file).size).toBeGreaterThan(30_000_000);
    // A 64 MB heap cannot hold the 30 MB file as a string plus its parsed entries: only a
    // streamed import fits.
    const r = await runAirlock(['variables', 'import', file], {
      env,
      nodeArgs: ['--max-old-space-size=64'],
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Imported 100000 variables');
    expect(r.stdout).toContain('100000 created');
    // How fast it is, is the benchmarks' business (no timed assertions in tests): bounded memory
    // (the 64 MB heap) is what this test holds.
    // Not a terminal: no progress bar.
    expect(r.stderr).not.toContain('\r');
    const got = await runAirlock(['variables', 'get', 'key_99999', 'key_10', '-o', 'json'], {
      env,
    });
    expect(JSON.parse(got.stdout)).toEqual([
      { key: 'key_99999', value: `v99999-${'x'.repeat(320)}`, source: 'metastore' },
      {
        key: 'key_10',
        value: '{\n  "i": 10,\n  "tags": [\n    "x",\n    "y"\n  ]\n}',
        source: 'metastore',
      },
    ]);
    // The export streams them back in bounded memory (a 32 MB heap holds neither the rows nor
    // the 30 MB file), in one pass, with nothing on stderr but its summary.
    const out = join(dir, 'exported.json');
    const exported = await runAirlock(['variables', 'export', out], {
      env,
      nodeArgs: ['--max-old-space-size=32'],
      timeoutMs: 60_000,
    });
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toBe('');
    expect(exported.stdout).toBe(`100000 Variables successfully exported to ${out}\n`);
    expect(statSync(out).size).toBeGreaterThan(30_000_000);
  }, 150_000);

  it('draws a progress bar on stderr only when stderr is a terminal', async () => {
    const { dir, env } = home();
    const file = join(dir, 'some.json');
    writeFileSync(
      file,
      JSON.stringify(
        Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`k${i}`, `v${i}`])),
      ),
    );
    const tty = await inProcess(['variables', 'import', file], env, true);
    expect(tty.code, tty.stderr).toBe(0);
    const ESC = '\u001b';
    expect(tty.stderr).toMatch(new RegExp(`\\r${ESC}\\[K\\[#*-*\\] +\\d+% +\\d+ variables`));
    expect(tty.stderr.endsWith(`\r${ESC}[K`)).toBe(true);
    expect(tty.stdout).toContain('Imported 3000 variables');
    const pipe = await inProcess(['variables', 'import', file], env, false);
    expect(pipe.code).toBe(0);
    expect(pipe.stderr).toBe('');
  });
});

describe('airlock connections (metastore)', () => {
  it('adds from a URI, JSON or fields, refuses an existing conn_id, lists without passwords', async () => {
    const { env } = home();
    const uri = `postgres://admin:${encodeURIComponent(SECRET)}@db.example.com:5432/analytics?sslmode=require`;
    const add = await run(['connections', 'add', 'warehouse', '--conn-uri', uri], { env });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('Successfully added `conn_id`=warehouse');
    expect(add.stdout).not.toContain(SECRET);
    const dup = await run(['connections', 'add', 'warehouse', '--conn-uri', uri], { env });
    expect(dup.code).toBe(1);
    expectOneLineError(dup.stderr, 'AIRLOCK_ERR_STORE_CONFLICT');
    expect(dup.stderr).toContain('`warehouse` already exists');
    const json = await run(
      [
        'connections',
        'add',
        'api',
        '--conn-json',
        JSON.stringify({
          conn_type: 'http',
          host: 'api.example.com',
          password: SECRET,
          extra: { api_token: SECRET, timeout: 5 },
        }),
      ],
      { env },
    );
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toContain(SECRET);
    const fields = await run(
      [
        'connections',
        'add',
        'ftp_box',
        '--conn-type',
        'ftp',
        '--conn-host',
        'ftp.example.com',
        '--conn-login',
        'me',
        '--conn-password',
        SECRET,
        '--conn-port',
        '21',
        '--conn-description',
        'the box',
      ],
      { env },
    );
    expect(fields.code, fields.stderr).toBe(0);

    const get = await run(['connections', 'get', 'warehouse', '-o', 'json'], { env });
    expect(JSON.parse(get.stdout)).toMatchObject({
      conn_id: 'warehouse',
      conn_type: 'postgres',
      password: SECRET,
      port: 5432,
      extra: { sslmode: 'require' },
      uri,
      source: 'metastore',
    });
    expect(
      JSON.parse((await run(['connections', 'get', 'ftp_box', '-o', 'json'], { env })).stdout),
    ).toMatchObject({
      conn_type: 'ftp',
      login: 'me',
      port: 21,
      description: 'the box',
    });

    for (const output of ['table', 'json', 'yaml', 'plain']) {
      const list = await run(['connections', 'list', '-o', output], { env });
      expect(list.code).toBe(0);
      expect(list.stdout).not.toContain(SECRET);
      expect(list.stdout).not.toContain(encodeURIComponent(SECRET));
      expect(list.stdout).toContain('warehouse');
    }
    const listed = JSON.parse(
      (await run(['connections', 'list', '-o', 'json', '--conn-id', 'api'], { env })).stdout,
    );
    expect(listed).toEqual([
      expect.objectContaining({
        conn_id: 'api',
        password: '***',
        extra: { api_token: '***', timeout: 5 },
        is_encrypted: true,
        is_extra_encrypted: true,
      }),
    ]);

    const del = await run(['connections', 'delete', 'api'], { env });
    expect(del.stdout).toBe('Successfully deleted connection with `conn_id`=api\n');
    const again = await run(['connections', 'delete', 'api'], { env });
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, 'AIRLOCK_ERR_CONN_NOT_FOUND');
  });

  it('checks the add options as Airflow does', async () => {
    const { dir, env } = home();
    const cases: Array<[string[], number, string]> = [
      [['connections', 'add', 'x'], 2, 'AIRLOCK_ERR_CLI_USAGE'],
      [
        ['connections', 'add', 'x', '--conn-uri', 'http://h', '--conn-json', '{}'],
        2,
        'AIRLOCK_ERR_CLI_USAGE',
      ],
      [
        ['connections', 'add', 'x', '--conn-uri', 'http://h', '--conn-host', 'h'],
        2,
        'AIRLOCK_ERR_CLI_USAGE',
      ],
      [
        ['connections', 'add', 'x', '--conn-json', '{"conn_type": "http"}', '--conn-extra', '{}'],
        2,
        'AIRLOCK_ERR_CLI_USAGE',
      ],
      [['connections', 'add', 'bad id', '--conn-type', 'http'], 1, 'AIRLOCK_ERR_CONN_ID_INVALID'],
      [
        ['connections', 'add', 'x'.repeat(201), '--conn-type', 'http'],
        1,
        'AIRLOCK_ERR_CONN_ID_INVALID',
      ],
      [
        ['connections', 'add', 'x', '--conn-uri', `no-scheme-${SECRET}`],
        1,
        'AIRLOCK_ERR_CONN_URI_INVALID',
      ],
      [
        ['connections', 'add', 'x', '--conn-json', '{"host": "h"}'],
        1,
        'AIRLOCK_ERR_CONN_JSON_INVALID',
      ],
      [
        ['connections', 'add', 'x', '--conn-type', 'http', '--conn-port', 'eighty'],
        1,
        'AIRLOCK_ERR_CONN_PORT_INVALID',
      ],
    ];
    for (const [args, code, error] of cases) {
      const r = await run(args, { env });
      expect(r.code, args.join(' ')).toBe(code);
      expectOneLineError(r.stderr, error);
      expect(r.stderr).not.toContain(SECRET);
    }
    // None of the refused commands created a metastore.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('exports in JSON, YAML and .env and imports each back into another metastore', async () => {
    const a = home();
    await run(
      [
        'connections',
        'add',
        'pg',
        '--conn-uri',
        `postgres://u:${encodeURIComponent(SECRET)}@db:5432/app?sslmode=require`,
      ],
      { env: a.env },
    );
    await run(
      [
        'connections',
        'add',
        'web',
        '--conn-type',
        'http',
        '--conn-host',
        'example.com',
        '--conn-extra',
        '{"timeout": 5, "verify": false}',
        '--conn-description',
        'site',
      ],
      { env: a.env },
    );
    const expected = async (env: Record<string, string>) =>
      Promise.all(
        ['pg', 'web'].map(async (id) => {
          const r = await run(['connections', 'get', id, '-o', 'json'], { env });
          const { source: _source, ...rest } = JSON.parse(r.stdout);
          return rest;
        }),
      );
    const original = await expected(a.env);
    const stdout = await run(['connections', 'export', '-'], { env: a.env });
    expect(JSON.parse(stdout.stdout)).toEqual({
      pg: {
        conn_type: 'postgres',
        description: null,
        login: 'u',
        password: SECRET,
        host: 'db',
        port: 5432,
        schema: 'app',
        extra: '{"sslmode": "require"}',
      },
      web: {
        conn_type: 'http',
        description: 'site',
        login: null,
        password: null,
        host: 'example.com',
        port: null,
        schema: null,
        extra: '{"timeout": 5, "verify": false}',
      },
    });
    expect(stdout.stderr).toBe('2 Connections successfully exported to standard output\n');
    const bad = await run(['connections', 'export', '-', '--serialization-format', 'json'], {
      env: a.env,
    });
    expect(bad.code).toBe(2);
    for (const [name, extraArgs] of [
      ['conns.json', []],
      ['conns.yaml', []],
      ['conns.env', []],
      ['conns-json.env', ['--serialization-format', 'json']],
    ] as const) {
      const file = join(a.dir, name);
      const r = await run(['connections', 'export', file, ...extraArgs], { env: a.env });
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const b = home();
      const imported = await run(['connections', 'import', file], { env: b.env });
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toContain('Imported 2 connections');
      expect(imported.stdout).toContain('2 created');
      const copy = await expected(b.env);
      // A URI carries no description and no "no schema": .env files in URI form lose them, as
      // they do in Airflow.
      if (name === 'conns.env') {
        expect(copy[1]).toMatchObject({ description: null, schema: '' });
        copy[1].description = 'site';
        copy[1].schema = null;
      }
      expect(copy, name).toEqual(original);
      const skipped = await run(['connections', 'import', file], { env: b.env });
      expect(skipped.stdout).toContain('0 created, 0 overwritten, 2 skipped');
      const over = await run(['connections', 'import', file, '--overwrite'], { env: b.env });
      expect(over.stdout).toContain('0 created, 2 overwritten, 0 skipped');
    }
  });

  it('imports nothing from a file with one bad entry, and names it', async () => {
    const { dir, env } = home();
    const file = join(dir, 'conns.json');
    writeFileSync(
      file,
      JSON.stringify({
        good: 'postgres://u:p@h/db',
        broken: { conn_type: 'http', port: 'not a port', password: SECRET },
      }),
    );
    const r = await run(['connections', 'import', file], { env });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_STORE_IMPORT_INVALID');
    expect(r.stderr).toContain('connection `broken`');
    expect(r.stderr).not.toContain(SECRET);
    const list = await run(['connections', 'list', '-o', 'json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});

describe('airlock rotate-fernet-key', () => {
  it("follows Airflow's procedure: new,old → rotate → new alone", async () => {
    const { env } = home();
    const oldKey = Fernet.generateKey();
    const newKey = Fernet.generateKey();
    const withOld = { ...env, AIRLOCK__CORE__FERNET_KEY: oldKey };
    await runAirlock(['variables', 'set', 'v', 'value'], { env: withOld });
    await runAirlock(['connections', 'add', 'c', '--conn-uri', 'http://u:pw@h?x=1'], {
      env: withOld,
    });
    const newOnly = { ...env, AIRLOCK__CORE__FERNET_KEY: newKey };
    const before = await runAirlock(['variables', 'get', 'v'], { env: newOnly });
    expect(before.code).toBe(1);
    expectOneLineError(before.stderr, 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
    expect(before.stderr).toContain('variable `v`');
    expect(before.stdout).toBe('');
    const rotate = await runAirlock(['rotate-fernet-key'], {
      env: { ...env, AIRLOCK__CORE__FERNET_KEY: `${newKey}, ${oldKey}` },
    });
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toBe(
      'Re-encrypted 1 variable values and 2 connection fields with the first Fernet key.\n',
    );
    expect((await runAirlock(['variables', 'get', 'v'], { env: newOnly })).stdout).toBe('value\n');
    const conn = await runAirlock(['connections', 'get', 'c', '-o', 'json'], { env: newOnly });
    expect(JSON.parse(conn.stdout)).toMatchObject({ password: 'pw', extra: { x: 1 } });
    const oldOnly = await runAirlock(['variables', 'get', 'v'], { env: withOld });
    expectOneLineError(oldOnly.stderr, 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
  });

  it('refuses to generate a key for a metastore that holds encrypted values', async () => {
    const { dir, env } = home();
    await run(['variables', 'set', 'v', 'x'], {
      env: { ...env, AIRLOCK__CORE__FERNET_KEY: Fernet.generateKey() },
    });
    const r = await run(['variables', 'set', 'w', 'y'], { env });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_CRYPTO_KEY_MISSING');
    expect(existsSync(join(dir, 'fernet.key'))).toBe(false);
    const read = await run(['variables', 'get', 'v'], { env });
    expectOneLineError(read.stderr, 'AIRLOCK_ERR_CRYPTO_KEY_MISSING');
  });
});

describe('the metastore in the chain', () => {
  it('is not opened through its SQL layer for a lookup the environment serves', async () => {
    const { dir, env } = home();
    await runAirlock(['variables', 'set', 'stored', 'x'], { env });
    const log = join(dir, 'modules.log');
    const hook = join(dir, 'hook.mjs');
    writeFileSync(
      hook,
      `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); } });
`,
    );
    const r = await runAirlock(['variables', 'get', 'hello'], {
      env: { ...env, AIRFLOW_VAR_HELLO: 'world' },
      nodeArgs: ['--import', hook],
    });
    expect(r.stdout).toBe('world\n');
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((u) => u.includes('/dist/cli/main.js'))).toBe(true);
    // The deployment settings are read with node:sqlite alone (they may configure a backend
    // that comes before the environment); the query builder and the metastore stay unloaded.
    expect(
      loaded.filter((u) =>
        /node_modules\/(kysely|pg)\/|metastore\/(metastore|dialects)\.js/.test(u),
      ),
    ).toEqual([]);
    // A miss in a home without a metastore creates nothing.
    const fresh = home();
    const miss = await runAirlock(['variables', 'get', 'nothing', '-d', 'fallback'], {
      env: fresh.env,
    });
    expect(miss.stdout).toBe('fallback\n');
    expect(readdirSync(fresh.dir)).toEqual([]);
  });

  it('shows the metastore and its redacted URL in config show', async () => {
    const r = await runAirlock(['config', 'show', '-o', 'json'], {
      env: { AIRLOCK__DATABASE__URL: 'postgresql://app:db-pw-s3cret@db.example.com/airflow' },
    });
    const shown = JSON.parse(r.stdout);
    expect(shown.chain).toEqual(['env', 'metastore']);
    expect(shown.database).toEqual({
      url: 'postgresql://app:***@db.example.com/airflow',
      configured_by: 'AIRLOCK__DATABASE__URL',
      configured_from: 'environment',
    });
    expect(r.stdout).not.toContain('db-pw-s3cret');
  });
});

describe('airlock on PostgreSQL (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)', () => {
  const databases = postgresDatabases();
  afterAll(() => databases.dispose());

  it("reads Airflow's settings and keeps no plaintext in the tables", async () => {
    const db = await databases.create();
    const { dir, env } = home();
    const pgEnv = {
      ...env,
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.url.replace(/^postgresql:/, 'postgresql+psycopg2:'),
      AIRFLOW__CORE__FERNET_KEY: Fernet.generateKey(),
    };
    const migrate = await runAirlock(['db', 'migrate'], { env: pgEnv });
    expect(migrate.code, migrate.stderr).toBe(0);
    await runAirlock(['variables', 'set', 'token', SECRET], { env: pgEnv });
    await runAirlock(['connections', 'add', 'pg', '--conn-uri', `postgres://u:${SECRET}@h/db`], {
      env: pgEnv,
    });
    const got = await runAirlock(['variables', 'get', 'token', '-o', 'json'], { env: pgEnv });
    expect(JSON.parse(got.stdout)).toEqual({ key: 'token', value: SECRET, source: 'metastore' });
    const check = await runAirlock(['db', 'check-migrations', '-o', 'json'], { env: pgEnv });
    expect(JSON.parse(check.stdout)).toMatchObject({ dialect: 'postgres', current: true });
    expect(await db.raw()).not.toContain(SECRET);
    // Nothing went to the SQLite file in AIRLOCK_HOME.
    expect(readdirSync(dir)).toEqual([]);
  });
});
