/**
 * @module metastore/paging
 * Reading a table page by page in key order (keyset paging: each page starts after the last key
 * of the one before, so memory stays bounded and a page costs the same at any depth), and what
 * imports share: the lock that serialises them on PostgreSQL; and the pieces of a list paged in
 * SQL (`LIMIT`/`OFFSET`, a field order, a case-insensitive search), so that one page costs about
 * the same whatever the table holds and only that page is decrypted.
 */
import {
  type Expression,
  type Kysely,
  type RawBuilder,
  type SqlBool,
  sql,
  type Transaction,
} from 'kysely';
import { CONNECTION_COLUMNS, PAGE_SIZE, type StoreCore, VARIABLE_COLUMNS } from './core.ts';
import type { MetastoreSchema } from './schema.ts';

/**
 * Every row `next` reads, page by page: `next(after)` returns up to {@link PAGE_SIZE} rows
 * ordered by `keyOf`, after the key `after` (from the start when `undefined`).
 */
export async function* keysetPages<R>(
  core: StoreCore,
  action: string,
  next: (after: string | undefined) => Promise<R[]>,
  keyOf: (row: R) => string,
): AsyncGenerator<R[]> {
  let after: string | undefined;
  for (;;) {
    const rows = await core.run(action, () => next(after));
    if (rows.length > 0) yield rows;
    const last = rows.at(-1);
    if (rows.length < PAGE_SIZE || last === undefined) return;
    after = keyOf(last);
  }
}

/**
 * PostgreSQL: imports of one table run one at a time, so that each sees the others' rows and
 * reports true created/overwritten counts (SQLite's `BEGIN IMMEDIATE` already serialises).
 */
export async function lockForImport(
  core: StoreCore,
  trx: Transaction<MetastoreSchema>,
  table: 'variable' | 'connection',
): Promise<void> {
  if (core.dialect !== 'postgres') return;
  // SHARE ROW EXCLUSIVE conflicts with itself and with single writes, not with reads.
  await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(trx);
}

/** One page of a list, as the REST API asks for it. */
export interface PageQuery<F extends string> {
  /** The most rows to return. */
  readonly limit: number;
  /** How many rows of the order to skip. */
  readonly offset: number;
  /** The field to order by (then by the table's key, ascending). @default the table's key */
  readonly orderBy?: F | undefined;
  /** Reverse the order of `orderBy` (ties stay in key order). @default false */
  readonly descending?: boolean | undefined;
  /** Keep only the rows where one of the list's text fields contains this, ignoring case. */
  readonly search?: string | undefined;
  /** What to do with a row of the page that cannot be decrypted. @default 'throw' */
  readonly onUnreadable?: 'throw' | 'mark' | undefined;
}

/** One page of records and how many rows the whole (searched) list holds. */
export interface Page<R> {
  readonly records: R[];
  readonly total: number;
}

/**
 * The SQL order of a text column: `NULL` as the empty string (as the lists always sorted), in
 * code-point order (PostgreSQL's "C" collation; SQLite's BINARY already is).
 */
export function textOrder(core: StoreCore, column: string): RawBuilder<string> {
  return core.dialect === 'postgres'
    ? sql<string>`coalesce(${sql.ref(column)}, '') collate "C"`
    : sql<string>`coalesce(${sql.ref(column)}, '')`;
}

/**
 * Whether one of `columns` contains `search`, ignoring case: `lower(column) LIKE %search%`, with
 * `%`, `_` and `\` in the search taken literally. (SQLite's `lower` folds ASCII letters only.)
 */
export function containsText(columns: readonly string[], search: string): Expression<SqlBool> {
  const pattern = `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`(${sql.join(
    columns.map((c) => sql`lower(coalesce(${sql.ref(c)}, '')) like ${pattern} escape '\\'`),
    sql` or `,
  )})`;
}

/** A table the lists read: its name, its key, the columns a record needs and those searched. */
export interface ListedTable {
  readonly table: 'variable' | 'connection';
  readonly key: 'key' | 'conn_id';
  readonly columns: readonly string[];
  readonly searched: readonly string[];
  /** What a failed read is reported as (`list variables`). */
  readonly action: string;
}

/** The `variable` table as the lists read it. */
export const VARIABLES: ListedTable = {
  table: 'variable',
  key: 'key',
  columns: VARIABLE_COLUMNS,
  searched: ['key', 'description'],
  action: 'list variables',
};

/** The `connection` table as the lists read it. */
export const CONNECTIONS: ListedTable = {
  table: 'connection',
  key: 'conn_id',
  columns: CONNECTION_COLUMNS,
  searched: ['conn_id', 'conn_type', 'host', 'description'],
  action: 'list connections',
};

/** The database as the list helpers see it: one shape for either table. */
type AnyTable = Kysely<Record<string, Record<string, unknown>>>;

/** Every row of `spec.table` (`columns` of it) in key order, page by page (keyset paging). */
export function tableRows<R>(
  core: StoreCore,
  spec: ListedTable,
  columns: readonly string[] = spec.columns,
): AsyncGenerator<R[]> {
  const db = core.db as unknown as AnyTable;
  return keysetPages(
    core,
    spec.action,
    (after) => {
      let query = db.selectFrom(spec.table).select(columns as string[]);
      if (after !== undefined) query = query.where(core.ordered(spec.key), '>', after);
      return query.orderBy(core.ordered(spec.key)).limit(PAGE_SIZE).execute() as Promise<R[]>;
    },
    (row) => (row as Record<string, string>)[spec.key] as string,
  );
}

/**
 * One page of `spec.table` in SQL: `LIMIT`/`OFFSET` in `query.orderBy` order (then key order),
 * searched in `spec.searched`, with the number of (searched) rows by `COUNT(*)`.
 */
export async function tablePage<R>(
  core: StoreCore,
  spec: ListedTable,
  query: PageQuery<string>,
): Promise<{ rows: R[]; total: number }> {
  const db = core.db as unknown as AnyTable;
  let base = db.selectFrom(spec.table);
  if (query.search) base = base.where(containsText(spec.searched, query.search));
  const direction = query.descending ? 'desc' : 'asc';
  let rows = base.select(spec.columns as string[]);
  rows =
    query.orderBy === undefined || query.orderBy === spec.key
      ? rows.orderBy(core.ordered(spec.key), direction)
      : rows.orderBy(textOrder(core, query.orderBy), direction).orderBy(core.ordered(spec.key));
  const [page, count] = await core.run(spec.action, () =>
    Promise.all([
      rows.limit(query.limit).offset(query.offset).execute() as Promise<R[]>,
      base.select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirst(),
    ]),
  );
  return { rows: page, total: Number(count?.n ?? 0) };
}
