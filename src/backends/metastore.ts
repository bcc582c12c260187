/**
 * @module backends/metastore
 * The metastore link of the chain (Airflow's `MetastoreBackend`): Variables and Connections kept
 * by `airlock variables set` / `connections add` in the encrypted metastore. It is last in the
 * chain, after the external backends and the environment.
 *
 * The store is opened on the first lookup that reaches this link, so a command served by the
 * environment never opens the database (nor loads the SQL layer).
 *
 * A row that cannot be decrypted (a wrong or missing Fernet key) is an error naming the table
 * and the key (`AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` / `…_KEY_MISSING`). Airflow reports that case
 * as "isn't defined"; airlock fails closed instead, so a key mix-up is never mistaken for a
 * missing value.
 */
import type { SecretKind, SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'metastore' as const;

/** A stored Connection's fields, decrypted (what the metastore returns). */
export interface MetastoreConnectionFields {
  readonly connType: string;
  readonly description: string | null;
  readonly host: string | null;
  readonly login: string | null;
  readonly password: string | null;
  readonly schema: string | null;
  readonly port: number | null;
  /** The extra's JSON text. */
  readonly extra: string | null;
}

/** The part of the metastore this backend reads (structural, so tests can pass their own). */
export interface MetastoreReader {
  getVariable(key: string): Promise<string | undefined>;
  getConnection(connId: string): Promise<MetastoreConnectionFields | undefined>;
  listVariableKeys?(): Promise<string[]>;
  close?(): Promise<void>;
}

/** Dependencies of {@link createMetastoreBackend}. */
export interface MetastoreBackendDeps {
  /**
   * The metastore, or a function that opens it on first use; `undefined` from it means there
   * is no metastore yet (a SQLite file never written), and every lookup misses.
   */
  metastore: MetastoreReader | (() => Promise<MetastoreReader | undefined>);
  /**
   * The database URL with its password redacted, for `describe()` and provenance.
   * @default 'metastore'
   */
  url?: string;
  /**
   * Close the store on `dispose()` (when this backend opened it).
   * @default true when `metastore` is a function
   */
  closeOnDispose?: boolean;
}

/**
 * A stored Connection as Airflow's JSON form (the fields, `extra` as its JSON text), which
 * `Connection.deserialize` reads back exactly.
 *
 * @example
 * ```ts
 * connectionJson({ connType: 'postgres', host: 'db', login: null, … }); // '{"conn_type":"postgres","host":"db"}'
 * ```
 */
export function connectionJson(fields: MetastoreConnectionFields): string {
  const out: Record<string, string | number> = { conn_type: fields.connType };
  const optional = {
    description: fields.description,
    host: fields.host,
    login: fields.login,
    password: fields.password,
    schema: fields.schema,
    port: fields.port,
    extra: fields.extra,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== null) out[key] = value;
  return JSON.stringify(out);
}

/**
 * Creates the metastore backend.
 *
 * @example
 * ```ts
 * const backend = createMetastoreBackend({
 *   metastore: () => openMetastoreFromConfig(config, { intent: 'read' }),
 *   url: redactDatabaseUrl(config.database.url),
 * });
 * await backend.getVariable('bucket');
 * ```
 */
export function createMetastoreBackend(deps: MetastoreBackendDeps): SecretsBackend {
  const url = deps.url ?? 'metastore';
  const lazy = typeof deps.metastore === 'function';
  const closeOnDispose = deps.closeOnDispose ?? lazy;
  let opening: Promise<MetastoreReader | undefined> | undefined;

  function store(): Promise<MetastoreReader | undefined> {
    if (typeof deps.metastore !== 'function') return Promise.resolve(deps.metastore);
    if (!opening) {
      const open = deps.metastore;
      opening = open().catch((err: unknown) => {
        // A failed open is retried by the next lookup rather than remembered.
        opening = undefined;
        throw err;
      });
    }
    return opening;
  }

  return {
    name: BACKEND_NAME,
    async getVariable(key) {
      return (await store())?.getVariable(key);
    },
    async getConnectionValue(connId) {
      const fields = await (await store())?.getConnection(connId);
      return fields === undefined ? undefined : connectionJson(fields);
    },
    async listVariableKeys() {
      const opened = await store();
      return opened?.listVariableKeys ? opened.listVariableKeys() : [];
    },
    locate(kind: SecretKind, id: string) {
      return `${url}#${kind === 'variable' ? 'variable' : 'connection'}/${id}`;
    },
    describe() {
      return { type: BACKEND_NAME, url };
    },
    async dispose() {
      if (!closeOnDispose || !opening) return;
      const opened = await opening.catch(() => undefined);
      opening = undefined;
      await opened?.close?.();
    },
  };
}
