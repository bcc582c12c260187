// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
/**
 * `/api/v2` as an Airflow 3 client drives it: a JWT from `POST /auth/token`, then Variables,
 * Connections, DAGs, a run triggered with a `logical_date` and run by a real worker, its task
 * instances and log. Every answer is validated against Airflow's published 3.2 specification
 * (`test/fixtures/airflow-openapi/v2-airflow-3.2.yaml`), and the served OpenAPI document is
 * checked against the routes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipelineRoutes, startServerWorker } from '../../src/pipelines/http.ts';
import type { Worker } from '../../src/pipelines/worker.ts';
import { airflowOperations, checkedRequest } from '../helpers/airflow-spec.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, PASSWORD, type TestApp } from './_app.ts';

const home = tempDir('airlock-api-v2-');
let t: TestApp;
let worker: Worker;
let bearer: Record<string, string>;

/** A request with the JWT, checked against Airflow's spec for `route`. */
const api = (route: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  checkedRequest(t.app.request.bind(t.app), route, path, {
    headers: { ...bearer, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

beforeAll(async () => {
  mkdirSync(join(home, 'dags'), { recursive: true });
  writeFileSync(
    join(home, 'dags', 'report.ts'),
    `import { dag, task, Variable } from 'airlock';
export default dag('report', { schedule: null, description: 'prints a variable', tags: ['v2', 'demo'] }, () => {
  task('print', async ({ dagRun }) => {
    console.log('logical date ' + dagRun.logicalDate);
    console.log('greeting is ' + (await Variable.get('greeting')));
    return { lines: 2, api_key: 'literal-under-a-sensitive-key' };
  });
});
`,
  );
  writeFileSync(
    join(home, 'dags', 'broken.ts'),
    "import { dag } from 'airlock';\nthrow new Error('this DAG file is broken');\ndag;\n",
  );
  t = await createTestApp({
    env: { AIRLOCK_HOME: home },
    extra: {
      extensions: [createPipelineRoutes({ cacheMs: 0, onTrigger: () => worker?.wake() })],
    },
  });
  worker = await startServerWorker(t.deps, { concurrency: 1 });
  const res = await t.app.request('/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  expect(res.status).toBe(201);
  bearer = { authorization: `Bearer ${((await res.json()) as any).access_token}` };
}, 60_000);
afterAll(async () => {
  await worker?.stop({ kill: true });
  await t?.close();
});

describe('/api/v2 Variables', () => {
  it('creates, lists, patches, bulk-changes and deletes as Airflow 3 does', async () => {
    const created = await api('POST /api/v2/variables', '/api/v2/variables', {
      key: 'greeting',
      value: 'hello from v2',
      description: 'said by the task',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ key: 'greeting', value: 'hello from v2' });
    const json = await api('POST /api/v2/variables', '/api/v2/variables', {
      key: 'settings_json',
      value: { retries: 3 },
    });
    expect(json.body.value).toBe('{"retries":3}');
    const again = { key: 'settings_json', value: 'x' };
    expect((await api('POST /api/v2/variables', '/api/v2/variables', again)).status).toBe(409);

    const listed = await api(
      'GET /api/v2/variables',
      '/api/v2/variables?variable_key_pattern=greet%25|settings_%25&order_by=-key&limit=1',
    );
    expect(listed.body.total_entries).toBe(2);
    expect(listed.body.variables.map((v: any) => v.key)).toEqual(['settings_json']);

    const patched = await api(
      'PATCH /api/v2/variables/{variable_key}',
      '/api/v2/variables/settings_json?update_mask=description',
      { key: 'settings_json', value: 'ignored', description: 'now described' },
    );
    expect(patched.body).toMatchObject({ value: '{"retries":3}', description: 'now described' });
    const mismatch = await api(
      'PATCH /api/v2/variables/{variable_key}',
      '/api/v2/variables/settings_json',
      { key: 'other', value: 'x' },
    );
    expect(mismatch.status).toBe(400);

    const bulk = await api('PATCH /api/v2/variables', '/api/v2/variables', {
      actions: [
        {
          action: 'create',
          entities: [
            { key: 'bulk_a', value: '1' },
            { key: 'greeting', value: 'clash' },
          ],
        },
        { action: 'update', entities: [{ key: 'bulk_a', value: '2' }] },
        {
          action: 'delete',
          entities: ['settings_json', 'never_there'],
          action_on_non_existence: 'skip',
        },
      ],
    });
    expect(bulk.body.create.success).toEqual(['bulk_a']);
    expect(bulk.body.create.errors).toEqual([
      { error: expect.stringContaining('greeting'), status_code: 409 },
    ]);
    expect(bulk.body.update.success).toEqual(['bulk_a']);
    expect(bulk.body.delete).toEqual({ success: ['settings_json'], errors: [] });
    expect((await t.metastore.getVariableRecord('greeting'))?.value).toBe('hello from v2');

    expect(
      (await api('DELETE /api/v2/variables/{variable_key}', '/api/v2/variables/bulk_a')).status,
    ).toBe(204);
    const gone = await api('GET /api/v2/variables/{variable_key}', '/api/v2/variables/bulk_a');
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ detail: expect.any(String) });
  });

  it('answers a body Airflow would refuse with 422 and FastAPI-shaped details, no input', async () => {
    const res = await api('POST /api/v2/variables', '/api/v2/variables', {
      key: 'k',
      value: 'secret-in-a-bad-body',
      unknown: 1,
    });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ['body'], type: expect.any(String) });
    expect(JSON.stringify(res.body)).not.toContain('secret-in-a-bad-body');
    const malformed = await checkedRequest(
      t.app.request.bind(t.app),
      'POST /api/v2/variables',
      '/api/v2/variables',
      {
        headers: { ...bearer, 'content-type': 'application/json' },
        body: '{"key": "k", "value": "secret-in-bad-json',
      },
    );
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0].type).toBe('json_invalid');
    expect(JSON.stringify(malformed.body)).not.toContain('secret-in-bad-json');
  });
});

