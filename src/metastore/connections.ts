/**
 * @module metastore/connections
 * Connections in the metastore: read and decrypted (password and extra), added encrypted,
 * listed page by page in conn_id order, imported in one transaction.
 */
import { AirlockError } from '../errors.ts';
import type { Connection } from '../model/connection.ts';
import {
  CONNECTION_COLUMNS,
  type ConnectionRow,
  checkWellFormed,
  type StoreCore,
  toIso,
} from './core.ts';
import { checkKeys } from './key-check.ts';
import {
  CONNECTIONS,
  lockForImport,
  type Page,
  type PageQuery,
  tablePage,
  tableRows,
} from './paging.ts';
import { ID_MAX_LENGTH } from './schema.ts';
import { connectionExists, fromSource } from './store-errors.ts';
import type {
  ConnectionImportEntry,
  ConnectionRecord,
  ImportOptions,
  ImportReport,
  ListOptions,
} from './types.ts';

/** A Connection row, decrypted. */
export function connectionRecord(
  core: StoreCore,
  row: ConnectionRow,
  remember = false,
): ConnectionRecord {
  const details = { table: 'connection', conn_id: row.conn_id };
  const isEncrypted = Boolean(row.is_encrypted);
  const isExtraEncrypted = Boolean(row.is_extra_encrypted);
  const password =
    row.password && isEncrypted
      ? core.decrypt(
          row.password,
          `the password of connection \`${row.conn_id}\``,
          details,
          remember,
        )
      : row.password;
  const extra =
    row.extra && isExtraEncrypted
      ? core.decrypt(row.extra, `the extra of connection \`${row.conn_id}\``, details, remember)
      : row.extra;
  return {
    connId: row.conn_id,
    connType: row.conn_type,
    description: row.description,
    host: row.host,
    login: row.login,
    password,
    schema: row.schema,
    port: row.port === null ? null : Number(row.port),
    extra,
    isEncrypted,
    isExtraEncrypted,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

/** A Connection row, or (`mark`) the row with its secrets `null` and why it cannot be read. */
function listedConnection(core: StoreCore, row: ConnectionRow, mark: boolean): ConnectionRecord {
  return mark
    ? core.marked(
        () => connectionRecord(core, row),
        (unreadable) => ({
          ...connectionRecord(core, { ...row, password: null, extra: null }),
          unreadable,
        }),
      )
    : connectionRecord(core, row);
}

/** The row a Connection is stored as, password and extra encrypted; the conn_id checked. */
function connectionValues(core: StoreCore, connId: string, conn: Connection, where: string) {
  if (typeof connId !== 'string' || connId === '' || [...connId].length > ID_MAX_LENGTH) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONN_ID_INVALID',
      `${where}: the conn_id must be 1 to ${ID_MAX_LENGTH} characters`,
    );
  }
  for (const [field, text] of [
    ['conn_type', conn.connType],
    ['description', conn.description],
    ['host', conn.host],
    ['schema', conn.schema],
    ['login', conn.login],
    ['password', conn.password],
    ['extra', conn.extra],
  ] as const) {
    checkWellFormed(text, `${where}: the ${field}`);
  }
  const now = new Date().toISOString();
  // As Airflow's setters: only a non-empty password or extra is stored (and encrypted).
  const password = conn.password ? core.encrypt(conn.password) : null;
  const extra = conn.extra ? core.encrypt(conn.extra) : null;
  return {
    conn_id: connId,
    conn_type: conn.connType ?? '',
    description: conn.description,
    host: conn.host,
    schema: conn.schema,
    login: conn.login,
    password,
    port: conn.port,
    extra,
    is_encrypted: password !== null,
    is_extra_encrypted: extra !== null,
    created_at: now,
    updated_at: now,
  };
}

/** A Connection's row, decrypted, or `undefined`. */
export async function getConnection(
  core: StoreCore,
  connId: string,
): Promise<ConnectionRecord | undefined> {
  // Prepared once, as the Variable read is: the API's connection GET makes one query.
  const row = await core.first<ConnectionRow>(
    'connection_get',
    (db) => db.selectFrom('connection').select(CONNECTION_COLUMNS).where('conn_id', '=', ''),
    [connId],
    `read connection \`${connId}\``,
  );
  return row ? connectionRecord(core, row, true) : undefined;
}

