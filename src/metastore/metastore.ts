/**
 * @module metastore/metastore
 * The metastore: Variables and Connections kept in a SQL database (SQLite or PostgreSQL),
 * encrypted at rest with Fernet exactly as Airflow encrypts its metadata database, so that a row
 * written here decrypts in Airflow with the same `fernet_key`, and the reverse.
 *
 * What is encrypted is what Airflow encrypts: a Variable's value, a Connection's password and
 * extra. airlock never writes one of them in plaintext; it reads plaintext rows that Airflow
 * wrote without a key (`is_encrypted = false`) and `rotateFernetKeys` encrypts them.
 *
 * Every change of several rows (an import, a key rotation) is one transaction. No message
 * produced here contains a value, a password, an extra, a token or a database password: database
 * errors are reduced to their codes.
 *
 * The {@link Metastore} class is the facade; the work is done in `variables.ts`,
 * `connections.ts`, `key-check.ts`, `rotation.ts`, `paging.ts` and `schema-version.ts`, over
 * the state they share (`core.ts`).
 */
import { Kysely, sql, type Transaction } from 'kysely';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { Connection } from '../model/connection.ts';
import type { ConnectionOrder } from './connections.ts';
import * as connections from './connections.ts';
import { StoreCore } from './core.ts';
import { type DatabaseTarget, parseDatabaseUrl, redactDatabaseUrl } from './database-url.ts';
import { createDialect, type PreparedReads } from './dialects.ts';
import type { MultiFernet } from './fernet.ts';
import * as keyCheck from './key-check.ts';
import type { DialectName } from './migrations/_helpers.ts';
import type { Page, PageQuery } from './paging.ts';
import { rotateFernetKeys } from './rotation.ts';
import type { MetastoreSchema } from './schema.ts';
import { migrate, schemaStatus, unknownMigrations } from './schema-version.ts';
import { classify } from './store-errors.ts';
import type {
  ConnectionImportEntry,
  ConnectionRecord,
  ImportOptions,
  ImportReport,
  ListOptions,
  MetastoreOpenOptions,
  MigrationReport,
  RotationOptions,
  RotationReport,
  SchemaStatus,
  VariableImportEntry,
  VariableRecord,
} from './types.ts';
import type { VariableOrder } from './variables.ts';
import * as variables from './variables.ts';

export type { ConnectionOrder } from './connections.ts';
export type { Page, PageQuery } from './paging.ts';
export { unreadableRowsError } from './store-errors.ts';
export type * from './types.ts';
export type { VariableOrder } from './variables.ts';

/** Opens the database of `options` and checks that it answers (one query). */
async function connect(options: MetastoreOpenOptions): Promise<StoreCore> {
  const target = parseDatabaseUrl(options.url, options.cwd);
  const url = redactDatabaseUrl(options.url);
  let db: Kysely<MetastoreSchema> | undefined;
  let reads: PreparedReads | undefined;
  let schema: string | undefined;
  try {
    const opened = await createDialect(
      target,
      options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs },
    );
    reads = opened.reads;
    db = new Kysely<MetastoreSchema>({ dialect: opened.dialect });
    // Kysely connects lazily; one query now makes a bad URL fail here, with its code.
    if (target.kind === 'postgres') {
      const { rows } = await sql<{
        schema: string | null;
      }>`select current_schema() as schema`.execute(db);
      const current = rows[0]?.schema;
      if (!current) {
        throw new AirlockError(
          'AIRLOCK_ERR_STORE_UNAVAILABLE',
          `metastore (${url}): no schema of the search_path exists`,
          { details: { database: url } },
        );
      }
      schema = current;
    } else {
      await sql`select 1`.execute(db);
    }
  } catch (err) {
    await db?.destroy().catch(() => {});
    if (isAirlockError(err)) throw err;
    const { reason } = classify(err);
    throw new AirlockError(
      'AIRLOCK_ERR_STORE_UNAVAILABLE',
      `metastore (${url}): cannot open the database: ${reason}`,
      { details: { database: url } },
    );
  }
  const dialect = target.kind === 'sqlite' ? 'sqlite' : 'postgres';
  return new StoreCore(db, reads, dialect, url, schema, options.keys);
}

/**
 * The encrypted metastore over a SQLite file or a PostgreSQL database.
 *
 * @example
 * ```ts
 * const store = await Metastore.open({ url: 'sqlite:////tmp/airlock.db', keys: parseFernetKeys(key) });
 * await store.setVariable('bucket', 's3://data');
 * await store.getVariable('bucket'); // 's3://data'
 * await store.close();
 * ```
 */
export class Metastore {
  readonly #core: StoreCore;
  #migrated: readonly string[] = [];
  #closed = false;
  /** Where the database is (with its password): for the signal listeners only. */
  #target: DatabaseTarget | undefined;

