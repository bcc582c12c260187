/**
 * No orphaned task process: when the supervisor of a try (a worker, `airlock dags test`) is
 * killed with `kill -9`, its task process and what the task started die too (they notice the
 * closed channel or their new parent), so the try never finishes unsupervised, and the recorded state (failed,
 * once the stale heartbeat is reaped; the task after it upstream_failed) is what happened.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, NODE, ROOT, runAirlock, startAirlock } from '../helpers/cli.ts';
import { isAlive } from '../helpers/process.ts';
import { trySpec } from '../helpers/task-spec.ts';
import { tempDir } from '../helpers/tmp.ts';

const home = tempDir('airlock-orphans-');
mkdirSync(join(home, 'dags'), { recursive: true });
// The task records its pid and its grandchild's, then would record `finished` 4 s later.
writeFileSync(
  join(home, 'dags', 'orphan_dag.ts'),
  `import { dag, task } from 'airlock';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
dag('orphan', { schedule: null }, () => {
  const long = task('long', async ({ runId }) => {
    const trace = process.env.TRACE_FILE + '.' + runId.replace(/[^a-z0-9]/gi, '_');
    const sleeper = spawn('sh', ['-c', 'sleep 60'], { stdio: 'inherit' });
    appendFileSync(trace, 'started ' + process.pid + ' ' + sleeper.pid + '\\n');
    await new Promise((r) => setTimeout(r, 4000));
    appendFileSync(trace, 'finished\\n');
  });
  task('after', () => {}, { dependsOn: [long] });
});
`,
);
const TRACE = join(home, 'trace');
const env = {
  AIRLOCK_HOME: home,
  AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
  AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
  AIRLOCK__WORKER__HEARTBEAT_SECONDS: '0.2',
  TRACE_FILE: TRACE,
};

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function start(args: string[], extra: Record<string, string> = {}): ChildProcess {
  const child = startAirlock(args, { ...env, ...extra });
  children.push(child);
  return child;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined) {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pids the run's task wrote once it started. */
function startedPids(runId: string): Promise<number[]> {
  const file = `${TRACE}.${runId.replace(/[^a-z0-9]/gi, '_')}`;
  return waitFor('the task to start', () => {
    if (!existsSync(file)) return undefined;
    const m = /started (\d+) (\d+)/.exec(readFileSync(file, 'utf8'));
    return m ? [Number(m[1]), Number(m[2])] : undefined;
  });
}

function traceOf(runId: string): string {
  return readFileSync(`${TRACE}.${runId.replace(/[^a-z0-9]/gi, '_')}`, 'utf8');
}

async function states(runId: string): Promise<Record<string, string>> {
  const r = await runAirlock(['tasks', 'states-for-dag-run', 'orphan', runId, '-o', 'json'], {
    env,
  });
  const rows = JSON.parse(r.stdout) as { task_id: string; state: string | null }[];
  return Object.fromEntries(rows.map((x) => [x.task_id, String(x.state)]));
}

describe('task processes die with their supervisor', () => {
  it('kill -9 of a worker kills its running task and its grandchild; the try is recorded failed', async () => {
    expect((await runAirlock(['db', 'migrate'], { env })).code).toBe(0);
    expect((await runAirlock(['dags', 'trigger', 'orphan', '-r', 'w1'], { env })).code).toBe(0);
    const worker = start(['worker']);
    const pids = await startedPids('w1');
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    for (const pid of pids)
      await waitFor(`pid ${pid} to die`, () => (isAlive(pid) ? undefined : true));
    // Dead before its 4 s were up: the try never finished behind anyone's back.
    expect(traceOf('w1')).not.toContain('finished');
    const rescuer = start(['worker'], { AIRLOCK__WORKER__HEARTBEAT_TIMEOUT_SECONDS: '1' });
    const final = await waitFor('the stale try to be reaped', async () => {
      const s = await states('w1');
      return s.after === 'upstream_failed' ? s : undefined;
    });
    expect(final).toEqual({ long: 'failed', after: 'upstream_failed' });
    rescuer.kill('SIGTERM');
    await new Promise((r) => rescuer.once('exit', r));
  }, 60_000);

  it('a task process whose supervisor died before it opened its channel dies at once', async () => {
    // The supervisor is gone before the child looks: its parent is then another process than the
    // one named in its environment (here the test, against pid 1), however early it checks.
    writeFileSync(
      join(home, 'dags', 'stuck_dag.ts'),
      `import { dag, task } from 'airlock';
dag('stuck', { schedule: null }, () => {
  task('forever', () => new Promise(() => { setInterval(() => {}, 1000); }));
});
`,
    );
    const child = spawn(NODE, [join(ROOT, 'src/pipelines/task-main.ts')], {
      env: {
        ...cleanEnv(env),
        AIRLOCK_SUPERVISED: '1',
        AIRLOCK_SUPERVISOR_PID: '1',
        AIRLOCK_TASK_SPEC: JSON.stringify(
          trySpec({
            dagsFolder: join(home, 'dags'),
            fileloc: 'stuck_dag.ts',
            dagId: 'stuck',
            taskId: 'forever',
          }),
        ),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(child);
    child.stdout?.resume();
    child.stderr?.resume();
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
  }, 30_000);

  it('kill -9 of `airlock dags test` kills its running task and its grandchild', async () => {
    const cli = start(['dags', 'test', 'orphan']);
    let out = '';
    cli.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const runId = await waitFor('the run id', () => /run_id (test__\S+)\)/.exec(out)?.[1]);
    const pids = await startedPids(runId);
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('exit', r));
    for (const pid of pids)
      await waitFor(`pid ${pid} to die`, () => (isAlive(pid) ? undefined : true));
    expect(traceOf(runId)).not.toContain('finished');
  }, 60_000);
});
