/**
 * Crash tests (issue 16): `kill -9` of the CLI in the middle of an import and of a key rotation,
 * and of `airlock server` in the middle of an import uploaded through its web UI, on SQLite and
 * PostgreSQL. (A task run killed with its worker is `test/pipelines/orphans.test.ts`.) Afterwards the store must hold all or nothing of the operation, every
 * row must decrypt with the configured keys, and the same operation must then run to the end
 * (no lock or half-state left behind).
 *
 * The kill lands while the operation's write transaction is open: the test watches the database
 * (SQLite: another writer is refused; PostgreSQL: the process holds a write lock on the table) and
 * kills at once when it sees it.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../src/metastore/fernet.ts';
import { startServerProcess } from '../helpers/browser.ts';
import { BIN, cleanEnv, NODE, ROOT, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import {
  postgresDatabases,
  sqliteDatabases,
  type TestDatabase,
  type TestDatabases,
} from '../metastore/_databases.ts';

const KEY_A = Fernet.generateKey();
const KEY_B = Fernet.generateKey();
const ENTRIES = 5_000;

/** Whether a write transaction is open on `db`'s Variable table (another process's). */
async function writing(dialect: string, db: TestDatabase): Promise<boolean> {
  if (dialect === 'sqlite') {
    const path = db.url.replace(/^sqlite:\/\/\//, '');
    const probe = new DatabaseSync(path, { timeout: 0 });
    try {
      probe.exec('BEGIN IMMEDIATE');
      probe.exec('ROLLBACK');
      return false;
    } catch {
      return true;
    } finally {
      probe.close();
    }
  }
  const schema = /search_path%3D(\w+)/.exec(db.url)?.[1] ?? '';
  const rows = await db.exec(
    `select count(*)::int as n from pg_locks l
       join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = 'variable' and l.granted
        and l.mode in ('RowExclusiveLock', 'ShareRowExclusiveLock')`,
    [schema],
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/**
 * Runs `airlock <args>` and kills it with SIGKILL as soon as its write transaction is open;
 * resolves with whether the kill landed there (`false`: it finished first).
 */
function runAndKill(
  args: string[],
  env: Record<string, string>,
  inTransaction: () => Promise<boolean>,
): Promise<{ killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [BIN, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: 'ignore' });
    let done = false;
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      done = true;
      resolve({ killed: signal === 'SIGKILL' });
    });
    const watch = async () => {
      while (!done) {
        if (await inTransaction().catch(() => false)) {
          child.kill('SIGKILL');
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    void watch();
  });
}

const dialects: Array<[string, () => TestDatabases]> = [
  ['sqlite', sqliteDatabases],
  ['postgres', postgresDatabases],
];

for (const [dialect, make] of dialects) {
  describe(`kill -9 on ${dialect}`, () => {
    const databases = make();
    afterAll(() => databases.dispose());
    const dir = tempDir('airlock-crash-');
    const file = join(dir, 'vars.json');
    writeFileSync(
      file,
      JSON.stringify(
        Object.fromEntries(Array.from({ length: ENTRIES }, (_, i) => [`key_${i}`, `value-${i}`])),
      ),
    );

    const envOf = (db: TestDatabase, key: string): Record<string, string> => ({
      AIRLOCK_HOME: dir,
      AIRLOCK__DATABASE__URL: db.url,
      AIRLOCK__CORE__FERNET_KEY: key,
    });

    /** A store holding one Variable before the operation. */
    async function seeded(): Promise<TestDatabase> {
      const db = await databases.create();
      const r = await runAirlock(['variables', 'set', 'before', 'kept'], { env: envOf(db, KEY_A) });
      expect(r.code, r.stderr).toBe(0);
      return db;
    }

    /** Every Variable under `key`, and which ones do not decrypt with it. */
    async function listed(db: TestDatabase, key: string) {
      const r = await runAirlock(['variables', 'list', '-o', 'json'], { env: envOf(db, key) });
      expect(r.code, r.stderr).toBe(0);
      const rows = JSON.parse(r.stdout) as Array<{ key: string; unreadable?: string }>;
      return { count: rows.length, unreadable: rows.filter((row) => row.unreadable).length };
    }

    it('leaves nothing of an import killed in its transaction, every row readable, and imports after', async () => {
      const db = await seeded();
      const run = await runAndKill(['variables', 'import', file], envOf(db, KEY_A), () =>
        writing(dialect, db),
      );
      expect(run.killed).toBe(true);
      const after = await listed(db, KEY_A);
      expect(after).toEqual({ count: 1, unreadable: 0 });
      const again = await runAirlock(['variables', 'import', file], { env: envOf(db, KEY_A) });
      expect(again.code, again.stderr).toBe(0);
      expect((await listed(db, KEY_A)).count).toBe(ENTRIES + 1);
    });

    it('leaves nothing of a server import killed in its transaction, every row readable', async () => {
      const db = await seeded();
      const password = 'crash-admin-pw-1';
      // Quiet otherwise: no worker or scheduler writing beside the import.
      const server = await startServerProcess(
        { ...envOf(db, KEY_A), AIRLOCK_ADMIN_PASSWORD: password },
        ['--no-worker', '--no-scheduler'],
      );
      // The sign-in (a small write of its own) is done before the upload starts.
      const signedIn = await fetch(`${server.url}/api/v1/variables/before`, {
        headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
      });
      expect(signedIn.status).toBe(200);
      // On SQLite any writer locks the whole database, the request's sign-in bookkeeping too (a
      // few milliseconds): the import is the write lock held for 50 ms and more (5,000 rows).
      // PostgreSQL shows the lock on the Variable table itself.
      let held = 0;
      const importing = async () => {
        if (dialect !== 'sqlite') return writing(dialect, db);
        held = (await writing(dialect, db)) ? held + 1 : 0;
        return held >= 5;
      };
      try {
        const form = new FormData();
        form.set('file', new Blob([readFileSync(file)]), 'vars.json');
        const upload = fetch(`${server.url}/variables/import`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
          },
          body: form,
        }).catch(() => undefined);
        const deadline = Date.now() + 30_000;
        let killed = false;
        while (!killed && Date.now() < deadline) {
          if (await importing().catch(() => false)) {
            process.kill(server.pid, 'SIGKILL');
            killed = true;
          } else await new Promise((r) => setTimeout(r, 10));
        }
        expect(killed, 'the kill landed in the import transaction').toBe(true);
        await upload;
      } finally {
        await server.stop();
      }
      expect(await listed(db, KEY_A)).toEqual({ count: 1, unreadable: 0 });
      const again = await runAirlock(['variables', 'import', file], { env: envOf(db, KEY_A) });
      expect(again.code, again.stderr).toBe(0);
      expect((await listed(db, KEY_A)).count).toBe(ENTRIES + 1);
    });

    it('leaves every value under the old key after a rotation killed in its transaction, and rotates after', async () => {
      const db = await seeded();
      const imported = await runAirlock(['variables', 'import', file], { env: envOf(db, KEY_A) });
      expect(imported.code, imported.stderr).toBe(0);
      const run = await runAndKill(['rotate-fernet-key'], envOf(db, `${KEY_B},${KEY_A}`), () =>
        writing(dialect, db),
      );
      expect(run.killed).toBe(true);
      // With both keys, every row reads.
      const both = await listed(db, `${KEY_B},${KEY_A}`);
      expect(both).toEqual({ count: ENTRIES + 1, unreadable: 0 });
      // Killed inside its one transaction: nothing was rotated.
      expect(await listed(db, KEY_B)).toEqual({ count: ENTRIES + 1, unreadable: ENTRIES + 1 });
      const again = await runAirlock(['rotate-fernet-key'], {
        env: envOf(db, `${KEY_B},${KEY_A}`),
      });
      expect(again.code, again.stderr).toBe(0);
      expect(await listed(db, KEY_B)).toEqual({ count: ENTRIES + 1, unreadable: 0 });
      // The key check moved with the values: the old key alone may no longer write.
      const old = await runAirlock(['variables', 'set', 'x', 'y'], { env: envOf(db, KEY_A) });
      expect(old.stderr).toContain('AIRLOCK_ERR_CRYPTO_KEY_WRONG');
    });
  });
}
