/**
 * Trigger rules, skips, short-circuits and callbacks, run from the outside (`airlock dags test`,
 * each task in its own supervised process), one case per rule; and Airflow's exponential backoff
 * formula checked against Python's own SHA-1 and arithmetic.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { retryDelayMs, type TaskInstanceRecord } from '../../src/pipelines/store.ts';
import { ROOT, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const home = tempDir('airlock-rules-');
mkdirSync(join(home, 'dags'));
const trace = join(home, 'trace.txt');
writeFileSync(
  join(home, 'dags', 'rules.ts'),
  `import { dag, task, shortCircuit, SkipTask } from 'airlock';
import { appendFileSync } from 'node:fs';
const note = (what) => appendFileSync(process.env.TRACE_FILE, what + '\\n');
dag('rules', {
  schedule: null,
  onFailure: ({ runId, state }) => note('dag ' + state + ' ' + runId),
  onSuccess: ({ state }) => note('dag ' + state),
}, () => {
  const ok = task('ok', () => {});
  const ok2 = task('ok2', () => {});
  const bad = task('bad', () => { throw new Error('boom'); }, {
    onFailure: (ctx, err) => note('task failed ' + ctx.taskId + ' ' + err.message),
  });
  const skip = task('skip', ({ skip }) => skip('nothing to do today'), {
    onSuccess: () => note('never: a skip is not a success'),
  });
  const skip2 = task('skip2', () => { throw new SkipTask(); });
  const probe = (id, triggerRule, dependsOn) =>
    task(id, () => {}, { triggerRule, dependsOn, onSuccess: ({ taskId }) => note('ran ' + taskId) });
  probe('all_success_yes', 'all_success', [ok, ok2]);
  probe('all_success_failed', 'all_success', [ok, bad]);
  probe('all_success_skipped', 'all_success', [ok, skip]);
  probe('all_failed_yes', 'all_failed', [bad]);
  probe('all_failed_no', 'all_failed', [ok, bad]);
  probe('all_done_yes', 'all_done', [ok, bad, skip]);
  probe('one_success_yes', 'one_success', [ok, bad]);
  probe('one_success_no', 'one_success', [bad]);
  probe('one_success_all_skipped', 'one_success', [skip, skip2]);
  probe('one_failed_yes', 'one_failed', [ok, bad]);
  probe('one_failed_no', 'one_failed', [ok, ok2]);
  probe('none_failed_yes', 'none_failed', [ok, skip]);
  probe('none_failed_no', 'none_failed', [ok, bad]);
  probe('none_skipped_yes', 'none_skipped', [ok, bad]);
  probe('none_skipped_no', 'none_skipped', [ok, skip2]);
  probe('always_yes', 'always', [bad]);
  // A skip spreads down all_success tasks; a short-circuit skips everything below it.
  probe('below_skipped', 'all_success', ['all_success_skipped']);
  const closed = shortCircuit('gate_closed', () => false);
  const behind = probe('behind_closed', 'all_success', [closed]);
  probe('behind_closed_all_done', 'all_done', [behind]);
  const open = shortCircuit('gate_open', async () => true);
  probe('behind_open', 'all_success', [open]);
});
`,
);
const env = {
  AIRLOCK_HOME: home,
  AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
  AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
  TRACE_FILE: trace,
};

let states: Record<string, string> = {};
let runId = '';
let output = '';

beforeAll(async () => {
  writeFileSync(trace, '');
  const r = await runAirlock(['dags', 'test', 'rules'], { env, timeoutMs: 120_000 });
  output = r.stdout + r.stderr;
  runId = /run_id (\S+)\)/.exec(r.stdout)?.[1] ?? '';
  const s = await runAirlock(['tasks', 'states-for-dag-run', 'rules', runId, '-o', 'json'], {
    env,
  });
  states = Object.fromEntries(
    (JSON.parse(s.stdout) as { task_id: string; state: string }[]).map((x) => [x.task_id, x.state]),
  );
}, 130_000);

function expectStates(expected: Record<string, string>) {
  expect(Object.fromEntries(Object.keys(expected).map((k) => [k, states[k]])), output).toEqual(
    expected,
  );
}

describe('trigger rules', () => {
  it('ends the upstream tasks as they say: success, failed, skipped (ctx.skip and SkipTask)', () => {
    expectStates({
      ok: 'success',
      ok2: 'success',
      bad: 'failed',
      skip: 'skipped',
      skip2: 'skipped',
    });
  });
  it('all_success: runs when all succeeded; upstream_failed on a failure; skipped on a skip', () => {
    expectStates({
      all_success_yes: 'success',
      all_success_failed: 'upstream_failed',
      all_success_skipped: 'skipped',
      below_skipped: 'skipped',
    });
  });
  it('all_failed: runs when all failed; skipped otherwise', () => {
    expectStates({ all_failed_yes: 'success', all_failed_no: 'skipped' });
  });
  it('all_done: runs when all are done, whatever their state', () => {
    expectStates({ all_done_yes: 'success' });
  });
  it('one_success: runs on one success; upstream_failed when none; skipped when all skipped', () => {
    expectStates({
      one_success_yes: 'success',
      one_success_no: 'upstream_failed',
      one_success_all_skipped: 'skipped',
    });
  });
  it('one_failed: runs on one failure; skipped when none failed', () => {
    expectStates({ one_failed_yes: 'success', one_failed_no: 'skipped' });
  });
  it('none_failed: runs when none failed (skips allowed); upstream_failed otherwise', () => {
    expectStates({ none_failed_yes: 'success', none_failed_no: 'upstream_failed' });
  });
  it('none_skipped: runs when none was skipped (failures allowed); skipped otherwise', () => {
    expectStates({ none_skipped_yes: 'success', none_skipped_no: 'skipped' });
  });
  it('always: runs whatever its upstream does', () => {
    expectStates({ always_yes: 'success' });
  });
  it('shortCircuit: a falsy condition skips everything below, whatever the rule', () => {
    expectStates({
      gate_closed: 'success',
      behind_closed: 'skipped',
      behind_closed_all_done: 'skipped',
      gate_open: 'success',
      behind_open: 'success',
    });
  });
  it('calls task callbacks on success and on the final failure, and the DAG callback once', () => {
    const lines = readFileSync(trace, 'utf8').trim().split('\n').sort();
    expect(lines).toContain('task failed bad boom');
    expect(lines).toContain('ran all_done_yes');
    expect(lines).not.toContain('never: a skip is not a success');
    expect(lines).not.toContain('ran all_failed_no');
    // Leaves failed (upstream_failed): the run failed, as in Airflow.
    expect(lines.filter((l) => l.startsWith('dag '))).toEqual([`dag failed ${runId}`]);
    expect(readFileSync(join(home, 'logs', 'rules', runId, 'skip', '1.log'), 'utf8')).toMatch(
      /Skipping task: nothing to do today/,
    );
  });
});

describe('retryExponentialBackoff', () => {
  const ti: Pick<
    TaskInstanceRecord,
    'dagId' | 'taskId' | 'retryDelayMs' | 'retryExponentialBackoff' | 'maxRetryDelayMs'
  > = {
    dagId: 'etl',
    taskId: 'load',
    retryDelayMs: 10_000,
    retryExponentialBackoff: true,
    maxRetryDelayMs: null,
  };
  const logicalDate = Date.parse('2026-03-01T07:00:00Z');

  it("matches Airflow's next_retry_datetime, computed by Python", () => {
    // Airflow 2's TaskInstance.next_retry_datetime, with try_number = the next try.
    const python = `
import hashlib, math
out = []
for failed in range(1, 7):
    try_number = failed + 1
    min_backoff = max(1, math.ceil(10 * (2 ** (try_number - 2))))
    h = int(hashlib.sha1(f"etl#load#2026-03-01 07:00:00+00:00#{try_number}".encode()).hexdigest(), 16)
    out.append(str(min_backoff + h % min_backoff))
print(",".join(out))`;
    const expected = execFileSync('python3', ['-c', python], { encoding: 'utf8' })
      .trim()
      .split(',')
      .map((s) => Number(s) * 1000);
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(ti, n, logicalDate))).toEqual(expected);
  });

  it('doubles the wait per try, within [delay·2^(n−1), delay·2^n), capped by maxRetryDelaySeconds', () => {
    for (let n = 1; n <= 6; n++) {
      const d = retryDelayMs(ti, n, logicalDate);
      expect(d).toBeGreaterThanOrEqual(10_000 * 2 ** (n - 1));
      expect(d).toBeLessThan(10_000 * 2 ** n);
    }
    expect(retryDelayMs({ ...ti, maxRetryDelayMs: 60_000 }, 6, logicalDate)).toBe(60_000);
    expect(retryDelayMs({ ...ti, retryExponentialBackoff: false }, 6, logicalDate)).toBe(10_000);
    // A zero delay still backs off by at least a second.
    expect(retryDelayMs({ ...ti, retryDelayMs: 0 }, 1, logicalDate)).toBe(1000);
  });
});

describe('examples/dags/example_daily_etl.ts', () => {
  it('runs: typed values, params, the short-circuit, the all_done cleanup', async () => {
    const exampleHome = tempDir('airlock-example-etl-');
    mkdirSync(join(exampleHome, 'dags'));
    copyFileSync(
      join(ROOT, 'examples/dags/example_daily_etl.ts'),
      join(exampleHome, 'dags', 'example_daily_etl.ts'),
    );
    const r = await runAirlock(['dags', 'test', 'example_daily_etl'], {
      env: { ...env, AIRLOCK_HOME: exampleHome },
      timeoutMs: 60_000,
    });
    expect(r.stdout).toMatch(/\[publish\] INFO - 42 orders since \d{4}-/);
    expect(r.stdout).toContain('cleanup\tsuccess');
    expect(r.code).toBe(0);
    const closed = await runAirlock(
      ['dags', 'test', 'example_daily_etl', '-c', '{"minimum": 100}'],
      { env: { ...env, AIRLOCK_HOME: exampleHome }, timeoutMs: 60_000 },
    );
    expect(closed.stdout).toContain('publish\tskipped');
    expect(closed.stdout).toContain('cleanup\tskipped');
  }, 90_000);
});
