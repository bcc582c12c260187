import { statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createDialect } from '../../src/metastore/dialects.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { sqliteDatabases } from './_databases.ts';
import {
  expectCoded,
  runMetastoreBackendContract,
  runMetastoreContract,
} from './metastore-contract.ts';

runMetastoreContract({ databases: sqliteDatabases });

runMetastoreBackendContract(sqliteDatabases);

describe('metastore on SQLite', () => {
  const databases = sqliteDatabases();
  const keys = parseFernetKeys(Fernet.generateKey());

  it('runs in WAL mode with foreign keys on and a busy timeout', async () => {
    const db = await databases.create();
    const store = await Metastore.open({ url: db.url, keys, busyTimeoutMs: 1234 });
    await store.setVariable('x', 'y');
    const path = db.url.replace(/^sqlite:\/\//, '').slice(1);
    const probe = new DatabaseSync(path);
    try {
      expect(probe.prepare('pragma journal_mode').get()).toEqual({ journal_mode: 'wal' });
    } finally {
      probe.close();
    }
    expect(statSync(`${path}-wal`).isFile()).toBe(true);
    await store.close();
  });

  it('fails with a coded error, not a hang, when another process holds the write lock', async () => {
    const db = await databases.create();
    const store = await Metastore.open({ url: db.url, keys, busyTimeoutMs: 200 });
    const path = db.url.replace(/^sqlite:\/\//, '').slice(1);
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      const err = await expectCoded(
        () => store.setVariable('x', 'y'),
        'AIRLOCK_ERR_STORE_UNAVAILABLE',
      );
      expect(err.message).toContain('SQLITE_BUSY');
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      // Reads go on while the other connection writes (WAL).
      expect(await store.getVariable('x')).toBeUndefined();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.setVariable('x', 'y')).toBe('created');
    await store.close();
  });

  it('shares one read transaction between the prepared reads of one event-loop turn, and drops it when the turn ends', async () => {
    const db = await databases.create();
    const store = await Metastore.open({ url: db.url, keys });
    await store.setVariable('k', 'one', { description: 'first' });
    const path = db.url.replace(/^sqlite:\/\//, '').slice(1);
    // Another connection: what another process sees and does.
    const other = new DatabaseSync(path, { timeout: 0 });
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    try {
      await nextTurn();
      // One turn: a read, another process's write, a read (the same snapshot), then a checkpoint
      // that cannot reset the log while the snapshot is held.
      expect((await store.getVariableRecord('k'))?.description).toBe('first');
      other.prepare("UPDATE variable SET description = 'changed' WHERE key = 'k'").run();
      expect((await store.getVariableRecord('k'))?.description).toBe('first');
      expect(other.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()).toMatchObject({ busy: 1 });
      // The next turn: the write is seen, and nothing holds the log any more.
      await nextTurn();
      expect((await store.getVariableRecord('k'))?.description).toBe('changed');
      await nextTurn();
      expect(other.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()).toMatchObject({ busy: 0 });
      // This process's own write is seen at once, in the same turn as a read before it; so is
      // a transaction's.
      expect(await store.getVariable('k')).toBe('one');
      await store.setVariable('k', 'two');
      expect(await store.getVariable('k')).toBe('two');
      await store.deleteVariable('k');
      expect(await store.getVariable('k')).toBeUndefined();
      // A write after a read, in the same turn, is committed at once (not held in the read
      // transaction): another process sees it and can write at once.
      expect(await store.getVariable('w')).toBeUndefined();
      await store.setVariable('w', 'written');
      expect(other.prepare("SELECT key FROM variable WHERE key = 'w'").get()).toEqual({ key: 'w' });
      other.prepare("UPDATE variable SET description = 'other' WHERE key = 'w'").run();
    } finally {
      other.close();
    }
    await store.close();
  });

  it('shares one connection between stores of one process, so their transactions queue', async () => {
    const db = await databases.create();
    const [a, b] = await Promise.all([
      Metastore.open({ url: db.url, keys, busyTimeoutMs: 500 }),
      Metastore.open({ url: db.url, keys, busyTimeoutMs: 500 }),
    ]);
    const slow = async function* () {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 20));
        yield { key: `a${i}`, value: 'x', where: `entry ${i}` };
      }
    };
    const [report, outcome] = await Promise.all([
      a.importVariables(slow()),
      b.setVariable('b', 'y'),
    ]);
    expect(report.created).toBe(5);
    expect(outcome).toBe('created');
    await a.close();
    expect(await b.getVariable('a4')).toBe('x');
    await b.close();
  });

  it('reads rows as objects (prepared reads and Kysely queries): every column, nulls kept, a `__proto__` column a plain field', async () => {
    const { dialect, reads } = await createDialect({ kind: 'sqlite', path: ':memory:' });
    const db = new Kysely<Record<string, never>>({ dialect });
    try {
      await sql`create table t (k text primary key, v text, n integer, "__proto__" text)`.execute(
        db,
      );
      await sql`insert into t values ('a', null, 1, 'p'), ('b', 'x', 2, null)`.execute(db);
      const text = 'select k, v, n from t where k = ?';
      expect(await reads.first('t_get', text, ['a'])).toEqual({ k: 'a', v: null, n: 1 });
      // The statement is reused, and sees a later write.
      await sql`update t set v = 'changed' where k = 'a'`.execute(db);
      expect(await reads.first('t_get', text, ['a'])).toEqual({ k: 'a', v: 'changed', n: 1 });
      expect(await reads.first('t_get', text, ['none'])).toBeUndefined();
      const odd = await reads.first<Record<string, unknown>>(
        't_proto',
        'select k, "__proto__" from t where k = ?',
        ['a'],
      );
      expect(Object.getPrototypeOf(odd)).toBeNull();
      expect(Object.keys(odd ?? {})).toEqual(['k', '__proto__']);
      expect(Object.getOwnPropertyDescriptor(odd, '__proto__')?.value).toBe('p');
      // A statement Kysely runs with all() still gives objects.
      const all = await sql<{ k: string }>`select k, v, n from t where k = ${'a'}`.execute(db);
      expect(all.rows).toEqual([{ k: 'a', v: 'changed', n: 1 }]);
      const odds = await sql<Record<string, unknown>>`select "__proto__" from t order by k`.execute(
        db,
      );
      expect(odds.rows.map((row) => Object.getPrototypeOf(row))).toEqual([null, null]);
      expect(
        odds.rows.map((row) => Object.getOwnPropertyDescriptor(row, '__proto__')?.value),
      ).toEqual(['p', null]);
      // A statement without columns still reports its changes.
      const changed = await sql`update t set n = n + 1`.execute(db);
      expect(changed.numAffectedRows).toBe(2n);
    } finally {
      await db.destroy();
    }
  });

  it('opens an in-memory database', async () => {
    const store = await Metastore.open({ url: 'sqlite://', keys });
    await store.setVariable('m', 'memory');
    expect(await store.getVariable('m')).toBe('memory');
    await store.close();
  });

  it('reports a file it cannot open with a coded error', async () => {
    await expectCoded(
      () => Metastore.open({ url: 'sqlite:////nonexistent-dir/sub/airlock.db', keys }),
      'AIRLOCK_ERR_STORE_UNAVAILABLE',
    );
  });
});
