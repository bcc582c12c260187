/**
 * Fresh, empty databases for the metastore tests: SQLite files in a temp folder, and PostgreSQL
 * schemas with random names in the `test` database of the server every machine runs
 * (127.0.0.1:5432, user `postgres`, trust auth). Each test file gets its own schemas and drops
 * them when it ends, so test files running in parallel never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { tempDir } from '../helpers/tmp.ts';

/** One empty database. */
export interface TestDatabase {
  /** The metastore URL. */
  readonly url: string;
  /** Runs SQL statements on the database, outside airlock (as another tool would). */
  exec(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Everything the database holds at rest, as text: the file bytes, or every table's rows. */
  raw(): Promise<string>;
}

/** Makes fresh databases of one kind. */
export interface TestDatabases {
  readonly dialect: 'sqlite' | 'postgres';
  create(): Promise<TestDatabase>;
  /** Drops everything created. */
  dispose(): Promise<void>;
}

/** SQLite files in a temporary folder (removed when the test file ends). */
export function sqliteDatabases(): TestDatabases {
  const dir = tempDir('airlock-metastore-');
  let n = 0;
  return {
    dialect: 'sqlite',
    async create() {
      n++;
      const path = join(dir, `store-${n}.db`);
      return {
        url: `sqlite:///${path}`,
        async exec(sql, params = []) {
          const db = new DatabaseSync(path, { timeout: 10_000 });
          try {
            const statement = db.prepare(sql);
            const bound = params as never[];
            if (statement.columns().length > 0) {
              return statement.all(...bound) as Record<string, unknown>[];
            }
            statement.run(...bound);
            return [];
          } finally {
            db.close();
          }
        },
        async raw() {
          // The main file and the write-ahead log: a value is at rest in either.
          return [path, `${path}-wal`]
            .filter((p) => existsSync(p))
            .map((p) => readFileSync(p).toString('latin1'))
            .join('\n');
        },
      };
    },
    async dispose() {},
  };
}

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

/** The URL of the PostgreSQL test server, in schema `schema`. */
export function postgresUrl(schema: string): string {
  return `postgresql://${PG.user}@${PG.host}:${PG.port}/${PG.database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/**
 * PostgreSQL schemas with random names in the `test` database. Fails (never skips) with a clear
 * message when the server is not there.
 */
export function postgresDatabases(): TestDatabases {
  const admin = new pg.Client({ ...PG, connectionTimeoutMillis: 5_000 });
  let connected: Promise<void> | undefined;
  const schemas: string[] = [];
  const connect = () => {
    connected ??= admin.connect().then(
      () => undefined,
      (err: unknown) => {
        throw new Error(
          `the PostgreSQL metastore tests need a server at ${PG.host}:${PG.port} (user ${PG.user}, trust auth, database ${PG.database}); .ci/run starts it (pg_ctlcluster … main start). Connecting failed: ${(err as Error).message}`,
        );
      },
    );
    return connected;
  };
  return {
    dialect: 'postgres',
    async create() {
      await connect();
      const schema = `airlock_test_${randomBytes(6).toString('hex')}`;
      await admin.query(`create schema ${schema}`);
      schemas.push(schema);
      return {
        url: postgresUrl(schema),
        async exec(sql, params = []) {
          const client = new pg.Client({ ...PG, options: `-c search_path=${schema}` });
          await client.connect();
          try {
            return (await client.query(sql, params)).rows as Record<string, unknown>[];
          } finally {
            await client.end();
          }
        },
        async raw() {
          const { rows } = await admin.query<{ t: string }>(
            `select table_name as t from information_schema.tables where table_schema = $1`,
            [schema],
          );
          const parts: string[] = [];
          for (const { t } of rows) {
            const dump = await admin.query<{ row: string }>(
              `select row_to_json(x)::text as row from ${schema}."${t}" x`,
            );
            parts.push(...dump.rows.map((r) => r.row));
          }
          return parts.join('\n');
        },
      };
    },
    async dispose() {
      if (!connected) return;
      await connected.catch(() => {});
      for (const schema of schemas) {
        await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
      }
      await admin.end().catch(() => {});
    },
  };
}
