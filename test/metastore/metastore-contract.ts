/**
 * @module test/metastore/metastore-contract
 * The metastore suite, run unchanged against SQLite and against a real PostgreSQL server
 * (`metastore-sqlite.test.ts`, `metastore-postgres.test.ts`). Every test makes its own empty
 * database (a file, or a schema), so tests never see each other's rows.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createEnvBackend } from '../../src/backends/env.ts';
import { createMetastoreBackend } from '../../src/backends/metastore.ts';
import { AirlockError, type ErrorCode } from '../../src/errors.ts';
import { Fernet, type MultiFernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import {
  type ConnectionImportEntry,
  Metastore,
  type VariableImportEntry,
} from '../../src/metastore/metastore.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/metastore/migrations/index.ts';

/** Every migration, in the order they apply. */
const ALL_MIGRATIONS = Object.keys(MIGRATIONS).sort();

import { Connection } from '../../src/model/connection.ts';
import { createResolver } from '../../src/resolver/resolver.ts';
import { runBackendContract } from '../contract/backend-contract.ts';
import { NODE, ROOT } from '../helpers/cli.ts';
import type { TestDatabase, TestDatabases } from './_databases.ts';

const KEY_A = Fernet.generateKey();
const KEY_B = Fernet.generateKey();
const SECRET = 'PLANTED-s3cret-7d1c0b';

/** Every text an error exposes: message, stack, JSON form, inspect and the cause chain. */
export function exposedText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', JSON.stringify(current), inspect(current));
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join('\n');
}

/** Awaits `run`, expects an AirlockError with `code` that exposes none of `secrets`. */
export async function expectCoded(
  run: () => Promise<unknown>,
  code: ErrorCode,
  secrets: readonly string[] = [],
): Promise<AirlockError> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(AirlockError);
  const err = caught as AirlockError;
  expect(err.code, err.message).toBe(code);
  const text = exposedText(err);
  for (const secret of secrets) expect(text).not.toContain(secret);
  return err;
}

/** Runs `node test/metastore/_writer.ts …` and resolves with its output. */
function writer(url: string, prefix: string, count: number, mode: 'set' | 'import') {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(
      NODE,
      [join(ROOT, 'test/metastore/_writer.ts'), url, KEY_A, prefix, String(count), mode],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function* fromArray<T>(items: readonly T[], failAt?: number): AsyncGenerator<T> {
  let i = 0;
  for (const item of items) {
    if (i === failAt) throw new Error('the source broke halfway');
    yield item;
    i++;
  }
}

function variableEntries(n: number, prefix = 'k'): VariableImportEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `${prefix}${String(i).padStart(5, '0')}`,
    value: `value ${i}`,
    where: `line ${i + 2}`,
  }));
}

/** The DDL of Airflow's own `variable` and `connection` tables (no timestamps). */
const AIRFLOW_DDL = {
  sqlite: [
    `CREATE TABLE variable (id INTEGER NOT NULL, "key" VARCHAR(250), val TEXT, description TEXT,
       is_encrypted BOOLEAN, PRIMARY KEY (id), UNIQUE ("key"))`,
    `CREATE TABLE connection (id INTEGER NOT NULL, conn_id VARCHAR(250) NOT NULL,
       conn_type VARCHAR(500) NOT NULL, description TEXT, host VARCHAR(500), schema VARCHAR(500),
       login TEXT, password TEXT, port INTEGER, is_encrypted BOOLEAN, is_extra_encrypted BOOLEAN,
       extra TEXT, PRIMARY KEY (id), CONSTRAINT connection_conn_id_uq UNIQUE (conn_id))`,
  ],
  postgres: [
    `CREATE TABLE variable (id SERIAL NOT NULL, key VARCHAR(250), val TEXT, description TEXT,
       is_encrypted BOOLEAN, PRIMARY KEY (id), UNIQUE (key))`,
    `CREATE TABLE connection (id SERIAL NOT NULL, conn_id VARCHAR(250) NOT NULL,
       conn_type VARCHAR(500) NOT NULL, description TEXT, host VARCHAR(500), schema VARCHAR(500),
       login TEXT, password TEXT, port INTEGER, is_encrypted BOOLEAN, is_extra_encrypted BOOLEAN,
       extra TEXT, PRIMARY KEY (id), CONSTRAINT connection_conn_id_uq UNIQUE (conn_id))`,
  ],
};

