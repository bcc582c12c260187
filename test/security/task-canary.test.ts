/**
 * The task canary test: distinct secrets planted in every link a task can reach (the
 * environment, the metastore, Vault through the fake, secret deployment settings including the
 * backend kwargs' token, the admin password, the Fernet key), DAG files that try every way to
 * leak them past the task's own masking (an uncaught exception, an unhandled rejection,
 * `fs.writeSync`, `process._rawDebug`, a grandchild with inherited stdio running `env`, printing
 * `process.env`, JSON with `\uXXXX` and `\/` escapes, base64, URL-encoding, a DAG file whose top
 * level throws a `JSON.parse` error quoting a Variable), run through `airlock server` (triggered
 * by an editor) and the CLI. A viewer then reads every task log (API and page), the DAG list and
 * its import errors, also after a server restart; with the CLI output and every file under
 * `$AIRLOCK_HOME/logs`, each is searched for every canary in every encoding.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { type ServerProcess, startServerProcess } from '../helpers/browser.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const FERNET_KEY = randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

/** One canary per link; each must never appear in an output nobody asked it for. */
const CANARY = {
  vaultToken: 'cnry-vault-root-tkn-41ab',
  vaultVar: 'cnry-vault-var-92cd',
  vaultPw: 'cnry-vault-pw-17ef',
  envToken: 'cnry-env-token-5a10',
  envPw: 'cnry-env-pw-63b2',
  msSecret: 'cnry-ms-secret-8c34',
  msPw: 'cnry-ms-pw-2d56',
  unicode: 'cnry-ünï-séc-4b12',
  slash: 'cnry/slash/séc-9a0c',
  importToken: 'cnry-imptok-6c21',
  setting: 'cnry-setting-sec-7e78',
  adminPw: 'cnry-admin-pw-3f90',
  fernet: FERNET_KEY,
} as const;
const ALL: readonly string[] = Object.values(CANARY);

const EDITOR = { user: 'ed', password: 'editor-pass-1234' };
const VIEWER = { user: 'vi', password: 'viewer-pass-1234' };

/** `\uXXXX` escapes of non-ASCII, as Python's `json.dumps` writes them. */
function asciiJson(text: string, upper: boolean): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\u0080-\uffff]/g, (c) => {
      const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
      return `\\u${upper ? hex.toUpperCase() : hex}`;
    });
}

