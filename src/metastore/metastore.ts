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
 */
import { Kysely, sql, type Transaction } from 'kysely';
import { Migrator } from 'kysely/migration';
import { AirlockError, type ErrorCode, isAirlockError } from '../errors.ts';
import type { Connection } from '../model/connection.ts';
import { type DatabaseTarget, parseDatabaseUrl, redactDatabaseUrl } from './database-url.ts';
import { createDialect } from './dialects.ts';
import type { MultiFernet } from './fernet.ts';
import { type DialectName, tableExists } from './migrations/_helpers.ts';
import {
  LATEST_SCHEMA_VERSION,
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
  MIGRATIONS,
} from './migrations/index.ts';
import { ID_MAX_LENGTH, type MetastoreSchema } from './schema.ts';

/** What an import does with a key the metastore already holds. */
export type ExistingKeyAction = 'overwrite' | 'fail' | 'skip';

/** Options of {@link Metastore.open}. */
export interface MetastoreOpenOptions {
  /** The database URL (`sqlite:////path/airlock.db`, `postgresql://…`). */
  url: string;
  /**
   * The Fernet keys, newest first; without them, reading an encrypted row and every write fail
   * with `AIRLOCK_ERR_CRYPTO_KEY_MISSING`.
   * @default undefined
   */
  keys?: MultiFernet | undefined;
  /**
   * Apply pending migrations on open (the schema is created on first use).
   * @default true
   */
  migrate?: boolean;
  /**
   * SQLite: how long a write waits for another process's lock, in ms.
   * @default 30000
   */
  busyTimeoutMs?: number;
  /**
   * The folder a relative SQLite path is relative to.
   * @default process.cwd()
   */
  cwd?: string;
}

/** A Variable row, decrypted. */
export interface VariableRecord {
  readonly key: string;
  /** `null` when the row holds no value (Airflow reads that as "not set"). */
  readonly value: string | null;
  readonly description: string | null;
  /** Whether the row is encrypted at rest (`false` only for rows Airflow wrote without a key). */
  readonly isEncrypted: boolean;
  /** ISO-8601, or `null` for rows written by Airflow before airlock added the column. */
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
  /**
   * Set (by lists that ask for it) when the row cannot be decrypted with the configured keys;
   * `value` is then `null`. The message names the row, never a value.
   */
  readonly unreadable?: Unreadable;
}

/** Why a row cannot be read: the code and message of its decryption error. */
export interface Unreadable {
  readonly code: ErrorCode;
  readonly message: string;
}

/** What a list does with a row it cannot decrypt. */
export interface ListOptions {
  /**
   * `throw` (the default): the first such row stops the list with its error; `mark`: the row is
   * listed with `unreadable` set and its encrypted fields `null`.
   * @default 'throw'
   */
  onUnreadable?: 'throw' | 'mark';
}

/** A Connection row, decrypted. */
export interface ConnectionRecord {
  readonly connId: string;
  readonly connType: string;
  readonly description: string | null;
  readonly host: string | null;
  readonly login: string | null;
  readonly password: string | null;
  readonly schema: string | null;
  readonly port: number | null;
  /** The extra as Airflow keeps it: the JSON text of an object. */
  readonly extra: string | null;
  readonly isEncrypted: boolean;
  readonly isExtraEncrypted: boolean;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
  /** Set (by lists that ask for it) when the password or extra cannot be decrypted. */
  readonly unreadable?: Unreadable;
}

/** One Variable of an import. */
export interface VariableImportEntry {
  readonly key: string;
  readonly value: string;
  /** `undefined` / `null`: keep the description the metastore has (none for a new key). */
  readonly description?: string | null | undefined;
  /** Where the entry is, for messages: `` `vars.json` line 12 ``. */
  readonly where: string;
}

/** One Connection of an import. */
export interface ConnectionImportEntry {
  readonly connId: string;
  readonly connection: Connection;
  /** Where the entry is, for messages. */
  readonly where: string;
}

/** Options of the imports. */
export interface ImportOptions {
  /**
   * What to do with a key the metastore already holds; `fail` aborts the whole import.
   * @default 'overwrite' for Variables (Airflow's default), 'skip' for Connections
   */
  onExisting?: ExistingKeyAction;
  /** Called as entries are stored, with the number read so far. */
  onProgress?: (count: number) => void;
}

/** What an import did. Nothing is stored unless the whole import succeeds. */
export interface ImportReport {
  readonly total: number;
  readonly created: number;
  readonly overwritten: number;
  readonly skipped: number;
}

/** What {@link Metastore.rotateFernetKeys} did. */
export interface RotationReport {
  /** Variable values re-encrypted with the first key. */
  readonly variables: number;
  /** Connection passwords and extras re-encrypted with the first key. */
  readonly connectionFields: number;
  /** Of those, values found in plaintext (written by Airflow without a key) and now encrypted. */
  readonly encryptedFromPlaintext: number;
  /**
   * The fields no configured key decrypts, left as they were (`skipUnreadable` only), named as
   * `` variable `k` `` or `` connection `c` (password) ``.
   */
  readonly skipped: readonly string[];
}

/** Options of {@link Metastore.rotateFernetKeys}. */
export interface RotationOptions {
  /**
   * Leave the fields no configured key decrypts as they are (and list them) instead of stopping.
   * @default false
   */
  skipUnreadable?: boolean;
}

