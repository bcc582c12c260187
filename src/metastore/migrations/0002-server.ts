/**
 * @module metastore/migrations/0002-server
 * The tables of `airlock server`: users (scrypt password hashes), sessions and API tokens (only
 * their SHA-256 hashes are stored), deployment settings (values Fernet-encrypted, with a secret
 * flag), a settings version row that every server process polls to see a change made by another,
 * and the failed-login counters of the sign-in rate limit (shared by every process).
 */
// biome-ignore-all lint/suspicious/noExplicitAny: migrations run on an untyped Kysely<any>.
import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { dialectOf } from './_helpers.ts';

/** The server's tables. */
export const server: Migration = {
  async up(db) {
    const sqlite = dialectOf(db) === 'sqlite';
    const timestamp = sqlite ? sql.raw('text') : sql.raw('timestamptz');
    await db.schema
      .createTable('airlock_user')
      .addColumn('username', 'varchar(250)', (c) => c.primaryKey())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('role', 'varchar(20)', (c) => c.notNull())
      .addColumn('created_at', timestamp, (c) => c.notNull())
      .addColumn('updated_at', timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('airlock_session')
      .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('username', 'varchar(250)', (c) =>
        c.notNull().references('airlock_user.username').onDelete('cascade'),
      )
      .addColumn('csrf_token', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', timestamp, (c) => c.notNull())
      .addColumn('expires_at', timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('airlock_api_token')
      .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('username', 'varchar(250)', (c) =>
        c.notNull().references('airlock_user.username').onDelete('cascade'),
      )
      .addColumn('name', 'varchar(250)', (c) => c.notNull())
      .addColumn('prefix', 'varchar(20)', (c) => c.notNull())
      .addColumn('created_at', timestamp, (c) => c.notNull())
      .addColumn('last_used_at', timestamp)
      .execute();
    await db.schema
      .createTable('airlock_setting')
      .addColumn('name', 'varchar(250)', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('is_secret', 'boolean', (c) => c.notNull().defaultTo(false))
      .addColumn('updated_at', timestamp, (c) => c.notNull())
      .addColumn('updated_by', 'varchar(250)')
      .execute();
    await db.schema
      .createTable('airlock_setting_version')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('airlock_setting_version').values({ id: 1, version: 0 }).execute();
    await db.schema
      .createTable('airlock_login_failure')
      .addColumn('subject', 'varchar(300)', (c) => c.primaryKey())
      .addColumn('failures', 'integer', (c) => c.notNull())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .execute();
  },
};
