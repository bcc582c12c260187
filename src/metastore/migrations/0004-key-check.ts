/**
 * @module metastore/migrations/0004-key-check
 * The key check: one row holding a Fernet token of a known text, written with the metastore's
 * primary key. A write first decrypts it, so that a valid but wrong key (one the metastore was
 * never encrypted with) is refused before it encrypts anything, instead of leaving the store
 * encrypted under two keys. The migration only creates the table: it has no key. The row is
 * written by the first write that proves its key reads the rows already stored (see
 * `Metastore#checkKeys`), and re-encrypted by `rotate-fernet-key`.
 */
// biome-ignore-all lint/suspicious/noExplicitAny: migrations run on an untyped Kysely<any>.
import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { dialectOf } from './_helpers.ts';

/** The key-check table. */
export const keyCheck: Migration = {
  async up(db) {
    const timestamp = dialectOf(db) === 'sqlite' ? sql.raw('text') : sql.raw('timestamptz');
    await db.schema
      .createTable('airlock_key_check')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('token', 'text', (c) => c.notNull())
      .addColumn('updated_at', timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable('airlock_key_check').execute();
  },
};
