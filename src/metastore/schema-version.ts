/**
 * @module metastore/schema-version
 * The schema's version against this airlock's migrations, and applying the pending ones with
 * Kysely's `Migrator` (in a transaction, under its lock; failures returned, not thrown).
 */
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { AirlockError } from '../errors.ts';
import type { StoreCore } from './core.ts';
import { tableExists } from './migrations/_helpers.ts';
import {
  LATEST_SCHEMA_VERSION,
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
  MIGRATIONS,
} from './migrations/index.ts';
import { classify } from './store-errors.ts';
import type { MigrationReport, SchemaStatus } from './types.ts';

/** The schema version against this airlock's migrations (no change is made). */
export async function schemaStatus(core: StoreCore): Promise<SchemaStatus> {
  const names = Object.keys(MIGRATIONS).sort();
  const executed = await core.run('read the schema version', async () => {
    if (!(await tableExists(core.db, MIGRATION_TABLE))) return [];
    const { rows } = await sql<{
      name: string;
    }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(core.db);
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

/** Applies pending migrations; never throws: a failure is `report.error`. */
export async function migrate(core: StoreCore): Promise<MigrationReport> {
  const migrator = new Migrator({
    db: core.db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    ...(core.schema === undefined ? {} : { migrationTableSchema: core.schema }),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  let status: SchemaStatus | undefined;
  try {
    status = await schemaStatus(core);
  } catch {
    status = undefined;
  }
  const version = status?.version ?? null;
  if (error === undefined) return { applied, version };
  if (status && status.unknown.length > 0) {
    return { applied, version, error: unknownMigrations(core.url, status.unknown) };
  }
  const failed = results.find((r) => r.status === 'Error')?.migrationName;
  const { reason } = classify(error);
  return {
    applied,
    version,
    error: new AirlockError(
      'AIRLOCK_ERR_MIGRATION_FAILED',
      `metastore (${core.url}): migration ${failed ? `\`${failed}\` ` : ''}failed: ${reason}`,
      { details: { database: core.url, ...(failed ? { migration: failed } : {}) } },
    ),
  };
}

/** The error of a schema at a version this airlock does not know (a newer airlock's). */
export function unknownMigrations(url: string, unknown: readonly string[]): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_MIGRATION_UNKNOWN',
    `metastore (${url}): the schema is at version \`${unknown.at(-1)}\`, which this airlock does not know (it knows up to \`${LATEST_SCHEMA_VERSION}\`); upgrade airlock`,
    { details: { database: url, version: unknown.at(-1) ?? '' } },
  );
}
