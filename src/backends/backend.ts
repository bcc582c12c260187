/**
 * @module backends/backend
 * The secrets backend interface: one small, dumb contract that every link of the chain
 * implements. Parsing, caching, masking and order live in the resolver, not here.
 */
import type { z } from 'zod';
import { AirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';

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
   * The keys or conn_ids of `kind` this backend holds under its configured prefix or path, for
   * `airlock migrate --from`. Optional: a backend without it cannot be a migration source.
   */
  listKeys?(kind: SecretKind, signal?: AbortSignal): Promise<string[]>;
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
  /**
   * Writes the raw value (what `getVariable` / `getConnectionValue` would return: a Variable's
   * text, a Connection's URI or JSON) at exactly the name this backend reads `id` from, in the
   * shape Airflow's reader for the store expects (`airlock secrets put`, `airlock migrate`).
   * Optional: a backend without it is read-only.
   *
   * @throws AirlockError `AIRLOCK_ERR_BACKEND_NAME_INVALID` for a name the store cannot hold or
   *   that this backend would never read; the store's refusal, coded as for reads.
   */
  putSecret?(kind: SecretKind, id: string, value: string, signal?: AbortSignal): Promise<void>;
  /** Deletes what `putSecret` wrote (a store's soft delete where it has one); a missing one is no error. */
  deleteSecret?(kind: SecretKind, id: string, signal?: AbortSignal): Promise<void>;
  /**
   * What `airlock doctor` should know beyond a probe read (a Vault token's TTL and policies, the
   * store's clock against this machine's); never a value. Optional.
   */
  diagnose?(signal?: AbortSignal): Promise<BackendDiagnosis[]>;
  /** The backend's options with credentials redacted, for `airlock config show`. */
  describe(): Record<string, unknown>;
  /** Releases clients, sockets and timers. */
  dispose?(): Promise<void>;
}

/** One fact of {@link SecretsBackend.diagnose}. */
export interface BackendDiagnosis {
  readonly status: 'ok' | 'warning' | 'failure';
  readonly detail: string;
  /** What to do, for a warning or a failure. */
  readonly fix?: string;
}

/** Injectable dependencies every backend factory accepts (tests pass fakes here). */
export interface BackendDeps {
  /** The environment (for `$VAULT_TOKEN`, `$AWS_REGION`, …). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** A `fetch` implementation for HTTP backends. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** airlock's logger, for what a backend must log on request (`log_idp_response`). */
  logger?: Logger;
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

/**
 * The refusal of a write whose name the store cannot hold, or that the backend would not read.
 *
 * @example
 * ```ts
 * throw nameRefused('azure-key-vault', 'variable', 'a.b', 'Key Vault names hold only 0-9, a-z, A-Z and -');
 * ```
 */
export function nameRefused(
  backend: BackendName,
  kind: SecretKind,
  id: string,
  why: string,
): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_BACKEND_NAME_INVALID',
    `${backend}: cannot write ${kind} \`${id}\`: ${why}`,
    { details: { backend, kind, id } },
  );
}

/**
 * The refusal of a write of a kind this backend never reads (its prefix or path kwarg is
 * `null`, or its lookup pattern excludes the key).
 */
export function kindDisabled(backend: BackendName, kind: SecretKind, id: string): AirlockError {
  return nameRefused(
    backend,
    kind,
    id,
    `${kind}s_prefix (or path) is null, or ${kind}s_lookup_pattern excludes it, so this backend never reads it`,
  );
}

/** The names that start with `head` (and go on), without it, sorted: a listing's keys. */
export function keysUnder(names: Iterable<string>, head: string): string[] {
  const keys: string[] = [];
  for (const name of names) {
    if (name.startsWith(head) && name.length > head.length) keys.push(name.slice(head.length));
  }
  return keys.sort();
}

/**
 * The name a write goes to, once the backend reads it (`name` defined) and the store can hold
 * it (`valid`); else the refusal, naming `rule`.
 *
 * @example
 * ```ts
 * const sid = writableName('gcp-secret-manager', kind, id, secretId(kind, id), SECRET_ID, 'letters, digits, _ and -');
 * ```
 */
export function writableName(
  backend: BackendName,
  kind: SecretKind,
  id: string,
  name: string | undefined,
  valid: (name: string) => boolean,
  rule: string,
): string {
  if (name === undefined) throw kindDisabled(backend, kind, id);
  if (!valid(name))
    throw nameRefused(backend, kind, id, `\`${name}\` is not a valid name here (${rule})`);
  return name;
}
