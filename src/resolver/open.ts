/**
 * @module resolver/open
 * The composition root: {@link openSecrets} builds the whole chain of one deployment — the
 * configured external backends, the environment, the metastore, the cache and the shared cache,
 * registering what it resolves with a masker — and every entry point uses it: the CLI, the
 * server, the supervisors of task and discovery processes, and a task process with no
 * supervisor. The purpose changes documented defaults, never the chain:
 *
 * | purpose | values from external stores in its output | cache | hears other processes' writes |
 * | --- | --- | --- | --- |
 * | `cli` | masked whole (`mask_all_resolved` on) | as configured | no (one command) |
 * | `server` | masked whole | off: `which` and connection tests show what the stores hold now | yes |
 * | `task` | Airflow's rule: a Variable when its key is sensitive, a Connection's password | as configured | yes |
 *
 * `AIRLOCK__CORE__MASK_ALL_RESOLVED` overrides the masking default of every purpose.
 */
import { createMetastoreBackend, type MetastoreReader } from '../backends/metastore.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { redactDatabaseUrl } from '../metastore/database-url.ts';
import { createResolverFromConfig } from './chain.ts';
import type { Resolver } from './resolver.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Who the chain is for (see the module's table). */
export type SecretsPurpose = 'cli' | 'server' | 'task';

/** What a purpose changes: documented defaults only. */
const PURPOSES: Readonly<
  Record<SecretsPurpose, { maskAllResolved: boolean; cache: boolean; subscribe: boolean }>
> = Object.freeze({
  cli: { maskAllResolved: true, cache: true, subscribe: false },
  server: { maskAllResolved: true, cache: false, subscribe: true },
  task: { maskAllResolved: false, cache: true, subscribe: true },
});

/** Options of {@link openSecrets}. */
export interface OpenSecretsOptions {
  purpose: SecretsPurpose;
  /** The deployment's environment (the process's overlaid with the deployment settings). */
  env: Env;
  /**
   * The metastore: an open one (the caller closes it), or a function that opens it on first
   * use (closed on dispose). @default opened from `config` on first use, for reading
   */
  metastore?: MetastoreReader | (() => Promise<MetastoreReader | undefined>);
  /**
   * Close the metastore on dispose. @default true when this opens it (no `metastore`, or a
   * function), false for an open one
   */
  closeMetastore?: boolean;
  /** Where what is resolved is registered for masking (by the purpose's rule). */
  masker?: SecretsMasker | undefined;
  logger?: Logger | undefined;
}

/** One deployment's chain. */
export interface Secrets {
  readonly config: Config;
  readonly resolver: Resolver;
  /** Whether values from external stores are masked whole (the purpose's default, or the setting). */
  readonly maskAllResolved: boolean;
  /** Closes the stores' clients (and a metastore this opened). */
  dispose(): Promise<void>;
}

/**
 * Builds the chain `config` describes, for `purpose`.
 *
 * @example
 * ```ts
 * const { resolver } = openSecrets(loadConfig(env), { purpose: 'cli', env });
 * await resolver.getVariable('bucket');
 * ```
 */
export function openSecrets(config: Config, options: OpenSecretsOptions): Secrets {
  const defaults = PURPOSES[options.purpose];
  options.masker?.configure({
    sensitiveWords: config.core.sensitiveVarConnNames,
    hideSensitive: config.core.hideSensitiveVarConnFields,
  });
  const maskAllResolved = config.core.maskAllResolved ?? defaults.maskAllResolved;
  const opened =
    options.metastore ??
    (async () => {
      const { openMetastoreFromConfig } = await import('../metastore/open.ts');
      return openMetastoreFromConfig(config, { intent: 'read' });
    });
  const metastore = createMetastoreBackend({
    metastore: opened,
    url: redactDatabaseUrl(config.database.url),
    ...(options.closeMetastore === undefined ? {} : { closeOnDispose: options.closeMetastore }),
  });
  const effective: Config = defaults.cache
    ? config
    : {
        ...config,
        secrets: { ...config.secrets, cache: { ...config.secrets.cache, enabled: false } },
      };
  const resolver = createResolverFromConfig(effective, {
    env: options.env,
    metastore,
    maskAllResolved,
    subscribeInvalidations: defaults.subscribe,
    ...(options.masker ? { masker: options.masker } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { config, resolver, maskAllResolved, dispose: () => resolver.dispose() };
}
