/**
 * @module resolver/chain
 * Builds the resolution chain from the configuration: the configured external backends in
 * order, then the environment, then the metastore (when one is given).
 */
import type { SecretsBackend } from '../backends/backend.ts';
import { createEnvBackend } from '../backends/env.ts';
import { BACKENDS, type BackendDeps } from '../backends/registry.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { createResolver, type Resolver } from './resolver.ts';

/** Dependencies of {@link createChain} and {@link createResolverFromConfig}. */
export interface ChainDeps extends BackendDeps {
  /** The metastore link, last in the chain. */
  metastore?: SecretsBackend;
  /** Where resolved secrets are registered for masking. */
  masker?: SecretsMasker;
  /** airlock's logger. */
  logger?: Logger;
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
  const chain: SecretsBackend[] = config.secrets.backends.map(({ type, kwargs }) =>
    BACKENDS[type].create({ ...kwargs }, backendDeps),
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
  return createResolver({
    backends: createChain(config, deps),
    fallthroughOnError: config.secrets.fallthroughOnError,
    ...(deps.masker ? { masker: deps.masker } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
