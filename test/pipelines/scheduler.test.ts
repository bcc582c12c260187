/**
 * `airlock scheduler` from the outside: scheduled runs with Airflow's data intervals, catchup, a
 * scheduler that was down, paused DAGs; one scheduler on SQLite, three on one PostgreSQL schema
 * (never a run twice, never one skipped); and the scheduler inside `airlock server`. The clock is
 * driven by `AIRLOCK__SCHEDULER__FAKE_NOW`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from '../helpers/browser.ts';
import { runAirlock, startAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { postgresDatabases } from '../metastore/_databases.ts';

const FERNET = 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=';
const NOW = '2026-03-01T10:30:00Z';
const LATER = '2026-03-01T13:30:00Z';
/** The data intervals of the @hourly catchup DAG at NOW, and at LATER. */
const THREE_HOURS = ['07:00-08:00', '08:00-09:00', '09:00-10:00'];
const SIX_HOURS = [...THREE_HOURS, '10:00-11:00', '11:00-12:00', '12:00-13:00'];

const DAGS = `import { dag, task } from 'airlock';
import { appendFileSync } from 'node:fs';
// startDate three hours before the (fake) now, on the hour.
dag('hourly', { schedule: '@hourly', startDate: '2026-03-01T07:00:00Z', catchup: true }, () => {
  task('t', ({ logicalDate, dataIntervalStart, dataIntervalEnd }) => {
    appendFileSync(process.env.TRACE_FILE ?? '/dev/null', [logicalDate, dataIntervalStart, dataIntervalEnd].join(' ') + '\\n');
  });
});
dag('latest_only', { schedule: '0 * * * *', startDate: '2026-02-01T00:00:00Z' }, () => {
  task('t', () => {});
});
dag('manual', { schedule: null }, () => { task('t', () => {}); });
`;

const children: ChildProcess[] = [];
const pg = postgresDatabases();
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await pg.dispose();
});

function home(extra = ''): { env: Record<string, string>; dir: string } {
  const dir = tempDir('airlock-scheduler-');
  mkdirSync(join(dir, 'dags'));
  writeFileSync(join(dir, 'dags', 'scheduled.ts'), DAGS + extra);
  return {
    dir,
    env: {
      AIRLOCK_HOME: dir,
      AIRLOCK__CORE__FERNET_KEY: FERNET,
      AIRLOCK__SCHEDULER__POLL_INTERVAL_MS: '200',
      AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
      AIRLOCK__SCHEDULER__FAKE_NOW: NOW,
    },
  };
}

type RunRow = {
  run_id: string;
  run_type: string;
  state: string;
  logical_date: string;
  data_interval_start: string;
  data_interval_end: string;
};

async function runs(env: Record<string, string>, dagId: string): Promise<RunRow[]> {
  const r = await runAirlock(['dags', 'list-runs', dagId, '-o', 'json'], { env });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as RunRow[]).sort((a, b) =>
    a.logical_date.localeCompare(b.logical_date),
  );
}

function intervals(rows: RunRow[]): string[] {
  return rows.map(
    (r) => `${r.data_interval_start.slice(11, 16)}-${r.data_interval_end.slice(11, 16)}`,
  );
}

