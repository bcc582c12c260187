/**
 * @module metastore/types
 * The metastore's public types: records, list, import and rotation options and reports, the
 * schema status. Re-exported by `metastore.ts`.
 */
import type { AirlockError, ErrorCode } from '../errors.ts';
import type { Connection } from '../model/connection.ts';
import type { MultiFernet } from './fernet.ts';

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
  /** Deployment settings (`airlock_setting`) re-encrypted with the first key. */
  readonly settings: number;
  /** DAG run `conf`s re-encrypted with the first key. */
  readonly dagRunConfs: number;
  /** Of those, values found in plaintext (written by Airflow without a key) and now encrypted. */
  readonly encryptedFromPlaintext: number;
  /**
   * The fields no configured key decrypts, left as they were (`skipUnreadable` only), named as
   * `` variable `k` ``, `` connection `c` (password) ``, `` setting `NAME` `` or
   * `` the conf of run `r` of DAG `d` ``.
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
