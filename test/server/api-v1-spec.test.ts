// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
/**
 * `/api/v1` against Airflow 2.10's published specification (`test/fixtures/airflow-openapi/
 * v1-airflow-2.10.yaml`): every operation airlock serves from Airflow's API answers as the spec
 * says (status and schema, problem bodies, a write-only password never returned), and behaves as
 * Airflow does (`logical_date` on trigger, `~`, DAG paging and filters, log continuation tokens).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipelineRoutes } from '../../src/pipelines/http.ts';
import { taskLogPath } from '../../src/pipelines/logs.ts';
import { PipelineStore } from '../../src/pipelines/store.ts';
import {
  airflowOperations,
  checkedRequest,
  documentedResponses,
  expectAirflowResponse,
} from '../helpers/airflow-spec.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, type TestApp } from './_app.ts';

const home = tempDir('airlock-api-v1-spec-');
let t: TestApp;

let documented: ReturnType<typeof documentedResponses>;

/** A request as `user`, its answer checked against Airflow's spec and the served document. */
const v1 = async (
  user: 'admin' | 'editor' | 'viewer',
  route: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) => {
  const res = await checkedRequest((p, init) => t.as(user, p, init), route, path, {
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const [method = '', template = ''] = route.split(' ');
  documented(method, template, res.status, res.headers.get('content-type') ?? '', res.body);
  return res;
};

beforeAll(async () => {
  for (const [file, id, tags] of [
    ['a.ts', 'alpha', "['finance']"],
    ['b.ts', 'beta', "['ops']"],
    ['c.ts', 'gamma_report', "['finance', 'ops']"],
  ] as const) {
    mkdirSync(join(home, 'dags'), { recursive: true });
    writeFileSync(
      join(home, 'dags', file),
      `import { dag, task } from 'airlock';\nexport default dag('${id}', { schedule: null, tags: ${tags} }, () => { task('run', () => {}); });\n`,
    );
  }
  writeFileSync(
    join(home, 'dags', 'd.ts'),
    "import { dag, task } from 'airlock';\nexport default dag('delta', { schedule: null }, () => { task('flaky', () => {}, { retries: 1, retryDelaySeconds: 0 }); });\n",
  );
  writeFileSync(
    join(home, 'dags', 'broken.ts'),
    "import { dag } from 'airlock';\nthrow new Error('this DAG file is broken');\ndag;\n",
  );
  t = await createTestApp({
    env: { AIRLOCK_HOME: home },
    extra: { extensions: [createPipelineRoutes({ cacheMs: 60_000 })] },
  });
  documented = documentedResponses(
    (await (await t.app.request('/api/v1/openapi.json')).json()) as Record<string, unknown>,
  );
}, 60_000);
afterAll(() => t?.close());

describe('the spec validator', () => {
  it("refuses what Airflow's documents refuse", () => {
    const conn = '/api/v1/connections/{connection_id}';
    expect(() =>
      expectAirflowResponse('v1', 'GET', conn, 200, { connection_id: 'x' }),
    ).not.toThrow();
    expect(() =>
      expectAirflowResponse('v1', 'GET', conn, 200, { connection_id: 'x', password: null }),
    ).toThrow();
    expect(() => expectAirflowResponse('v1', 'GET', conn, 418, {})).toThrow();
    const variable = '/api/v2/variables/{variable_key}';
    expect(() =>
      expectAirflowResponse('v2', 'GET', variable, 200, {
        key: 'k',
        value: 'v',
        is_encrypted: true,
      }),
    ).not.toThrow();
    expect(() =>
      expectAirflowResponse('v2', 'GET', variable, 200, { key: 'k', value: null }),
    ).toThrow();
    expect(() => expectAirflowResponse('v2', 'GET', variable, 404, { code: 'x' })).toThrow();
    // The served document is held the same way.
    const own = '/api/v1/variables/{variable_key}';
    const json = 'application/json';
    expect(() =>
      documented('GET', own, 200, json, { key: 'k', value: 'v', description: null }),
    ).not.toThrow();
    expect(() => documented('GET', own, 200, json, { key: 1, value: 'v' })).toThrow();
    expect(() => documented('GET', own, 418, json, {})).toThrow();
  });
});

describe('/api/v1 against Airflow 2.10', () => {
  it('Variables and Connections answer as the spec says; the password is never returned', async () => {
    await v1('editor', 'POST /api/v1/variables', '/api/v1/variables', { key: 'k1', value: 'v1' });
    await v1('editor', 'GET /api/v1/variables', '/api/v1/variables?limit=10&order_by=-key');
    await v1('editor', 'GET /api/v1/variables/{variable_key}', '/api/v1/variables/k1');
    await v1('editor', 'PATCH /api/v1/variables/{variable_key}', '/api/v1/variables/k1', {
      key: 'k1',
      value: 'v2',
    });
    const missing = await v1(
      'viewer',
      'GET /api/v1/variables/{variable_key}',
      '/api/v1/variables/nope',
    );
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(missing.body).toMatchObject({ type: expect.stringContaining('NotFound'), status: 404 });
    await v1('editor', 'DELETE /api/v1/variables/{variable_key}', '/api/v1/variables/k1');

    const conn = {
      connection_id: 'spec_conn',
      conn_type: 'postgres',
      host: 'db',
      login: 'u',
      password: 'pw-spec',
    };
    await v1('editor', 'POST /api/v1/connections', '/api/v1/connections', conn);
    for (const user of ['editor', 'viewer'] as const) {
      const got = await v1(
        user,
        'GET /api/v1/connections/{connection_id}',
        '/api/v1/connections/spec_conn',
      );
      expect(got.body).not.toHaveProperty('password');
    }
    await v1('editor', 'GET /api/v1/connections', '/api/v1/connections');
    await v1(
      'editor',
      'PATCH /api/v1/connections/{connection_id}',
      '/api/v1/connections/spec_conn?update_mask=host',
      { connection_id: 'spec_conn', conn_type: 'postgres', host: 'db2' },
    );
    await v1('editor', 'POST /api/v1/connections/test', '/api/v1/connections/test', {
      connection_id: 'x',
      conn_type: 'sqlite',
    });
    await v1(
      'editor',
      'DELETE /api/v1/connections/{connection_id}',
      '/api/v1/connections/spec_conn',
    );
  });

  it('health, version and config', async () => {
    const health = await v1('viewer', 'GET /api/v1/health', '/api/v1/health');
    expect(health.body.metadatabase).toEqual({ status: 'healthy' });
    await v1('viewer', 'GET /api/v1/version', '/api/v1/version');
    await v1('admin', 'GET /api/v1/config', '/api/v1/config');
    expect((await v1('viewer', 'GET /api/v1/config', '/api/v1/config')).status).toBe(403);
  });

  it('lists DAGs with paging, order_by, dag_id_pattern, tags and paused', async () => {
    const list = (query: string) => v1('viewer', 'GET /api/v1/dags', `/api/v1/dags${query}`);
    const ids = async (query: string) => (await list(query)).body.dags.map((d: any) => d.dag_id);
    expect(await ids('?order_by=-dag_id&limit=2')).toEqual(['gamma_report', 'delta']);
    expect(await ids('?offset=2')).toEqual(['delta', 'gamma_report']);
    expect(await ids('?dag_id_pattern=REPORT')).toEqual(['gamma_report']);
    expect(await ids('?tags=finance')).toEqual(['alpha', 'gamma_report']);
    // A DAG seen for the first time starts paused (Airflow's dags_are_paused_at_creation).
    expect(await ids('?paused=true')).toEqual(['alpha', 'beta', 'delta', 'gamma_report']);
    expect(await ids('?paused=false')).toEqual([]);
    expect((await list('?limit=1')).body.total_entries).toBe(4);
    const alpha = await v1('viewer', 'GET /api/v1/dags/{dag_id}', '/api/v1/dags/alpha');
    expect(alpha.body).toMatchObject({ is_paused: true, next_dagrun: null });

    const patch = (user: 'editor' | 'viewer', paused: boolean) =>
      v1(user, 'PATCH /api/v1/dags/{dag_id}', '/api/v1/dags/alpha?update_mask=is_paused', {
        is_paused: paused,
      });
    expect((await patch('viewer', false)).status).toBe(403);
    const unpaused = await patch('editor', false);
    expect(unpaused.status).toBe(200);
    expect(unpaused.body).toMatchObject({ dag_id: 'alpha', is_paused: false });
    expect(await ids('?paused=false')).toEqual(['alpha']);
    expect(await ids('?paused=true')).toEqual(['beta', 'delta', 'gamma_report']);
    expect((await patch('editor', true)).body.is_paused).toBe(true);
  });

  it('triggers at logical_date or execution_date, lists with ~ and pages a log', async () => {
    const runs = '/api/v1/dags/alpha/dagRuns';
    const at = await v1('editor', 'POST /api/v1/dags/{dag_id}/dagRuns', runs, {
      logical_date: '2026-02-01T00:00:00Z',
    });
    expect(at.body.logical_date).toBe('2026-02-01T00:00:00.000Z');
    expect(at.body.dag_run_id).toBe('manual__2026-02-01T00:00:00.000Z');
    const old = await v1('editor', 'POST /api/v1/dags/{dag_id}/dagRuns', runs, {
      execution_date: '2026-02-02T00:00:00+00:00',
    });
    expect(old.body.execution_date).toBe('2026-02-02T00:00:00.000Z');
    const clash = await v1('editor', 'POST /api/v1/dags/{dag_id}/dagRuns', runs, {
      logical_date: '2026-02-03T00:00:00Z',
      execution_date: '2026-02-04T00:00:00Z',
    });
    expect(clash.status).toBe(400);
    await v1('editor', 'POST /api/v1/dags/{dag_id}/dagRuns', '/api/v1/dags/beta/dagRuns', {});

    const all = await v1('viewer', 'GET /api/v1/dags/{dag_id}/dagRuns', '/api/v1/dags/~/dagRuns');
    expect(new Set(all.body.dag_runs.map((r: any) => r.dag_id))).toEqual(
      new Set(['alpha', 'beta']),
    );
    const filtered = await v1(
      'viewer',
      'GET /api/v1/dags/{dag_id}/dagRuns',
      '/api/v1/dags/~/dagRuns?execution_date_gte=2026-02-01T12:00:00Z&execution_date_lte=2026-03-01T00:00:00Z&state=queued&order_by=-execution_date',
    );
    expect(filtered.body.dag_runs.map((r: any) => r.dag_run_id)).toEqual([old.body.dag_run_id]);
    expect(filtered.body.total_entries).toBe(1);
    await v1(
      'viewer',
      'GET /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}',
      `${runs}/${encodeURIComponent(at.body.dag_run_id)}`,
    );

    // A try's log, written where the worker writes it.
    const store = PipelineStore.from(t.metastore);
    await store.claimNext('test:1', { dagId: 'alpha', runId: at.body.dag_run_id });
    const path = taskLogPath(join(home, 'logs'), 'alpha', at.body.dag_run_id, 'run', 1);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '[2026-02-01T00:00:01.000Z] first\n[2026-02-01T00:00:02.000Z] second\n');
    const base = `${runs}/${encodeURIComponent(at.body.dag_run_id)}/taskInstances`;
    await v1('viewer', 'GET /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances', base);
    const logRoute =
      'GET /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}';
    const log = await v1('viewer', logRoute, `${base}/run/logs/1`);
    expect(log.body.content).toContain('second');
    expect(log.body.continuation_token).toEqual(expect.any(String));
    writeFileSync(path, '[2026-02-01T00:00:03.000Z] third\n', { flag: 'a' });
    const next = await v1(
      'viewer',
      logRoute,
      `${base}/run/logs/1?token=${log.body.continuation_token}`,
    );
    expect(next.body.content).toBe('[2026-02-01T00:00:03.000Z] third\n');
  });
});

const run = (path: string) => `/api/v1/dags/delta/dagRuns/${encodeURIComponent(path)}`;
const TRIGGER = 'POST /api/v1/dags/{dag_id}/dagRuns';
const TI = '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}';

describe('/api/v1 changes to runs and task instances', () => {
  it('keeps notes, marks, clears and deletes runs; lists each try with its own details', async () => {
    const store = PipelineStore.from(t.metastore);
    const created = await v1('editor', TRIGGER, '/api/v1/dags/delta/dagRuns', {
      dag_run_id: 'd1',
      logical_date: '2026-05-01T00:00:00Z',
      note: 'first run',
    });
    expect(created.body).toMatchObject({ dag_run_id: 'd1', note: 'first run' });

    // Try 1 fails (a retry is left), try 2 succeeds: each keeps its own details.
    const first = await store.claimNext('test:1', { dagId: 'delta', runId: 'd1', pid: 101 });
    if (!first) throw new Error('nothing to claim');
    await store.finishTry(first, { success: false, exitCode: 1 }, Date.now() + 10);
    const second = await store.claimNext('test:1', {
      dagId: 'delta',
      runId: 'd1',
      pid: 202,
      now: Date.now() + 1000,
    });
    if (!second) throw new Error('no second try');
    await store.finishTry(second, { success: true, exitCode: 0 }, Date.now() + 2000);

    const tries = await v1('viewer', `GET ${TI}/tries`, `${run('d1')}/taskInstances/flaky/tries`);
    expect(tries.body.total_entries).toBe(2);
    const [one, two] = tries.body.task_instances;
    expect(one).toMatchObject({ try_number: 1, state: 'up_for_retry', pid: 101 });
    expect(two).toMatchObject({ try_number: 2, state: 'success', pid: 202 });
    expect(one.hostname).not.toBe('');
    expect(one.start_date).not.toBe(two.start_date);
    const tryOne = await v1(
      'viewer',
      `GET ${TI}/tries/{task_try_number}`,
      `${run('d1')}/taskInstances/flaky/tries/1`,
    );
    expect(tryOne.body).toMatchObject({ try_number: 1, state: 'up_for_retry' });
    const none = await v1(
      'viewer',
      `GET ${TI}/tries/{task_try_number}`,
      `${run('d1')}/taskInstances/flaky/tries/3`,
    );
    expect(none.status).toBe(404);
    const ti = await v1('viewer', `GET ${TI}`, `${run('d1')}/taskInstances/flaky`);
    expect(ti.body).toMatchObject({ try_number: 2, state: 'success', map_index: -1 });

    const RUN = 'PATCH /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}';
    const noted = await v1('editor', `${RUN}/setNote`, `${run('d1')}/setNote`, {
      note: 'looked at',
    });
    expect(noted.body.note).toBe('looked at');
    expect(
      (await v1('viewer', `${RUN}/setNote`, `${run('d1')}/setNote`, { note: 'x' })).status,
    ).toBe(403);
    const failed = await v1('editor', RUN, run('d1'), { state: 'failed' });
    expect(failed.body).toMatchObject({ state: 'failed', note: 'looked at' });
    const refused = await v1('editor', RUN, run('d1'), { state: 'running' });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toContain('state');

    const CLEAR = 'POST /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/clear';
    const dry = await v1('editor', CLEAR, `${run('d1')}/clear`, { dry_run: true });
    expect(dry.body.task_instances).toEqual([
      {
        task_id: 'flaky',
        dag_id: 'delta',
        dag_run_id: 'd1',
        execution_date: '2026-05-01T00:00:00.000Z',
      },
    ]);
    const cleared = await v1('editor', CLEAR, `${run('d1')}/clear`, { dry_run: false });
    expect(cleared.body).toMatchObject({ dag_run_id: 'd1', state: 'queued' });

    const DELETE = 'DELETE /api/v1/dags/{dag_id}/dagRuns/{dag_run_id}';
    expect((await v1('editor', DELETE, run('d1'))).status).toBe(204);
    expect((await v1('editor', DELETE, run('d1'))).status).toBe(404);
  });

  it('clears task instances as Airflow selects them: dates, include_past/future, only_running', async () => {
    const store = PipelineStore.from(t.metastore);
    for (const [i, id] of ['c1', 'c2', 'c3'].entries()) {
      await v1('editor', TRIGGER, '/api/v1/dags/delta/dagRuns', {
        dag_run_id: id,
        logical_date: `2026-06-0${i + 1}T00:00:00Z`,
      });
    }
    // c2's task runs now; c1's and c3's are queued.
    await store.claimNext('test:1', { dagId: 'delta', runId: 'c2' });
    const ROUTE = 'POST /api/v1/dags/{dag_id}/clearTaskInstances';
    const clear = async (body: Record<string, unknown>) =>
      (await v1('editor', ROUTE, '/api/v1/dags/delta/clearTaskInstances', body)).body.task_instances
        .map((ti: any) => ti.dag_run_id)
        .sort();
    const all = { only_failed: false, dry_run: true };
    expect(await clear({ ...all, dag_run_id: 'c2' })).toEqual(['c2']);
    expect(await clear({ ...all, dag_run_id: 'c2', include_past: true })).toEqual(['c1', 'c2']);
    expect(await clear({ ...all, dag_run_id: 'c2', include_future: true })).toEqual(['c2', 'c3']);
    expect(
      await clear({
        ...all,
        dag_run_id: 'c2',
        include_past: true,
        include_future: true,
        only_running: true,
      }),
    ).toEqual(['c2']);
    expect(
      await clear({ ...all, start_date: '2026-06-02T00:00:00Z', end_date: '2026-06-03T00:00:00Z' }),
    ).toEqual(['c2', 'c3']);
    expect(await clear({ dag_run_id: 'c2', include_past: true })).toEqual([]);
    expect(await clear({ ...all, dry_run: false, dag_run_id: 'c2', only_running: true })).toEqual([
      'c2',
    ]);
    const ti = await v1('viewer', `GET ${TI}`, `${run('c2')}/taskInstances/flaky`);
    // Cleared while it ran: queued to run again, the try it was in kept as `restarting`.
    expect(ti.body.state).toBe('queued');
    const tries = await v1('viewer', `GET ${TI}/tries`, `${run('c2')}/taskInstances/flaky/tries`);
    expect(tries.body.task_instances.map((x: any) => x.state)).toEqual(['restarting']);
    const missing = await v1('editor', ROUTE, '/api/v1/dags/delta/clearTaskInstances', {
      dag_run_id: 'nope',
    });
    expect(missing.status).toBe(404);
  });

  it('pauses the DAGs a pattern selects, in one PATCH', async () => {
    const ROUTE = 'PATCH /api/v1/dags';
    const some = await v1(
      'editor',
      ROUTE,
      '/api/v1/dags?dag_id_pattern=GAMMA&update_mask=is_paused',
      {
        is_paused: false,
      },
    );
    expect(some.body.dags.map((d: any) => [d.dag_id, d.is_paused])).toEqual([
      ['gamma_report', false],
    ]);
    expect(some.body.total_entries).toBe(1);
    const every = await v1('editor', ROUTE, '/api/v1/dags?dag_id_pattern=~&limit=2', {
      is_paused: true,
    });
    expect(every.body.dags.map((d: any) => d.dag_id)).toEqual(['alpha', 'beta']);
    expect(every.body.total_entries).toBe(4);
    await v1('editor', ROUTE, '/api/v1/dags?dag_id_pattern=~', { is_paused: true });
    const paused = await v1('viewer', 'GET /api/v1/dags', '/api/v1/dags?paused=false');
    expect(paused.body.dags).toEqual([]);
    expect(
      (await v1('viewer', ROUTE, '/api/v1/dags?dag_id_pattern=~', { is_paused: true })).status,
    ).toBe(403);
    // `dag_id_pattern` is required (Airflow's spec documents no answer for its absence).
    const noPattern = await t.as('editor', '/api/v1/dags', {
      method: 'PATCH',
      body: JSON.stringify({ is_paused: true }),
    });
    expect(noPattern.status).toBe(400);
    expect(((await noPattern.json()) as any).detail).toContain('dag_id_pattern');
  });

  it('lists import errors and XCom entries', async () => {
    const errors = await v1('viewer', 'GET /api/v1/importErrors', '/api/v1/importErrors');
    expect(errors.body.total_entries).toBe(1);
    expect(errors.body.import_errors[0].stack_trace).toContain('this DAG file is broken');
    const one = await v1(
      'viewer',
      'GET /api/v1/importErrors/{import_error_id}',
      '/api/v1/importErrors/1',
    );
    expect(one.body.filename).toContain('broken.ts');
    expect(
      (await v1('viewer', 'GET /api/v1/importErrors/{import_error_id}', '/api/v1/importErrors/9'))
        .status,
    ).toBe(404);

    const store = PipelineStore.from(t.metastore);
    await store.setXcom(
      { dagId: 'delta', runId: 'c1', taskId: 'flaky' },
      'return_value',
      '{"rows":3}',
    );
    const base = `${run('c1')}/taskInstances/flaky/xcomEntries`;
    const list = await v1('viewer', `GET ${TI}/xcomEntries`, base);
    expect(list.body.xcom_entries.map((x: any) => x.key)).toEqual(['return_value']);
    const entry = `GET ${TI}/xcomEntries/{xcom_key}`;
    expect((await v1('viewer', entry, `${base}/return_value`)).body.value).toBe('{"rows":3}');
    expect((await v1('viewer', entry, `${base}/return_value?stringify=false`)).body.value).toEqual({
      rows: 3,
    });
  });
});

describe('/api/v1/openapi.json', () => {
  it("documents Airflow's operations under Airflow's paths; the rest are airlock's own", async () => {
    const doc = (await (await t.app.request('/api/v1/openapi.json')).json()) as any;
    const airflow = new Set(airflowOperations('v1').map((op) => op.replace(' ', ' /api/v1')));
    const own = /^\/api\/v1\/(settings|users|tokens|me|secrets|backends|openapi\.json)|^\/health$/;
    const served = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) =>
        Object.keys(ops)
          .filter((m) => m !== 'parameters')
          .map((m) => `${m.toUpperCase()} ${path}`),
    );
    const foreign = served.filter((op) => !airflow.has(op) && !own.test(op.split(' ')[1] ?? ''));
    expect(foreign).toEqual([]);
    expect(served.filter((op) => airflow.has(op)).length).toBeGreaterThan(20);
  });
});