/** Options of {@link runMetastoreContract}. */
export interface MetastoreContractOptions {
  databases: () => TestDatabases;
}

/**
 * Runs the metastore suite against one kind of database.
 *
 * @example
 * ```ts
 * runMetastoreContract({ databases: sqliteDatabases });
 * ```
 */
export function runMetastoreContract(options: MetastoreContractOptions): void {
  const databases = options.databases();
  const opened: Metastore[] = [];
  const keysA = parseFernetKeys(KEY_A);

  async function fresh(): Promise<TestDatabase> {
    return databases.create();
  }
  async function open(db: TestDatabase, keys: MultiFernet | null = keysA): Promise<Metastore> {
    const store = await Metastore.open({ url: db.url, keys: keys ?? undefined });
    opened.push(store);
    return store;
  }
  const placeholders = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      databases.dialect === 'postgres' ? `$${i + 1}` : '?',
    ).join(', ');

  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await databases.dispose();
  });

  describe(`metastore (${databases.dialect})`, () => {
    describe('schema', () => {
      it('creates its schema on first use and reports the current version', async () => {
        const db = await fresh();
        const store = await open(db);
        expect(store.migrated).toEqual(ALL_MIGRATIONS);
        expect(store.dialect).toBe(databases.dialect);
        expect(await store.schemaStatus()).toEqual({
          version: LATEST_SCHEMA_VERSION,
          latest: LATEST_SCHEMA_VERSION,
          current: true,
          pending: [],
          unknown: [],
        });
        const again = await open(db);
        expect(again.migrated).toEqual([]);
      });

      it('reports a pending schema without touching it when migrate is off', async () => {
        const db = await fresh();
        const store = await Metastore.open({ url: db.url, migrate: false });
        opened.push(store);
        const status = await store.schemaStatus();
        expect(status).toMatchObject({
          version: null,
          current: false,
          pending: ALL_MIGRATIONS,
        });
        const report = await store.migrate();
        expect(report).toEqual({
          applied: ALL_MIGRATIONS,
          version: LATEST_SCHEMA_VERSION,
        });
        expect((await store.migrate()).applied).toEqual([]);
      });

      it('migrates stores opened at the same moment exactly once', async () => {
        const db = await fresh();
        const stores = await Promise.all([open(db), open(db), open(db)]);
        const applied = stores.flatMap((s) => s.migrated);
        expect(applied).toEqual(ALL_MIGRATIONS);
      });

      it('refuses a schema migrated by a newer airlock', async () => {
        const db = await fresh();
        await open(db);
        await db.exec(
          `insert into airlock_migration (name, timestamp) values (${placeholders(2)})`,
          ['9999-from-the-future', new Date().toISOString()],
        );
        const err = await expectCoded(
          () => Metastore.open({ url: db.url, keys: keysA }),
          'AIRLOCK_ERR_MIGRATION_UNKNOWN',
        );
        expect(err.message).toContain('9999-from-the-future');
      });

      it("adopts Airflow's own tables, adding only the timestamps", async () => {
        const db = await fresh();
        for (const ddl of AIRFLOW_DDL[databases.dialect]) await db.exec(ddl);
        const token = keysA.encrypt('written by Airflow');
        await db.exec(
          `insert into variable (key, val, description, is_encrypted) values (${placeholders(4)})`,
          ['from_airflow', token, 'desc', true],
        );
        const store = await open(db);
        expect(store.migrated).toEqual(ALL_MIGRATIONS);
        expect(await store.getVariableRecord('from_airflow')).toMatchObject({
          value: 'written by Airflow',
          description: 'desc',
          isEncrypted: true,
          createdAt: null,
        });
        await store.setVariable('from_airlock', 'x');
        await store.addConnection('c', Connection.fromUri('mysql://u:pw@h:3306/s', 'c'));
        expect(await store.getVariable('from_airlock')).toBe('x');
        expect((await store.getConnection('c'))?.password).toBe('pw');
      });
    });

    describe('variables', () => {
      it('stores values encrypted and reads them back exactly', async () => {
        const store = await open(await fresh());
        const cases: Array<[string, string]> = [
          ['plain', 'hello world'],
          ['unicode', 'Grüße, 世界 🔐 \u0000 end'],
          ['empty', ''],
          ['json', '{"a": [1, 2, {"b": null}]}'],
          ['multiline', 'line one\nline two\r\n'],
          ['spaces', '  padded  '],
          ['long', 'x'.repeat(100_000)],
        ];
        for (const [key, value] of cases)
          expect(await store.setVariable(key, value)).toBe('created');
        for (const [key, value] of cases) expect(await store.getVariable(key)).toBe(value);
        expect(await store.getVariable('missing')).toBeUndefined();
        expect(await store.getVariableRecord('missing')).toBeUndefined();
      });

      it('overwrites a value, keeping the description unless a new one is given', async () => {
        const store = await open(await fresh());
        expect(await store.setVariable('k', 'v1', { description: 'first' })).toBe('created');
        expect(await store.setVariable('k', 'v2')).toBe('updated');
        expect(await store.getVariableRecord('k')).toMatchObject({
          value: 'v2',
          description: 'first',
          isEncrypted: true,
        });
        await store.setVariable('k', 'v3', { description: 'second' });
        const record = await store.getVariableRecord('k');
        expect(record).toMatchObject({ value: 'v3', description: 'second' });
        expect(Date.parse(record?.createdAt ?? '')).toBeLessThanOrEqual(
          Date.parse(record?.updatedAt ?? ''),
        );
        expect(record?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      });

      it('deletes a Variable and says whether it existed', async () => {
        const store = await open(await fresh());
        await store.setVariable('gone', 'x');
        expect(await store.deleteVariable('gone')).toBe(true);
        expect(await store.deleteVariable('gone')).toBe(false);
        expect(await store.getVariable('gone')).toBeUndefined();
      });

      it('rejects an empty or over-long key', async () => {
        const store = await open(await fresh());
        await expectCoded(() => store.setVariable('', 'x'), 'AIRLOCK_ERR_STORE_KEY_INVALID');
        await expectCoded(
          () => store.setVariable('k'.repeat(251), 'x'),
          'AIRLOCK_ERR_STORE_KEY_INVALID',
        );
        expect(await store.setVariable('k'.repeat(250), 'x')).toBe('created');
      });

      it('lists every Variable in code-point order, page by page', async () => {
        const store = await open(await fresh());
        const odd = ['Zeta', 'alpha', 'Ärger', 'a_b', 'a-b', 'a.b', '日本', '🔑'];
        const entries = [
          ...variableEntries(1_100),
          ...odd.map((key) => ({ key, value: key, where: key })),
        ];
        await store.importVariables(entries);
        const keys: string[] = [];
        for await (const v of store.variables()) keys.push(v.key);
        const expected = entries.map((e) => e.key).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        // JS string order is UTF-16 order; for these keys it equals code-point order.
        expect(keys).toEqual(expected);
        expect(await store.listVariableKeys()).toEqual(expected);
      });
    });

    describe('connections', () => {
      it('adds a Connection with password and extra encrypted and refuses an existing conn_id', async () => {
        const store = await open(await fresh());
        const conn = Connection.fromUri(
          'postgres://admin:p%40ss%3Aw%2Ford@db.example.com:5432/analytics?sslmode=require',
          'warehouse',
        );
        await store.addConnection('warehouse', conn);
        expect(await store.getConnection('warehouse')).toMatchObject({
          connId: 'warehouse',
          connType: 'postgres',
          host: 'db.example.com',
          login: 'admin',
          password: 'p@ss:w/ord',
          schema: 'analytics',
          port: 5432,
          extra: '{"sslmode": "require"}',
          isEncrypted: true,
          isExtraEncrypted: true,
        });
        const err = await expectCoded(
          () => store.addConnection('warehouse', Connection.fromUri('http://other', 'warehouse')),
          'AIRLOCK_ERR_STORE_CONFLICT',
        );
        expect(err.message).toContain('`warehouse` already exists');
        expect((await store.getConnection('warehouse'))?.host).toBe('db.example.com');
      });

      it('leaves the encryption flags off for a connection without password or extra', async () => {
        const store = await open(await fresh());
        await store.addConnection('bare', Connection.fromFields({ conn_type: 'http', host: 'h' }));
        expect(await store.getConnection('bare')).toMatchObject({
          password: null,
          extra: null,
          isEncrypted: false,
          isExtraEncrypted: false,
        });
      });

      it('lists Connections in conn_id order and deletes them', async () => {
        const store = await open(await fresh());
        for (const id of ['b_conn', 'a_conn', 'C_conn']) {
          await store.addConnection(id, Connection.fromUri(`http://u:pw@${id}.example`, id));
        }
        const ids: string[] = [];
        for await (const c of store.connections()) ids.push(c.connId);
        expect(ids).toEqual(['C_conn', 'a_conn', 'b_conn']);
        expect(await store.deleteConnection('a_conn')).toBe(true);
        expect(await store.deleteConnection('a_conn')).toBe(false);
        expect(await store.getConnection('a_conn')).toBeUndefined();
      });
    });

    describe('encryption at rest', () => {
      it('keeps no planted secret in plaintext anywhere in the database', async () => {
        const db = await fresh();
        const store = await open(db);
        await store.setVariable('api_key', SECRET);
        await store.setVariable('settings', JSON.stringify({ token: SECRET }));
        await store.addConnection(
          'planted',
          Connection.fromFields({
            conn_type: 'postgres',
            host: 'db.example.com',
            login: 'svc',
            password: SECRET,
            extra: { private_key: SECRET },
          }),
        );
        await store.importVariables([{ key: 'imported', value: SECRET, where: 'entry 1' }]);
        await store.importConnections([
          {
            connId: 'imported_conn',
            connection: Connection.fromUri(`http://u:${SECRET}@h`, 'imported_conn'),
            where: 'entry 1',
          },
        ]);
        const raw = await db.raw();
        expect(raw.length).toBeGreaterThan(0);
        expect(raw).toContain('gAAAAA'); // Fernet tokens are there…
        expect(raw).toContain('db.example.com'); // …as are the plaintext columns, as in Airflow
        expect(raw).not.toContain(SECRET); // …but never the secret
        expect(raw).not.toContain(Buffer.from(SECRET).toString('base64'));
        await store.rotateFernetKeys();
        expect(await db.raw()).not.toContain(SECRET);
      });

      it('fails with a coded error naming the row when the key is wrong or missing', async () => {
        const db = await fresh();
        const writerStore = await open(db);
        await writerStore.setVariable('db_url', SECRET);
        await writerStore.addConnection(
          'conn',
          Connection.fromFields({ conn_type: 'http', password: SECRET, extra: { a: SECRET } }),
        );
        const wrong = await open(db, parseFernetKeys(KEY_B));
        const err = await expectCoded(
          () => wrong.getVariable('db_url'),
          'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          [SECRET, KEY_A, KEY_B],
        );
        expect(err.message).toContain('variable `db_url`');
        expect(err.details).toEqual({ table: 'variable', key: 'db_url' });
        const conn = await expectCoded(
          () => wrong.getConnection('conn'),
          'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          [SECRET, KEY_A, KEY_B],
        );
        expect(conn.details).toEqual({ table: 'connection', conn_id: 'conn' });
        const none = await open(db, null);
        const missing = await expectCoded(
          () => none.getVariable('db_url'),
          'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
          [SECRET],
        );
        expect(missing.message).toContain('variable `db_url`');
        await expectCoded(() => none.setVariable('x', 'y'), 'AIRLOCK_ERR_CRYPTO_KEY_MISSING');
        await expectCoded(async () => {
          for await (const _ of wrong.variables()) {
            // reading the list decrypts every row
          }
        }, 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
      });

      it('reads rows of an older key while it is in the key list', async () => {
        const db = await fresh();
        await (await open(db)).setVariable('v', 'old value');
        const both = await open(db, parseFernetKeys(`${KEY_B},${KEY_A}`));
        expect(await both.getVariable('v')).toBe('old value');
        await both.setVariable('w', 'new value');
        const bOnly = await open(db, parseFernetKeys(KEY_B));
        expect(await bOnly.getVariable('w')).toBe('new value');
      });

      it('rotates every value to the first key in one go', async () => {
        const db = await fresh();
        const old = await open(db);
        await old.setVariable('v1', 'one');
        await old.setVariable('v2', 'two');
        await old.addConnection(
          'c',
          Connection.fromFields({ conn_type: 'http', password: 'pw', extra: { x: 1 } }),
        );
        await old.addConnection('nopw', Connection.fromFields({ conn_type: 'http' }));
        await old.importVariables(variableEntries(250));
        const both = await open(db, parseFernetKeys(`${KEY_B},${KEY_A}`));
        expect(await both.rotateFernetKeys()).toEqual({
          variables: 252,
          connectionFields: 2,
          encryptedFromPlaintext: 0,
          skipped: [],
        });
        const bOnly = await open(db, parseFernetKeys(KEY_B));
        expect(await bOnly.getVariable('v1')).toBe('one');
        expect(await bOnly.getVariable('k00249')).toBe('value 249');
        expect(await bOnly.getConnection('c')).toMatchObject({ password: 'pw', extra: '{"x": 1}' });
        await expectCoded(() => old.getVariable('v2'), 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID');
      });

      it('changes nothing when rotation meets a row no key decrypts', async () => {
        const db = await fresh();
        const store = await open(db);
        await store.importVariables(variableEntries(150));
        const stranger = new Fernet(Fernet.generateKey()).encrypt(SECRET);
        await db.exec(`insert into variable (key, val, is_encrypted) values (${placeholders(3)})`, [
          'zz_foreign',
          stranger,
          true,
        ]);
        const before = await db.exec('select key, val from variable order by key');
        const both = await open(db, parseFernetKeys(`${KEY_B},${KEY_A}`));
        const err = await expectCoded(
          () => both.rotateFernetKeys(),
          'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          [SECRET],
        );
        expect(err.message).toContain('`zz_foreign`');
        expect(await db.exec('select key, val from variable order by key')).toEqual(before);
        expect(await store.getVariable('k00000')).toBe('value 0');
      });

      it('reads plaintext rows that Airflow wrote without a key, and rotation encrypts them', async () => {
        const db = await fresh();
        const store = await open(db);
        await db.exec(`insert into variable (key, val, is_encrypted) values (${placeholders(3)})`, [
          'plain_var',
          'in clear',
          false,
        ]);
        await db.exec(
          `insert into connection (conn_id, conn_type, password, extra, is_encrypted, is_extra_encrypted) values (${placeholders(6)})`,
          ['plain_conn', 'http', 'pw-in-clear', '{"k": "v"}', false, false],
        );
        expect(await store.getVariable('plain_var')).toBe('in clear');
        expect((await store.getConnection('plain_conn'))?.password).toBe('pw-in-clear');
        expect(await store.rotateFernetKeys()).toEqual({
          variables: 1,
          connectionFields: 2,
          encryptedFromPlaintext: 3,
          skipped: [],
        });
        const raw = await db.raw();
        expect(raw).not.toContain('in clear');
        expect(raw).not.toContain('pw-in-clear');
        expect(await store.getVariableRecord('plain_var')).toMatchObject({
          value: 'in clear',
          isEncrypted: true,
        });
      });
    });

    describe('imports', () => {
      it('overwrites, skips or fails on existing keys, with counts', async () => {
        const store = await open(await fresh());
        await store.setVariable('k00001', 'kept', { description: 'described' });
        await store.setVariable('k00002', 'kept');
        expect(await store.importVariables(variableEntries(5), { onExisting: 'skip' })).toEqual({
          total: 5,
          created: 3,
          overwritten: 0,
          skipped: 2,
        });
        expect(await store.getVariable('k00001')).toBe('kept');
        const again = variableEntries(6)
          .slice(1)
          .map((e) => (e.key === 'k00001' ? { ...e, value: 'new', description: null } : e));
        expect(await store.importVariables(again, { onExisting: 'overwrite' })).toEqual({
          total: 5,
          created: 1,
          overwritten: 4,
          skipped: 0,
        });
        // An entry without a description keeps the stored one.
        expect(await store.getVariableRecord('k00001')).toMatchObject({
          value: 'new',
          description: 'described',
        });
        const err = await expectCoded(
          () => store.importVariables(variableEntries(10), { onExisting: 'fail' }),
          'AIRLOCK_ERR_STORE_CONFLICT',
        );
        expect(err.message).toContain('line 2'); // the first entry already exists
        expect(await store.getVariable('k00009')).toBeUndefined();
      });

      it('leaves the store as it was when an entry is bad or the source breaks halfway', async () => {
        const db = await fresh();
        const store = await open(db);
        await store.setVariable('existing', 'before');
        const before = await db.exec('select key, val from variable order by key');
        const entries = [
          { key: 'existing', value: 'after', where: 'line 1' },
          ...variableEntries(1_200),
        ];
        const bad = [...entries];
        bad[900] = { key: '', value: 'x', where: '`vars.json` line 902' };
        const err = await expectCoded(
          () => store.importVariables(bad),
          'AIRLOCK_ERR_STORE_KEY_INVALID',
        );
        expect(err.message).toContain('`vars.json` line 902');
        expect(await db.exec('select key, val from variable order by key')).toEqual(before);
        await expect(store.importVariables(fromArray(entries, 1_000))).rejects.toThrow(
          'the source broke halfway',
        );
        expect(await db.exec('select key, val from variable order by key')).toEqual(before);
        expect(await store.getVariable('existing')).toBe('before');
      });

      it('rejects a key given twice in one file', async () => {
        const store = await open(await fresh());
        const err = await expectCoded(
          () =>
            store.importVariables([
              { key: 'a', value: '1', where: 'line 2' },
              { key: 'a', value: '2', where: 'line 3' },
            ]),
          'AIRLOCK_ERR_STORE_IMPORT_INVALID',
        );
        expect(err.message).toBe(
          'line 3: the key `a` is given twice (also at line 2); nothing was imported',
        );
        expect(await store.getVariable('a')).toBeUndefined();
      });

      it('imports Connections, skipping or overwriting existing conn_ids', async () => {
        const store = await open(await fresh());
        await store.addConnection('one', Connection.fromUri('http://old-host', 'one'));
        const entries: ConnectionImportEntry[] = ['one', 'two'].map((id) => ({
          connId: id,
          connection: Connection.fromUri(`postgres://u:pw@${id}-host/db`, id),
          where: `entry \`${id}\``,
        }));
        expect(await store.importConnections(entries)).toEqual({
          total: 2,
          created: 1,
          overwritten: 0,
          skipped: 1,
        });
        expect((await store.getConnection('one'))?.host).toBe('old-host');
        const createdAt = (await store.getConnection('one'))?.createdAt;
        expect(await store.importConnections(entries, { onExisting: 'overwrite' })).toEqual({
          total: 2,
          created: 0,
          overwritten: 2,
          skipped: 0,
        });
        expect(await store.getConnection('one')).toMatchObject({
          host: 'one-host',
          password: 'pw',
          createdAt,
        });
        await expectCoded(
          () => store.importConnections(entries, { onExisting: 'fail' }),
          'AIRLOCK_ERR_STORE_CONFLICT',
        );
      });
    });

    describe('concurrency', () => {
      it('loses no write when separate processes write at once', async () => {
        const db = await fresh();
        // The processes also race to create the schema of the empty database.
        const results = await Promise.all([
          writer(db.url, 'p1', 25, 'set'),
          writer(db.url, 'p2', 25, 'set'),
          writer(db.url, 'p3', 300, 'import'),
        ]);
        for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'ok\n' });
        const store = await open(db);
        const values = new Map<string, string | null>();
        for await (const v of store.variables()) values.set(v.key, v.value);
        expect(values.size).toBe(25 + 25 + 300 + 1);
        for (const [prefix, n] of [
          ['p1', 25],
          ['p2', 25],
          ['p3', 300],
        ] as const) {
          for (let i = 0; i < n; i++) {
            expect(values.get(`${prefix}_${i}`)).toBe(`value-${prefix}-${i}`);
          }
        }
        expect(['p1-24', 'p2-24']).toContain(values.get('shared'));
      }, 120_000);
    });

    describe('the metastore link of the chain', () => {
      it('serves values below the environment, with source metastore', async () => {
        const store = await open(await fresh());
        await store.setVariable('greeting', 'from the metastore');
        await store.setVariable('shadowed', 'metastore copy');
        await store.addConnection(
          'warehouse',
          Connection.fromUri('postgres://u:p%40ss@db:5432/app?sslmode=require', 'warehouse'),
        );
        const resolver = createResolver({
          backends: [
            createEnvBackend({ env: { AIRFLOW_VAR_SHADOWED: 'env copy' } }),
            createMetastoreBackend({ metastore: store }),
          ],
        });
        expect(await resolver.getVariable('greeting')).toMatchObject({
          value: 'from the metastore',
          source: 'metastore',
        });
        expect(await resolver.getVariable('shadowed')).toMatchObject({
          value: 'env copy',
          source: 'env',
        });
        const conn = await resolver.getConnection('warehouse');
        expect(conn?.source).toBe('metastore');
        expect(conn?.value.toDict()).toEqual(
          Connection.fromUri(
            'postgres://u:p%40ss@db:5432/app?sslmode=require',
            'warehouse',
          ).toDict(),
        );
        expect(await resolver.getVariable('absent')).toBeUndefined();
      });

      it('fails the lookup closed when the metastore row cannot be decrypted', async () => {
        const db = await fresh();
        await (await open(db)).setVariable('locked', SECRET);
        const wrong = await open(db, parseFernetKeys(KEY_B));
        const resolver = createResolver({
          backends: [createEnvBackend({ env: {} }), createMetastoreBackend({ metastore: wrong })],
        });
        await expectCoded(
          () => resolver.getVariable('locked'),
          'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
          [SECRET],
        );
        const which = await resolver.which('variable', 'locked');
        expect(which.trace.at(-1)).toMatchObject({
          backend: 'metastore',
          outcome: 'error',
          errorCode: 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
        });
      });
    });
  });
}

