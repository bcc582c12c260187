/**
 * @module metastore/core
 * What every part of the metastore shares: the database handle, its dialect and URL, the Fernet
 * keys (and whether the key check accepted them), statements run with their errors coded,
 * encryption and decryption naming the row, the row shapes and the checks on what is written.
 */

import { hash } from 'node:crypto';
import { type Compilable, type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { PreparedReads } from './dialects.ts';
import type { MultiFernet } from './fernet.ts';
import type { DialectName } from './migrations/_helpers.ts';
import {
  type ConnectionTable,
  ID_MAX_LENGTH,
  type MetastoreSchema,
  type VariableTable,
} from './schema.ts';
import { storeError } from './store-errors.ts';
import type { Unreadable } from './types.ts';

export const PAGE_SIZE = 500;
export const INSERT_BATCH = 500;
export const ROTATE_BATCH = 100;

/**
 * Refuses text that UTF-8 cannot hold: a lone UTF-16 surrogate would be replaced by U+FFFD on
 * the way to the database (or into a Fernet token), a silent change of the value.
 */
export function checkWellFormed(text: string | null | undefined, what: string): void {
  if (typeof text === 'string' && !text.isWellFormed()) {
    throw new AirlockError(
      'AIRLOCK_ERR_STORE_VALUE_INVALID',
      `${what} holds a lone UTF-16 surrogate, which cannot be stored unchanged; nothing was written`,
    );
  }
}

/** The text the key check encrypts (see migration 0004-key-check). */
export const KEY_CHECK_TEXT = 'airlock metastore key check v1';
/** How many of the oldest values of each table a first key check tries. */
export const KEY_CHECK_SAMPLES = 3;

export function toIso(value: unknown): string | null {
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

export function checkKey(key: string, where: string): void {
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

/** A `variable` row as read (every column but `id`). */
export type VariableRow = Omit<Selectable<VariableTable>, 'id'>;
/** A `connection` row as read (every column but `id`). */
export type ConnectionRow = Omit<Selectable<ConnectionTable>, 'id'>;

export const VARIABLE_COLUMNS = [
  'key',
  'val',
  'description',
  'is_encrypted',
  'created_at',
  'updated_at',
] as const;
export const CONNECTION_COLUMNS = [
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

/** Bounds of the decrypted-value cache of {@link StoreCore.decrypt}. */
const PLAIN_CACHE_MAX_ENTRIES = 4096;
const PLAIN_CACHE_MAX_CHARS = 4 * 1024 * 1024;
const PLAIN_CACHE_MAX_VALUE = 64 * 1024;

/** The prefix of a {@link StoreCore.prepared} placeholder (never part of a real value). */
const SLOT = '\u0000airlock:slot:';

interface PreparedPlan {
  readonly name: string;
  readonly sql: string;
  /** Each parameter: a slot's value, or a constant of the statement (`true`, `null`). */
  readonly params: readonly ({ readonly slot: string } | { readonly value: unknown })[];
}

/** The state the metastore's modules share (one per open metastore). */
export class StoreCore {
  readonly db: Kysely<MetastoreSchema>;
  readonly dialect: DialectName;
  readonly url: string;
  readonly schema: string | undefined;
  keys: MultiFernet | undefined;
  /** The keys the key check accepted (checked once per key set and process). */
  checkedKeys: MultiFernet | undefined;
  readonly #plain = new Map<string, string>();
  #plainChars = 0;
  #plainKeys: MultiFernet | undefined;

  readonly #reads: PreparedReads;
  /** The SQL of each prepared read, compiled once by Kysely. */
  readonly #preparedSql = new Map<string, string>();
  /** Each prepared statement of {@link prepared}: its name, SQL and where its values go. */
  readonly #preparedWrites = new Map<string, PreparedPlan>();

  constructor(
    db: Kysely<MetastoreSchema>,
    reads: PreparedReads,
    dialect: DialectName,
    url: string,
    schema: string | undefined,
    keys: MultiFernet | undefined,
  ) {
    this.db = db;
    this.#reads = reads;
    this.dialect = dialect;
    this.url = url;
    this.schema = schema;
    this.keys = keys;
  }

  /** A column in code-point order (PostgreSQL's "C" collation; SQLite's BINARY is already that). */
  ordered(column: 'key' | 'conn_id') {
    return this.dialect === 'postgres'
      ? sql<string>`${sql.ref(column)} collate "C"`
      : sql<string>`${sql.ref(column)}`;
  }

  requireKeys(): MultiFernet {
    if (this.keys) return this.keys;
    throw new AirlockError(
      'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
      'metastore: no Fernet key is configured, and airlock never stores values in plaintext; run `airlock db migrate` to generate one, or set AIRLOCK__CORE__FERNET_KEY',
    );
  }

  encrypt(text: string): string {
    return this.requireKeys().encrypt(text);
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
  marked<T>(read: () => T, mark: (unreadable: Unreadable) => T): T {
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

  /**
   * Decrypts a stored token. `remember`: keep the result for the next read of the same token
   * (single reads, such as the API's GET, do; lists and exports, which read each row once, do
   * not, so that they neither churn the cache nor pay for it).
   */
  decrypt(token: string, what: string, details: Record<string, string>, remember = false): string {
    const keys = this.keys;
    if (keys && keys === this.#plainKeys) {
      const known = this.#plain.get(token);
      if (known !== undefined) return known;
    }
    const plain = this.#decrypt(token, what, details);
    if (remember) this.#remember(keys, token, plain);
    return plain;
  }

  /**
   * Keeps a decrypted value by its token, for these keys. A token is immutable and authenticated
   * (its HMAC was checked), so the same token under the same keys always decrypts to the same
   * text: a hot read (the API's variable GET) then costs no HMAC and no AES, which on Node 24 with
   * OpenSSL 3 cost some 40 µs for a short value. Bounded in entries and in characters; large
   * values are not kept.
   */
  #remember(keys: MultiFernet | undefined, token: string, plain: string): void {
    if (!keys || plain.length > PLAIN_CACHE_MAX_VALUE) return;
    if (keys !== this.#plainKeys) {
      this.#plain.clear();
      this.#plainChars = 0;
      this.#plainKeys = keys;
    }
    while (
      this.#plain.size >= PLAIN_CACHE_MAX_ENTRIES ||
      this.#plainChars + plain.length > PLAIN_CACHE_MAX_CHARS
    ) {
      const oldest = this.#plain.entries().next().value;
      if (!oldest) break;
      this.#plain.delete(oldest[0]);
      this.#plainChars -= oldest[1].length;
    }
    this.#plain.set(token, plain);
    this.#plainChars += plain.length;
  }

  #decrypt(token: string, what: string, details: Record<string, string>): string {
    if (!this.keys) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
        `metastore: ${what} is encrypted but no Fernet key is configured; set AIRLOCK__CORE__FERNET_KEY (or AIRFLOW__CORE__FERNET_KEY) to the key it was written with`,
        { details },
      );
    }
    try {
      return this.keys.decryptToString(token);
    } catch (err) {
      throw this.#cryptoError(err, what, details);
    }
  }

  /**
   * The first row of a read prepared once: `build` makes the query with placeholder parameters
   * the first time `name` is read (Kysely compiles it), and every later read only binds `params`
   * to that SQL, in the order the query takes them. Database errors are mapped to coded ones.
   *
   * @example
   * ```ts
   * const row = await core.first('variable.get', (db) =>
   *   db.selectFrom('variable').selectAll().where('key', '=', ''), [key], `read variable \`${key}\``);
   * ```
   */
  async first<R>(
    name: string,
    build: (db: Kysely<MetastoreSchema>) => Compilable,
    params: readonly unknown[],
    action: string,
  ): Promise<R | undefined> {
    let text = this.#preparedSql.get(name);
    if (text === undefined) {
      text = build(this.db).compile().sql;
      this.#preparedSql.set(name, text);
    }
    try {
      return await this.#reads.first<R>(`airlock_${name}`, text, params);
    } catch (err) {
      throw storeError(err, this.url, action);
    }
  }

  /**
   * Runs a statement prepared once and returns its first row. The first time `name` runs,
   * `build` makes the statement with a placeholder for each value (`slot('key')`, …) and Kysely
   * compiles it; every later run only binds `values` (by slot) in the order the statement takes
   * them. PostgreSQL parses and plans the named statement once per connection; SQLite reuses it
   * from its statement cache. A statement whose shape varies needs one `name` per shape. Errors
   * are left to the caller's {@link run}.
   *
   * @example
   * ```ts
   * const row = await core.prepared('variable_delete', (slot) =>
   *   core.db.deleteFrom('variable').where('key', '=', slot('key')).returning('key'), { key });
   * ```
   */
  async prepared<R>(
    name: string,
    build: (slot: (name: string) => string) => Compilable,
    values: Readonly<Record<string, unknown>>,
  ): Promise<R | undefined> {
    let plan = this.#preparedWrites.get(name);
    if (plan === undefined) {
      const compiled = build((slot) => `${SLOT}${slot}`).compile();
      plan = {
        name: `airlock_${name}_${hash('sha1', compiled.sql, 'hex').slice(0, 12)}`,
        sql: compiled.sql,
        params: compiled.parameters.map((value) =>
          typeof value === 'string' && value.startsWith(SLOT)
            ? { slot: value.slice(SLOT.length) }
            : { value },
        ),
      };
      this.#preparedWrites.set(name, plan);
    }
    const params = plan.params.map((p) => ('slot' in p ? values[p.slot] : p.value));
    return this.#reads.first<R>(plan.name, plan.sql, params);
  }

  /** Runs a read (or a single statement), mapping database errors to coded ones. */
  async run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storeError(err, this.url, action);
    }
  }

  /** Runs `fn` in a write transaction (SQLite: `BEGIN IMMEDIATE`), mapping errors. */
  async write<T>(
    action: string,
    fn: (trx: Transaction<MetastoreSchema>) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.db.transaction().execute(fn);
    } catch (err) {
      throw storeError(err, this.url, action);
    }
  }
}
