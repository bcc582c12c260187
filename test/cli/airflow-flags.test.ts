/**
 * Airflow's CLI flags with `airlock` in place of `airflow`, each through the built executable:
 * `-v/--verbose` everywhere, the documented `users create` line, `users delete -u`,
 * `dags trigger -e`, `dags list-runs -d`, `dags test DAG_ID LOGICAL_DATE`, `tasks test … RUN_ID`,
 * `dags state|details`, `tasks list|state`, `connections get -o yaml|table`, `connections test`,
 * `db check --retry`, `db check-migrations`.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const home = tempDir('airlock-airflow-flags-');
const env = { AIRLOCK_HOME: home };

function expectOneLineError(stderr: string, code: string): void {
  expect(stderr).toContain(code);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  mkdirSync(join(home, 'dags'), { recursive: true });
  writeFileSync(
    join(home, 'dags', 'flags.ts'),
    `import { dag, task } from 'airlock';
export default dag('flags', { schedule: null, description: 'for the flags test', tags: ['cli'] }, () => {
  const first = task('first', ({ logicalDate, dagRun }) => {
    console.log('first at ' + logicalDate + ' conf ' + JSON.stringify(dagRun.conf));
  });
  task('second', () => {}).dependsOn(first);
});
`,
  );
  expect((await runAirlock(['db', 'migrate'], { env })).code).toBe(0);
}, 60_000);

describe('users', () => {
  it("takes Airflow's documented users create line and deletes with -u", async () => {
    const created = await runAirlock(
      [
        'users',
        'create',
        '--username',
        'ada',
        '--firstname',
        'Ada',
        '--lastname',
        'Lovelace',
        '--role',
        'Admin',
        '--email',
        'ada@example.org',
        '--password',
        'long-enough-pw',
      ],
      { env },
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('User ada created with role admin');
    const op = await runAirlock(
      [
        'users',
        'create',
        '-u',
        'op',
        '-e',
        'op@x',
        '-f',
        'O',
        '-l',
        'P',
        '-r',
        'Op',
        '--use-random-password',
      ],
      { env },
    );
    expect(op.code, op.stderr).toBe(0);
    expect(op.stdout).not.toContain('Generated password');
    const list = JSON.parse((await runAirlock(['users', 'list', '-o', 'json'], { env })).stdout);
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ username: 'ada', role: 'admin' }),
        expect.objectContaining({ username: 'op', role: 'editor' }),
      ]),
    );
    const pub = await runAirlock(
      ['users', 'create', '-u', 'p', '-r', 'Public', '-p', 'long-enough-pw'],
      {
        env,
      },
    );
    expect(pub.code).toBe(2);
    expectOneLineError(pub.stderr, 'AIRLOCK_ERR_CLI_USAGE');
    const deleted = await runAirlock(['users', 'delete', '-u', 'op'], { env });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain('User op deleted');
  });
});

describe('-v/--verbose', () => {
  it('is accepted by every command and turns on debug logging', async () => {
    const quiet = await runAirlock(['variables', 'get', 'nope_var', '--default', 'd'], { env });
    const loud = await runAirlock(['variables', 'get', 'nope_var', '--default', 'd', '-v'], {
      env,
    });
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stdout).toBe(quiet.stdout);
    expect(loud.stderr.length).toBeGreaterThan(quiet.stderr.length);
    expect(loud.stderr).toMatch(/debug/i);
    for (const args of [
      ['db', 'check', '--verbose'],
      ['dags', 'list', '-v'],
      ['users', 'list', '-v'],
    ]) {
      const res = await runAirlock(args, { env });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
    }
  });
});

describe('db', () => {
  it('check means the database can be reached, with --retry; check-migrations the schema', async () => {
    const ok = await runAirlock(['db', 'check'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Connection successful');
    const migrations = await runAirlock(['db', 'check-migrations'], { env });
    expect(migrations.code, migrations.stderr).toBe(0);

    // A PostgreSQL port nothing listens on: refused at once, retried twice, then a coded error.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const down = await runAirlock(['db', 'check', '--retry', '2', '--retry-delay', '0'], {
      env: {
        ...env,
        AIRLOCK__DATABASE__URL: `postgresql://postgres:secret-db-pw@127.0.0.1:${port}/test`,
      },
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('after 3 attempts');
    expect(down.stderr).not.toContain('secret-db-pw');
    expect(
      down.stderr.split('\n').filter((l) => l.includes('AIRLOCK_ERR_STORE_UNAVAILABLE')),
    ).toHaveLength(1);
  });
});

describe('connections', () => {
  it('get -o yaml|table, and test', async () => {
    const add = await runAirlock(
      ['connections', 'add', 'flag_conn', '--conn-uri', 'postgres://u:flag-pw@127.0.0.1:1/db'],
      { env },
    );
    expect(add.code, add.stderr).toBe(0);
    const yaml = await runAirlock(['connections', 'get', 'flag_conn', '-o', 'yaml'], { env });
    expect(yaml.code, yaml.stderr).toBe(0);
    expect(parse(yaml.stdout)).toEqual([
      expect.objectContaining({ conn_id: 'flag_conn', host: '127.0.0.1', port: 1 }),
    ]);
    const table = await runAirlock(['connections', 'get', 'flag_conn', '-o', 'table'], { env });
    expect(table.stdout).toMatch(/conn_id[\s\S]*flag_conn/);

    const failed = await runAirlock(['connections', 'test', 'flag_conn'], { env });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('Connection failed!');
    expectOneLineError(failed.stderr, 'AIRLOCK_ERR_CONN_TEST_FAILED');
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const uri = `postgres://u:flag-pw@127.0.0.1:${port}/db`;
      const ok = await runAirlock(['connections', 'test', 'up_conn'], {
        env: { ...env, AIRFLOW_CONN_UP_CONN: uri },
      });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('Connection success!');
      expect(ok.stdout + ok.stderr).not.toContain('flag-pw');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('dags and tasks', () => {
  it('trigger -e, list-runs -d, state, details, tasks list and state', async () => {
    const trigger = await runAirlock(
      ['dags', 'trigger', 'flags', '-e', '2026-04-01T00:00:00Z', '-o', 'json'],
      { env },
    );
    expect(trigger.code, trigger.stderr).toBe(0);
    const [run] = JSON.parse(trigger.stdout);
    expect(run).toMatchObject({
      run_id: 'manual__2026-04-01T00:00:00.000Z',
      logical_date: '2026-04-01T00:00:00.000Z',
      state: 'queued',
    });
    const runs = await runAirlock(['dags', 'list-runs', '-d', 'flags', '-o', 'json'], { env });
    expect(JSON.parse(runs.stdout).map((r: { run_id: string }) => r.run_id)).toEqual([run.run_id]);

    expect(
      (await runAirlock(['dags', 'state', 'flags', '2026-04-01T00:00:00Z'], { env })).stdout,
    ).toBe('queued\n');
    expect((await runAirlock(['dags', 'state', 'flags', run.run_id], { env })).stdout).toBe(
      'queued\n',
    );
    const none = await runAirlock(['dags', 'state', 'flags', '2020-01-01'], { env });
    expect(none.code).toBe(1);
    expectOneLineError(none.stderr, 'AIRLOCK_ERR_DAG_RUN_NOT_FOUND');

    const details = await runAirlock(['dags', 'details', 'flags', '-o', 'json'], { env });
    expect(JSON.parse(details.stdout)).toEqual([
      expect.objectContaining({ dag_id: 'flags', tags: 'cli', tasks: 'first, second' }),
    ]);
    expect((await runAirlock(['tasks', 'list', 'flags'], { env })).stdout).toBe('first\nsecond\n');
    const state = await runAirlock(['tasks', 'state', 'flags', 'first', run.run_id], { env });
    expect(state.stdout).toBe('queued\n');
    expect(
      (await runAirlock(['tasks', 'state', 'flags', 'second', run.run_id], { env })).stdout,
    ).toBe('None\n');
  });

  it('dags test DAG_ID LOGICAL_DATE and tasks test DAG_ID TASK_ID RUN_ID', async () => {
    const test = await runAirlock(['dags', 'test', 'flags', '2026-05-01T12:00:00Z'], { env });
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toContain('first at 2026-05-01T12:00:00.000Z');
    expect(test.stdout).toContain('run_id test__2026-05-01T12:00:00.000Z');

    const queued = JSON.parse(
      (
        await runAirlock(
          [
            'dags',
            'trigger',
            'flags',
            '-l',
            '2026-06-01T00:00:00Z',
            '-c',
            '{"k": "from-run"}',
            '-o',
            'json',
          ],
          { env },
        )
      ).stdout,
    )[0];
    const byRun = await runAirlock(['tasks', 'test', 'flags', 'first', queued.run_id], { env });
    expect(byRun.code, byRun.stderr).toBe(0);
    expect(byRun.stdout).toContain('first at 2026-06-01T00:00:00.000Z conf {"k":"from-run"}');
    const byDate = await runAirlock(['tasks', 'test', 'flags', 'first', '2026-07-01'], { env });
    expect(byDate.stdout).toContain('first at 2026-07-01T00:00:00.000Z');
    const bad = await runAirlock(['tasks', 'test', 'flags', 'first', 'no_such_run'], { env });
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr, 'AIRLOCK_ERR_DAG_RUN_NOT_FOUND');
  }, 120_000);

  it("tasks clear with Airflow's filters, and dags delete -y", async () => {
    const runId = 'manual__2026-04-01T00:00:00.000Z';
    const clear = await runAirlock(
      [
        'tasks',
        'clear',
        'flags',
        '-t',
        '^first$',
        '-d',
        '-s',
        '2026-04-01',
        '-e',
        '2026-04-01T00:00:00Z',
        '-y',
      ],
      { env },
    );
    expect(clear.code, clear.stderr).toBe(0);
    expect(clear.stdout).toContain(`${runId}\tfirst`);
    expect(clear.stdout).toContain(`${runId}\tsecond`);
    expect(clear.stdout).toContain('Cleared 2 task instance(s)');
    expect((await runAirlock(['tasks', 'state', 'flags', 'first', runId], { env })).stdout).toBe(
      'queued\n',
    );
    const unconfirmed = await runAirlock(['tasks', 'clear', 'flags'], { env });
    expect(unconfirmed.code).toBe(2);

    const refused = await runAirlock(['dags', 'delete', 'flags'], { env });
    expect(refused.code).toBe(2);
    expectOneLineError(refused.stderr, 'AIRLOCK_ERR_CLI_USAGE');
    const deleted = await runAirlock(['dags', 'delete', 'flags', '-y'], { env });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(/Removed [1-9]\d* run\(s\) of DAG flags/);
    const gone = await runAirlock(['dags', 'state', 'flags', runId], { env });
    expectOneLineError(gone.stderr, 'AIRLOCK_ERR_DAG_RUN_NOT_FOUND');
    const runs = await runAirlock(['dags', 'list-runs', '-d', 'flags', '-o', 'json'], { env });
    expect(JSON.parse(runs.stdout)).toEqual([]);
  }, 60_000);
});
