/**
 * A separate `airlock worker` starts a triggered task at once, woken by the database (PostgreSQL
 * LISTEN/NOTIFY, SQLite's signal file), not by its poll: the poll interval here is a minute, so
 * a task that starts within the bound was woken (the bound is generous; it only stops a hang).
 * On PostgreSQL the listener comes back after its connection is killed.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAirlock, startAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { postgresDatabases, sqliteDatabases, type TestDatabases } from '../metastore/_databases.ts';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function suite(name: string, make: () => TestDatabases) {
  describe(`a separate worker is woken by the trigger (${name})`, () => {
    const databases = make();
    afterAll(() => databases.dispose());

    it('runs a triggered task long before its next poll, and again after losing its listener', async () => {
      const db = await databases.create();
      const home = tempDir('airlock-wake-');
      const dags = join(home, 'dags');
      mkdirSync(dags, { recursive: true });
      writeFileSync(
        join(dags, 'wake.ts'),
        "import { dag, task } from 'airlock';\ndag('wake', { schedule: null }, () => { task('t', ({ log }) => log.info('woken')); });\n",
      );
      const env = {
        AIRLOCK_HOME: home,
        AIRLOCK__DATABASE__URL: db.url,
        AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
        AIRLOCK__WORKER__POLL_INTERVAL_MS: '60000',
      };
      expect((await runAirlock(['db', 'migrate'], { env })).code).toBe(0);
      const worker = startAirlock(['worker'], env);
      children.push(worker);
      // Started (its first poll is done) before the trigger.
      await new Promise<void>((resolve) => worker.stdout?.once('data', () => resolve()));
      const ran = (runId: string) => {
        const log = join(home, 'logs', 'wake', runId, 't', '1.log');
        return waitFor(
          async () =>
            existsSync(log) && readFileSync(log, 'utf8').includes('woken') ? true : undefined,
          30_000,
        );
      };
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await runAirlock(['dags', 'trigger', 'wake', '-r', 'first'], { env })).code).toBe(0);
      await ran('first');
      if (databases.dialect === 'postgres') {
        // Kill the listener's connection: it reconnects, and the next trigger wakes it again.
        // (Waited for: on a loaded machine the listener may still be connecting.)
        const killed = await waitFor(async () => {
          const rows = await db.exec(
            "select pg_terminate_backend(pid) as ok from pg_stat_activity where query ilike 'LISTEN airlock_task_queued%' and datname = current_database()",
          );
          return rows.length > 0 ? rows : undefined;
        }, 10_000);
        expect(killed.length).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, 1_500));
      }
      expect((await runAirlock(['dags', 'trigger', 'wake', '-r', 'second'], { env })).code).toBe(0);
      await ran('second');
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
    }, 90_000);
  });
}

suite('sqlite', sqliteDatabases);
suite('postgres', postgresDatabases);
