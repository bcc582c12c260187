/**
 * @module config/schema
 * The shape of airlock's effective configuration, and the env names it is read from.
 */
import type { BackendDeps, ExternalBackendName, SecretsBackend } from '../backends/backend.ts';

/**
 * One configured external backend: its short name, its parsed (Airflow-named) kwargs, and its
 * factory with those kwargs (the configuration loaded the backend's module to check them).
 */
export interface BackendConfig {
  readonly type: ExternalBackendName;
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** Creates this backend (each call a new instance, with its own client). */
  readonly create: (deps?: BackendDeps) => SecretsBackend;
}

/**
 * Where the metastore's Fernet keys are configured: a value (comma-separated keys, newest
 * first) or a shell command that prints it (Airflow's `_CMD` form). `from` is the env name.
 */
export type FernetKeySetting =
  | { readonly from: string; readonly value: string; readonly command?: undefined }
  | { readonly from: string; readonly command: string; readonly value?: undefined };

/** The resolver's cache settings (`[secrets]`), see `docs/cache.md`. */
export interface CacheConfig {
  /** `use_cache`; `false` turns the cache off whatever the TTLs say. @default true */
  readonly enabled: boolean;
  /**
   * How long a found value stays fresh, per kind (`cache_ttl_seconds`, or the per-kind
   * `variables_cache_ttl_seconds` / `connections_cache_ttl_seconds`).
   * @default { variable: 900, connection: 900 }
   */
  readonly ttlSeconds: { readonly variable: number; readonly connection: number };
  /** How long a miss stays cached (`negative_cache_ttl_seconds`). @default 30 */
  readonly negativeTtlSeconds: number;
  /** How long past expiry a value may be served when the refresh fails. @default 0 */
  readonly maxStaleSeconds: number;
  /** The most entries kept per kind, least recently used out first. @default 10000 */
  readonly maxEntries: number;
  /** `redis://…`: a cache shared by processes (encrypted with the Fernet keys). @default null */
  readonly sharedUrl: string | null;
  /**
   * The bound on each shared-cache call (connecting, and each reply), in milliseconds; a cache
   * that misses it is bypassed for a while (see `docs/cache.md`). @default 1000
   */
  readonly sharedTimeoutMs: number;
}

/** airlock's effective configuration, deeply frozen. */
export interface Config {
  /** Where airlock keeps local state (`AIRLOCK_HOME`). @default '~/airlock' */
  readonly home: string;
  readonly secrets: {
    /** External backends, consulted in this order before the environment and the metastore. */
    readonly backends: readonly BackendConfig[];
    /** The env variable(s) the backends were configured by, for `airlock config show`. */
    readonly configuredBy: string | null;
    /**
     * Airflow's behaviour: a backend that fails is logged and the next link is tried.
     * airlock fails closed unless this is set.
     * @default false
     */
    readonly fallthroughOnError: boolean;
    /**
     * One deadline per lookup (the whole chain walk), in seconds, after which it fails with
     * `AIRLOCK_ERR_BACKEND_TIMEOUT`; `0`: none (each store's own timeouts still apply).
     * @default 30
     */
    readonly lookupTimeoutSeconds: number;
    /** The resolver's cache (see `docs/cache.md`). */
    readonly cache: CacheConfig;
  };
  readonly core: {
    /** Extra sensitive words (`sensitive_var_conn_names`). @default [] */
    readonly sensitiveVarConnNames: readonly string[];
    /** Whether sensitive names are masked at all (`hide_sensitive_var_conn_fields`). @default true */
    readonly hideSensitiveVarConnFields: boolean;
    /**
     * Mask every value an external backend serves, whatever its name (`mask_all_resolved`);
     * `null`: the process's default (on for the CLI and the server; off for task logs, which
     * follow Airflow's rule so that the docs' `My variable is: …` check shows the value).
     * @default null
     */
    readonly maskAllResolved: boolean | null;
    /**
     * The metastore's Fernet keys (`fernet_key`); `null`: the key file `$AIRLOCK_HOME/fernet.key`
     * is used, and `airlock db migrate` generates it.
     * @default null
     */
    readonly fernetKey: FernetKeySetting | null;
  };
  readonly database: {
    /**
     * The metastore's database, as a SQLAlchemy-style URL (`sqlite:////abs/path.db`,
     * `postgresql://…`, `postgresql+psycopg2://…`).
     * @default `sqlite:///${home}/airlock.db`
     */
    readonly url: string;
    /** The env variable the URL was read from; `null` for the default. */
    readonly configuredBy: string | null;
  };
}

/**
 * The env names airlock reads, in precedence order where two name the same setting
 * (an `AIRLOCK__` name wins over its `AIRFLOW__` twin).
 */
export const ENV = {
  home: 'AIRLOCK_HOME',
  backends: 'AIRLOCK__SECRETS__BACKENDS',
  backend: ['AIRLOCK__SECRETS__BACKEND', 'AIRFLOW__SECRETS__BACKEND'],
  backendKwargs: ['AIRLOCK__SECRETS__BACKEND_KWARGS', 'AIRFLOW__SECRETS__BACKEND_KWARGS'],
  fallthroughOnError: ['AIRLOCK__SECRETS__FALLTHROUGH_ON_ERROR'],
  useCache: ['AIRLOCK__SECRETS__USE_CACHE', 'AIRFLOW__SECRETS__USE_CACHE'],
  cacheTtlSeconds: ['AIRLOCK__SECRETS__CACHE_TTL_SECONDS', 'AIRFLOW__SECRETS__CACHE_TTL_SECONDS'],
  variablesCacheTtlSeconds: ['AIRLOCK__SECRETS__VARIABLES_CACHE_TTL_SECONDS'],
  connectionsCacheTtlSeconds: ['AIRLOCK__SECRETS__CONNECTIONS_CACHE_TTL_SECONDS'],
  negativeCacheTtlSeconds: ['AIRLOCK__SECRETS__NEGATIVE_CACHE_TTL_SECONDS'],
  maxStaleSeconds: ['AIRLOCK__SECRETS__MAX_STALE_SECONDS'],
  cacheMaxEntries: ['AIRLOCK__SECRETS__CACHE_MAX_ENTRIES'],
  sharedCacheUrl: ['AIRLOCK__SECRETS__SHARED_CACHE_URL'],
  sharedCacheTimeoutMs: ['AIRLOCK__SECRETS__SHARED_CACHE_TIMEOUT_MS'],
  lookupTimeoutSeconds: ['AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS'],
  sensitiveVarConnNames: [
    'AIRLOCK__CORE__SENSITIVE_VAR_CONN_NAMES',
    'AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES',
  ],
  maskAllResolved: ['AIRLOCK__CORE__MASK_ALL_RESOLVED'],
  hideSensitiveVarConnFields: [
    'AIRLOCK__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS',
    'AIRFLOW__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS',
  ],
  /** Each family's value wins over its `_CMD`; the `AIRLOCK__` family wins over `AIRFLOW__`. */
  fernetKey: [
    'AIRLOCK__CORE__FERNET_KEY',
    'AIRLOCK__CORE__FERNET_KEY_CMD',
    'AIRFLOW__CORE__FERNET_KEY',
    'AIRFLOW__CORE__FERNET_KEY_CMD',
  ],
  /** `AIRFLOW__CORE__SQL_ALCHEMY_CONN` is the name Airflow used before 2.3. */
  databaseUrl: [
    'AIRLOCK__DATABASE__URL',
    'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN',
    'AIRFLOW__CORE__SQL_ALCHEMY_CONN',
  ],
} as const;
