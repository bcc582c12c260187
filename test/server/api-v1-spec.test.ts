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
  expectAirflowResponse,
} from '../helpers/airflow-spec.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, type TestApp } from './_app.ts';

const home = tempDir('airlock-api-v1-spec-');
let t: TestApp;

const v1 = (
  user: 'admin' | 'editor' | 'viewer',
  route: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) =>
  checkedRequest((p, init) => t.as(user, p, init), route, path, {
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

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
  t = await createTestApp({
    env: { AIRLOCK_HOME: home },
    extra: { extensions: [createPipelineRoutes({ cacheMs: 60_000 })] },
  });
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
    expect(await ids('?order_by=-dag_id&limit=2')).toEqual(['gamma_report', 'beta']);
    expect(await ids('?offset=2')).toEqual(['gamma_report']);
    expect(await ids('?dag_id_pattern=REPORT')).toEqual(['gamma_report']);
    expect(await ids('?tags=finance')).toEqual(['alpha', 'gamma_report']);
    // A DAG seen for the first time starts paused (Airflow's dags_are_paused_at_creation).
    expect(await ids('?paused=true')).toEqual(['alpha', 'beta', 'gamma_report']);
    expect(await ids('?paused=false')).toEqual([]);
    expect((await list('?limit=1')).body.total_entries).toBe(3);
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
    expect(await ids('?paused=true')).toEqual(['beta', 'gamma_report']);
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
