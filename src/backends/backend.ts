/**
 * @module backends/backend
 * The secrets backend interface: one small, dumb contract that every link of the chain
 * implements. Parsing, caching, masking and order live in the resolver, not here.
 */
import type { z } from 'zod';

/** Every backend airlock knows, by its short name (= its file name under `src/backends/`). */
export const BACKEND_NAMES = [
  'vault',
  'aws-secrets-manager',
  'aws-ssm',
  'gcp-secret-manager',
  'azure-key-vault',
  'local-file',
  'env',
  'metastore',
] as const;

/** The short name of a backend, such as `vault` or `env`. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The external backends, the ones configured with `AIRFLOW__SECRETS__BACKEND` or `AIRLOCK__…`. */
export const EXTERNAL_BACKEND_NAMES = [
  'vault',
  'aws-secrets-manager',
  'aws-ssm',
  'gcp-secret-manager',
  'azure-key-vault',
  'local-file',
] as const satisfies readonly BackendName[];

/** The short name of an external backend. */
export type ExternalBackendName = (typeof EXTERNAL_BACKEND_NAMES)[number];

/** What a lookup asks for. */
export type SecretKind = 'variable' | 'connection';

/**
 * A link of the resolution chain.
 *
 * `undefined` means "not here, try the next link". A failure (unreachable store, refused
 * credentials, a file that does not parse) is a thrown `AirlockError`, never `undefined`.
 *
 * @example
 * ```ts
 * const value = await backend.getVariable('db_url'); // string | undefined
 * ```
 */
export interface SecretsBackend {
  /** The backend's short name; provenance reports it as the `source`. */
  readonly name: BackendName;
  /** The raw value of a Variable, or `undefined` when this backend does not hold it. */
  getVariable(key: string, signal?: AbortSignal): Promise<string | undefined>;
  /** The raw Connection (a URI or a JSON document), or `undefined` when not held here. */
  getConnectionValue(connId: string, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * Several Variables in as few store calls as the store allows (SSM `GetParameters`, Secrets
   * Manager `BatchGetSecretValue`); the map holds only the keys found. Optional: the resolver
   * falls back to parallel single reads.
   */
  getVariables?(keys: readonly string[], signal?: AbortSignal): Promise<Map<string, string>>;
  /** Several raw Connections at once; the map holds only the ids found. Optional, as above. */
  getConnectionValues?(
    connIds: readonly string[],
    signal?: AbortSignal,
  ): Promise<Map<string, string>>;
  /**
   * The keys of the Variables this backend holds, for `airlock run --all-from PREFIX`.
   * Optional: a backend that cannot list is left out of such a listing (and says so).
   */
  listVariableKeys?(signal?: AbortSignal): Promise<string[]>;
  /**
   * Where this backend would look for `id` (a path, a secret name, an env name), for
   * provenance; `undefined` when lookups of this kind are disabled (for example
   * `variables_path: null`), in which case the resolver reports the link as skipped.
   */
  locate?(kind: SecretKind, id: string): string | undefined;
  /**
   * Called after a miss: a cause the backend noticed that makes the miss suspect (a setting that
   * does not match the store, such as Vault's `kv_engine_version` on a mount of the other
   * version), for provenance and the not-found message; `undefined` when the miss is plain.
   * Never holds a value.
   */
  missNote?(kind: SecretKind, id: string): string | undefined;
  /** The backend's options with credentials redacted, for `airlock config show`. */
  describe(): Record<string, unknown>;
  /** Releases clients, sockets and timers. */
  dispose?(): Promise<void>;
}

/** Injectable dependencies every backend factory accepts (tests pass fakes here). */
export interface BackendDeps {
  /** The environment (for `$VAULT_TOKEN`, `$AWS_REGION`, …). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** A `fetch` implementation for HTTP backends. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** What one external backend module provides: its kwargs schema and its factory. */
export interface BackendEntry {
  /** The kwargs schema (Airflow's snake_case names). */
  readonly optionsSchema: z.ZodType<Record<string, unknown>>;
  /** Creates the backend from parsed kwargs. */
  readonly create: (options: Record<string, unknown>, deps?: BackendDeps) => SecretsBackend;
}

/**
 * Whether a Variable key or conn_id would leave the path it is looked up under in a store that
 * addresses secrets by path (Vault's `variables_path` / `connections_path`): a leading `/`, a
 * backslash, or a `.` / `..` segment (also percent-encoded, as URL parsers decode `%2e`). Such a
 * name is not a valid name there: a lookup is a miss, never a read elsewhere (an HTTP client
 * normalises `a/../../b` before the request leaves, and Vault cleans paths too).
 *
 * @example
 * ```ts
 * escapesPath('team/db_password'); // false
 * escapesPath('../../other/secret'); // true
 * escapesPath('a/%2e%2e/b'); // true
 * ```
 */
export function escapesPath(id: string): boolean {
  if (id.startsWith('/') || id.includes('\\')) return true;
  return id.split('/').some((segment) => {
    const dots = segment.replace(/%2e/gi, '.');
    return dots === '.' || dots === '..';
  });
}
