/**
 * @module metastore/migrations/_helpers
 * What migrations need to know about the database they run on.
 */
// biome-ignore-all lint/suspicious/noExplicitAny: migrations run on an untyped Kysely<any>.
import { type Kysely, SqliteAdapter, sql } from 'kysely';

/** The two database families the metastore runs on. */
export type DialectName = 'sqlite' | 'postgres';

/** Which family `db` talks to. */
export function dialectOf(db: Kysely<any>): DialectName {
  return db.getExecutor().adapter instanceof SqliteAdapter ? 'sqlite' : 'postgres';
}

/** Whether `table` exists (in PostgreSQL: in the current schema, the first of `search_path`). */
export async function tableExists(db: Kysely<any>, table: string): Promise<boolean> {
  if (dialectOf(db) === 'sqlite') {
    const { rows } = await sql<{ n: number }>`
      select count(*) as n from sqlite_master where type = 'table' and name = ${table}`.execute(db);
    return Number(rows[0]?.n ?? 0) > 0;
  }
  const { rows } = await sql<{ n: string }>`
    select count(*) as n from information_schema.tables
    where table_schema = current_schema() and table_name = ${table}`.execute(db);
  return Number(rows[0]?.n ?? 0) > 0;
}

/** The column names of `table`. */
export async function columnsOf(db: Kysely<any>, table: string): Promise<Set<string>> {
  if (dialectOf(db) === 'sqlite') {
    const { rows } = await sql<{ name: string }>`
      select name from pragma_table_info(${table})`.execute(db);
    return new Set(rows.map((r) => r.name));
  }
  const { rows } = await sql<{ name: string }>`
    select column_name as name from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}`.execute(db);
  return new Set(rows.map((r) => r.name));
}
