/**
 * @module metastore/variables
 * Variables in the metastore: read and decrypted, written encrypted, listed page by page in key
 * order, imported in one transaction.
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { AirlockError } from '../errors.ts';
import {
  checkKey,
  checkWellFormed,
  INSERT_BATCH,
  type StoreCore,
  toIso,
  VARIABLE_COLUMNS,
  type VariableRow,
} from './core.ts';
import { checkKeys, keysChecked } from './key-check.ts';
import {
  lockForImport,
  type Page,
  type PageQuery,
  tablePage,
  tableRows,
  VARIABLES,
} from './paging.ts';
import type { MetastoreSchema } from './schema.ts';
import { fromSource } from './store-errors.ts';
import type {
  ExistingKeyAction,
  ImportOptions,
  ImportReport,
  ListOptions,
  VariableImportEntry,
  VariableRecord,
} from './types.ts';

/** A Variable row, decrypted. */
export function variableRecord(
  core: StoreCore,
  row: VariableRow,
  remember = false,
): VariableRecord {
  const isEncrypted = Boolean(row.is_encrypted);
  // Airflow: a NULL value is no value; an encrypted empty string is not possible (a token
  // is never empty), so only a non-empty value is decrypted.
  const value =
    row.val !== null && row.val !== '' && isEncrypted
      ? core.decrypt(
          row.val,
          `the value of variable \`${row.key}\``,
          { table: 'variable', key: row.key },
          remember,
        )
      : row.val;
  return {
    key: row.key,
    value,
    description: row.description,
    isEncrypted,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

/** A Variable row, or (`mark`) the row with its value `null` and why it cannot be read. */
function listedVariable(core: StoreCore, row: VariableRow, mark: boolean): VariableRecord {
  return mark
    ? core.marked(
        () => variableRecord(core, row),
        (unreadable) => ({ ...variableRecord(core, { ...row, val: null }), unreadable }),
      )
    : variableRecord(core, row);
}

/** A Variable's row, decrypted, or `undefined`. */
export async function getVariableRecord(
  core: StoreCore,
  key: string,
): Promise<VariableRecord | undefined> {
  // Prepared once: the API's variable GET makes this one query per request.
  const row = await core.first<VariableRow>(
    'variable_get',
    (db) => db.selectFrom('variable').select(VARIABLE_COLUMNS).where('key', '=', ''),
    [key],
    `read variable \`${key}\``,
  );
  return row ? variableRecord(core, row, true) : undefined;
}

/** The last timestamp a write of this process used (writes get strictly increasing ones). */
let lastWrite = '';

/**
 * Now, as ISO text, later than any earlier write of this process: a row's `created_at` equal to
 * the write's own timestamp then means that this write created it.
 */
function writeTime(): string {
  let now = new Date().toISOString();
  if (now <= lastWrite) now = new Date(Date.parse(lastWrite) + 1).toISOString();
  lastWrite = now;
  return now;
}

/**
 * The one statement that stores a Variable: `INSERT … ON CONFLICT (key) DO UPDATE … RETURNING`
 * whether it inserted (PostgreSQL: `xmax = 0`, a new row version; SQLite: `created_at` is this
 * write's own timestamp, which no earlier write of the process used).
 */
async function upsertVariable(
  core: StoreCore,
  db: Kysely<MetastoreSchema>,
  key: string,
  token: string,
  description: string | null | undefined,
): Promise<'created' | 'updated'> {
  const now = writeTime();
  const withDescription = description !== undefined && description !== null;
  // `slot` names a value: the statement is built from placeholders (prepared once, see below)
  // or, inside a transaction, from the values themselves.
  const statement = (slot: (name: 'key' | 'val' | 'description' | 'now') => string) => {
    const inserted =
      core.dialect === 'postgres'
        ? sql<boolean>`(xmax = 0)`
        : sql<boolean>`(created_at = ${slot('now')})`;
    return db
      .insertInto('variable')
      .values({
        key: slot('key'),
        val: slot('val'),
        description: withDescription ? slot('description') : null,
        is_encrypted: true,
        created_at: slot('now'),
        updated_at: slot('now'),
      })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          val: slot('val'),
          is_encrypted: true,
          updated_at: slot('now'),
          ...(withDescription ? { description: slot('description') } : {}),
        }),
      )
      .returning(inserted.as('inserted'));
  };
  const values = { key, val: token, description, now };
  // Outside a transaction the statement is built and compiled once per process and prepared
  // once per connection: a write then only binds its values.
  const row =
    db === core.db
      ? await core.prepared<{ inserted: unknown }>(
          withDescription ? 'variable_upsert_described' : 'variable_upsert',
          statement,
          values,
        )
      : await statement((name) => values[name] as string).executeTakeFirstOrThrow();
  if (!row) throw new Error('the upsert returned no row');
  return row.inserted === true || Number(row.inserted) === 1 ? 'created' : 'updated';
}

/**
 * Stores a Variable, encrypted (see `Metastore.setVariable`): one statement once this process's
 * keys passed the key check; the first write checks them in the same transaction.
 */
export async function setVariable(
  core: StoreCore,
  key: string,
  value: string,
  options: { description?: string | null | undefined } = {},
): Promise<'created' | 'updated'> {
  checkKey(key, `variable \`${key}\``);
  checkWellFormed(value, `the value of variable \`${key}\``);
  checkWellFormed(options.description, `the description of variable \`${key}\``);
  const token = core.encrypt(value);
  const action = `write variable \`${key}\``;
  if (keysChecked(core)) {
    return core.run(action, () => upsertVariable(core, core.db, key, token, options.description));
  }
  return core.write(action, async (trx) => {
    await checkKeys(core, trx);
    return upsertVariable(core, trx, key, token, options.description);
  });
}