/** Every form a canary could leak in. */
function forms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const b64 = Buffer.from(secret).toString('base64').slice(0, 16);
  return [
    secret,
    encodeURIComponent(secret),
    b64,
    b64.replace(/\+/g, '-').replace(/\//g, '_'),
    json,
    asciiJson(secret, false),
    asciiJson(secret, true),
    json.replace(/\//g, '\\/'),
    asciiJson(secret, false).replace(/\//g, '\\/'),
  ];
}

function leaks(text: string): string[] {
  const found: string[] = [];
  for (const secret of ALL) {
    for (const form of new Set(forms(secret))) {
      if (text.includes(form)) found.push(`${secret} (as ${form})`);
    }
  }
  return found;
}

/** The task that tries every leak; `leak` prints the values in every form past task-main. */
const LEAKY_DAG = `import { dag, task, Variable, Connection } from 'airlock';
import { spawnSync } from 'node:child_process';
import { writeSync } from 'node:fs';

async function secrets() {
  const values = [
    await Variable.get('vault_api_key'),
    await Variable.get('env_token'),
    await Variable.get('ms_secret'),
    await Variable.get('unicode_secret'),
    await Variable.get('slash_secret'),
    (await Connection.get('vault_conn')).password,
    (await Connection.get('env_conn')).password,
    (await Connection.get('ms_conn')).password,
  ];
  for (const name of ['DEPLOY_NOTE', 'AIRLOCK_ADMIN_PASSWORD', 'AIRLOCK__CORE__FERNET_KEY', 'AIRFLOW__SECRETS__BACKEND_KWARGS']) {
    if (process.env[name]) values.push(process.env[name]);
  }
  return values;
}

function encodings(v) {
  const json = JSON.stringify(v);
  const ascii = (upper) => json.replace(/[\\u0080-\\uffff]/g, (c) => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
    return '\\\\u' + (upper ? hex.toUpperCase() : hex);
  });
  return [v, json, ascii(false), ascii(true), json.replace(/\\//g, '\\\\/'), encodeURIComponent(v), Buffer.from(v).toString('base64')].join(' | ');
}

dag('leaky', { schedule: null }, () => {
  task('seed', async () => { console.log('My variable is: ' + (await Variable.get('test-key'))); });
  task('uncaught', async () => {
    const all = await secrets();
    await new Promise(() => { setTimeout(() => { throw new Error('uncaught ' + all.join(' ')); }, 10); });
  });
  task('rejection', async () => {
    const all = await secrets();
    void Promise.reject(new Error('rejected ' + all.join(' ')));
    await new Promise((r) => setTimeout(r, 5000));
  });
  task('writesync', async () => {
    for (const v of await secrets()) { writeSync(1, 'fd1 ' + encodings(v) + '\\n'); writeSync(2, 'fd2 ' + encodings(v) + '\\n'); }
  });
  task('rawdebug', async () => {
    for (const v of await secrets()) process._rawDebug('raw ' + encodings(v));
  });
  task('grandchild', async () => {
    const all = await secrets();
    spawnSync('sh', ['-c', 'echo "grandchild $LEAK"; env'], { stdio: 'inherit', env: { ...process.env, LEAK: all.join(' ') } });
  });
  task('printenv', async () => {
    await secrets();
    console.log(process.env);
    writeSync(1, JSON.stringify(process.env) + '\\n');
  });
});
`;

/** A DAG file whose top level reads a Variable and throws a JSON.parse error quoting it. */
const IMPORT_LEAK_DAG = `import { dag, Variable } from 'airlock';
const settings = JSON.parse(await Variable.get('import_token'));
dag('never', { schedule: null }, () => {});
`;

function basic(who: { user: string; password: string }): string {
  return `Basic ${Buffer.from(`${who.user}:${who.password}`).toString('base64')}`;
}

describe('canary: no secret leaks from a task, a DAG file or the server', () => {
  let vault: VaultFake;
  let server: ServerProcess | undefined;
  let home = '';
  let env: Record<string, string> = {};
  const outputs: { what: string; text: string }[] = [];
  const runIds: string[] = [];

  async function call(
    path: string,
    who: { user: string; password: string },
    init: RequestInit = {},
  ): Promise<Response> {
    const res = await fetch(`${server?.url}${path}`, {
      ...init,
      headers: { authorization: basic(who), 'content-type': 'application/json', ...init.headers },
    });
    return res;
  }

  async function record(what: string, path: string, who = VIEWER): Promise<string> {
    const res = await call(path, who);
    const text = await res.text();
    outputs.push({ what: `${what} (${res.status})`, text });
    return text;
  }

  async function cli(args: string[]) {
    const r = await runAirlock(args, { env, timeoutMs: 90_000 });
    outputs.push({ what: `airlock ${args.join(' ')}`, text: r.stdout + r.stderr });
    return r;
  }

  beforeAll(async () => {
    home = tempDir('airlock-task-canary-');
    mkdirSync(join(home, 'dags'));
    writeFileSync(join(home, 'dags', 'leaky_dag.ts'), LEAKY_DAG);
    writeFileSync(join(home, 'dags', 'import_leak_dag.ts'), IMPORT_LEAK_DAG);
    vault = await startVaultFake({ rootToken: CANARY.vaultToken });
    vault.seed({
      kv: {
        'secret/variables/test-key': { value: 'value-from-vault' },
        'secret/variables/vault_api_key': { value: CANARY.vaultVar },
        'secret/connections/vault_conn': {
          conn_uri: `postgres://vault-user:${encodeURIComponent(CANARY.vaultPw)}@db.example.com/x`,
        },
      },
    });
    env = {
      AIRLOCK_HOME: home,
      AIRLOCK_ADMIN_PASSWORD: CANARY.adminPw,
      AIRLOCK__CORE__FERNET_KEY: CANARY.fernet,
      AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
      AIRFLOW_VAR_ENV_TOKEN: CANARY.envToken,
      AIRFLOW_CONN_ENV_CONN: `postgres://env-user:${CANARY.envPw}@h/db`,
    };
    expect((await runAirlock(['db', 'migrate'], { env })).code).toBe(0);
    for (const [key, value] of [
      ['ms_secret', CANARY.msSecret],
      ['unicode_secret', CANARY.unicode],
      ['slash_secret', CANARY.slash],
      ['import_token', CANARY.importToken],
    ] as const) {
      const r = await runAirlock(['variables', 'set', key, value], { env });
      expect(r.code, r.stderr).toBe(0);
    }
    const add = await runAirlock(
      ['connections', 'add', 'ms_conn', '--conn-uri', `postgres://ms-user:${CANARY.msPw}@h/db`],
      { env },
    );
    expect(add.code, add.stderr).toBe(0);
    server = await startServerProcess(env);
    const admin = { user: 'admin', password: CANARY.adminPw };
    for (const [name, value, secret] of [
      [
        'AIRFLOW__SECRETS__BACKEND',
        'airflow.providers.hashicorp.secrets.vault.VaultBackend',
        false,
      ],
      [
        'AIRFLOW__SECRETS__BACKEND_KWARGS',
        JSON.stringify({ url: vault.url, token: CANARY.vaultToken, mount_point: 'secret' }),
        true,
      ],
      ['DEPLOY_NOTE', CANARY.setting, true],
    ] as const) {
      const res = await call(`/api/v1/settings/${name}`, admin, {
        method: 'PUT',
        body: JSON.stringify({ value, secret }),
      });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    for (const [who, role] of [
      [EDITOR, 'editor'],
      [VIEWER, 'viewer'],
    ] as const) {
      const res = await call('/api/v1/users', admin, {
        method: 'POST',
        body: JSON.stringify({ username: who.user, password: who.password, role }),
      });
      expect(res.status, await res.text()).toBe(201);
    }
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await vault?.close();
  });

  async function waitForRun(runId: string): Promise<string> {
    const end = Date.now() + 60_000;
    for (;;) {
      const res = await call(`/api/v1/dags/leaky/dagRuns/${encodeURIComponent(runId)}`, VIEWER);
      const run = (await res.json()) as { state: string };
      if (run.state === 'success' || run.state === 'failed') return run.state;
      if (Date.now() > end) throw new Error(`run ${runId} still ${run.state}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function readEverything(label: string): Promise<void> {
    await record(`${label} GET /api/v1/dags`, '/api/v1/dags');
    await record(`${label} /dags page`, '/dags');
    for (const runId of runIds) {
      const run = `/dags/leaky/dagRuns/${encodeURIComponent(runId)}`;
      const tis = JSON.parse(await record(`${label} task instances`, `/api/v1${run}/taskInstances`))
        .task_instances as { task_id: string; try_number: number }[];
      expect(tis.length).toBe(7);
      for (const ti of tis) {
        await record(
          `${label} log API ${ti.task_id}`,
          `/api/v1${run}/taskInstances/${ti.task_id}/logs/1`,
        );
        await record(
          `${label} log page ${ti.task_id}`,
          `/dags/leaky/runs/${encodeURIComponent(runId)}/tasks/${ti.task_id}/log?try=1`,
        );
      }
      await record(`${label} run page`, `/dags/leaky/runs/${encodeURIComponent(runId)}`);
    }
  }

  it('runs every leak through the server, triggered by an editor', async () => {
    const res = await call('/api/v1/dags/leaky/dagRuns', EDITOR, {
      method: 'POST',
      body: JSON.stringify({ dag_run_id: 'canary_run' }),
    });
    expect(res.status, await res.text()).toBe(200);
    runIds.push('canary_run');
    expect(await waitForRun('canary_run')).toBe('failed');
    const logs = join(home, 'logs', 'leaky', 'canary_run');
    const seed = readFileSync(join(logs, 'seed', '1.log'), 'utf8');
    // Airflow's rule still holds: a non-sensitive Variable read from Vault is shown.
    expect(seed).toContain('My variable is: value-from-vault');
    const grandchild = readFileSync(join(logs, 'grandchild', '1.log'), 'utf8');
    expect(grandchild).toMatch(/grandchild \*\*\* \*\*\*/);
    // The child got none of airlock's own credentials.
    expect(grandchild).not.toMatch(/AIRLOCK_ADMIN_PASSWORD|FERNET_KEY|BACKEND_KWARGS/);
    expect(grandchild).toContain('DEPLOY_NOTE=***');
    expect(readFileSync(join(logs, 'uncaught', '1.log'), 'utf8')).toMatch(/uncaught \*\*\*/);
    expect(readFileSync(join(logs, 'rejection', '1.log'), 'utf8')).toMatch(/rejected \*\*\*/);
    expect(readFileSync(join(logs, 'rawdebug', '1.log'), 'utf8')).toMatch(/raw \*\*\* \| "\*\*\*"/);
    await readEverything('before restart');
    const dags = JSON.parse(await record('import errors', '/api/v1/dags')) as {
      import_errors: { filename: string; stack_trace: string }[];
    };
    expect(dags.import_errors.map((e) => e.filename)).toEqual(['import_leak_dag.ts']);
    expect(dags.import_errors[0]?.stack_trace).toMatch(/SyntaxError: .*\*\*\*/);
  }, 90_000);

  it('serves nothing raw after a server restart', async () => {
    await server?.stop();
    outputs.push({ what: 'server output', text: server?.output() ?? '' });
    server = await startServerProcess(env);
    await readEverything('after restart');
  }, 60_000);

  it('masks the same leaks on the CLI: dags test, tasks test, list-import-errors', async () => {
    // Only the CLI's own worker runs the test run (a server's worker would claim its tasks too).
    await server?.stop();
    outputs.push({ what: 'server output', text: server?.output() ?? '' });
    server = undefined;
    const test = await cli(['dags', 'test', 'leaky']);
    expect(test.code).toBe(1);
    expect(test.stdout).toContain('[seed] My variable is: value-from-vault');
    for (const task of ['grandchild', 'printenv', 'uncaught']) {
      const r = await cli(['tasks', 'test', 'leaky', task]);
      expect(r.stdout).toContain('***');
    }
    const errors = await cli(['dags', 'list-import-errors', '-o', 'json']);
    expect(errors.code).toBe(1);
    expect(errors.stdout).toMatch(/SyntaxError.*\*\*\*/);
    await cli(['dags', 'list']);
  }, 120_000);

  it('leaves no canary in any output nobody asked for, nor in any log file', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk(join(home, 'logs'));
    expect(files.length).toBe(14);
    for (const file of files) outputs.push({ what: file, text: readFileSync(file, 'utf8') });
    expect(outputs.length).toBeGreaterThan(50);
    const found: string[] = [];
    for (const { what, text } of outputs)
      for (const leak of leaks(text)) found.push(`${what}: ${leak}`);
    expect(found).toEqual([]);
  });
});
