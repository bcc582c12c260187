import type { ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runAirlock, startAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const home = tempDir('airlock-dags-');
// A DAGs folder outside the project: `airlock` resolves through the loader's hook.
const dags = join(home, 'dags');
mkdirSync(dags, { recursive: true });
copyFileSync(
  join(ROOT, 'examples/dags/example_secrets_dags.ts'),
  join(dags, 'example_secrets_dags.ts'),
);
writeFileSync(
  join(dags, 'broken_dag.ts'),
  "import { dag } from 'airlock';\nthrow new Error('broken on purpose');\n",
);
writeFileSync(
  join(dags, 'flow.ts'),
  `import { dag, task } from 'airlock';
import { appendFileSync } from 'node:fs';
dag('flow', { schedule: null, defaultArgs: { retryDelaySeconds: 0 } }, () => {
  const a = task('a', ({ runId }) => { appendFileSync(process.env.TRACE_FILE ?? '/dev/null', 'a ' + process.pid + '\\n'); });
  const b = task('b', () => { appendFileSync(process.env.TRACE_FILE ?? '/dev/null', 'b ' + process.pid + '\\n'); });
  task('c', ({ tryNumber, log }) => { log.info('try ' + tryNumber); if (tryNumber < 2) throw new Error('flaky'); }, { dependsOn: [a, b], retries: 1 });
  task('sleepy', () => new Promise((r) => setTimeout(r, 60_000)), { dependsOn: ['c'], timeoutSeconds: 1 });
  task('after', () => {}, { dependsOn: ['sleepy'] });
});
dag('hang', { schedule: null }, () => { task('forever', () => new Promise(() => { setInterval(() => {}, 1000); })); });
`,
);

const env = {
  AIRLOCK_HOME: home,
  AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
  'AIRFLOW_VAR_TEST-KEY': 'hello-world',
  AIRFLOW_VAR_DB_PASSWORD: 'sup3r-secret-pw',
  AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
  AIRLOCK__WORKER__HEARTBEAT_SECONDS: '0.2',
};

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function startWorker(extra: Record<string, string> = {}, args: string[] = []): ChildProcess {
  const child = startAirlock(['worker', ...args], { ...env, ...extra });
  children.push(child);
  return child;
}

async function states(runId: string, dagId = 'flow'): Promise<Record<string, string>> {
  const r = await runAirlock(['tasks', 'states-for-dag-run', dagId, runId, '-o', 'json'], { env });
  const rows = JSON.parse(r.stdout) as { task_id: string; state: string | null }[];
  return Object.fromEntries(rows.map((x) => [x.task_id, String(x.state)]));
}

describe('airlock dags / tasks / worker', () => {
  it('lists the DAGs of a folder outside the project and reports the broken file apart', async () => {
    const list = await runAirlock(['dags', 'list', '-o', 'json'], { env });
    expect(list.code).toBe(0);
    const ids = (JSON.parse(list.stdout) as { dag_id: string }[]).map((d) => d.dag_id);
    expect(ids).toEqual(['example_secrets_dags', 'flow', 'hang']);
    expect(list.stderr).toMatch(/1 DAG file\(s\) failed to load/);
    const errors = await runAirlock(['dags', 'list-import-errors', '-o', 'json'], { env });
    expect(errors.code).toBe(1);
    expect(JSON.parse(errors.stdout)).toEqual([
      { filepath: 'broken_dag.ts', error: 'Error: broken on purpose' },
    ]);
  });

  it('runs the docs example in the foreground and keeps its log under logs/<dag>/<run>/<task>/<try>.log', async () => {
    const r = await runAirlock(['dags', 'test', 'example_secrets_dags'], { env });
    expect(r.stdout).toContain('[test-task] My variable is: hello-world');
    expect(r.code).toBe(0);
    const runDir = join(home, 'logs', 'example_secrets_dags');
    const [run] = readdirSync(runDir);
    const logFile = join(runDir, String(run), 'test-task', '1.log');
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/^\[\d{4}-.*Z\] My variable is: hello-world$/m);
    // Every line of the try, in order, in one file only its owner reads.
    expect(log.indexOf('Executing <Task')).toBeLessThan(log.indexOf('My variable is'));
    expect(log.indexOf('My variable is')).toBeLessThan(log.indexOf('Marking task as SUCCESS'));
    expect(statSync(logFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(runDir, String(run), 'test-task')).mode & 0o777).toBe(0o700);
  });

  it('masks a sensitive-named Variable in the task output', async () => {
    const r = await runAirlock(
      ['tasks', 'test', 'example_secrets_dags', 'test-task', '-c', '{"key":"db_password"}'],
      { env },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('My variable is: ***');
    expect(r.stdout + r.stderr).not.toContain('sup3r-secret-pw');
  });

  it('runs a triggered DAG on two workers: dependencies, a retry, a timeout, upstream_failed', async () => {
    const trace = join(home, 'trace.txt');
    writeFileSync(trace, '');
    const trig = await runAirlock(['dags', 'trigger', 'flow', '-r', 'run1', '-o', 'json'], { env });
    expect(trig.code).toBe(0);
    expect(JSON.parse(trig.stdout)[0]).toMatchObject({ run_id: 'run1', state: 'queued' });
    const w1 = startWorker({ TRACE_FILE: trace }, ['--concurrency', '1']);
    const w2 = startWorker({ TRACE_FILE: trace }, ['--concurrency', '1']);
    const final = await waitFor(async () => {
      const s = await states('run1');
      return s.after === 'upstream_failed' ? s : undefined;
    }, 25_000);
    expect(final).toEqual({
      a: 'success',
      b: 'success',
      c: 'success',
      sleepy: 'failed',
      after: 'upstream_failed',
    });
    const logs = join(home, 'logs', 'flow', 'run1');
    expect(readFileSync(join(logs, 'c', '1.log'), 'utf8')).toMatch(/Error: flaky/);
    expect(readFileSync(join(logs, 'c', '2.log'), 'utf8')).toMatch(/INFO - try 2/);
    expect(readFileSync(join(logs, 'sleepy', '1.log'), 'utf8')).toMatch(/timed out after 1s/);
    const runs = await runAirlock(['dags', 'list-runs', 'flow', '-o', 'json'], { env });
    expect(JSON.parse(runs.stdout)[0]).toMatchObject({ run_id: 'run1', state: 'failed' });
    w1.kill('SIGTERM');
    w2.kill('SIGTERM');
    await Promise.all([w1, w2].map((w) => new Promise((r) => w.once('exit', r))));
  }, 40_000);

  it('marks a try failed when its worker dies (stale heartbeat), not left running', async () => {
    await runAirlock(['dags', 'trigger', 'hang', '-r', 'crash'], { env });
    const doomed = startWorker();
    await waitFor(async () =>
      (await states('crash', 'hang')).forever === 'running' ? true : undefined,
    );
    doomed.kill('SIGKILL');
    await new Promise((r) => doomed.once('exit', r));
    const rescuer = startWorker({ AIRLOCK__WORKER__HEARTBEAT_TIMEOUT_SECONDS: '1' });
    const s = await waitFor(async () => {
      const x = await states('crash', 'hang');
      return x.forever === 'failed' ? x : undefined;
    });
    expect(s.forever).toBe('failed');
    const runs = await runAirlock(['dags', 'list-runs', 'hang', '-o', 'json'], { env });
    expect(JSON.parse(runs.stdout)[0]).toMatchObject({ run_id: 'crash', state: 'failed' });
    rescuer.kill('SIGTERM');
    await new Promise((r) => rescuer.once('exit', r));
  }, 30_000);

  it('refuses an unknown DAG with its code', async () => {
    const r = await runAirlock(['dags', 'trigger', 'nope'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/AIRLOCK_ERR_DAG_NOT_FOUND: no DAG `nope`.*broken_dag\.ts/);
  });
});