/**
 * The shared backend contract for the metastore link, on `databases` (each setup gets its own
 * database and key).
 *
 * @example
 * ```ts
 * runMetastoreBackendContract(sqliteDatabases);
 * ```
 */
export function runMetastoreBackendContract(factory: () => TestDatabases): void {
  runBackendContract({
    name: 'metastore',
    setup: async () => {
      const databases = factory();
      const db = await databases.create();
      const keys = parseFernetKeys(Fernet.generateKey());
      const store = await Metastore.open({ url: db.url, keys });
      const [a, b] = databases.dialect === 'postgres' ? ['$1', '$2'] : ['?', '?'];
      return {
        backend: createMetastoreBackend({ metastore: store }),
        seedVariable: async (key, value) => {
          await store.setVariable(key, value);
        },
        seedConnection: async (connId, value) => {
          const conn =
            typeof value === 'string'
              ? Connection.fromUri(value, connId)
              : Connection.fromFields(value as Parameters<typeof Connection.fromFields>[0], connId);
          await store.addConnection(connId, conn);
        },
        corruptVariable: async (key, secret) => {
          // A value flagged encrypted that is no token of the key (here: the secret in clear).
          const flag = databases.dialect === 'postgres' ? true : 1;
          await db.exec(
            `insert into variable (key, val, is_encrypted) values (${a}, ${b}, ${flag})`,
            [key, secret],
          );
        },
        teardown: async () => {
          await store.close();
          await databases.dispose();
        },
      };
    },
  });
}
