/**
 * @module cli/commands/_migrate
 * The engine of `airlock migrate`: the two ends (a configured store, the metastore, the
 * environment), the plan (created / updated / unchanged / skipped, from what the target holds
 * now), the writes with bounded concurrency, and the read-back that verifies them. Values stay
 * inside: the plan, the report and every error name keys only.
 */
import type { SecretKind, SecretsBackend } from '../../backends/backend.ts';
import { connectionJson } from '../../backends/metastore.ts';
import { AirlockError, isAirlockError } from '../../errors.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { Connection } from '../../model/connection.ts';
import { chunks, mapLimit } from '../../util/concurrency.ts';

/** Writes and reads in flight at once against a store. */
const CONCURRENCY = 16;
/** Keys per batched read. */
const READ_BATCH = 100;

/** One end of a migration. */
export interface MigrationEnd {
  readonly label: string;
  /** Everything this end holds of `kind`: id → raw value (a Variable's text, a Connection's URI or JSON). */
  snapshot(kind: SecretKind): Promise<Map<string, string>>;
  /** The raw values of those `ids` it holds. */
  read(kind: SecretKind, ids: readonly string[]): Promise<Map<string, string>>;
  /** Writes the entries; the failed ones, by id. Absent: this end is a source only. */
  write?(
    kind: SecretKind,
    entries: readonly (readonly [string, string])[],
    onWritten: (count: number) => void,
  ): Promise<Map<string, AirlockError>>;
}

function asAirlockError(err: unknown, kind: SecretKind, id: string): AirlockError {
  if (isAirlockError(err)) return err;
  const name = err instanceof Error ? err.name : typeof err;
  return new AirlockError('AIRLOCK_ERR_CLI_COMMAND_FAILED', `${kind} \`${id}\`: ${name}`);
}

/** A configured store of the chain as an end: listed, read in batches, written one by one. */
export function backendEnd(backend: SecretsBackend): MigrationEnd {
  const end: MigrationEnd = {
    label: backend.name,
    async snapshot(kind) {
      if (!backend.listKeys) {
        throw new AirlockError(
          'AIRLOCK_ERR_CLI_USAGE',
          `${backend.name} cannot list its ${kind}s, so it cannot be a migration source`,
        );
      }
      return end.read(kind, await backend.listKeys(kind));
    },
    async read(kind, ids) {
      const found = new Map<string, string>();
      const batch = kind === 'variable' ? backend.getVariables : backend.getConnectionValues;
      const single = (id: string) =>
        kind === 'variable' ? backend.getVariable(id) : backend.getConnectionValue(id);
      await mapLimit(chunks([...ids], READ_BATCH), CONCURRENCY / 4, async (group) => {
        if (batch) {
          for (const [id, value] of await batch.call(backend, group)) found.set(id, value);
          return;
        }
        const values = await mapLimit(group, CONCURRENCY, single);
        group.forEach((id, i) => {
          const value = values[i];
          if (value !== undefined) found.set(id, value);
        });
      });
      return found;
    },
  };
  if (backend.putSecret) {
    const put = backend.putSecret.bind(backend);
    end.write = async (kind, entries, onWritten) => {
      const failed = new Map<string, AirlockError>();
      let done = 0;
      await mapLimit(entries, CONCURRENCY, async ([id, value]) => {
        try {
          await put(kind, id, value);
        } catch (err) {
          failed.set(id, asAirlockError(err, kind, id));
        }
        onWritten(++done);
      });
      return failed;
    };
  }
  return end;
}

/** The metastore as an end: read row by row, written in one transaction per kind. */
export function metastoreEnd(store: Metastore): MigrationEnd {
  const end: MigrationEnd = {
    label: 'metastore',
    async snapshot(kind) {
      const out = new Map<string, string>();
      if (kind === 'variable') {
        for await (const row of store.variables())
          if (row.value !== null) out.set(row.key, row.value);
      } else {
        for await (const row of store.connections()) out.set(row.connId, connectionJson(row));
      }
      return out;
    },
    async read(kind, ids) {
      const all = await end.snapshot(kind);
      const wanted = new Set(ids);
      return new Map([...all].filter(([id]) => wanted.has(id)));
    },
    async write(kind, entries, onWritten) {
      const failed = new Map<string, AirlockError>();
      const where = (id: string) => `${kind} \`${id}\``;
      if (kind === 'variable') {
        await store.importVariables(
          entries.map(([key, value]) => ({ key, value, where: where(key) })),
          { onExisting: 'overwrite', onProgress: onWritten },
        );
        return failed;
      }
      const connections = [];
      for (const [connId, value] of entries) {
        try {
          connections.push({
            connId,
            connection: Connection.deserialize(connId, value),
            where: where(connId),
          });
        } catch (err) {
          failed.set(connId, asAirlockError(err, kind, connId));
        }
      }
      await store.importConnections(connections, {
        onExisting: 'overwrite',
        onProgress: onWritten,
      });
      return failed;
    },
  };
  return end;
}

