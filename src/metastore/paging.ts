/**
 * @module metastore/paging
 * Reading a table page by page in key order (keyset paging: each page starts after the last key
 * of the one before, so memory stays bounded and a page costs the same at any depth), and what
 * imports share: the lock that serialises them on PostgreSQL.
 */
import { sql, type Transaction } from 'kysely';
import { PAGE_SIZE, type StoreCore } from './core.ts';
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