describe('/api/v2 Connections', () => {
  it('creates, lists, patches, tests, bulk-changes and deletes', async () => {
    const body = {
      connection_id: 'warehouse',
      conn_type: 'postgres',
      host: '127.0.0.1',
      port: 1,
      login: 'etl',
      password: 'pw-v2-conn',
      schema: 'analytics',
      extra: '{"sslmode": "disable"}',
    };
    const created = await api('POST /api/v2/connections', '/api/v2/connections', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ connection_id: 'warehouse', port: 1, team_name: null });
    expect((await api('POST /api/v2/connections', '/api/v2/connections', body)).status).toBe(409);

    const listed = await api(
      'GET /api/v2/connections',
      '/api/v2/connections?connection_id_pattern=ware%25',
    );
    expect(listed.body.total_entries).toBe(1);
    expect(JSON.stringify(listed.body)).not.toContain('pw-v2-conn');

    const patched = await api(
      'PATCH /api/v2/connections/{connection_id}',
      '/api/v2/connections/warehouse?update_mask=host',
      { connection_id: 'warehouse', conn_type: 'postgres', host: 'db.internal' },
    );
    expect(patched.body).toMatchObject({ host: 'db.internal', login: 'etl', port: 1 });
    expect((await t.metastore.getConnection('warehouse'))?.password).toBe('pw-v2-conn');

    const tested = await api('POST /api/v2/connections/test', '/api/v2/connections/test', {
      ...body,
      host: '127.0.0.1',
    });
    expect(tested.body).toEqual({ status: false, message: expect.stringContaining('127.0.0.1:1') });

    expect(
      (await api('POST /api/v2/connections/defaults', '/api/v2/connections/defaults')).status,
    ).toBe(204);
    expect((await t.metastore.getConnection('postgres_default'))?.connType).toBe('postgres');

    const bulk = await api('PATCH /api/v2/connections', '/api/v2/connections', {
      actions: [
        {
          action: 'create',
          action_on_existence: 'overwrite',
          entities: [{ connection_id: 'http_default', conn_type: 'http', host: 'example.org' }],
        },
        { action: 'delete', entities: ['postgres_default', 'missing_conn'] },
      ],
    });
    expect(bulk.body.create).toEqual({ success: ['http_default'], errors: [] });
    expect(bulk.body.delete.success).toEqual(['postgres_default']);
    expect(bulk.body.delete.errors).toHaveLength(1);
    expect((await t.metastore.getConnection('http_default'))?.host).toBe('example.org');

    expect(
      (await api('DELETE /api/v2/connections/{connection_id}', '/api/v2/connections/warehouse'))
        .status,
    ).toBe(204);
  });
});