function scheduler(env: Record<string, string>): ChildProcess {
  const child = startAirlock(['scheduler'], env);
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe('airlock scheduler (SQLite)', () => {
  it('creates the catchup runs of an unpaused DAG with their data intervals, and workers run them', async () => {
    const { env, dir } = home();
    const trace = join(dir, 'trace.txt');
    writeFileSync(trace, '');
    const list = await runAirlock(['dags', 'list', '-o', 'json'], { env });
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as Record<string, unknown>[];
    // New DAGs start paused (Airflow's dags_are_paused_at_creation); the next run is shown.
    expect(listed.find((d) => d.dag_id === 'hourly')).toMatchObject({
      is_paused: true,
      schedule: '@hourly',
      next_dagrun: '2026-03-01T07:00:00.000Z',
      next_dagrun_data_interval_start: '2026-03-01T07:00:00.000Z',
      next_dagrun_data_interval_end: '2026-03-01T08:00:00.000Z',
    });
    expect(listed.find((d) => d.dag_id === 'manual')).toMatchObject({ next_dagrun: null });

    const s = scheduler(env);
    const w = startAirlock(['worker'], { ...env, TRACE_FILE: trace });
    children.push(w);
    // Paused: nothing is created.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runs(env, 'hourly')).toEqual([]);

    const unpause = await runAirlock(['dags', 'unpause', 'hourly', '-o', 'json'], { env });
    expect(JSON.parse(unpause.stdout)).toEqual([{ dag_id: 'hourly', is_paused: false }]);
    await runAirlock(['dags', 'unpause', 'latest_only'], { env });
    const created = await waitFor(async () => {
      const r = await runs(env, 'hourly');
      return r.length >= 3 && r.every((x) => x.state === 'success') ? r : undefined;
    }, 20_000);
    expect(created.map((r) => r.run_id)).toEqual([
      'scheduled__2026-03-01T07:00:00+00:00',
      'scheduled__2026-03-01T08:00:00+00:00',
      'scheduled__2026-03-01T09:00:00+00:00',
    ]);
    expect(intervals(created)).toEqual(THREE_HOURS);
    expect(created.every((r) => r.run_type === 'scheduled')).toBe(true);
    // The task saw its run's logical date and data interval.
    expect(readFileSync(trace, 'utf8').trim().split('\n').sort()).toEqual([
      '2026-03-01T07:00:00.000Z 2026-03-01T07:00:00.000Z 2026-03-01T08:00:00.000Z',
      '2026-03-01T08:00:00.000Z 2026-03-01T08:00:00.000Z 2026-03-01T09:00:00.000Z',
      '2026-03-01T09:00:00.000Z 2026-03-01T09:00:00.000Z 2026-03-01T10:00:00.000Z',
    ]);
    // Without catchup, only the latest ended interval.
    const latest = await waitFor(async () => {
      const r = await runs(env, 'latest_only');
      return r.length > 0 ? r : undefined;
    });
    expect(intervals(latest)).toEqual(['09:00-10:00']);
    expect(await runs(env, 'manual')).toEqual([]);

    // The scheduler goes down for three hours; when it is back it catches up as catchup says.
    await stop(s);
    const later = { ...env, AIRLOCK__SCHEDULER__FAKE_NOW: LATER };
    const again = scheduler(later);
    const caught = await waitFor(async () => {
      const r = await runs(env, 'hourly');
      return r.length >= 6 ? r : undefined;
    });
    expect(intervals(caught)).toEqual(SIX_HOURS);
    const skipped = await waitFor(async () => {
      const r = await runs(env, 'latest_only');
      return r.length >= 2 ? r : undefined;
    });
    expect(intervals(skipped)).toEqual(['09:00-10:00', '12:00-13:00']);
    // Paused again: nothing new even when an interval ends.
    await runAirlock(['dags', 'pause', 'hourly'], { env });
    await stop(again);
    const paused = scheduler({ ...env, AIRLOCK__SCHEDULER__FAKE_NOW: '2026-03-01T18:30:00Z' });
    await waitFor(async () => ((await runs(env, 'latest_only')).length >= 3 ? true : undefined));
    expect(await runs(env, 'hourly')).toHaveLength(6);
    await stop(paused);
    await stop(w);
  }, 90_000);

  it('refuses a bad schedule as an import error with its code', async () => {
    const { env } = home(
      "dag('bad', { schedule: '@fortnightly', startDate: '2026-01-01T00:00:00Z' }, () => {});\n",
    );
    const r = await runAirlock(['dags', 'list-import-errors', '-o', 'json'], { env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)[0].error).toMatch(
      /AIRLOCK_ERR_DAG_INVALID: DAG `bad`: unknown schedule preset `@fortnightly`/,
    );
  });
});

describe('three schedulers on one PostgreSQL', () => {
  it('create every due run exactly once, also after being down', async () => {
    const db = await pg.create();
    // Five catchup DAGs, unpaused at creation by the deployment's setting.
    const extra = ['b', 'c', 'd', 'e']
      .map(
        (id) =>
          `dag('hourly_${id}', { schedule: '@hourly', startDate: '2026-03-01T07:00:00Z', catchup: true }, () => { task('t', () => {}); });\n`,
      )
      .join('');
    const { env: base } = home(extra);
    const env = {
      ...base,
      AIRLOCK__DATABASE__URL: db.url,
      AIRLOCK__CORE__DAGS_ARE_PAUSED_AT_CREATION: 'false',
      AIRLOCK__SCHEDULER__POLL_INTERVAL_MS: '50',
    };
    const ids = ['hourly', 'hourly_b', 'hourly_c', 'hourly_d', 'hourly_e'];
    const all = async () => Promise.all(ids.map((id) => runs(env, id)));
    // Started together on a fresh schema: the migration lock, then the DAG row locks.
    const first = [scheduler(env), scheduler(env), scheduler(env)];
    const done = await waitFor(async () => {
      const r = await all();
      return r.every((x) => x.length >= 3) ? r : undefined;
    });
    // A little longer: a duplicate would show now.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await all()).toEqual(done);
    for (const r of done) expect(intervals(r)).toEqual(THREE_HOURS);
    await Promise.all(first.map(stop));

    const later = { ...env, AIRLOCK__SCHEDULER__FAKE_NOW: LATER };
    const second = [scheduler(later), scheduler(later), scheduler(later)];
    const caught = await waitFor(async () => {
      const r = await all();
      return r.every((x) => x.length >= 6) ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await all()).toEqual(caught);
    for (const r of caught) {
      expect(intervals(r)).toEqual(SIX_HOURS);
    }
    const rows = await db.exec(
      `select dag_id, count(*)::int as n, count(distinct logical_date)::int as d from dag_run where dag_id like 'hourly%' group by dag_id`,
    );
    expect(rows).toHaveLength(5);
    for (const row of rows) expect(row).toMatchObject({ n: 6, d: 6 });
    await Promise.all(second.map(stop));
  }, 90_000);
});

describe('the scheduler inside airlock server (embedded SQLite)', () => {
  it('shows the next run in the API, unpauses through it, and creates the runs', async () => {
    const { env } = home();
    const server = await startServerProcess({ ...env, AIRLOCK_ADMIN_PASSWORD: 'sched-admin-pw1' });
    try {
      const auth = {
        authorization: `Basic ${Buffer.from('admin:sched-admin-pw1').toString('base64')}`,
      };
      const dags = (await (await fetch(`${server.url}/api/v1/dags`, { headers: auth })).json()) as {
        dags: Record<string, unknown>[];
      };
      expect(dags.dags.find((d) => d.dag_id === 'hourly')).toMatchObject({
        is_paused: true,
        schedule_interval: { __type: 'CronExpression', value: '@hourly' },
        catchup: true,
        max_active_runs: 16,
        next_dagrun: '2026-03-01T07:00:00.000Z',
        next_dagrun_data_interval_start: '2026-03-01T07:00:00.000Z',
        next_dagrun_data_interval_end: '2026-03-01T08:00:00.000Z',
      });
      const patch = await fetch(`${server.url}/api/v1/dags/hourly`, {
        method: 'PATCH',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ is_paused: false }),
      });
      expect(patch.status).toBe(200);
      expect(await patch.json()).toMatchObject({ is_paused: false });
      const bad = await fetch(`${server.url}/api/v1/dags/hourly`, {
        method: 'PATCH',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ is_paused: 'no' }),
      });
      expect(bad.status).toBe(400);
      const listed = await waitFor(async () => {
        const res = await fetch(`${server.url}/api/v1/dags/hourly/dagRuns`, { headers: auth });
        const body = (await res.json()) as { dag_runs: Record<string, unknown>[] };
        return body.dag_runs.length >= 3 ? body.dag_runs : undefined;
      });
      expect(
        listed
          .map((r) => [
            r.dag_run_id,
            r.data_interval_start,
            r.data_interval_end,
            r.external_trigger,
          ])
          .sort(),
      ).toEqual([
        [
          'scheduled__2026-03-01T07:00:00+00:00',
          '2026-03-01T07:00:00.000Z',
          '2026-03-01T08:00:00.000Z',
          false,
        ],
        [
          'scheduled__2026-03-01T08:00:00+00:00',
          '2026-03-01T08:00:00.000Z',
          '2026-03-01T09:00:00.000Z',
          false,
        ],
        [
          'scheduled__2026-03-01T09:00:00+00:00',
          '2026-03-01T09:00:00.000Z',
          '2026-03-01T10:00:00.000Z',
          false,
        ],
      ]);
      const after = (await (
        await fetch(`${server.url}/api/v1/dags/hourly`, { headers: auth })
      ).json()) as Record<string, unknown>;
      expect(after).toMatchObject({
        next_dagrun: '2026-03-01T10:00:00.000Z',
        next_dagrun_create_after: '2026-03-01T11:00:00.000Z',
      });
    } finally {
      await server.stop();
    }
  }, 60_000);
});
