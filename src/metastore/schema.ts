/**
 * @module metastore/schema
 * The metastore's tables, as Kysely sees them. They mirror Airflow's `variable` and `connection`
 * tables column for column (so a row Airflow writes reads here, and the reverse), plus
 * `created_at` / `updated_at`.
 *
 * Booleans come back as `boolean` from PostgreSQL and as `0`/`1` from SQLite; timestamps as
 * `Date` from PostgreSQL and as ISO-8601 text from SQLite. The metastore normalises both.
 */
import type { ColumnType, Generated } from 'kysely';

/** A boolean column: written as a boolean, read as a boolean or 0/1. */
export type BooleanColumn = ColumnType<boolean | number, boolean, boolean>;
/** A timestamp column: written as ISO-8601 text, read as text or `Date`. */
export type TimestampColumn = ColumnType<string | Date | null, string | undefined, string>;

/** Airflow's `variable` table. */
export interface VariableTable {
  id: Generated<number>;
  /** Unique, at most 250 characters (Airflow's `ID_LEN`). */
  key: string;
  /** The value: a Fernet token when `is_encrypted`, else the text itself; `NULL` reads as absent. */
  val: string | null;
  description: string | null;
  is_encrypted: BooleanColumn;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
}

/** Airflow's `connection` table. */
export interface ConnectionTable {
  id: Generated<number>;
  /** Unique, at most 250 characters. */
  conn_id: string;
  conn_type: string;
  description: string | null;
  host: string | null;
  schema: string | null;
  login: string | null;
  /** A Fernet token when `is_encrypted`. */
  password: string | null;
  port: number | null;
  /** A Fernet token of the extra JSON when `is_extra_encrypted`. */
  extra: string | null;
  is_encrypted: BooleanColumn;
  is_extra_encrypted: BooleanColumn;
  created_at: TimestampColumn;
  updated_at: TimestampColumn;
}

/** The key check (one row, `id` 1): a Fernet token of a known text, made with the primary key. */
export interface KeyCheckTable {
  id: number;
  token: string;
  updated_at: TimestampColumn;
}

/** The metastore's database, for `Kysely<MetastoreSchema>`. */
export interface MetastoreSchema {
  variable: VariableTable;
  connection: ConnectionTable;
  airlock_key_check: KeyCheckTable;
}

/** The longest Variable key and conn_id the columns hold (Airflow's `ID_LEN`). */
export const ID_MAX_LENGTH = 250;