describe('/api/v2 DAGs, runs and logs', () => {
  it('lists and describes DAGs with Airflow filters, and reports the import error', async () => {
    const dags = await api('GET /api/v2/dags', '/api/v2/dags?tags=demo&dag_id_pattern=rep%25');
    expect(dags.body.dags.map((d: any) => d.dag_id)).toEqual(['report']);
    // A DAG seen for the first time starts paused (Airflow's dags_are_paused_at_creation).
    const pausedIds = async (paused: boolean) =>
      (await api('GET /api/v2/dags', `/api/v2/dags?paused=${paused}`)).body.dags.map(
        (d: any) => d.dag_id,
      );
    expect(await pausedIds(true)).toEqual(['report']);
    expect(await pausedIds(false)).toEqual([]);
    const got = await api('GET /api/v2/dags/{dag_id}', '/api/v2/dags/report');
    expect(got.body).toMatchObject({
      is_paused: true,
      timetable_summary: null,
      next_dagrun_logical_date: null,
    });
    const patch = (paused: boolean, query = '') =>
      api('PATCH /api/v2/dags/{dag_id}', `/api/v2/dags/report${query}`, { is_paused: paused });
    const unpaused = await patch(false, '?update_mask=is_paused');
    expect(unpaused.status).toBe(200);
    expect(unpaused.body).toMatchObject({ dag_id: 'report', is_paused: false });
    expect(await pausedIds(false)).toEqual(['report']);
    expect((await patch(true, '?update_mask=description')).status).toBe(400);
    expect(
      (await api('PATCH /api/v2/dags/{dag_id}', '/api/v2/dags/nope', { is_paused: true })).status,
    ).toBe(404);
    // PATCH /dags pauses what the filters select, and answers the DAGs as they are now.
    const bulk = (paused: boolean, query: string) =>
      api('PATCH /api/v2/dags', `/api/v2/dags${query}`, { is_paused: paused });
    expect((await bulk(true, '?dag_id_pattern=nothing%25')).body).toEqual({
      dags: [],
      total_entries: 0,
    });
    const pausedAll = await bulk(true, '?tags=demo&update_mask=is_paused');
    expect(pausedAll.body.dags.map((d: any) => [d.dag_id, d.is_paused])).toEqual([
      ['report', true],
    ]);
    expect(await pausedIds(true)).toEqual(['report']);
    expect((await bulk(false, '?paused=true')).body.total_entries).toBe(1);
    const details = await api('GET /api/v2/dags/{dag_id}/details', '/api/v2/dags/report/details');
    expect(details.body).toMatchObject({
      dag_id: 'report',
      catchup: false,
      is_paused: false,
      timezone: 'UTC',
      params: {},
    });
    const tasks = await api('GET /api/v2/dags/{dag_id}/tasks', '/api/v2/dags/report/tasks');
    expect(tasks.body.tasks.map((x: any) => x.task_id)).toEqual(['print']);
    await api('GET /api/v2/dags/{dag_id}/tasks/{task_id}', '/api/v2/dags/report/tasks/print');
    const missing = await api('GET /api/v2/dags/{dag_id}', '/api/v2/dags/nope');
    expect(missing.status).toBe(404);

    const errors = await api('GET /api/v2/importErrors', '/api/v2/importErrors');
    expect(errors.body.import_errors).toEqual([
      expect.objectContaining({ filename: 'broken.ts', import_error_id: 1 }),
    ]);
    await api('GET /api/v2/importErrors/{import_error_id}', '/api/v2/importErrors/1');
  });

  it('triggers a run at a logical_date, lists it everywhere and reads its log in pages', async () => {
    const logicalDate = '2026-03-01T06:00:00Z';
    const triggered = await api(
      'POST /api/v2/dags/{dag_id}/dagRuns',
      '/api/v2/dags/report/dagRuns',
      {
        logical_date: logicalDate,
        conf: { source: 'v2-test' },
      },
    );
    expect(triggered.status).toBe(200);
    expect(triggered.body).toMatchObject({
      dag_id: 'report',
      logical_date: '2026-03-01T06:00:00.000Z',
      run_type: 'manual',
      triggered_by: 'rest_api',
      triggering_user_name: 'admin',
      conf: { source: 'v2-test' },
    });
    const runId = triggered.body.dag_run_id as string;
    expect(runId).toBe('manual__2026-03-01T06:00:00.000Z');
    const runPath = `/api/v2/dags/report/dagRuns/${encodeURIComponent(runId)}`;

    // Bounded wait for the worker (generous: a hang fails the test, not a slow machine).
    let state = 'queued';
    for (let i = 0; i < 600 && state !== 'success' && state !== 'failed'; i++) {
      state = (await api('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).body.state;
      if (state !== 'success' && state !== 'failed') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('success');

    const all = await api(
      'GET /api/v2/dags/{dag_id}/dagRuns',
      '/api/v2/dags/~/dagRuns?state=success&logical_date_gte=2026-03-01T00:00:00Z',
    );
    expect(all.body.dag_runs.map((r: any) => r.dag_run_id)).toEqual([runId]);
    const batch = await api(
      'POST /api/v2/dags/{dag_id}/dagRuns/list',
      '/api/v2/dags/~/dagRuns/list',
      { dag_ids: ['report'], states: ['success'], order_by: '-logical_date' },
    );
    expect(batch.body.total_entries).toBe(1);

    const tis = await api(
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances',
      `${runPath}/taskInstances`,
    );
    expect(tis.body.task_instances).toEqual([
      expect.objectContaining({ task_id: 'print', state: 'success', try_number: 1, map_index: -1 }),
    ]);
    await api(
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
      `${runPath}/taskInstances/print`,
    );

    // A manual run's data interval is empty, at its logical date.
    expect(
      (await api('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).body,
    ).toMatchObject({
      data_interval_start: '2026-03-01T06:00:00.000Z',
      data_interval_end: '2026-03-01T06:00:00.000Z',
      run_after: '2026-03-01T06:00:00.000Z',
    });

    // The task's return value, as XCom entries (values redacted under sensitive keys).
    const xcomPath = `${runPath}/taskInstances/print/xcomEntries`;
    const xcoms = await api(
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries',
      xcomPath,
    );
    expect(xcoms.body).toMatchObject({
      total_entries: 1,
      xcom_entries: [{ key: 'return_value', task_id: 'print', run_id: runId, map_index: -1 }],
    });
    const xcomRoute =
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}';
    const value = await api(xcomRoute, `${xcomPath}/return_value`);
    expect(value.body.value).toEqual({ lines: 2, api_key: '***' });
    const text = await api(xcomRoute, `${xcomPath}/return_value?stringify=true`);
    expect(JSON.parse(text.body.value)).toEqual({ lines: 2, api_key: '***' });
    expect((await api(xcomRoute, `${xcomPath}/nope`)).status).toBe(404);

    const logRoute =
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}';
    const log = await api(logRoute, `${runPath}/taskInstances/print/logs/1`);
    const events = log.body.content.map((m: any) => m.event);
    expect(events).toContain('greeting is hello from v2');
    expect(events).toContain('logical date 2026-03-01T06:00:00.000Z');
    expect(log.body.content[0].timestamp).toMatch(/^\d{4}-/);
    const next = await api(
      logRoute,
      `${runPath}/taskInstances/print/logs/1?token=${log.body.continuation_token}`,
    );
    expect(next.body.content).toEqual([]);
    const plain = await t.app.request(`${runPath}/taskInstances/print/logs/1`, {
      headers: { ...bearer, accept: 'text/plain' },
    });
    expect(plain.headers.get('content-type')).toContain('text/plain');
    expect(await plain.text()).toContain('greeting is hello from v2');
  }, 120_000);
});

/** Waits (bounded, generous) until the run is finished; its state. */
async function finished(runPath: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const { state } = (await api('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).body;
    if (state === 'success' || state === 'failed') return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  return 'timed out';
}

describe('/api/v2 changes to runs and task instances', () => {
  it('marks, clears (runs again), and deletes as Airflow 3 does', async () => {
    const run = await api('POST /api/v2/dags/{dag_id}/dagRuns', '/api/v2/dags/report/dagRuns', {
      dag_run_id: 'changes_1',
      logical_date: '2026-03-02T00:00:00Z',
    });
    expect(run.status).toBe(200);
    const runPath = '/api/v2/dags/report/dagRuns/changes_1';
    expect(await finished(runPath)).toBe('success');

    const tiRoute = 'PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}';
    const marked = await api(tiRoute, `${runPath}/taskInstances/print`, { new_state: 'failed' });
    expect(marked.body.task_instances).toEqual([
      expect.objectContaining({ task_id: 'print', state: 'failed' }),
    ]);
    expect((await api('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).body.state).toBe(
      'failed',
    );
    const skipped = await api(tiRoute, `${runPath}/taskInstances/print`, { new_state: 'skipped' });
    expect(skipped.status).toBe(400);

    const clearRoute = 'POST /api/v2/dags/{dag_id}/clearTaskInstances';
    const dry = await api(clearRoute, '/api/v2/dags/report/clearTaskInstances', {
      dag_run_id: 'changes_1',
    });
    expect(dry.body.task_instances.map((t: any) => t.state)).toEqual(['failed']);
    const cleared = await api(clearRoute, '/api/v2/dags/report/clearTaskInstances', {
      dag_run_id: 'changes_1',
      dry_run: false,
    });
    expect(cleared.body.total_entries).toBe(1);
    expect(await finished(runPath)).toBe('success');
    const tis = await api(
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances',
      `${runPath}/taskInstances`,
    );
    expect(tis.body.task_instances[0]).toMatchObject({ state: 'success', try_number: 2 });

    const tries = await api(
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries',
      `${runPath}/taskInstances/print/tries`,
    );
    expect(tries.body.task_instances.map((t: any) => [t.try_number, t.state])).toEqual([
      [1, 'failed'],
      [2, 'success'],
    ]);
    // Each try keeps its own details: the first one's dates and host are its own.
    const [first, second] = tries.body.task_instances;
    expect(first).toMatchObject({ start_date: expect.any(String), hostname: expect.any(String) });
    expect(first.pid).toEqual(expect.any(Number));
    expect(Date.parse(first.start_date)).toBeLessThan(Date.parse(second.start_date));

    const patched = await api('PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath, {
      state: 'failed',
    });
    expect(patched.body.state).toBe('failed');
    const clearRun = await api(
      'POST /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear',
      `${runPath}/clear`,
      { dry_run: false },
    );
    expect(clearRun.body.dag_run_id).toBe('changes_1');
    // Airflow 3's wait: NDJSON states until the run is finished.
    // Airflow 3.1's `result`: the last line carries the listed tasks' return values (masked).
    const wait = await t.app.request(`${runPath}/wait?interval=0.05&result=print&result=nope`, {
      headers: bearer,
    });
    expect(wait.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await wait.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.at(-1)).toEqual({
      state: 'success',
      results: { print: { lines: 2, api_key: '***' } },
    });
    expect(lines.slice(0, -1).every((l) => !('results' in l))).toBe(true);
    expect(await finished(runPath)).toBe('success');
    const runRoute = 'PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}';
    const noted = await api(runRoute, runPath, { note: 'checked by ops' });
    expect(noted.status).toBe(200);
    expect(noted.body).toMatchObject({ note: 'checked by ops', state: 'success' });
    const read = await api('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath);
    expect(read.body.note).toBe('checked by ops');
    // With a mask, only the fields it names change.
    const masked = await api(`${runRoute}`, `${runPath}?update_mask=state`, {
      state: 'success',
      note: 'ignored',
    });
    expect(masked.body.note).toBe('checked by ops');
    const unnoted = await api(runRoute, `${runPath}?update_mask=note`, { note: null });
    expect(unnoted.body.note).toBe(null);
    const triggered = await api(
      'POST /api/v2/dags/{dag_id}/dagRuns',
      '/api/v2/dags/report/dagRuns',
      {
        dag_run_id: 'noted_at_trigger',
        logical_date: '2026-03-03T00:00:00Z',
        note: 'from the trigger',
      },
    );
    expect(triggered.body.note).toBe('from the trigger');
    expect(await finished('/api/v2/dags/report/dagRuns/noted_at_trigger')).toBe('success');

    expect((await api('DELETE /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).status).toBe(
      204,
    );
    expect((await api('GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).status).toBe(404);
    expect((await api('DELETE /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}', runPath)).status).toBe(
      404,
    );
  }, 120_000);
});

describe('/api/v2 changes across runs', () => {
  it('marks and clears earlier and later runs with include_past / include_future, by state', async () => {
    const ids = ['past_1', 'mid_1', 'future_1'];
    for (const [i, id] of ids.entries()) {
      await api('POST /api/v2/dags/{dag_id}/dagRuns', '/api/v2/dags/report/dagRuns', {
        dag_run_id: id,
        logical_date: `2026-04-0${i + 1}T00:00:00Z`,
      });
      expect(await finished(`/api/v2/dags/report/dagRuns/${id}`)).toBe('success');
    }
    const mid = '/api/v2/dags/report/dagRuns/mid_1';
    const marked = await api(
      'PATCH /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
      `${mid}/taskInstances/print`,
      { new_state: 'failed', include_past: true },
    );
    const runsOf = (body: any) =>
      body.task_instances.map((ti: any) => `${ti.dag_run_id}:${ti.state}`).sort();
    // Every earlier run of the DAG is marked too (those of the other tests included).
    expect(runsOf(marked.body)).toContain('past_1:failed');
    expect(runsOf(marked.body)).toContain('mid_1:failed');
    expect(runsOf(marked.body)).not.toContain('future_1:failed');

    const clear = (body: Record<string, unknown>) =>
      api(
        'POST /api/v2/dags/{dag_id}/clearTaskInstances',
        '/api/v2/dags/report/clearTaskInstances',
        {
          dag_run_id: 'mid_1',
          ...body,
        },
      );
    expect(runsOf((await clear({})).body)).toEqual(['mid_1:failed']);
    expect(runsOf((await clear({ include_future: true, only_failed: false })).body)).toEqual([
      'future_1:success',
      'mid_1:failed',
    ]);
    const past = runsOf((await clear({ include_past: true })).body);
    expect(past).toContain('past_1:failed');
    expect(past).not.toContain('future_1:success');
    // Nothing runs now: only_running selects none.
    const running = await clear({ include_past: true, include_future: true, only_running: true });
    expect(running.body.total_entries).toBe(0);
    // A real clear of the later runs: only those run again.
    const cleared = await clear({ include_future: true, only_failed: false, dry_run: false });
    expect(cleared.body.total_entries).toBe(2);
    expect(await finished(mid)).toBe('success');
    expect(await finished('/api/v2/dags/report/dagRuns/future_1')).toBe('success');
    const pastRun = await api(
      'GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
      '/api/v2/dags/report/dagRuns/past_1',
    );
    expect(pastRun.body.state).toBe('failed');
  }, 120_000);
});

describe('/api/v2 monitor, version and config', () => {
  it('serves health and version without sign-in, and config masked to admins', async () => {
    const health = await checkedRequest(
      t.app.request.bind(t.app),
      'GET /api/v2/monitor/health',
      '/api/v2/monitor/health',
    );
    expect(health.body.metadatabase).toEqual({ status: 'healthy' });
    expect(health.body.scheduler).toEqual({ status: null, latest_scheduler_heartbeat: null });
    await checkedRequest(t.app.request.bind(t.app), 'GET /api/v2/version', '/api/v2/version');

    await t.store.putSetting('AIRLOCK__SMTP__SMTP_PASSWORD', 'smtp-pw-value', false, 'admin');
    await t.store.putSetting('AIRLOCK__SMTP__SMTP_RELAY', 'relay-secret-value', true, 'admin');
    await t.store.putSetting('AIRLOCK__SMTP__SMTP_HOST', 'mail.example', false, 'admin');
    const config = await api('GET /api/v2/config', '/api/v2/config?section=smtp');
    expect(config.body.sections).toEqual([
      {
        name: 'smtp',
        options: [
          { key: 'smtp_host', value: 'mail.example' },
          { key: 'smtp_password', value: '< hidden >' },
          { key: 'smtp_relay', value: '< hidden >' },
        ],
      },
    ]);
    expect(JSON.stringify(config.body)).not.toMatch(/smtp-pw-value|relay-secret-value/);
    const text = await t.app.request('/api/v2/config', {
      headers: { ...bearer, accept: 'text/plain' },
    });
    expect(await text.text()).toContain('[smtp]\nsmtp_host = mail.example\n');
    const viewer = await t.as('viewer', '/api/v2/config');
    expect(viewer.status).toBe(403);
  });
});

describe('/api/v2/openapi.json', () => {
  it("is generated from the routes: every /api/v2 route is in it, and every operation is Airflow's", async () => {
    const doc = (await (await t.app.request('/api/v2/openapi.json')).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    const served = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const routes = t.app.routes
      .filter((r) => r.path.startsWith('/api/v2/') && r.method !== 'ALL')
      .filter((r) => r.path !== '/api/v2/openapi.json')
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    expect(new Set(routes)).toEqual(new Set(served));
    const airflow = new Set(airflowOperations('v2'));
    expect(served.filter((op) => !airflow.has(op))).toEqual([]);
    expect(doc.components.schemas.VariableBody).toBeDefined();
  });
});