/**
 * The error of an operation that met rows it cannot decrypt: every row named (names only).
 *
 * @example
 * ```ts
 * throw unreadableRowsError(['variable `a`'], 'nothing was exported');
 * ```
 */
export function unreadableRowsError(names: readonly string[], outcome: string): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
    `${names.length} metastore ${names.length === 1 ? 'field' : 'fields'} cannot be decrypted with the configured Fernet keys: ${names.join(', ')}; ${outcome} (add the key they were written with as \`new,old\`, or delete or set those rows again)`,
    { details: { count: names.length } },
  );
}

/** The schema's version against this airlock's migrations. */
export interface SchemaStatus {
  /** The last migration the database ran; `null` for an empty database. */
  readonly version: string | null;
  /** The version this airlock writes. */
  readonly latest: string;
  readonly current: boolean;
  /** Migrations this airlock has and the database has not run. */
  readonly pending: readonly string[];
  /** Migrations the database ran that this airlock does not know (a newer airlock ran them). */
  readonly unknown: readonly string[];
}

/** What {@link Metastore.migrate} did; failures are returned, not thrown (as Kysely's Migrator). */
export interface MigrationReport {
  readonly applied: readonly string[];
  readonly version: string | null;
  readonly error?: AirlockError;
}

/** Errors of an import's source (a file that does not parse): passed on as they are. */
const sourceErrors = new WeakSet<object>();

/** Iterates `entries`, marking whatever they throw as the source's error, not the database's. */
async function* fromSource<T>(entries: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  try {
    yield* entries;
  } catch (err) {
    if (err !== null && typeof err === 'object') sourceErrors.add(err);
    throw err;
  }
}

const PAGE_SIZE = 500;
const INSERT_BATCH = 500;
const ROTATE_BATCH = 100;

const SQLITE_CODES: Readonly<Record<number, string>> = {
  3: 'SQLITE_PERM',
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  26: 'SQLITE_NOTADB',
};
const SQLSTATE_WORDS: Readonly<Record<string, string>> = {
  '28P01': 'password authentication failed',
  '28000': 'the server rejected the user',
  '3D000': 'the database does not exist',
  '3F000': 'the schema does not exist',
  '42P01': 'a table is missing (run `airlock db migrate`)',
  '42501': 'permission denied',
  '53300': 'too many connections',
  '57P01': 'the server is shutting down',
  '57P03': 'the server is starting up',
  '25006': 'the transaction is read-only',
  '40001': 'a concurrent transaction conflicted (retry)',
  '40P01': 'a deadlock was detected (retry)',
  '23505': 'a unique key already exists',
};
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EACCES',
  'ENOENT',
]);

type Classified = { kind: 'conflict' | 'unavailable' | 'failed'; reason: string };

/** Reduces a database error to a kind and a reason that quotes no value. */
function classify(err: unknown): Classified {
  const e = (err ?? {}) as {
    code?: unknown;
    errcode?: unknown;
    errstr?: unknown;
    message?: unknown;
    name?: unknown;
  };
  if (typeof e.errcode === 'number') {
    // node:sqlite: SQLite's own messages name tables and columns, never bound values.
    const primary = e.errcode & 0xff;
    const message = typeof e.message === 'string' ? e.message : String(e.errstr ?? 'error');
    if (primary === 19 && (e.errcode === 2067 || e.errcode === 1555)) {
      return { kind: 'conflict', reason: message };
    }
    const name = SQLITE_CODES[primary];
    if (name) return { kind: 'unavailable', reason: `${message} (${name})` };
    return { kind: 'failed', reason: `${message} (SQLite code ${e.errcode})` };
  }
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    // PostgreSQL: the SQLSTATE only; the server's message may quote a value.
    const words = SQLSTATE_WORDS[e.code];
    const reason = words ? `${words} (SQLSTATE ${e.code})` : `SQLSTATE ${e.code}`;
    if (e.code === '23505') return { kind: 'conflict', reason };
    if (/^(08|28|3D|3F|53|57)/.test(e.code)) return { kind: 'unavailable', reason };
    return { kind: 'failed', reason };
  }
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
    return { kind: 'unavailable', reason: e.code };
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (/timeout|terminated|connect/i.test(message)) {
    return { kind: 'unavailable', reason: 'the connection failed or timed out' };
  }
  const name = typeof e.name === 'string' ? e.name : typeof err;
  return { kind: 'failed', reason: `unexpected ${name}` };
}

/**
 * Refuses text that UTF-8 cannot hold: a lone UTF-16 surrogate would be replaced by U+FFFD on
 * the way to the database (or into a Fernet token), a silent change of the value.
 */
function checkWellFormed(text: string | null | undefined, what: string): void {
  if (typeof text === 'string' && !text.isWellFormed()) {
    throw new AirlockError(
      'AIRLOCK_ERR_STORE_VALUE_INVALID',
      `${what} holds a lone UTF-16 surrogate, which cannot be stored unchanged; nothing was written`,
    );
  }
}

/** The text the key check encrypts (see migration 0004-key-check). */
const KEY_CHECK_TEXT = 'airlock metastore key check v1';
/** How many of the oldest values of each table a first key check tries. */
const KEY_CHECK_SAMPLES = 3;

