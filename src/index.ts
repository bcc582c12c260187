/**
 * @module airlock
 * airlock's public API: the Connection and Variable model, the backends, the resolver and the
 * configuration loader.
 *
 * @example
 * ```ts
 * import { createResolverFromConfig, getVariable, loadConfig } from 'airlock';
 * const resolver = createResolverFromConfig(loadConfig());
 * console.log(await getVariable(resolver, 'bucket'));
 * ```
 */
export type {
  BackendName,
  ExternalBackendName,
  SecretKind,
  SecretsBackend,
} from './backends/backend.ts';
export { BACKEND_NAMES, EXTERNAL_BACKEND_NAMES } from './backends/backend.ts';
export { createEnvBackend } from './backends/env.ts';
export { createLocalFileBackend, type LocalFileBackendOptions } from './backends/local-file.ts';
export { createMetastoreBackend } from './backends/metastore.ts';
export { AIRFLOW_CLASS_PATHS, BACKENDS, resolveBackendType } from './backends/registry.ts';
export { loadConfig } from './config/load-config.ts';
export type { BackendConfig, Config } from './config/schema.ts';
// The pipeline API, `Variable`, `Connection` and the errors: what `airlock/dag` exports.
export * from './dag.ts';
export { createLogger, type Logger, type LogLevel } from './logging/logger.ts';
export { MASK, SecretsMasker, type SecretsMaskerOptions } from './masking/masker.ts';
export { isSensitiveName } from './masking/sensitive-keys.ts';
export { createMaskingStream } from './masking/stream.ts';
export { Fernet, MultiFernet, parseFernetKeys } from './metastore/fernet.ts';
export { getConnection } from './model/connection-lookup.ts';
export { getVariable, type VariableGetOptions } from './model/variable.ts';
export { createChain, createResolverFromConfig } from './resolver/chain.ts';
export {
  createResolver,
  type LinkTrace,
  type Resolution,
  type Resolver,
  type ResolverOptions,
  type WhichReport,
} from './resolver/resolver.ts';
