/**
 * @module metastore/migrations/0001-initial
 * The `variable` and `connection` tables, shaped as Airflow's (so an Airflow metadata database
 * and airlock's read each other's rows), plus `created_at` / `updated_at`.
 *
 * Pointed at an existing Airflow metadata database (`AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`), the
 * tables already exist: they are kept as they are, and only the two timestamp columns are added
 * (nullable, so Airflow's own inserts keep working).
 */
// biome-ignore-all lint/suspicious/noExplicitAny: migrations run on an untyped Kysely<any>.
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { columnsOf, dialectOf, tableExists } from './_helpers.ts';

async function addTimestamps(db: Kysely<any>, table: string): Promise<void> {
  const columns = await columnsOf(db, table);
  const type = dialectOf(db) === 'sqlite' ? 'text' : 'timestamptz';
  for (const column of ['created_at', 'updated_at']) {
    if (!columns.has(column)) {
      await db.schema.alterTable(table).addColumn(column, sql.raw(type)).execute();
    }
  }
}

/** The initial schema. */
export const initial: Migration = {
  async up(db) {
    const sqlite = dialectOf(db) === 'sqlite';
    // SQLite keeps ISO-8601 text (the same form airlock writes); PostgreSQL a timestamptz.
    const timestamp = sqlite ? sql.raw('text') : sql.raw('timestamptz');
    const now = sqlite ? sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))` : sql`now()`;
    const id = (table: string) =>
      db.schema
        .createTable(table)
        .addColumn('id', sqlite ? 'integer' : 'serial', (c) =>
          sqlite ? c.primaryKey().autoIncrement() : c.primaryKey(),
        );

    if (await tableExists(db, 'variable')) {
      await addTimestamps(db, 'variable');
    } else {
      await id('variable')
        .addColumn('key', 'varchar(250)', (c) => c.notNull().unique())
        .addColumn('val', 'text')
        .addColumn('description', 'text')
        .addColumn('is_encrypted', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', timestamp, (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', timestamp, (c) => c.notNull().defaultTo(now))
        .execute();
    }

    if (await tableExists(db, 'connection')) {
      await addTimestamps(db, 'connection');
    } else {
      await id('connection')
        .addColumn('conn_id', 'varchar(250)', (c) => c.notNull().unique())
        .addColumn('conn_type', 'varchar(500)', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('host', 'varchar(500)')
        .addColumn('schema', 'varchar(500)')
        .addColumn('login', 'text')
        .addColumn('password', 'text')
        .addColumn('port', 'integer')
        .addColumn('extra', 'text')
        .addColumn('is_encrypted', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('is_extra_encrypted', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', timestamp, (c) => c.notNull().defaultTo(now))
        .addColumn('updated_at', timestamp, (c) => c.notNull().defaultTo(now))
        .execute();
    }
  },
};