/** The environment (`AIRFLOW_VAR_*`, `AIRFLOW_CONN_*`) as a source. */
export function environmentEnd(env: SecretsBackend): MigrationEnd {
  const end = backendEnd(env);
  return { label: 'env', snapshot: end.snapshot, read: end.read };
}

/**
 * An Airflow export file (`airflow variables export` / `connections export`: JSON, YAML or .env)
 * as a source. A file holds one kind: the other kind is empty.
 */
export function fileEnd(path: string, holds: SecretKind): MigrationEnd {
  const end: MigrationEnd = {
    label: path,
    async snapshot(kind) {
      const out = new Map<string, string>();
      if (kind !== holds) return out;
      const io = await import('../../metastore/import-export.ts');
      const format = io.fileFormatOf(path);
      if (kind === 'variable') {
        for await (const entry of io.readVariableFile({ path, format }))
          out.set(entry.key, entry.value);
      } else {
        for (const entry of await io.readConnectionFile({ path, format })) {
          out.set(entry.connId, entry.connection.toJson());
        }
      }
      return out;
    },
    async read(kind, ids) {
      const all = await end.snapshot(kind);
      return new Map(ids.flatMap((id) => (all.has(id) ? [[id, all.get(id) as string]] : [])));
    },
  };
  return end;
}

/**
 * A Connection's value as it is written: as the source holds it (the metastore's JSON, a
 * store's URI or JSON), once it parses as a Connection. Every Airflow reader since 2.3 takes
 * both forms (`deserialize_connection`), and keeping the text keeps `extra` byte for byte.
 */
export function connectionForm(id: string, raw: string): string {
  Connection.deserialize(id, raw);
  return raw;
}

/** Whether two raw values of `id` mean the same (Connections compared field by field). */
export function sameValue(kind: SecretKind, id: string, a: string, b: string): boolean {
  if (a === b) return true;
  if (kind === 'variable') return false;
  try {
    const one = Connection.deserialize(id, a).toDict();
    const two = Connection.deserialize(id, b).toDict();
    return JSON.stringify(one) === JSON.stringify(two);
  } catch {
    return false;
  }
}

/** A `--only` glob (`*`, `?`) as a test of a key. */
export function keyPattern(glob: string | undefined): (id: string) => boolean {
  if (glob === undefined) return () => true;
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`);
  return (id) => re.test(id);
}

/** What happens to one key. */
export type MigrationAction = 'created' | 'updated' | 'unchanged' | 'skipped' | 'failed';

/** One kind's plan and outcome. */
export interface KindReport {
  readonly kind: SecretKind;
  readonly actions: Map<string, MigrationAction>;
  readonly failures: Map<string, AirlockError>;
}

/** Options of {@link migrateKind}. */
export interface MigrateOptions {
  dryRun: boolean;
  overwrite: boolean;
  only: (id: string) => boolean;
  onProgress: (written: number, total: number) => void;
}

/**
 * Migrates one kind: snapshot of the source, plan against the target, writes, read-back.
 * A failure of one key is recorded and the others go on; a failure to read either end throws.
 */
export async function migrateKind(
  kind: SecretKind,
  from: MigrationEnd,
  to: MigrationEnd,
  options: MigrateOptions,
): Promise<KindReport> {
  const source = await from.snapshot(kind);
  const ids = [...source.keys()].filter(options.only).sort();
  const present = await to.read(kind, ids);
  const actions = new Map<string, MigrationAction>();
  const failures = new Map<string, AirlockError>();
  const writes: [string, string][] = [];
  for (const id of ids) {
    const value = source.get(id) as string;
    const current = present.get(id);
    let action: MigrationAction;
    if (current === undefined) action = 'created';
    else if (sameValue(kind, id, value, current)) action = 'unchanged';
    else action = options.overwrite ? 'updated' : 'skipped';
    if (action === 'created' || action === 'updated') {
      try {
        writes.push([id, kind === 'connection' ? connectionForm(id, value) : value]);
      } catch (err) {
        action = 'failed';
        failures.set(id, asAirlockError(err, kind, id));
      }
    }
    actions.set(id, action);
  }
  if (options.dryRun || writes.length === 0) return { kind, actions, failures };
  const write = to.write as NonNullable<MigrationEnd['write']>;
  const failed = await write(kind, writes, (n) => options.onProgress(n, writes.length));
  // Read back what was written: a value that does not come back the same is a failure.
  const written = writes.filter(([id]) => !failed.has(id));
  const back = await to.read(
    kind,
    written.map(([id]) => id),
  );
  for (const [id, value] of written) {
    const got = back.get(id);
    if (got === undefined || !sameValue(kind, id, value, got)) {
      failed.set(
        id,
        new AirlockError(
          'AIRLOCK_ERR_CLI_COMMAND_FAILED',
          `${kind} \`${id}\`: ${got === undefined ? 'not found' : 'a different value was found'} in ${to.label} after writing it`,
        ),
      );
    }
  }
  for (const [id, err] of failed) {
    actions.set(id, 'failed');
    failures.set(id, err);
  }
  return { kind, actions, failures };
}
