/**
 * @module resolver/types
 * The resolver's public types: what a lookup returns (value, provenance, trace), its options, and
 * the {@link Resolver} interface the walk, batch, cache and which modules implement together.
 */
import type { BackendName, SecretKind, SecretsBackend } from '../backends/backend.ts';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { Connection } from '../model/connection.ts';
import type { CacheState, SecretCache } from './cache.ts';
import type { SharedCache } from './shared-cache.ts';

/** What one link did for one lookup. */
export type LinkOutcome = 'hit' | 'miss' | 'error' | 'skipped';

/** One link's part in a lookup: never the value. */
export interface LinkTrace {
  readonly backend: BackendName;
  readonly outcome: LinkOutcome;
  /** Wall time spent in this link, in milliseconds (0 for skipped links). */
  readonly durationMs: number;
  /** Where the link looked (a path, a secret name, an env name), when it says. */
  readonly location?: string;
  /**
   * Why a link was skipped, the error's message, or on a miss the backend's note on why the miss
   * is suspect (secret-free by construction).
   */
  readonly reason?: string;
  /** The error's code, for `error` outcomes. */
  readonly errorCode?: ErrorCode;
  /**
   * Set when the answer came from the cache instead of the store: `cached` (this process's
   * cache, fresh), `stale` (expired, served because the refresh failed) or `shared` (the shared
   * cache filled by another process). The link's outcome is what it was when read.
   */
  readonly cache?: CacheState;
}

/** A resolved value with its provenance. */
export interface Resolution<T> {
  readonly value: T;
  /** The backend that served the value (also when it came from the cache). */
  readonly source: BackendName;
  readonly trace: readonly LinkTrace[];
  /** Set when the value came from a cache; `stale` when served past its TTL (stale-if-error). */
  readonly cache?: CacheState;
}

/** The full story of one lookup, as `airlock secrets which` shows it. */
export interface WhichReport {
  readonly kind: SecretKind;
  readonly id: string;
  /** The link that serves the value, or `null` when none does (or the chain failed first). */
  readonly source: BackendName | null;
  readonly trace: readonly LinkTrace[];
}

/** Options of {@link createResolver}. */
export interface ResolverOptions {
  /** The chain, in priority order: external backends, then `env`, then `metastore`. */
  backends: readonly SecretsBackend[];
  /**
   * Airflow's behaviour: on a backend failure, try the next link instead of failing.
   * @default false
   */
  fallthroughOnError?: boolean;
  /**
   * A bound on each link's time, in milliseconds; `0` means none (backends have their own).
   * @default 0
   */
  linkTimeoutMs?: number;
  /**
   * One deadline per lookup, in milliseconds: the whole chain walk (every link, every retry a
   * store's SDK makes) must end within it, or the lookup fails with
   * `AIRLOCK_ERR_BACKEND_TIMEOUT` naming the link it was waiting on. `0` means none. Each
   * store's own timeouts (Airflow's kwargs) still apply inside it.
   * @default 30000
   */
  lookupTimeoutMs?: number;
  /**
   * Where every resolved secret is registered, so that logs, errors and child output mask it:
   * connection passwords and sensitive-named values always; with `maskAllResolved`, every value
   * an external backend serves.
   */
  masker?: SecretsMasker;
  /**
   * Register every value served by an external backend (not `env` or `metastore`), whatever its
   * name (`mask_all_resolved`).
   * @default true
   */
  maskAllResolved?: boolean;
  /** Told of failures passed over (`fallthroughOnError`) and, at debug, of every lookup. */
  logger?: Logger;
  /**
   * The cache of chain outcomes (see `cache.ts`); without one, every lookup walks the chain.
   * @default undefined
   */
  cache?: SecretCache;
  /** A cache shared by several processes (Redis), consulted after this process's cache. */
  sharedCache?: SharedCache;
}

/** Per-call options of the resolver's lookups. */
export interface LookupOptions {
  signal?: AbortSignal;
  /**
   * Read the store even when the cache holds a fresh answer (powertools' `forceFetch`); the
   * answer read then replaces the cached one.
   * @default false
   */
  forceFetch?: boolean;
}

/** What {@link Resolver.prefetch} fetches. */
export interface PrefetchRequest {
  variables?: readonly string[];
  connections?: readonly string[];
}

/** Resolves Variables and Connections through a chain of backends. */
export interface Resolver {
  readonly backends: readonly SecretsBackend[];
  /** The Variable's value and provenance, or `undefined` when no link holds it. */
  getVariable(key: string, options?: LookupOptions): Promise<Resolution<string> | undefined>;
  /** The parsed Connection and provenance, or `undefined` when no link holds it. */
  getConnection(
    connId: string,
    options?: LookupOptions,
  ): Promise<Resolution<Connection> | undefined>;
  /**
   * Several Variables at once, each link asked for all the keys still missing in one batch
   * call where the backend has one (SSM `GetParameters`, Secrets Manager
   * `BatchGetSecretValue`), else in parallel single reads. The map holds the keys found.
   */
  getVariables(
    keys: readonly string[],
    options?: LookupOptions,
  ): Promise<Map<string, Resolution<string>>>;
  /** Several Connections at once, as {@link Resolver.getVariables} does for Variables. */
  getConnections(
    connIds: readonly string[],
    options?: LookupOptions,
  ): Promise<Map<string, Resolution<Connection>>>;
  /**
   * Resolves many ids at once into the cache (batch calls where a backend has them), so that
   * the lookups that follow are cache hits. Returns what was found.
   *
   * @example
   * ```ts
   * await resolver.prefetch({ variables: ['a', 'b'], connections: ['db'] });
   * ```
   */
  prefetch(
    request: PrefetchRequest,
    options?: LookupOptions,
  ): Promise<{
    variables: Map<string, Resolution<string>>;
    connections: Map<string, Resolution<Connection>>;
  }>;
  /**
   * Forgets the cached answer for one id, here and (with a shared cache) in every process, after
   * a write through airlock. A no-op without a cache.
   */
  invalidate(kind: SecretKind, id: string): Promise<void>;
  /** Forgets every cached answer, here and in every process sharing the cache (bulk imports). */
  invalidateAll(): Promise<void>;
  /**
   * What every link does for this lookup; with `all`, links after the serving one are asked too
   * (their hits are values the first link shadows). Never throws for a backend failure.
   * A fresh cached answer is reported as such (links marked `cache: 'cached'`) unless
   * `forceFetch` or `all` is set.
   */
  which(
    kind: SecretKind,
    id: string,
    options?: LookupOptions & { all?: boolean },
  ): Promise<WhichReport>;
  /**
   * The Variable keys starting with `prefix` that the links able to list hold (deduplicated,
   * sorted), and the links that cannot list (so callers can say the listing is partial).
   */
  listVariableKeys(
    prefix: string,
    options?: LookupOptions,
  ): Promise<{ keys: string[]; unlisted: BackendName[] }>;
  /** Disposes every backend. */
  dispose(): Promise<void>;
}