function toIso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  const text = String(value);
  // SQLite's CURRENT_TIMESTAMP form (`YYYY-MM-DD HH:MM:SS`, UTC), from rows Airflow wrote.
  if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(text)) return `${text.replace(' ', 'T')}Z`;
  return text;
}

/** A control character (C0, DEL, C1): a key holding one prints as something else, or breaks lines. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

function checkKey(key: string, where: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new AirlockError('AIRLOCK_ERR_STORE_KEY_INVALID', `${where}: the Variable key is empty`);
  }
  if (CONTROL_CHARACTER.test(key) || !key.isWellFormed()) {
    throw new AirlockError(
      'AIRLOCK_ERR_STORE_KEY_INVALID',
      `${where}: the Variable key holds a control character (a line break, a tab, NUL…) or a lone UTF-16 surrogate`,
      { details: { length: key.length } },
    );
  }
  if ([...key].length > ID_MAX_LENGTH) {
    throw new AirlockError(
      'AIRLOCK_ERR_STORE_KEY_INVALID',
      `${where}: the Variable key is longer than ${ID_MAX_LENGTH} characters`,
      { details: { length: [...key].length } },
    );
  }
}

type VariableRow = {
  key: string;
  val: string | null;
  description: string | null;
  is_encrypted: boolean | number;
  created_at: string | Date | null;
  updated_at: string | Date | null;
};
type ConnectionRow = {
  conn_id: string;
  conn_type: string;
  description: string | null;
  host: string | null;
  schema: string | null;
  login: string | null;
  password: string | null;
  port: number | null;
  extra: string | null;
  is_encrypted: boolean | number;
  is_extra_encrypted: boolean | number;
  created_at: string | Date | null;
  updated_at: string | Date | null;
};

const VARIABLE_COLUMNS = [
  'key',
  'val',
  'description',
  'is_encrypted',
  'created_at',
  'updated_at',
] as const;
const CONNECTION_COLUMNS = [
  'conn_id',
  'conn_type',
  'description',
  'host',
  'schema',
  'login',
  'password',
  'port',
  'extra',
  'is_encrypted',
  'is_extra_encrypted',
  'created_at',
  'updated_at',
] as const;

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
  readonly #db: Kysely<MetastoreSchema>;
  readonly #dialect: DialectName;
  readonly #url: string;
  readonly #schema: string | undefined;
  #keys: MultiFernet | undefined;
  /** The keys the key check accepted (checked once per key set and process). */
  #checkedKeys: MultiFernet | undefined;
  #migrated: readonly string[] = [];
  #closed = false;
  /** Where the database is (with its password): for the signal listeners only. */
  #target: DatabaseTarget | undefined;

  private constructor(
    db: Kysely<MetastoreSchema>,
    dialect: DialectName,
    url: string,
    schema: string | undefined,
    keys: MultiFernet | undefined,
  ) {
    this.#db = db;
    this.#dialect = dialect;
    this.#url = url;
    this.#schema = schema;
    this.#keys = keys;
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
    const target = parseDatabaseUrl(options.url, options.cwd);
    const url = redactDatabaseUrl(options.url);
    let db: Kysely<MetastoreSchema> | undefined;
    let schema: string | undefined;
    try {
      const dialect = await createDialect(
        target,
        options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs },
      );
      db = new Kysely<MetastoreSchema>({ dialect });
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
    const store = new Metastore(
      db,
      target.kind === 'sqlite' ? 'sqlite' : 'postgres',
      url,
      schema,
      options.keys,
    );
    try {
      if (options.migrate ?? true) {
        const status = await store.schemaStatus();
        if (status.unknown.length > 0) throw unknownMigrations(url, status.unknown);
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
    store.#target = target;
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
    if (this.#dialect === 'postgres') {
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
    return this.#url;
  }

  /** `sqlite` or `postgres`. */
  get dialect(): DialectName {
    return this.#dialect;
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
    return this.#db;
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
    return this.#requireKeys();
  }

  /** Whether Fernet keys are set (writes need them). */
  get hasKeys(): boolean {
    return this.#keys !== undefined;
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
    this.#keys = keys;
  }

  /** Closes the database (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.destroy();
  }

  /** The URL and dialect, for `config show` and provenance; never a password. */
  describe(): Record<string, unknown> {
    return { type: 'metastore', url: this.#url, dialect: this.#dialect };
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
  async schemaStatus(): Promise<SchemaStatus> {
    const names = Object.keys(MIGRATIONS).sort();
    const executed = await this.#run('read the schema version', async () => {
      if (!(await tableExists(this.#db, MIGRATION_TABLE))) return [];
      const { rows } = await sql<{
        name: string;
      }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(this.#db);
      return rows.map((r) => r.name).sort();
    });
    const known = new Set(names);
    const ran = new Set(executed);
    const unknown = executed.filter((name) => !known.has(name));
    const pending = names.filter((name) => !ran.has(name));
    const version = executed.filter((name) => known.has(name)).at(-1) ?? unknown.at(-1) ?? null;
    return {
      version: unknown.length > 0 ? (unknown.at(-1) ?? null) : version,
      latest: LATEST_SCHEMA_VERSION,
      current: pending.length === 0 && unknown.length === 0,
      pending,
      unknown,
    };
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
  async migrate(): Promise<MigrationReport> {
    const migrator = new Migrator({
      db: this.#db,
      provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
      ...(this.#schema === undefined ? {} : { migrationTableSchema: this.#schema }),
    });
    const { error, results = [] } = await migrator.migrateToLatest();
    const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
    let status: SchemaStatus | undefined;
    try {
      status = await this.schemaStatus();
    } catch {
      status = undefined;
    }
    const version = status?.version ?? null;
    if (error === undefined) return { applied, version };
    if (status && status.unknown.length > 0) {
      return { applied, version, error: unknownMigrations(this.#url, status.unknown) };
    }
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const { reason } = classify(error);
    return {
      applied,
      version,
      error: new AirlockError(
        'AIRLOCK_ERR_MIGRATION_FAILED',
        `metastore (${this.#url}): migration ${failed ? `\`${failed}\` ` : ''}failed: ${reason}`,
        { details: { database: this.#url, ...(failed ? { migration: failed } : {}) } },
      ),
    };
  }

  /**
   * Whether any row holds an encrypted value (so that a new key must not be generated).
   *
   * @example
   * ```ts
   * if (!loaded && (await store.hasEncryptedRows())) throw …;
   * ```
   */
  async hasEncryptedRows(): Promise<boolean> {
    return this.#run('read the metastore', async () => {
      const variable = await this.#db
        .selectFrom('variable')
        .select('id')
        .where('is_encrypted', '=', true)
        .where('val', 'is not', null)
        .limit(1)
        .executeTakeFirst();
      if (variable) return true;
      const connection = await this.#db
        .selectFrom('connection')
        .select('id')
        .where((eb) =>
          eb.or([
            eb.and([eb('is_encrypted', '=', true), eb('password', 'is not', null)]),
            eb.and([eb('is_extra_encrypted', '=', true), eb('extra', 'is not', null)]),
          ]),
        )
        .limit(1)
        .executeTakeFirst();
      return connection !== undefined;
    });
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
  async getVariableRecord(key: string): Promise<VariableRecord | undefined> {
    const row = await this.#run(`read variable \`${key}\``, () =>
      this.#db
        .selectFrom('variable')
        .select(VARIABLE_COLUMNS)
        .where('key', '=', key)
        .executeTakeFirst(),
    );
    return row ? this.#variableRecord(row as VariableRow) : undefined;
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
  async setVariable(
    key: string,
    value: string,
    options: { description?: string | null | undefined } = {},
  ): Promise<'created' | 'updated'> {
    checkKey(key, `variable \`${key}\``);
    checkWellFormed(value, `the value of variable \`${key}\``);
    checkWellFormed(options.description, `the description of variable \`${key}\``);
    const token = this.#encrypt(value);
    const now = new Date().toISOString();
    return this.#write(`write variable \`${key}\``, async (trx) => {
      await this.#checkKeys(trx);
      const existing = await trx
        .selectFrom('variable')
        .select('id')
        .where('key', '=', key)
        .executeTakeFirst();
      await trx
        .insertInto('variable')
        .values({
          key,
          val: token,
          description: options.description ?? null,
          is_encrypted: true,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            val: token,
            is_encrypted: true,
            updated_at: now,
            ...(options.description === undefined || options.description === null
              ? {}
              : { description: options.description }),
          }),
        )
        .execute();
      return existing ? 'updated' : 'created';
    });
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
  async deleteVariable(key: string): Promise<boolean> {
    const result = await this.#run(`delete variable \`${key}\``, () =>
      this.#db.deleteFrom('variable').where('key', '=', key).executeTakeFirst(),
    );
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * The keys of every Variable, in code-point order (nothing is decrypted).
   *
   * @example
   * ```ts
   * await store.listVariableKeys(); // ['bucket', 'retries']
   * ```
   */
  async listVariableKeys(): Promise<string[]> {
    const rows = await this.#run('list variables', () =>
      this.#db.selectFrom('variable').select('key').orderBy(this.#ordered('key')).execute(),
    );
    return rows.map((r) => r.key);
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
  async *variables(options: ListOptions = {}): AsyncGenerator<VariableRecord> {
    const mark = options.onUnreadable === 'mark';
    let after: string | undefined;
    for (;;) {
      const rows = (await this.#run('list variables', () => {
        let query = this.#db.selectFrom('variable').select(VARIABLE_COLUMNS);
        if (after !== undefined) query = query.where(this.#ordered('key'), '>', after);
        return query.orderBy(this.#ordered('key')).limit(PAGE_SIZE).execute();
      })) as VariableRow[];
      for (const row of rows) {
        yield mark
          ? this.#marked(
              () => this.#variableRecord(row),
              (unreadable) => ({ ...this.#variableRecord({ ...row, val: null }), unreadable }),
            )
          : this.#variableRecord(row);
      }
      if (rows.length < PAGE_SIZE) return;
      after = rows.at(-1)?.key;
    }
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
  async importVariables(
    entries: AsyncIterable<VariableImportEntry> | Iterable<VariableImportEntry>,
    options: ImportOptions = {},
  ): Promise<ImportReport> {
    const action = options.onExisting ?? 'overwrite';
    this.#requireKeys();
    return this.#write('import variables', async (trx) => {
      await this.#checkKeys(trx);
      await this.#lockForImport(trx, 'variable');
      const seen = new Map<string, string>();
      let batch: VariableImportEntry[] = [];
      let total = 0;
      let created = 0;
      let overwritten = 0;
      let skipped = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        const current = batch;
        batch = [];
        const existing = new Set(
          (
            await trx
              .selectFrom('variable')
              .select('key')
              .where(
                'key',
                'in',
                current.map((e) => e.key),
              )
              .execute()
          ).map((r) => r.key),
        );
        if (action === 'fail' && existing.size > 0) {
          const entry = current.find((e) => existing.has(e.key));
          throw new AirlockError(
            'AIRLOCK_ERR_STORE_CONFLICT',
            `${entry?.where}: variable \`${entry?.key}\` already exists in the metastore; nothing was imported (use -a overwrite or -a skip)`,
            { details: { key: entry?.key ?? '' } },
          );
        }
        const now = new Date().toISOString();
        const rows = current
          .filter((e) => action !== 'skip' || !existing.has(e.key))
          .map((e) => ({
            key: e.key,
            val: this.#encrypt(e.value),
            description: e.description ?? null,
            is_encrypted: true,
            created_at: now,
            updated_at: now,
          }));
        if (action === 'skip') {
          skipped += current.length - rows.length;
          if (rows.length > 0) {
            const result = await trx
              .insertInto('variable')
              .values(rows)
              .onConflict((oc) => oc.column('key').doNothing())
              .executeTakeFirst();
            const inserted = Number(result.numInsertedOrUpdatedRows ?? BigInt(rows.length));
            created += inserted;
            skipped += rows.length - inserted;
          }
          return;
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
                description: sql<
                  string | null
                >`coalesce(excluded.description, variable.description)`,
              }),
            )
            .execute();
        }
        overwritten += existing.size;
        created += rows.length - existing.size;
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
        total++;
        if (batch.length >= INSERT_BATCH) await flush();
        options.onProgress?.(total);
      }
      await flush();
      return { total, created, overwritten, skipped };
    });
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
  async getConnection(connId: string): Promise<ConnectionRecord | undefined> {
    const row = await this.#run(`read connection \`${connId}\``, () =>
      this.#db
        .selectFrom('connection')
        .select(CONNECTION_COLUMNS)
        .where('conn_id', '=', connId)
        .executeTakeFirst(),
    );
    return row ? this.#connectionRecord(row as ConnectionRow) : undefined;
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
  async addConnection(connId: string, connection: Connection): Promise<void> {
    const values = this.#connectionValues(connId, connection, `connection \`${connId}\``);
    await this.#write(`add connection \`${connId}\``, async (trx) => {
      await this.#checkKeys(trx);
      const existing = await trx
        .selectFrom('connection')
        .select('id')
        .where('conn_id', '=', connId)
        .executeTakeFirst();
      if (existing) throw connectionExists(connId);
      await trx.insertInto('connection').values(values).execute();
    });
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
  async deleteConnection(connId: string): Promise<boolean> {
    const result = await this.#run(`delete connection \`${connId}\``, () =>
      this.#db.deleteFrom('connection').where('conn_id', '=', connId).executeTakeFirst(),
    );
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Every Connection, decrypted, in conn_id order (code-point order), page by page.
   *
   * @example
   * ```ts
   * for await (const c of store.connections()) console.log(c.connId, c.connType);
   * ```
   */
  async *connections(options: ListOptions = {}): AsyncGenerator<ConnectionRecord> {
    const mark = options.onUnreadable === 'mark';
    let after: string | undefined;
    for (;;) {
      const rows = (await this.#run('list connections', () => {
        let query = this.#db.selectFrom('connection').select(CONNECTION_COLUMNS);
        if (after !== undefined) query = query.where(this.#ordered('conn_id'), '>', after);
        return query.orderBy(this.#ordered('conn_id')).limit(PAGE_SIZE).execute();
      })) as ConnectionRow[];
      for (const row of rows) {
        yield mark
          ? this.#marked(
              () => this.#connectionRecord(row),
              (unreadable) => ({
                ...this.#connectionRecord({ ...row, password: null, extra: null }),
                unreadable,
              }),
            )
          : this.#connectionRecord(row);
      }
      if (rows.length < PAGE_SIZE) return;
      after = rows.at(-1)?.conn_id;
    }
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
  async importConnections(
    entries: Iterable<ConnectionImportEntry> | AsyncIterable<ConnectionImportEntry>,
    options: ImportOptions = {},
  ): Promise<ImportReport> {
    const action = options.onExisting ?? 'skip';
    this.#requireKeys();
    return this.#write('import connections', async (trx) => {
      await this.#checkKeys(trx);
      await this.#lockForImport(trx, 'connection');
      let total = 0;
      let created = 0;
      let overwritten = 0;
      let skipped = 0;
      const seen = new Map<string, string>();
      for await (const entry of fromSource(entries)) {
        total++;
        const earlier = seen.get(entry.connId);
        if (earlier !== undefined) {
          throw new AirlockError(
            'AIRLOCK_ERR_STORE_IMPORT_INVALID',
            `${entry.where}: the conn_id \`${entry.connId}\` is given twice (also at ${earlier}); nothing was imported`,
            { details: { conn_id: entry.connId } },
          );
        }
        seen.set(entry.connId, entry.where);
        const values = this.#connectionValues(entry.connId, entry.connection, entry.where);
        const existing = await trx
          .selectFrom('connection')
          .select('id')
          .where('conn_id', '=', entry.connId)
          .executeTakeFirst();
        if (!existing) {
          await trx.insertInto('connection').values(values).execute();
          created++;
        } else if (action === 'overwrite') {
          const { created_at: _kept, ...update } = values;
          await trx.updateTable('connection').set(update).where('id', '=', existing.id).execute();
          overwritten++;
        } else if (action === 'skip') {
          skipped++;
        } else {
          throw new AirlockError(
            'AIRLOCK_ERR_STORE_CONFLICT',
            `${entry.where}: connection \`${entry.connId}\` already exists in the metastore; nothing was imported (use --overwrite)`,
            { details: { conn_id: entry.connId } },
          );
        }
        options.onProgress?.(total);
      }
      return { total, created, overwritten, skipped };
    });
  }

  // --- keys ----------------------------------------------------------------------------------

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
  async unreadableFields(table?: 'variable' | 'connection'): Promise<string[]> {
    const names: string[] = [];
    const reads = (token: string | null, encrypted: boolean | number): boolean =>
      !token || !encrypted || (this.#keys !== undefined && this.#decrypts(this.#keys, token));
    let after: string | undefined;
    for (; table !== 'connection'; ) {
      const rows = (await this.#run('list variables', () => {
        let query = this.#db.selectFrom('variable').select(['key', 'val', 'is_encrypted']);
        if (after !== undefined) query = query.where(this.#ordered('key'), '>', after);
        return query.orderBy(this.#ordered('key')).limit(PAGE_SIZE).execute();
      })) as Pick<VariableRow, 'key' | 'val' | 'is_encrypted'>[];
      for (const row of rows) {
        if (!reads(row.val, row.is_encrypted)) names.push(`variable \`${row.key}\``);
      }
      if (rows.length < PAGE_SIZE) break;
      after = rows.at(-1)?.key;
    }
    after = undefined;
    for (; table !== 'variable'; ) {
      const rows = (await this.#run('list connections', () => {
        let query = this.#db
          .selectFrom('connection')
          .select(['conn_id', 'password', 'is_encrypted', 'extra', 'is_extra_encrypted']);
        if (after !== undefined) query = query.where(this.#ordered('conn_id'), '>', after);
        return query.orderBy(this.#ordered('conn_id')).limit(PAGE_SIZE).execute();
      })) as Pick<
        ConnectionRow,
        'conn_id' | 'password' | 'is_encrypted' | 'extra' | 'is_extra_encrypted'
      >[];
      for (const row of rows) {
        if (!reads(row.password, row.is_encrypted)) {
          names.push(`connection \`${row.conn_id}\` (password)`);
        }
        if (!reads(row.extra, row.is_extra_encrypted)) {
          names.push(`connection \`${row.conn_id}\` (extra)`);
        }
      }
      if (rows.length < PAGE_SIZE) break;
      after = rows.at(-1)?.conn_id;
    }
    return names;
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
  async rotateFernetKeys(options: RotationOptions = {}): Promise<RotationReport> {
    const keys = this.#requireKeys();
    const report = await this.#write('rotate the Fernet keys', async (trx) => {
      let variables = 0;
      let connectionFields = 0;
      let encryptedFromPlaintext = 0;
      const unreadable: string[] = [];
      /** The field re-encrypted, or `undefined` (recorded in `unreadable`) if no key reads it. */
      const renew = (token: string, encrypted: boolean, name: string): string | undefined => {
        if (!encrypted) {
          encryptedFromPlaintext++;
          return keys.encrypt(token);
        }
        try {
          return keys.rotate(token);
        } catch (err) {
          if (!isAirlockError(err) || err.code !== 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID') throw err;
          unreadable.push(name);
          return undefined;
        }
      };
      await this.#checkKeys(trx, { rotate: true });
      let lastId = 0;
      for (;;) {
        const rows = await trx
          .selectFrom('variable')
          .select(['id', 'key', 'val', 'is_encrypted'])
          .where('id', '>', lastId)
          .where('val', 'is not', null)
          .orderBy('id')
          .limit(ROTATE_BATCH)
          .execute();
        for (const row of rows) {
          const val = renew(
            row.val as string,
            Boolean(row.is_encrypted),
            `variable \`${row.key}\``,
          );
          if (val === undefined) continue;
          await trx
            .updateTable('variable')
            .set({ val, is_encrypted: true })
            .where('id', '=', row.id)
            .execute();
          variables++;
        }
        if (rows.length < ROTATE_BATCH) break;
        lastId = rows.at(-1)?.id ?? lastId;
      }
      lastId = 0;
      for (;;) {
        const rows = await trx
          .selectFrom('connection')
          .select(['id', 'conn_id', 'password', 'extra', 'is_encrypted', 'is_extra_encrypted'])
          .where('id', '>', lastId)
          .orderBy('id')
          .limit(ROTATE_BATCH)
          .execute();
        for (const row of rows) {
          const update: {
            password?: string;
            is_encrypted?: boolean;
            extra?: string;
            is_extra_encrypted?: boolean;
          } = {};
          if (row.password) {
            const password = renew(
              row.password,
              Boolean(row.is_encrypted),
              `connection \`${row.conn_id}\` (password)`,
            );
            if (password !== undefined) {
              update.password = password;
              update.is_encrypted = true;
              connectionFields++;
            }
          }
          if (row.extra) {
            const extra = renew(
              row.extra,
              Boolean(row.is_extra_encrypted),
              `connection \`${row.conn_id}\` (extra)`,
            );
            if (extra !== undefined) {
              update.extra = extra;
              update.is_extra_encrypted = true;
              connectionFields++;
            }
          }
          if (Object.keys(update).length > 0) {
            await trx.updateTable('connection').set(update).where('id', '=', row.id).execute();
          }
        }
        if (rows.length < ROTATE_BATCH) break;
        lastId = rows.at(-1)?.id ?? lastId;
      }
      if (unreadable.length > 0 && !options.skipUnreadable) {
        // Thrown inside the transaction: nothing is re-encrypted.
        throw unreadableRowsError(
          unreadable,
          'nothing was rotated (`rotate-fernet-key --skip-unreadable` rotates the others)',
        );
      }
      return { variables, connectionFields, encryptedFromPlaintext, skipped: unreadable };
    });
    if (this.#dialect === 'sqlite') {
      // Move the new pages into the file and empty the write-ahead log, so that the old tokens
      // (and any plaintext just encrypted) are not left in the log. Best effort: a reader of
      // another process may hold the log; its next checkpoint finishes the job.
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.#db).catch(() => {});
    }
    return report;
  }

  // --- internals -----------------------------------------------------------------------------

  /** A column in code-point order (PostgreSQL's "C" collation; SQLite's BINARY is already that). */
  #ordered(column: 'key' | 'conn_id') {
    return this.#dialect === 'postgres'
      ? sql<string>`${sql.ref(column)} collate "C"`
      : sql<string>`${sql.ref(column)}`;
  }

  #requireKeys(): MultiFernet {
    if (this.#keys) return this.#keys;
    throw new AirlockError(
      'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
      'metastore: no Fernet key is configured, and airlock never stores values in plaintext; run `airlock db migrate` to generate one, or set AIRLOCK__CORE__FERNET_KEY',
    );
  }

  /**
   * Refuses to write with keys that are not the metastore's: none of them decrypts the key
   * check, or (a metastore without one yet) any of its oldest encrypted values. When they pass and the
   * check is missing, it is written with the primary key; `rotate` re-encrypts it with the
   * primary key. Runs inside the write's transaction, so the check and the write are one.
   */
  async #checkKeys(
    trx: Transaction<MetastoreSchema>,
    options: { rotate?: boolean } = {},
  ): Promise<void> {
    const keys = this.#requireKeys();
    if (this.#checkedKeys === keys && !options.rotate) return;
    const now = new Date().toISOString();
    const row = await trx
      .selectFrom('airlock_key_check')
      .select('token')
      .where('id', '=', 1)
      .executeTakeFirst();
    if (row) {
      if (!this.#decrypts(keys, row.token)) throw this.#wrongKey('its key check');
      if (options.rotate) {
        await trx
          .updateTable('airlock_key_check')
          .set({ token: keys.rotate(row.token), updated_at: now })
          .where('id', '=', 1)
          .execute();
      }
    } else {
      // A metastore written before the check (or by Airflow): the keys must read its oldest
      // values. Several are tried, so that one corrupt row does not lock writes out.
      const samples = await this.#sampleTokens(trx);
      if (samples.length > 0 && !samples.some((token) => this.#decrypts(keys, token))) {
        throw this.#wrongKey('any of its oldest encrypted values');
      }
      await trx
        .insertInto('airlock_key_check')
        .values({ id: 1, token: keys.encrypt(KEY_CHECK_TEXT), updated_at: now })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    this.#checkedKeys = keys;
  }

  #decrypts(keys: MultiFernet, token: string): boolean {
    try {
      keys.decryptToString(token);
      return true;
    } catch {
      return false;
    }
  }

  /** The oldest encrypted value of the metastore, if any (what a new key check must read). */
  async #sampleTokens(trx: Transaction<MetastoreSchema>): Promise<string[]> {
    const variables = await trx
      .selectFrom('variable')
      .select('val')
      .where('is_encrypted', '=', true)
      .where('val', 'is not', null)
      .where('val', '!=', '')
      .orderBy('id')
      .limit(KEY_CHECK_SAMPLES)
      .execute();
    const connections = await trx
      .selectFrom('connection')
      .select('password')
      .where('is_encrypted', '=', true)
      .where('password', 'is not', null)
      .where('password', '!=', '')
      .orderBy('id')
      .limit(KEY_CHECK_SAMPLES)
      .execute();
    return [...variables.map((r) => r.val), ...connections.map((r) => r.password)].filter(
      (token): token is string => typeof token === 'string',
    );
  }

  #wrongKey(what: string): AirlockError {
    return new AirlockError(
      'AIRLOCK_ERR_CRYPTO_KEY_WRONG',
      `metastore (${this.#url}): none of the configured Fernet keys decrypts ${what}, so they are not this metastore's key; nothing was written (to change keys, configure \`new,old\` and run \`airlock rotate-fernet-key\`)`,
      { details: { database: this.#url } },
    );
  }

  /**
   * PostgreSQL: imports of one table run one at a time, so that each sees the others' rows and
   * reports true created/overwritten counts (SQLite's `BEGIN IMMEDIATE` already serialises).
   */
  async #lockForImport(
    trx: Transaction<MetastoreSchema>,
    table: 'variable' | 'connection',
  ): Promise<void> {
    if (this.#dialect !== 'postgres') return;
    // SHARE ROW EXCLUSIVE conflicts with itself and with single writes, not with reads.
    await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(trx);
  }

  #encrypt(text: string): string {
    return this.#requireKeys().encrypt(text);
  }

  #cryptoError(err: unknown, what: string, details: Record<string, string>): AirlockError {
    if (isAirlockError(err) && err.code === 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID') {
      return new AirlockError(
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
        `metastore: cannot decrypt ${what}: ${err.message.replace(/^Fernet token is invalid: /, '')}; is the Fernet key the one it was written with?`,
        { details },
      );
    }
    if (isAirlockError(err)) return err;
    return new AirlockError('AIRLOCK_ERR_INTERNAL', `metastore: cannot decrypt ${what}`, {
      details,
    });
  }

  /** `read()`, or, when the row cannot be decrypted, `mark()` with the reason. */
  #marked<T>(read: () => T, mark: (unreadable: Unreadable) => T): T {
    try {
      return read();
    } catch (err) {
      if (
        !isAirlockError(err) ||
        (err.code !== 'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID' &&
          err.code !== 'AIRLOCK_ERR_CRYPTO_KEY_MISSING')
      ) {
        throw err;
      }
      return mark({ code: err.code, message: err.message });
    }
  }

  #decrypt(token: string, what: string, details: Record<string, string>): string {
    if (!this.#keys) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
        `metastore: ${what} is encrypted but no Fernet key is configured; set AIRLOCK__CORE__FERNET_KEY (or AIRFLOW__CORE__FERNET_KEY) to the key it was written with`,
        { details },
      );
    }
    try {
      return this.#keys.decryptToString(token);
    } catch (err) {
      throw this.#cryptoError(err, what, details);
    }
  }

  #variableRecord(row: VariableRow): VariableRecord {
    const isEncrypted = Boolean(row.is_encrypted);
    // Airflow: a NULL value is no value; an encrypted empty string is not possible (a token
    // is never empty), so only a non-empty value is decrypted.
    const value =
      row.val !== null && row.val !== '' && isEncrypted
        ? this.#decrypt(row.val, `the value of variable \`${row.key}\``, {
            table: 'variable',
            key: row.key,
          })
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

  #connectionRecord(row: ConnectionRow): ConnectionRecord {
    const details = { table: 'connection', conn_id: row.conn_id };
    const isEncrypted = Boolean(row.is_encrypted);
    const isExtraEncrypted = Boolean(row.is_extra_encrypted);
    const password =
      row.password && isEncrypted
        ? this.#decrypt(row.password, `the password of connection \`${row.conn_id}\``, details)
        : row.password;
    const extra =
      row.extra && isExtraEncrypted
        ? this.#decrypt(row.extra, `the extra of connection \`${row.conn_id}\``, details)
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

  #connectionValues(connId: string, conn: Connection, where: string) {
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
    const password = conn.password ? this.#encrypt(conn.password) : null;
    const extra = conn.extra ? this.#encrypt(conn.extra) : null;
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

  /** Runs a read (or a single statement), mapping database errors to coded ones. */
  async #run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#storeError(err, action);
    }
  }

  /** Runs `fn` in a write transaction (SQLite: `BEGIN IMMEDIATE`), mapping errors. */
  async #write<T>(
    action: string,
    fn: (trx: Transaction<MetastoreSchema>) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.#db.transaction().execute(fn);
    } catch (err) {
      throw this.#storeError(err, action);
    }
  }

  #storeError(err: unknown, action: string): unknown {
    if (isAirlockError(err)) return err;
    if (err !== null && typeof err === 'object' && sourceErrors.has(err)) return err;
    const { kind, reason } = classify(err);
    const code =
      kind === 'conflict'
        ? 'AIRLOCK_ERR_STORE_CONFLICT'
        : kind === 'unavailable'
          ? 'AIRLOCK_ERR_STORE_UNAVAILABLE'
          : 'AIRLOCK_ERR_STORE_QUERY_FAILED';
    return new AirlockError(code, `metastore (${this.#url}): cannot ${action}: ${reason}`, {
      details: { database: this.#url },
    });
  }
}

function connectionExists(connId: string): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_STORE_CONFLICT',
    `A connection with conn_id \`${connId}\` already exists in the metastore; delete it first to replace it`,
    { details: { conn_id: connId } },
  );
}

function unknownMigrations(url: string, unknown: readonly string[]): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_MIGRATION_UNKNOWN',
    `metastore (${url}): the schema is at version \`${unknown.at(-1)}\`, which this airlock does not know (it knows up to \`${LATEST_SCHEMA_VERSION}\`); upgrade airlock`,
    { details: { database: url, version: unknown.at(-1) ?? '' } },
  );
}
