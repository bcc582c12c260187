/**
 * Typed data between tasks from the outside: a three-task DAG hands values on through its
 * supervisors, they are readable through the API as Airflow's XCom entries, Fernet-encrypted in the
 * database, and masked when they hold a secret; a value over the limit, or one read from a task
 * that is not upstream, fails the try with its code. DAG params: defaults, checked confs (CLI and
 * API), typed values in the task.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../helpers/browser.ts';
import { expectOneLineError, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const home = tempDir('airlock-xcom-');
mkdirSync(join(home, 'dags'));
writeFileSync(
  join(home, 'dags', 'typed_flow.ts'),
  `import { dag, task, Variable } from 'airlock';
dag('typed_flow', { schedule: null }, () => {
  const extract = task('extract', async () => ({ rows: 21, marker: 'xcom-plain-marker-7f3' }));
  const transform = task('transform', ({ upstream }) => ({ doubled: upstream(extract).rows * 2 }), { dependsOn: [extract] });
  task('load', async ({ upstream, log }) => {
    log.info('got ' + upstream(transform).doubled + ' from ' + upstream(extract).marker);
    return { total: upstream(transform).doubled, leaked: await Variable.get('db_password'), password: 'literal-under-a-sensitive-key' };
  }, { dependsOn: [transform] });
  task('too_big', () => 'x'.repeat(60 * 1024));
  task('not_upstream', ({ upstream }) => upstream(extract));
  task('bad_value', () => ({ n: 10n }));
});
`,
);

writeFileSync(
  join(home, 'dags', 'with_params.ts'),
  `import { dag } from 'airlock';
dag('with_params', {
  schedule: null,
  params: {
    env: { type: 'string', enum: ['dev', 'prod'], default: 'dev' },
    rows: { type: 'integer', minimum: 1 },
    note: { type: 'string', maxLength: 20, default: 'none' },
  },
}, (d) => {
  d.task('show', ({ params, log }) => log.info('env=' + params.env + ' rows=' + (params.rows + 1) + ' note=' + params.note));
});
`,
);

const PASSWORD = 'xcom-admin-pw1';
const auth = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };
let server: ServerProcess;

const env = {
  AIRLOCK_HOME: home,
  AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
  AIRLOCK_ADMIN_PASSWORD: PASSWORD,
  AIRFLOW_VAR_DB_PASSWORD: 'sup3r-secret-pw-xcom',
  AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
};
beforeAll(async () => {
  server = await startServerProcess(env);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

async function api(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/api/v1/dags/typed_flow${path}`, { headers: auth });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('typed data between tasks (XCom)', () => {
  it('hands return values downstream, serves them as XCom entries, encrypted and masked', async () => {
    const trigger = await fetch(`${server.url}/api/v1/dags/typed_flow/dagRuns`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ dag_run_id: 'r1' }),
    });
    expect(trigger.status).toBe(200);
    await waitFor(async () => {
      const { body } = await api('/dagRuns/r1');
      return body.state === 'success' || body.state === 'failed' ? true : undefined;
    }, 40_000);
    const { body } = await api('/dagRuns/r1/taskInstances');
    const states = Object.fromEntries(
      (body.task_instances as { task_id: string; state: string }[]).map((t) => [
        t.task_id,
        t.state,
      ]),
    );
    expect(states).toEqual({
      extract: 'success',
      transform: 'success',
      load: 'success',
      too_big: 'failed',
      not_upstream: 'failed',
      bad_value: 'failed',
    });

    const entries = await api('/dagRuns/r1/taskInstances/extract/xcomEntries');
    expect(entries.body).toMatchObject({
      total_entries: 1,
      xcom_entries: [{ key: 'return_value', task_id: 'extract', dag_run_id: 'r1', map_index: -1 }],
    });
    // Airflow 2.10 answers the value as text unless `stringify=false`.
    expect(
      (await api('/dagRuns/r1/taskInstances/transform/xcomEntries/return_value')).body,
    ).toMatchObject({ key: 'return_value', value: '{"doubled":42}' });
    expect(
      (await api('/dagRuns/r1/taskInstances/transform/xcomEntries/return_value?stringify=false'))
        .body,
    ).toMatchObject({ key: 'return_value', value: { doubled: 42 } });
    // A secret the task resolved, and a string under a sensitive key, are stored masked.
    expect(
      (await api('/dagRuns/r1/taskInstances/load/xcomEntries/return_value?stringify=false')).body
        .value,
    ).toEqual({
      total: 42,
      leaked: '***',
      password: '***',
    });
    expect((await api('/dagRuns/r1/taskInstances/too_big/xcomEntries/return_value')).status).toBe(
      404,
    );

    const log = (task: string) =>
      readFileSync(join(home, 'logs', 'typed_flow', 'r1', task, '1.log'), 'utf8');
    expect(log('load')).toContain('got 42 from xcom-plain-marker-7f3');
    expect(log('load')).toContain(
      'Done. Returned value was: {"total":42,"leaked":"***","password":"***"}',
    );
    expect(log('too_big')).toMatch(
      /AIRLOCK_ERR_DAG_XCOM_INVALID: a task's return value is \d+ bytes as JSON, over the 49152-byte limit/,
    );
    expect(log('not_upstream')).toMatch(
      /AIRLOCK_ERR_DAG_XCOM_NOT_FOUND: task `extract` is not upstream of `not_upstream`/,
    );
    expect(log('bad_value')).toMatch(
      /AIRLOCK_ERR_DAG_XCOM_INVALID: a task's return value is not JSON-serialisable/,
    );
    for (const task of ['extract', 'transform', 'load', 'too_big', 'not_upstream', 'bad_value']) {
      expect(log(task)).not.toContain('sup3r-secret-pw-xcom');
      expect(log(task)).not.toContain('literal-under-a-sensitive-key');
    }

    // At rest: Fernet tokens only.
    const db = join(home, 'airlock.db');
    const raw = [db, `${db}-wal`]
      .filter((p) => existsSync(p))
      .map((p) => readFileSync(p).toString('latin1'))
      .join('');
    expect(raw).toContain('return_value');
    expect(raw).not.toContain('xcom-plain-marker-7f3');
    expect(raw).not.toContain('"doubled"');
  }, 60_000);
});

describe('DAG params', () => {
  it('refuses a conf that breaks a param spec, naming the param and never the value', async () => {
    const bad = await runAirlock(
      [
        'dags',
        'trigger',
        'with_params',
        '-c',
        '{"rows": 2, "note": "a-note-much-longer-than-twenty"}',
      ],
      { env },
    );
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr, 'AIRLOCK_ERR_DAG_PARAMS_INVALID');
    expect(bad.stderr).toContain('param `note` must be at most 20 characters');
    expect(bad.stderr).not.toContain('a-note-much-longer');
    const missing = await runAirlock(['dags', 'trigger', 'with_params'], { env });
    expect(missing.stderr).toContain('param `rows` is required (it has no default)');
    const res = await fetch(`${server.url}/api/v1/dags/with_params/dagRuns`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ conf: { rows: 2, env: 'staging' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'AIRLOCK_ERR_DAG_PARAMS_INVALID',
      detail: 'param `env` must be one of "dev", "prod"',
    });
    const detail = (await (
      await fetch(`${server.url}/api/v1/dags/with_params`, { headers: auth })
    ).json()) as Record<string, unknown>;
    expect(detail.params).toMatchObject({
      env: { value: 'dev', schema: { type: 'string', enum: ['dev', 'prod'] } },
      rows: { value: null },
    });
  });

  it('hands a task its params: the conf over the defaults', async () => {
    // (tasks test: the server's own worker would claim a `dags test` run's task here)
    const r = await runAirlock(['tasks', 'test', 'with_params', 'show', '-c', '{"rows": 41}'], {
      env,
    });
    expect(r.stdout).toContain('INFO - env=dev rows=42 note=none');
    const bad = await runAirlock(['tasks', 'test', 'with_params', 'show', '-c', '{"rows": 0}'], {
      env,
    });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('AIRLOCK_ERR_DAG_PARAMS_INVALID: param `rows` must be >= 1');
    expect(r.code).toBe(0);
  });
});