  private constructor(core: StoreCore) {
    this.#core = core;
  }

  /**
   * Opens the database, checks that it answers, and (unless `migrate: false`) applies pending
   * migrations.
   *
   * @throws AirlockError `AIRLOCK_ERR_STORE_UNAVAILABLE` (cannot open or connect),
   *   `AIRLOCK_ERR_MIGRATION_UNKNOWN` (a newer airlock migrated it), `AIRLOCK_ERR_MIGRATION_FAILED`.
   * @example
   * ```ts
   * const store = await Metastore.open({ url: config.database.url, keys });
   * ```
   */
  static async open(options: MetastoreOpenOptions): Promise<Metastore> {
    const store = new Metastore(await connect(options));
    try {
      if (options.migrate ?? true) {
        const status = await store.schemaStatus();
        if (status.unknown.length > 0) throw unknownMigrations(store.url, status.unknown);
        if (status.pending.length > 0) {
          const report = await store.migrate();
          if (report.error) throw report.error;
          store.#migrated = report.applied;
        }
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    store.#target = parseDatabaseUrl(options.url, options.cwd);
    return store;
  }

  /**
   * Calls `onSignal` when another process signals `channel` on this database (PostgreSQL
   * `LISTEN` on its own connection, a watched file next to a SQLite database): see
   * `metastore/signals.ts`. Close it before the metastore.
   */
  async listen(
    channel: string,
    onSignal: () => void,
    options?: import('./signals.ts').ListenOptions,
  ): Promise<import('./signals.ts').SignalListener> {
    const { listenForSignals } = await import('./signals.ts');
    if (!this.#target) return { close: async () => {} };
    return listenForSignals(this.#target, channel, onSignal, options);
  }

  /**
   * Signals `channel` to the listeners of this database: on PostgreSQL `pg_notify` in `trx` (sent
   * at its commit), on SQLite a rewrite of the signal file, which the caller does after the
   * commit (`afterCommit`).
   */
  async signal(trx: Kysely<never> | Transaction<never>, channel: string): Promise<() => void> {
    if (this.#core.dialect === 'postgres') {
      await sql`select pg_notify(${channel}, '')`.execute(trx);
      return () => {};
    }
    const target = this.#target;
    if (!target) return () => {};
    const { signalFile, touchSignalFile } = await import('./signals.ts');
    const path = signalFile(target, channel);
    return path === undefined ? () => {} : () => touchSignalFile(path);
  }

  /** The database URL, password redacted. */
  get url(): string {
    return this.#core.url;
  }

  /** `sqlite` or `postgres`. */
  get dialect(): DialectName {
    return this.#core.dialect;
  }

  /** The migrations {@link Metastore.open} applied (empty when the schema was current). */
  get migrated(): readonly string[] {
    return this.#migrated;
  }

  /**
   * The Kysely handle, for modules that keep their own tables in this database (the server's
   * users, sessions and settings). They must not touch `variable` / `connection` directly.
   *
   * @example
   * ```ts
   * await store.kysely.selectFrom('variable').select('key').execute();
   * ```
   */
  get kysely(): Kysely<MetastoreSchema> {
    return this.#core.db;
  }

  /**
   * The Fernet keys (newest first), for modules that encrypt their own columns.
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` when none is configured.
   * @example
   * ```ts
   * const token = store.fernet.encrypt('value');
   * ```
   */
  get fernet(): MultiFernet {
    return this.#core.requireKeys();
  }

  /** Whether Fernet keys are set (writes need them). */
  get hasKeys(): boolean {
    return this.#core.keys !== undefined;
  }

  /**
   * Sets the Fernet keys (newest first), for example after generating the first key.
   *
   * @example
   * ```ts
   * store.useKeys(parseFernetKeys(`${newKey},${oldKey}`));
   * ```
   */
  useKeys(keys: MultiFernet): void {
    this.#core.keys = keys;
  }

  /** Closes the database (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#core.db.destroy();
  }

  /** The URL and dialect, for `config show` and provenance; never a password. */
  describe(): Record<string, unknown> {
    return { type: 'metastore', url: this.#core.url, dialect: this.#core.dialect };
  }

  // --- schema --------------------------------------------------------------------------------

  /**
   * The schema version against this airlock's migrations (no change is made).
   *
   * @example
   * ```ts
   * const { version, current } = await store.schemaStatus();
   * ```
   */
  schemaStatus(): Promise<SchemaStatus> {
    return schemaStatus(this.#core);
  }

  /**
   * Applies pending migrations with Kysely's `Migrator` (in a transaction, under its lock).
   * Never throws: a failure is `report.error`.
   *
   * @example
   * ```ts
   * const { applied, error } = await store.migrate();
   * ```
   */
  migrate(): Promise<MigrationReport> {
    return migrate(this.#core);
  }

  /**
   * Whether any row holds an encrypted value (so that a new key must not be generated).
   *
   * @example
   * ```ts
   * if (!loaded && (await store.hasEncryptedRows())) throw …;
   * ```
   */
  hasEncryptedRows(): Promise<boolean> {
    return keyCheck.hasEncryptedRows(this.#core);
  }

  // --- variables -----------------------------------------------------------------------------

  /**
   * A Variable's value, or `undefined` when the metastore does not hold it (or holds `NULL`).
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` / `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID`
   *   naming the table and the key, when the row cannot be decrypted.
   * @example
   * ```ts
   * await store.getVariable('bucket'); // 's3://data'
   * ```
   */
  async getVariable(key: string): Promise<string | undefined> {
    const record = await this.getVariableRecord(key);
    return record?.value ?? undefined;
  }

  /**
   * A Variable's row, decrypted, or `undefined`.
   *
   * @example
   * ```ts
   * (await store.getVariableRecord('bucket'))?.description;
   * ```
   */
  getVariableRecord(key: string): Promise<VariableRecord | undefined> {
    return variables.getVariableRecord(this.#core, key);
  }

  /**
   * Stores a Variable, encrypted; an existing one is overwritten (Airflow's `Variable.set`).
   * The description is replaced when given and kept otherwise.
   *
   * @returns `'created'` or `'updated'`.
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` without keys,
   *   `AIRLOCK_ERR_STORE_KEY_INVALID` for an empty or over-long key.
   * @example
   * ```ts
   * await store.setVariable('bucket', 's3://data', { description: 'landing bucket' });
   * ```
   */
  setVariable(
    key: string,
    value: string,
    options: { description?: string | null | undefined } = {},
  ): Promise<'created' | 'updated'> {
    return variables.setVariable(this.#core, key, value, options);
  }

  /**
   * Deletes a Variable.
   *
   * @returns whether it existed.
   * @example
   * ```ts
   * await store.deleteVariable('bucket'); // true
   * ```
   */
  deleteVariable(key: string): Promise<boolean> {
    return variables.deleteVariable(this.#core, key);
  }

  /**
   * The keys of every Variable, in code-point order (nothing is decrypted).
   *
   * @example
   * ```ts
   * await store.listVariableKeys(); // ['bucket', 'retries']
   * ```
   */
  listVariableKeys(): Promise<string[]> {
    return variables.listVariableKeys(this.#core);
  }

  /**
   * Every Variable, decrypted, in key order (Python's code-point order), read page by page so
   * that memory stays bounded.
   *
   * @throws AirlockError naming the key of the first row that cannot be decrypted.
   * @example
   * ```ts
   * for await (const v of store.variables()) console.log(v.key);
   * ```
   */
  variables(options: ListOptions = {}): AsyncGenerator<VariableRecord> {
    return variables.variables(this.#core, options);
  }

  /**
   * Every Variable in key order as {@link variables} reads them, a page at a time (an export
   * writes a page in one go instead of awaiting each row).
   */
  variablePages(options: ListOptions = {}): AsyncGenerator<VariableRecord[]> {
    return variables.variablePages(this.#core, options);
  }

  /**
   * One page of Variables, paged in SQL: `LIMIT`/`OFFSET` in `orderBy` order (then key order),
   * searched (case-insensitive, in the key and the description), with the total by `COUNT(*)`.
   * Only the page's rows are decrypted, so a page costs about the same at any table size.
   *
   * @example
   * ```ts
   * const { records, total } = await store.listVariables({ limit: 100, offset: 0 });
   * ```
   */
  listVariables(query: PageQuery<VariableOrder>): Promise<Page<VariableRecord>> {
    return variables.listVariables(this.#core, query);
  }

  /**
   * Imports Variables in one transaction: a bad entry, a conflict under `onExisting: 'fail'`, or
   * a crash leaves the metastore as it was. Entries are consumed as they come (a stream of
   * 100,000 is fine) and written in batches. A key given twice is an error.
   *
   * @throws AirlockError `AIRLOCK_ERR_STORE_CONFLICT` (`fail` and the key exists),
   *   `AIRLOCK_ERR_STORE_IMPORT_INVALID` (a repeated key), `AIRLOCK_ERR_STORE_KEY_INVALID`,
   *   and whatever the entries' source throws; each names the entry.
   * @example
   * ```ts
   * const report = await store.importVariables(entries, { onExisting: 'skip' });
   * ```
   */
  importVariables(
    entries: AsyncIterable<VariableImportEntry> | Iterable<VariableImportEntry>,
    options: ImportOptions = {},
  ): Promise<ImportReport> {
    return variables.importVariables(this.#core, entries, options);
  }

  // --- connections ---------------------------------------------------------------------------

  /**
   * A Connection's row, decrypted, or `undefined`.
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` / `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID`
   *   naming the table, the conn_id and the field.
   * @example
   * ```ts
   * (await store.getConnection('warehouse'))?.host;
   * ```
   */
  getConnection(connId: string): Promise<ConnectionRecord | undefined> {
    return connections.getConnection(this.#core, connId);
  }

  /**
   * Adds a Connection, its password and extra encrypted; an existing conn_id is refused
   * (Airflow's `connections add`).
   *
   * @throws AirlockError `AIRLOCK_ERR_STORE_CONFLICT` when the conn_id exists,
   *   `AIRLOCK_ERR_CONN_ID_INVALID` for an id longer than the column.
   * @example
   * ```ts
   * await store.addConnection('warehouse', Connection.fromUri('postgres://u:p@db/app'));
   * ```
   */
  addConnection(connId: string, connection: Connection): Promise<void> {
    return connections.addConnection(this.#core, connId, connection);
  }

  /**
   * Deletes a Connection.
   *
   * @returns whether it existed.
   * @example
   * ```ts
   * await store.deleteConnection('warehouse'); // true
   * ```
   */
  deleteConnection(connId: string): Promise<boolean> {
    return connections.deleteConnection(this.#core, connId);
  }

  /**
   * Every Connection, decrypted, in conn_id order (code-point order), page by page.
   *
   * @example
   * ```ts
   * for await (const c of store.connections()) console.log(c.connId, c.connType);
   * ```
   */
  connections(options: ListOptions = {}): AsyncGenerator<ConnectionRecord> {
    return connections.connections(this.#core, options);
  }

  /**
   * One page of Connections, paged in SQL as {@link Metastore.listVariables} (searched in the
   * conn_id, type, host and description).
   *
   * @example
   * ```ts
   * const { records, total } = await store.listConnections({ limit: 100, offset: 0, orderBy: 'host' });
   * ```
   */
  listConnections(query: PageQuery<ConnectionOrder>): Promise<Page<ConnectionRecord>> {
    return connections.listConnections(this.#core, query);
  }

  /**
   * Imports Connections in one transaction (all or nothing). An existing conn_id is skipped,
   * overwritten (`onExisting: 'overwrite'`, keeping its `created_at`), or aborts the import
   * (`'fail'`).
   *
   * @example
   * ```ts
   * const report = await store.importConnections(entries, { onExisting: 'overwrite' });
   * ```
   */
  importConnections(
    entries: Iterable<ConnectionImportEntry> | AsyncIterable<ConnectionImportEntry>,
    options: ImportOptions = {},
  ): Promise<ImportReport> {
    return connections.importConnections(this.#core, entries, options);
  }

  // --- keys ----------------------------------------------------------------------------------

  /**
   * Refuses keys that are not this metastore's (`AIRLOCK_ERR_CRYPTO_KEY_WRONG`), inside the
   * write transaction of a module that encrypts its own columns with {@link Metastore.fernet}
   * (the server's deployment settings), so that the check and the write are one. Checked once
   * per key set and process, as for the metastore's own writes.
   *
   * @example
   * ```ts
   * await store.kysely.transaction().execute(async (trx) => {
   *   await store.checkKeys(trx);
   *   // … write values encrypted with store.fernet …
   * });
   * ```
   */
  checkKeys(trx: Transaction<MetastoreSchema>): Promise<void> {
    return keyCheck.checkKeys(this.#core, trx);
  }

  /**
   * Every encrypted field no configured key decrypts, named (`` variable `k` ``,
   * `` connection `c` (password) ``), in key order (of one table, or both); empty when every
   * row reads.
   *
   * @example
   * ```ts
   * const bad = await store.unreadableFields();
   * if (bad.length > 0) throw unreadableRowsError(bad, 'nothing was exported');
   * ```
   */
  unreadableFields(table?: 'variable' | 'connection'): Promise<string[]> {
    return keyCheck.unreadableFields(this.#core, table);
  }

  /**
   * Re-encrypts every encrypted value (Variable values, Connection passwords and extras) with
   * the first key, in one transaction, in batches of 100 rows, as `airflow rotate-fernet-key`
   * does; values that Airflow stored in plaintext (no key) are encrypted too.
   *
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` without keys, and
   *   `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` naming the first row no key decrypts (nothing is
   *   changed then).
   * @example
   * ```ts
   * store.useKeys(parseFernetKeys(`${newKey},${oldKey}`));
   * await store.rotateFernetKeys(); // { variables: 12, connectionFields: 5, encryptedFromPlaintext: 0 }
   * ```
   */
  rotateFernetKeys(options: RotationOptions = {}): Promise<RotationReport> {
    return rotateFernetKeys(this.#core, options);
  }
}
