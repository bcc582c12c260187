/**
 * Several processes writing the server's tables of one PostgreSQL metastore at the same moment
 * (servers starting together, two admins saving one setting), and what a database error that no
 * store method mapped becomes: a coded store error through the API and the CLI, never "a bug".
 *
 * Each `Metastore.open` here has its own connection pool, as a separate process would.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../src/errors.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { ensureAdmin } from '../../src/server/serve.ts';
import { ServerStore } from '../../src/server/store.ts';
import { cleanEnv, expectOneLineError, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { postgresDatabases } from '../metastore/_databases.ts';
import { createTestApp } from './_app.ts';

const databases = postgresDatabases();
const opened: Metastore[] = [];
const KEY = Fernet.generateKey();

afterAll(async () => {
  await Promise.all(opened.map((m) => m.close()));
  await databases.dispose();
});

/** `n` stores on one fresh schema, each with its own pool; the schema is created first. */
async function storesOnOneSchema(n: number): Promise<{ url: string; stores: ServerStore[] }> {
  const db = await databases.create();
  const stores: ServerStore[] = [];
  for (let i = 0; i < n; i++) {
    const metastore = await Metastore.open({ url: db.url, keys: parseFernetKeys(KEY) });
    opened.push(metastore);
    stores.push(new ServerStore(metastore));
  }
  return { url: db.url, stores };
}

/**
 * Runs `writers` while another session holds `table` in SHARE mode (reads pass, writes wait),
 * until `waiting` of them wait on a lock; then lets them go. Every writer has then read the
 * table before any could write: the interleaving in which two processes meet.
 */
async function inLockstep<T>(
  url: string,
  table: string,
  waiting: number,
  writers: () => Promise<T>[],
): Promise<PromiseSettledResult<T>[]> {
  const schema = /search_path%3D(\w+)/.exec(url)?.[1];
  const holder = new pg.Client({
    host: '127.0.0.1',
    user: 'postgres',
    database: 'test',
    options: `-c search_path=${schema}`,
  });
  await holder.connect();
  try {
    await holder.query('begin');
    await holder.query(`lock table ${table} in share mode`);
    const running = Promise.allSettled(writers());
    const deadline = Date.now() + 20_000;
    for (;;) {
      // Statistics read in a transaction are a snapshot: cleared for each look.
      await holder.query('select pg_stat_clear_snapshot()');
      const { rows } = await holder.query<{ n: string }>(
        // The sessions that wait on this one, directly or behind another that does (other test
        // files' sessions on the same server are not counted).
        `with recursive blocked(pid) as (
           select pid from pg_stat_activity where pg_backend_pid() = any(pg_blocking_pids(pid))
           union
           select a.pid from pg_stat_activity a join blocked b on b.pid = any(pg_blocking_pids(a.pid))
         ) select count(*) as n from blocked`,
      );
      if (Number(rows[0]?.n) >= waiting) break;
      if (Date.now() > deadline) throw new Error(`fewer than ${waiting} writers came to wait`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await holder.query('commit');
    return await running;
  } finally {
    await holder.end();
  }
}

describe('processes writing one PostgreSQL metastore at once', () => {
  it('create the first admin once when several servers start together', async () => {
    const { url, stores } = await storesOnOneSchema(4);
    const notices: string[] = [];
    // Each store counts no user, hashes a password, then inserts: the inserts meet.
    const settled = await inLockstep(url, 'airlock_user', 4, () =>
      stores.map((s) =>
        ensureAdmin(s, { AIRLOCK_ADMIN_PASSWORD: 'start-pw-123' }, (m) => notices.push(m)),
      ),
    );
    expect(settled.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(notices).toHaveLength(1);
    expect((await stores[0]?.listUsers())?.map((u) => u.username)).toEqual(['admin']);
  });

  it('refuses the second of two creations of one user with a conflict, not a database error', async () => {
    const { url, stores } = await storesOnOneSchema(2);
    const settled = await inLockstep(url, 'airlock_user', 2, () =>
      stores.map((s, i) => s.createUser('ada', `ada-password-${i}`, 'editor')),
    );
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(isAirlockError(refused.reason) && refused.reason.code).toBe('AIRLOCK_ERR_HTTP_CONFLICT');
  });

  it('saves one new setting from two processes at once: both succeed, one value stays', async () => {
    const { url, stores } = await storesOnOneSchema(2);
    for (let round = 0; round < 3; round++) {
      const name = `AIRFLOW_VAR_RACE_${round}`;
      const settled = await inLockstep(url, 'airlock_setting', 2, () =>
        stores.map((s, i) => s.putSetting(name, `value-${i}`, false, 'admin')),
      );
      const results = settled.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'));
      expect(results.sort()).toEqual(['created', 'updated']);
      const value = (await stores[0]?.listSettings())?.find((s) => s.name === name)?.value;
      expect(['value-0', 'value-1']).toContain(value);
    }
  });
});

describe('a database error that no store method mapped', () => {
  it('is a coded store error in an API response, and in the server log', async () => {
    const logged: { fields: Record<string, unknown>; message: string }[] = [];
    const capture = (fields: Record<string, unknown>, message: string) => {
      logged.push({ fields, message });
    };
    const logger = { error: capture, warn: capture, info: capture, debug: capture };
    const t = await createTestApp({ extra: { logger } });
    try {
      // A table dropped behind the server's back (as a bad manual migration would).
      await t.metastore.kysely.schema.dropTable('airlock_setting').execute();
      const res = await t.as('admin', '/api/v1/settings');
      expect(res.status).toBe(500);
      const body = (await res.json()) as { code: string; detail: string };
      expect(body.code).toBe('AIRLOCK_ERR_STORE_QUERY_FAILED');
      expect(body.detail).toContain('no such table: airlock_setting');
      expect(body.detail).not.toContain('bug');
      expect(logged).toEqual([
        { fields: { code: 'AIRLOCK_ERR_STORE_QUERY_FAILED' }, message: body.detail },
      ]);
    } finally {
      await t.close();
    }
  });

  it('is a one-line coded error from the CLI', async () => {
    const home = tempDir('airlock-cli-db-');
    const env = cleanEnv({ AIRLOCK_HOME: home, AIRLOCK__CORE__FERNET_KEY: KEY });
    const created = await runAirlock(
      ['users', 'create', 'ada', '--role', 'viewer', '--password', 'ada-pw-1234'],
      { env },
    );
    expect(created.code).toBe(0);
    const url = `sqlite:///${home}/airlock.db`;
    const metastore = await Metastore.open({ url, keys: parseFernetKeys(KEY) });
    await metastore.kysely.schema.dropTable('airlock_user').execute();
    await metastore.close();
    const again = await runAirlock(
      ['users', 'create', 'bob', '--role', 'viewer', '--password', 'bob-pw-1234'],
      { env },
    );
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, 'AIRLOCK_ERR_STORE_QUERY_FAILED');
    expect(again.stderr).not.toContain('bug');
  });
});
