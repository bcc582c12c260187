import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.ts';
import { VERSION } from '../../src/cli/version.ts';
import { cleanEnv, expectOneLineError, NODE, ROOT, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const PASSWORD = 'pa:ss@w/rd-9c1e';
const ENV = {
  AIRFLOW_VAR_HELLO: 'world',
  AIRFLOW_VAR_SETTINGS: '{"retries": 3, "tags": ["a"]}',
  AIRFLOW_CONN_MY_DB: `postgres://admin:${encodeURIComponent(PASSWORD)}@db.example.com:5432/analytics?sslmode=require`,
  AIRFLOW_CONN_BARE: '{"conn_type": "http"}',
};

describe('airlock variables get', () => {
  it('prints the value alone', async () => {
    const r = await runAirlock(['variables', 'get', 'hello'], { env: ENV });
    expect(r).toMatchObject({ code: 0, stdout: 'world\n', stderr: '' });
  });

  it('prints {key, value, source} with --output json', async () => {
    const r = await runAirlock(['variables', 'get', 'hello', '-o', 'json'], { env: ENV });
    expect(JSON.parse(r.stdout)).toEqual({ key: 'hello', value: 'world', source: 'env' });
  });

  it('deserialises with --json', async () => {
    const r = await runAirlock(['variables', 'get', 'settings', '--json', '--output', 'json'], {
      env: ENV,
    });
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'settings',
      value: { retries: 3, tags: ['a'] },
      source: 'env',
    });
  });

  it('prints the default, as given, when no source has the key', async () => {
    const r = await runAirlock(['variables', 'get', 'missing', '--default', '{"x":1}', '--json'], {
      env: ENV,
    });
    expect(r).toMatchObject({ code: 0, stdout: '{"x":1}\n' });
    const j = await runAirlock(['variables', 'get', 'missing', '-d', 'dflt', '-o', 'json']);
    expect(JSON.parse(j.stdout)).toEqual({ key: 'missing', value: 'dflt', source: 'default' });
  });

  it('exits 1 with a one-line coded error when the key is missing', async () => {
    const r = await runAirlock(['variables', 'get', 'missing'], { env: ENV });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_VAR_NOT_FOUND');
  });
});

describe('airlock connections get', () => {
  it('prints every field with uri and source as JSON, port a number and extra an object', async () => {
    const r = await runAirlock(['connections', 'get', 'my_db', '--output', 'json'], { env: ENV });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual([
      'conn_id',
      'conn_type',
      'description',
      'host',
      'login',
      'password',
      'schema',
      'port',
      'extra',
      'uri',
      'source',
    ]);
    expect(out).toMatchObject({
      conn_id: 'my_db',
      conn_type: 'postgres',
      description: null,
      host: 'db.example.com',
      login: 'admin',
      password: PASSWORD,
      schema: 'analytics',
      port: 5432,
      extra: { sslmode: 'require' },
      source: 'env',
    });
    expect(out.uri).toBe(ENV.AIRFLOW_CONN_MY_DB);
  });

  it('gives null port and extra when absent', async () => {
    const r = await runAirlock(['connections', 'get', 'bare', '-o', 'json'], { env: ENV });
    expect(JSON.parse(r.stdout)).toMatchObject({ conn_type: 'http', port: null, extra: null });
  });

  it('prints the URI with --output uri and one field a line by default', async () => {
    const uri = await runAirlock(['connections', 'get', 'my_db', '-o', 'uri'], { env: ENV });
    expect(uri.stdout).toBe(`${ENV.AIRFLOW_CONN_MY_DB}\n`);
    const plain = await runAirlock(['connections', 'get', 'my_db'], { env: ENV });
    expect(plain.stdout).toMatch(/^conn_id +my_db$/m);
    expect(plain.stdout).toMatch(/^port +5432$/m);
    expect(plain.stdout).toMatch(/^source +env$/m);
  });

  it('exits 1 when no source defines the connection', async () => {
    const r = await runAirlock(['connections', 'get', 'nope'], { env: ENV });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_CONN_NOT_FOUND');
  });

  it('reports a malformed URI without the password', async () => {
    const r = await runAirlock(['connections', 'get', 'broken'], {
      env: { AIRFLOW_CONN_BROKEN: 'postgres://u:hunter2-secret@h:99999/db' },
    });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_CONN_PORT_INVALID');
    expect(r.stderr).not.toContain('hunter2');
  });
});