/** Deletes a Variable; whether it existed. */
export async function deleteVariable(core: StoreCore, key: string): Promise<boolean> {
  const result = await core.run(`delete variable \`${key}\``, () =>
    core.db.deleteFrom('variable').where('key', '=', key).executeTakeFirst(),
  );
  return Number(result.numDeletedRows) > 0;
}

/** The keys of every Variable, in code-point order (nothing is decrypted). */
export async function listVariableKeys(core: StoreCore): Promise<string[]> {
  const rows = await core.run('list variables', () =>
    core.db.selectFrom('variable').select('key').orderBy(core.ordered('key')).execute(),
  );
  return rows.map((r) => r.key);
}

/** Every Variable, decrypted, in key order, read page by page. */
export async function* variables(
  core: StoreCore,
  options: ListOptions = {},
): AsyncGenerator<VariableRecord> {
  for await (const page of variablePages(core, options)) yield* page;
}

/** Every Variable in key order, a page (of up to `PAGE_SIZE`) at a time: for bulk readers. */
export async function* variablePages(
  core: StoreCore,
  options: ListOptions = {},
): AsyncGenerator<VariableRecord[]> {
  const mark = options.onUnreadable === 'mark';
  for await (const rows of tableRows<VariableRow>(core, VARIABLES)) {
    yield rows.map((row) => listedVariable(core, row, mark));
  }
}

/** The fields a Variable list orders by. */
export type VariableOrder = 'key' | 'description';

/**
 * One page of Variables in SQL (`LIMIT`/`OFFSET`, the total by `COUNT(*)`), searched in the key
 * and the description; only the page's rows are decrypted.
 */
export async function listVariables(
  core: StoreCore,
  query: PageQuery<VariableOrder>,
): Promise<Page<VariableRecord>> {
  const { rows, total } = await tablePage<VariableRow>(core, VARIABLES, query);
  const mark = query.onUnreadable === 'mark';
  return { records: rows.map((row) => listedVariable(core, row, mark)), total };
}

/** What one batch of an import did. */
type BatchCounts = { created: number; overwritten: number; skipped: number };

/** Writes one batch of an import (keys already checked), as `action` says. */
async function importBatch(
  core: StoreCore,
  trx: Transaction<MetastoreSchema>,
  batch: readonly VariableImportEntry[],
  action: ExistingKeyAction,
): Promise<BatchCounts> {
  const existing = new Set(
    (
      await trx
        .selectFrom('variable')
        .select('key')
        .where(
          'key',
          'in',
          batch.map((e) => e.key),
        )
        .execute()
    ).map((r) => r.key),
  );
  if (action === 'fail' && existing.size > 0) {
    const entry = batch.find((e) => existing.has(e.key));
    throw new AirlockError(
      'AIRLOCK_ERR_STORE_CONFLICT',
      `${entry?.where}: variable \`${entry?.key}\` already exists in the metastore; nothing was imported (use -a overwrite or -a skip)`,
      { details: { key: entry?.key ?? '' } },
    );
  }
  const now = new Date().toISOString();
  const rows = batch
    .filter((e) => action !== 'skip' || !existing.has(e.key))
    .map((e) => ({
      key: e.key,
      val: core.encrypt(e.value),
      description: e.description ?? null,
      is_encrypted: true,
      created_at: now,
      updated_at: now,
    }));
  if (action === 'skip') {
    let created = 0;
    if (rows.length > 0) {
      const result = await trx
        .insertInto('variable')
        .values(rows)
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      created = Number(result.numInsertedOrUpdatedRows ?? BigInt(rows.length));
    }
    return { created, overwritten: 0, skipped: batch.length - created };
  }
  if (rows.length > 0) {
    await trx
      .insertInto('variable')
      .values(rows)
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          val: (eb) => eb.ref('excluded.val'),
          is_encrypted: true,
          updated_at: now,
          description: sql<string | null>`coalesce(excluded.description, variable.description)`,
        }),
      )
      .execute();
  }
  return { created: rows.length - existing.size, overwritten: existing.size, skipped: 0 };
}

/** Imports Variables in one transaction (see `Metastore.importVariables`). */
export async function importVariables(
  core: StoreCore,
  entries: AsyncIterable<VariableImportEntry> | Iterable<VariableImportEntry>,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const action = options.onExisting ?? 'overwrite';
  core.requireKeys();
  return core.write('import variables', async (trx) => {
    await checkKeys(core, trx);
    await lockForImport(core, trx, 'variable');
    const seen = new Map<string, string>();
    const report = { total: 0, created: 0, overwritten: 0, skipped: 0 };
    let batch: VariableImportEntry[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const counts = await importBatch(core, trx, batch, action);
      batch = [];
      report.created += counts.created;
      report.overwritten += counts.overwritten;
      report.skipped += counts.skipped;
    };
    for await (const entry of fromSource(entries)) {
      checkKey(entry.key, entry.where);
      checkWellFormed(entry.value, `${entry.where}: the value of \`${entry.key}\``);
      checkWellFormed(entry.description, `${entry.where}: the description of \`${entry.key}\``);
      const earlier = seen.get(entry.key);
      if (earlier !== undefined) {
        throw new AirlockError(
          'AIRLOCK_ERR_STORE_IMPORT_INVALID',
          `${entry.where}: the key \`${entry.key}\` is given twice (also at ${earlier}); nothing was imported`,
          { details: { key: entry.key } },
        );
      }
      seen.set(entry.key, entry.where);
      batch.push(entry);
      report.total++;
      if (batch.length >= INSERT_BATCH) await flush();
      options.onProgress?.(report.total);
    }
    await flush();
    return report;
  });
}
