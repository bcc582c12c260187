// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
/** The DAG pages and API (`createPipelineRoutes`) through `app.request`, over a SQLite metastore. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipelineRoutes } from '../../src/pipelines/http.ts';
import type { DagInfo } from '../../src/pipelines/loader.ts';
import { taskLogPath } from '../../src/pipelines/logs.ts';
import { type DagRunRecord, PipelineStore } from '../../src/pipelines/store.ts';
import { testDagInfo, testTaskInfo } from '../helpers/dag-info.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, type TestApp } from '../server/_app.ts';

const home = tempDir('airlock-pipelines-http-');
const logs = join(home, 'logs');

const DAG: DagInfo = testDagInfo('etl', [testTaskInfo('load')]);

let t: TestApp;
let store: PipelineStore;
let run: DagRunRecord;
beforeAll(async () => {
  t = await createTestApp({
    env: { AIRLOCK_HOME: home },
    extra: { extensions: [createPipelineRoutes()] },
  });
  store = PipelineStore.from(t.metastore);
  mkdirSync(join(home, 'dags'), { recursive: true });
  writeFileSync(
    join(home, 'dags', 'etl.ts'),
    "import { dag, task } from 'airlock';\ndag('etl', { schedule: null }, () => { task('load', () => {}); });\n",
  );
  run = await store.createRun({ dag: DAG, runId: 'manual__1' });
  await store.claimNext('test:1');
  const own = taskLogPath(logs, 'etl', 'manual__1', 'load', 1);
  mkdirSync(join(own, '..'), { recursive: true });
  writeFileSync(own, '[t] the task log\n');
  // Files a traversal would reach: outside the logs folder, and another task's log of the run.
  mkdirSync(join(home, 'outside'), { recursive: true });
  writeFileSync(join(home, 'outside', '1.log'), 'OUTSIDE-THE-LOGS-FOLDER\n');
  mkdirSync(join(logs, 'etl', 'manual__1', 'ghost'), { recursive: true });
  writeFileSync(join(logs, 'etl', 'manual__1', 'ghost', '1.log'), 'NOT-A-TASK-OF-THE-RUN\n');
  writeFileSync(join(logs, 'etl', 'manual__1', 'load', '7.log'), 'A-TRY-NEVER-STARTED\n');
});
afterAll(() => t.close());

describe('task logs', () => {
  const base = '/api/v1/dags/etl/dagRuns/manual__1/taskInstances';

  it('serves a try of a task instance of the run', async () => {
    const res = await t.as('viewer', `${base}/load/logs/1`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).content).toContain('the task log');
    const page = await t.as('viewer', `/dags/etl/runs/${run.runId}/tasks/load/log?try=1`);
    expect(await page.text()).toContain('the task log');
  });

  it('answers 404 for a task_id or try that is not one of the run, never reading the path', async () => {
    const apiPaths = [
      `${base}/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2foutside/logs/1`,
      `${base}/..%2f..%2f..%2f..%2foutside/logs/1`,
      `${base}/..%5c..%5c..%5c..%5coutside/logs/1`,
      `${base}/${encodeURIComponent(join(home, 'outside'))}/logs/1`,
      `${base}/ghost/logs/1`,
      `${base}/load/logs/7`,
      `${base}/load/logs/0`,
      `${base}/load/logs/1e0`,
      `${base}/load/logs/..%2f..%2f..%2f..%2f..%2foutside%2f1`,
    ];
    for (const path of apiPaths) {
      const res = await t.as('viewer', path);
      const text = await res.text();
      expect(res.status, path).toBe(404);
      expect(JSON.parse(text), path).toMatchObject({
        code: 'AIRLOCK_ERR_HTTP_NOT_FOUND',
        status: 404,
        title: expect.any(String),
        detail: expect.any(String),
      });
      expect(text).not.toMatch(/OUTSIDE-THE-LOGS|NOT-A-TASK|NEVER-STARTED/);
    }
    const pagePaths = [
      `/dags/etl/runs/manual__1/tasks/..%2f..%2f..%2f..%2foutside/log?try=1`,
      `/dags/etl/runs/manual__1/tasks/ghost/log?try=1`,
      `/dags/etl/runs/manual__1/tasks/load/log?try=7`,
      `/dags/etl/runs/manual__1/tasks/load/log?try=..%2f..%2f..%2f..%2f..%2foutside%2f1`,
    ];
    for (const path of pagePaths) {
      const res = await t.as('viewer', path);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toMatch(/OUTSIDE-THE-LOGS|NOT-A-TASK|NEVER-STARTED/);
    }
  });

  it('builds no log path from an id that would leave the logs folder', () => {
    for (const [dag, runId, task] of [
      ['..', 'manual__1', 'load'],
      ['etl', '..', 'load'],
      ['etl', 'manual__1', '..'],
      ['etl', 'manual__1', '../x'],
      ['etl', 'manual__1', 'a\\b'],
      ['/abs', 'manual__1', 'load'],
    ] as const) {
      expect(() => taskLogPath(logs, dag, runId, task, 1), `${dag}/${runId}/${task}`).toThrow(
        expect.objectContaining({ code: 'AIRLOCK_ERR_CLI_USAGE' }),
      );
    }
  });
});

describe('DAG run conf', () => {
  const CONF = {
    api_token: 'conf-canary-token-4b1e',
    nested: { db_password: 'conf-canary-pw-93aa' },
    region: 'eu-west-1',
  };

  it('is encrypted at rest, and rows written before still read', async () => {
    await store.createRun({ dag: DAG, runId: 'conf__encrypted', conf: CONF });
    const raw = await t.metastore.kysely
      .withTables<{ dag_run: { run_id: string; conf: string | null } }>()
      .selectFrom('dag_run')
      .select('conf')
      .where('run_id', '=', 'conf__encrypted')
      .executeTakeFirstOrThrow();
    expect(raw.conf).toMatch(/^gAAAAA/);
    for (const plain of ['conf-canary', 'eu-west-1', 'api_token', 'nested']) {
      expect(raw.conf).not.toContain(plain);
    }
    expect((await store.getRun('etl', 'conf__encrypted'))?.conf).toEqual(CONF);
    // A row from before conf was encrypted holds plain JSON.
    const legacy = await store.createRun({ dag: DAG, runId: 'conf__legacy' });
    await t.metastore.kysely
      .withTables<{ dag_run: { run_id: string; conf: string | null } }>()
      .updateTable('dag_run')
      .set({ conf: JSON.stringify({ password: 'legacy-canary-77', x: 1 }) })
      .where('run_id', '=', legacy.runId)
      .execute();
    expect((await store.getRun('etl', 'conf__legacy'))?.conf).toEqual({
      password: 'legacy-canary-77',
      x: 1,
    });
  });

  it('shows values under sensitive keys only to roles that may read secrets', async () => {
    await store.createRun({ dag: DAG, runId: 'conf__shown', conf: CONF });
    const one = (await (
      await t.as('viewer', '/api/v1/dags/etl/dagRuns/conf__shown')
    ).json()) as any;
    expect(one.conf).toEqual({
      api_token: '***',
      nested: { db_password: '***' },
      region: 'eu-west-1',
    });
    const viewerTexts = [
      await (await t.as('viewer', '/api/v1/dags/etl/dagRuns')).text(),
      await (await t.as('viewer', '/dags/etl/runs/conf__shown')).text(),
      await (await t.as('viewer', '/dags/etl')).text(),
    ];
    for (const text of viewerTexts) {
      expect(text).not.toContain('conf-canary');
      expect(text).not.toContain('legacy-canary');
    }
    expect(viewerTexts[1]).toContain('eu-west-1');
    expect(viewerTexts[2]).toContain('eu-west-1');
    const editor = (await (
      await t.as('editor', '/api/v1/dags/etl/dagRuns/conf__shown')
    ).json()) as any;
    expect(editor.conf).toEqual(CONF);
    expect(await (await t.as('editor', '/dags/etl/runs/conf__shown')).text()).toContain(
      'conf-canary-token-4b1e',
    );
  });
});
