/**
 * @module metastore/migrations
 * The metastore's schema versions, oldest first. A name, once released, never changes and is
 * never reused; a new migration gets the next number. Kysely's `Migrator` runs them in name
 * order, inside a transaction, under a lock (PostgreSQL: an advisory lock; SQLite: the write
 * lock of `BEGIN IMMEDIATE`).
 */
import type { Migration } from 'kysely/migration';
import { initial } from './0001-initial.ts';
import { server } from './0002-server.ts';
import { pipelines } from './0003-pipelines.ts';
import { keyCheck } from './0004-key-check.ts';
import { scheduling } from './0005-scheduling.ts';
import { runNotes } from './0006-run-notes.ts';

/** Every migration, by name (= schema version), in order. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-initial': initial,
  '0002-server': server,
  '0003-pipelines': pipelines,
  '0004-key-check': keyCheck,
  '0005-scheduling': scheduling,
  '0006-run-notes': runNotes,
});

/** The schema version this airlock writes: the name of its last migration. */
export const LATEST_SCHEMA_VERSION: string = Object.keys(MIGRATIONS).sort().at(-1) ?? '';

/** The table in which Kysely records the migrations a database has run. */
export const MIGRATION_TABLE = 'airlock_migration';
/** The table that holds the migration lock row. */
export const MIGRATION_LOCK_TABLE = 'airlock_migration_lock';