describe('airlock secrets which', () => {
  it('shows every link with its outcome and time, never the value', async () => {
    const dir = tempDir();
    const vars = join(dir, 'vars.json');
    writeFileSync(vars, JSON.stringify({ other: 'x' }));
    const env = {
      ...ENV,
      AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ variables_file_path: vars }),
    };
    const r = await runAirlock(['secrets', 'which', 'variable', 'hello'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^variable `hello`: served by env$/m);
    expect(r.stdout).toMatch(/1\. local-file +miss +\d+\.\d ms/);
    expect(r.stdout).toMatch(/2\. env +hit +\d+\.\d ms +AIRFLOW_VAR_HELLO/);
    expect(r.stdout).not.toContain('world');
    const j = await runAirlock(['secrets', 'which', 'connection', 'my_db', '-o', 'json'], { env });
    const report = JSON.parse(j.stdout);
    expect(report.source).toBe('env');
    expect(report.trace.map((t: { outcome: string }) => t.outcome)).toEqual([
      'skipped',
      'hit',
      'skipped', // the metastore, after the serving link
    ]);
    expect(j.stdout).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('shows an error link and exits 0', async () => {
    const env = {
      ...ENV,
      AIRLOCK__SECRETS__BACKEND: 'local-file',
      AIRLOCK__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/nonexistent/vars.json"}',
    };
    const r = await runAirlock(['secrets', 'which', 'variable', 'hello'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/local-file +error .*AIRLOCK_ERR_BACKEND_FILE_MISSING/);
    expect(r.stdout).toMatch(/env +skipped/);
  });
});

describe('fail-closed chain', () => {
  const env = {
    ...ENV,
    AIRLOCK__SECRETS__BACKEND: 'local-file',
    AIRLOCK__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/nonexistent/vars.json"}',
  };

  it('stops at a failing backend by default', async () => {
    const r = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_BACKEND_FILE_MISSING');
  });

  it('falls through with AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR, as Airflow does', async () => {
    const r = await runAirlock(['variables', 'get', 'hello', '-o', 'json'], {
      env: { ...env, AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR: 'true' },
    });
    expect(JSON.parse(r.stdout)).toMatchObject({ value: 'world', source: 'env' });
  });
});

describe('configuration errors', () => {
  it('fails at startup listing every problem, without values', async () => {
    const r = await runAirlock(['variables', 'get', 'hello'], {
      env: {
        AIRLOCK__SECRETS__BACKENDS: JSON.stringify([
          { type: 'com.example.Unknown' },
          { type: 'vault', kwargs: { tokne: 'tok-s3cret-1', kv_engine_version: 7 } },
        ]),
      },
    });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_CONFIG_INVALID');
    expect(r.stderr).toContain('unknown backend `com.example.Unknown`');
    expect(r.stderr).toContain('tokne');
    expect(r.stderr).toContain('kv_engine_version');
    expect(r.stderr).not.toContain('tok-s3cret-1');
  });

  it('refuses kwargs that are not JSON', async () => {
    const r = await runAirlock(['variables', 'get', 'hello'], {
      env: {
        AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
        AIRFLOW__SECRETS__BACKEND_KWARGS: "{'variables_file_path': 'python-dict-s3cret'}",
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('AIRFLOW__SECRETS__BACKEND_KWARGS: is not valid JSON');
    expect(r.stderr).not.toContain('s3cret');
  });
});

describe('airlock config show', () => {
  it('prints the effective configuration with credentials redacted', async () => {
    const env = {
      AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
      AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
        url: 'https://ops:url-s3cret@vault.example.com:8200',
        auth_type: 'approle',
        role_id: 'role-123',
        secret_id: 'secret-id-s3cret',
        token: 'tok-s3cret',
        config_path: null,
      }),
    };
    const json = await runAirlock(['config', 'show', '-o', 'json'], { env });
    expect(json.code).toBe(0);
    const shown = JSON.parse(json.stdout);
    expect(shown.chain).toEqual(['vault', 'env', 'metastore']);
    expect(shown.secrets.configured_by).toBe('AIRFLOW__SECRETS__BACKEND');
    expect(shown.secrets.backends[0].kwargs).toMatchObject({
      url: 'https://ops:***@vault.example.com:8200',
      role_id: 'role-123',
      secret_id: '***',
      token: '***',
      config_path: null,
      mount_point: 'secret',
    });
    const plain = await runAirlock(['config', 'show'], { env });
    expect(plain.stdout).toContain('secrets.backends[0].type = "vault"');
    for (const out of [json.stdout, plain.stdout]) expect(out).not.toContain('s3cret');
  });
});

describe('a Vault radius setting as Airflow writes it', () => {
  it('fails with a clear coded error naming the login kwargs, without the RADIUS secret', async () => {
    const r = await runAirlock(['variables', 'get', 'hello'], {
      env: {
        AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
        AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({
          url: 'http://127.0.0.1:9',
          auth_type: 'radius',
          radius_host: 'radius.example.com',
          radius_secret: 'radius-s3cret',
        }),
      },
    });
    // Airflow's radius only configures the method; airlock logs in, which needs a user.
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_CONFIG_INVALID');
    expect(r.stderr).toContain('auth_type `radius` needs `username`');
    expect(r.stderr).not.toContain('radius-s3cret');
  });
});

describe('usage', () => {
  it('exits 2 with a one-line coded error for usage mistakes', async () => {
    for (const args of [
      ['variables', 'get'],
      ['variables', 'get', 'x', '--output', 'yaml'],
      ['nonsense'],
      ['variables', 'get', 'x', '--bogus'],
      ['secrets', 'which', 'thing', 'x'],
    ]) {
      const r = await runAirlock(args, { env: ENV });
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLineError(r.stderr, 'AIRLOCK_ERR_CLI_USAGE');
    }
  });

  it('prints help on stderr and exits 2 with no arguments (a usage error)', async () => {
    const r = await runAirlock([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: airlock');
    expect(r.stdout).toBe('');
  });

  it('has help text on every command', async () => {
    const program = buildProgram({ stdout: () => {}, stderr: () => {}, env: {}, isTty: false });
    const paths: string[][] = [];
    const walk = (cmd: typeof program, path: string[]) => {
      for (const sub of cmd.commands) {
        expect(sub.description(), [...path, sub.name()].join(' ')).not.toBe('');
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(program, []);
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) {
      const r = await runAirlock([...path, '--help']);
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.stdout).toContain(`Usage: airlock ${path.join(' ')}`);
    }
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(VERSION).toBe(pkg.version);
    const r = await runAirlock(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });
});

describe('runtime', () => {
  it('refuses a Node older than 22.13 with one line', async () => {
    const r = await runAirlock(['--version'], {
      nodeArgs: [
        '--import',
        `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.20.2'})`,
      ],
    });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, 'AIRLOCK_ERR_CLI_NODE_VERSION');
    expect(r.stderr).toContain('20.20.2');
    // Advice that holds for a library consumer too, not only inside this repository.
    expect(r.stderr).toContain('install Node.js 24 LTS and put it first on PATH');
  });

  it("refuses the machine's own old Node, when it has one", async () => {
    const system = '/usr/bin/node';
    const version = existsSync(system)
      ? spawnSync(system, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
      : '';
    const [major = 0, minor = 0] = version.split('.').map(Number);
    const old = version !== '' && (major < 22 || (major === 22 && minor < 13));
    const r = await runAirlock(['--version'], { node: old ? system : NODE });
    expect(r.code).toBe(old ? 1 : 0);
  });

  it('runs on the pinned Node 24 through npx airlock', () => {
    const r = spawnSync('npx', ['--no-install', 'airlock', '--version'], {
      cwd: ROOT,
      env: cleanEnv(),
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    const node = spawnSync('npx', ['--no-install', 'node', '-p', 'process.versions.node'], {
      cwd: ROOT,
      env: cleanEnv(),
      encoding: 'utf8',
    });
    expect(Number(node.stdout.trim().split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('loads no cloud SDK and no YAML parser for a lookup served by the environment', async () => {
    const dir = tempDir();
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
      env: {
        ...ENV,
        AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
        AIRFLOW__SECRETS__BACKEND_KWARGS: '{"variables_file_path": null}',
      },
      nodeArgs: ['--import', hook],
    });
    expect(r.stdout).toBe('world\n');
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((u) => u.includes('/dist/cli/main.js'))).toBe(true);
    const sdk = loaded.filter((u) =>
      /node_modules\/(@aws-sdk|@smithy|@google-cloud|google-gax|@grpc|@azure|yaml)\//.test(u),
    );
    expect(sdk).toEqual([]);
  });

  it('loads no backend, pipeline or server module, zod, kysely or logging library when only the environment is configured', async () => {
    const dir = tempDir();
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
      env: { ...ENV, AIRLOCK_HOME: dir },
      nodeArgs: ['--import', hook],
    });
    expect(r.stdout).toBe('world\n');
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((u) => u.includes('/dist/cli/main.js'))).toBe(true);
    const heavy = loaded.filter(
      (u) =>
        /node_modules\/(zod|kysely|pino|yaml|pg|@aws-sdk|@smithy|@google-cloud|@grpc|@azure)\//.test(
          u,
        ) ||
        /\/dist\/backends\/(vault|aws-|gcp-|azure-|local-file|_aws|_http)/.test(u) ||
        /\/dist\/(pipelines|server|metastore\/metastore)/.test(u),
    );
    expect(heavy).toEqual([]);
  });
});