/** Adds a Connection; an existing conn_id is refused. */
export async function addConnection(
  core: StoreCore,
  connId: string,
  connection: Connection,
): Promise<void> {
  const values = connectionValues(core, connId, connection, `connection \`${connId}\``);
  await core.write(`add connection \`${connId}\``, async (trx) => {
    await checkKeys(core, trx);
    const existing = await trx
      .selectFrom('connection')
      .select('id')
      .where('conn_id', '=', connId)
      .executeTakeFirst();
    if (existing) throw connectionExists(connId);
    await trx.insertInto('connection').values(values).execute();
  });
}

/** Deletes a Connection; whether it existed. */
export async function deleteConnection(core: StoreCore, connId: string): Promise<boolean> {
  const result = await core.run(`delete connection \`${connId}\``, () =>
    core.db.deleteFrom('connection').where('conn_id', '=', connId).executeTakeFirst(),
  );
  return Number(result.numDeletedRows) > 0;
}

/** Every Connection, decrypted, in conn_id order, page by page. */
export async function* connections(
  core: StoreCore,
  options: ListOptions = {},
): AsyncGenerator<ConnectionRecord> {
  const mark = options.onUnreadable === 'mark';
  for await (const rows of tableRows<ConnectionRow>(core, CONNECTIONS)) {
    for (const row of rows) yield listedConnection(core, row, mark);
  }
}

/** The fields a Connection list orders by. */
export type ConnectionOrder = 'conn_id' | 'conn_type' | 'host' | 'description';

/**
 * One page of Connections in SQL (`LIMIT`/`OFFSET`, the total by `COUNT(*)`), searched in the
 * conn_id, type, host and description; only the page's rows are decrypted.
 */
export async function listConnections(
  core: StoreCore,
  query: PageQuery<ConnectionOrder>,
): Promise<Page<ConnectionRecord>> {
  const { rows, total } = await tablePage<ConnectionRow>(core, CONNECTIONS, query);
  const mark = query.onUnreadable === 'mark';
  return { records: rows.map((row) => listedConnection(core, row, mark)), total };
}

/** Imports Connections in one transaction (see `Metastore.importConnections`). */
export async function importConnections(
  core: StoreCore,
  entries: Iterable<ConnectionImportEntry> | AsyncIterable<ConnectionImportEntry>,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const action = options.onExisting ?? 'skip';
  core.requireKeys();
  return core.write('import connections', async (trx) => {
    await checkKeys(core, trx);
    await lockForImport(core, trx, 'connection');
    const report = { total: 0, created: 0, overwritten: 0, skipped: 0 };
    const seen = new Map<string, string>();
    for await (const entry of fromSource(entries)) {
      report.total++;
      const earlier = seen.get(entry.connId);
      if (earlier !== undefined) {
        throw new AirlockError(
          'AIRLOCK_ERR_STORE_IMPORT_INVALID',
          `${entry.where}: the conn_id \`${entry.connId}\` is given twice (also at ${earlier}); nothing was imported`,
          { details: { conn_id: entry.connId } },
        );
      }
      seen.set(entry.connId, entry.where);
      const values = connectionValues(core, entry.connId, entry.connection, entry.where);
      const existing = await trx
        .selectFrom('connection')
        .select('id')
        .where('conn_id', '=', entry.connId)
        .executeTakeFirst();
      if (!existing) {
        await trx.insertInto('connection').values(values).execute();
        report.created++;
      } else if (action === 'overwrite') {
        const { created_at: _kept, ...update } = values;
        await trx.updateTable('connection').set(update).where('id', '=', existing.id).execute();
        report.overwritten++;
      } else if (action === 'skip') {
        report.skipped++;
      } else {
        throw new AirlockError(
          'AIRLOCK_ERR_STORE_CONFLICT',
          `${entry.where}: connection \`${entry.connId}\` already exists in the metastore; nothing was imported (use --overwrite)`,
          { details: { conn_id: entry.connId } },
        );
      }
      options.onProgress?.(report.total);
    }
    return report;
  });
}
