/**
 * @module resolver/chain
 * Builds the resolution chain from the configuration: the configured external backends in
 * order, then the environment, then the metastore (when one is given).
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendDeps, SecretsBackend } from '../backends/backend.ts';
import { createEnvBackend } from '../backends/env.ts';
import type { Config } from '../config/schema.ts';
import { isAirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { MultiFernet } from '../metastore/fernet.ts';
import { SecretCache } from './cache.ts';
import { createResolver, type Resolver } from './resolver.ts';
import type { SharedCache } from './shared-cache.ts';

/** Dependencies of {@link createChain} and {@link createResolverFromConfig}. */
export interface ChainDeps extends BackendDeps {
  /** The metastore link, last in the chain. */
  metastore?: SecretsBackend;
  /** Where resolved secrets are registered for masking. */
  masker?: SecretsMasker;
  /** airlock's logger. */
  logger?: Logger;
  /** The Fernet keys that encrypt shared-cache entries. @default the metastore's keys */
  fernetKeys?: MultiFernet;
  /**
   * Whether this process listens for other processes' invalidations (long-lived processes);
   * a one-command CLI run only publishes its own.
   * @default true
   */
  subscribeInvalidations?: boolean;
  /**
   * Mask values from external stores whole (`mask_all_resolved`).
   * @default the configuration's, else the resolver's default (on)
   */
  maskAllResolved?: boolean;
}

/**
 * The shared cache the configuration names, or `undefined`. Its client (and the Fernet keys) load
 * on first use, so that a process the environment serves never loads them. The shared cache is
 * an optimisation: without a Fernet key to encrypt it (none configured, or one that cannot be
 * loaded) it is bypassed with one warning, and lookups go to the chain.
 */
function sharedCacheFromConfig(config: Config, deps: ChainDeps): SharedCache | undefined {
  const url = config.secrets.cache.sharedUrl;
  if (!config.secrets.cache.enabled || url === null) return undefined;
  // The key file `airlock db migrate` writes (`keyFilePath` in metastore/keys.ts).
  const keyFile = join(config.home, 'fernet.key');
  const bypass = (code: string, why: string) =>
    deps.logger?.warn(
      { code },
      `shared cache: ${why} (set AIRLOCK__CORE__FERNET_KEY or run \`airlock db migrate\`); not using it`,
    );
  if (!deps.fernetKeys && config.core.fernetKey === null && !existsSync(keyFile)) {
    bypass(
      'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
      'it encrypts with the metastore Fernet keys, and none is configured',
    );
    return undefined;
  }
  const listeners: Array<Parameters<SharedCache['onInvalidate']>[0]> = [];
  let inner: Promise<SharedCache | undefined> | undefined;
  const open = (): Promise<SharedCache | undefined> => {
    inner ??= (async () => {
      const [{ createRedisSharedCache }, { loadFernetKeys }] = await Promise.all([
        import('./shared-cache.ts'),
        import('../metastore/keys.ts'),
      ]);
      let keys: MultiFernet | undefined;
      try {
        keys = deps.fernetKeys ?? loadFernetKeys(config.core.fernetKey, config.home)?.keys;
      } catch (err) {
        const code = isAirlockError(err) ? err.code : 'AIRLOCK_ERR_CRYPTO_KEY_INVALID';
        bypass(code, `its Fernet key cannot be loaded (${code})`);
        return undefined;
      }
      if (!keys) {
        bypass('AIRLOCK_ERR_CRYPTO_KEY_MISSING', 'the Fernet key file is gone');
        return undefined;
      }
      const shared = createRedisSharedCache({
        url,
        keys,
        subscribe: deps.subscribeInvalidations ?? true,
        timeoutMs: config.secrets.cache.sharedTimeoutMs,
      });
      for (const listener of listeners) shared.onInvalidate(listener);
      return shared;
    })();
    return inner;
  };
  return {
    get: async (kind, id) => (await open())?.get(kind, id),
    set: async (kind, id, record, keepMs) => (await open())?.set(kind, id, record, keepMs),
    invalidate: async (kind, id) => (await open())?.invalidate(kind, id),
    invalidateAll: async () => (await open())?.invalidateAll(),
    onInvalidate(listener) {
      listeners.push(listener);
    },
    async close() {
      if (inner) await (await inner.catch(() => undefined))?.close();
    },
  };
}

/**
 * The chain's backends, in priority order.
 *
 * @example
 * ```ts
 * const backends = createChain(loadConfig());
 * backends.map((b) => b.name); // ['vault', 'env']
 * ```
 */
export function createChain(config: Config, deps: ChainDeps = {}): SecretsBackend[] {
  const backendDeps: BackendDeps = {};
  if (deps.env) backendDeps.env = deps.env;
  if (deps.fetch) backendDeps.fetch = deps.fetch;
  if (deps.logger) backendDeps.logger = deps.logger;
  // The configuration holds each backend's factory: the modules it was checked with.
  const chain: SecretsBackend[] = config.secrets.backends.map((backend) =>
    backend.create(backendDeps),
  );
  chain.push(createEnvBackend(deps.env ? { env: deps.env } : {}));
  if (deps.metastore) chain.push(deps.metastore);
  return chain;
}

/**
 * A resolver over the chain the configuration describes.
 *
 * @example
 * ```ts
 * const resolver = createResolverFromConfig(loadConfig());
 * ```
 */
export function createResolverFromConfig(config: Config, deps: ChainDeps = {}): Resolver {
  const settings = config.secrets.cache;
  const cache = settings.enabled
    ? new SecretCache({
        ttlSeconds: settings.ttlSeconds,
        negativeTtlSeconds: settings.negativeTtlSeconds,
        maxStaleSeconds: settings.maxStaleSeconds,
        maxEntries: settings.maxEntries,
      })
    : undefined;
  const sharedCache = sharedCacheFromConfig(config, deps);
  return createResolver({
    backends: createChain(config, deps),
    fallthroughOnError: config.secrets.fallthroughOnError,
    lookupTimeoutMs: config.secrets.lookupTimeoutSeconds * 1000,
    ...(deps.maskAllResolved !== undefined
      ? { maskAllResolved: deps.maskAllResolved }
      : config.core.maskAllResolved === null
        ? {}
        : { maskAllResolved: config.core.maskAllResolved }),
    ...(cache ? { cache } : {}),
    ...(sharedCache ? { sharedCache } : {}),
    ...(deps.masker ? { masker: deps.masker } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
