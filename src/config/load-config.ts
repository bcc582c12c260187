/**
 * @module config/load-config
 * The synchronous `loadConfig`: it checks any backend's kwargs at once with every backend
 * module (`backends/registry.ts`), which costs start-up time; the CLI uses `loadConfigAsync`
 * from `read-config.ts`, which loads only the configured backends' modules.
 */
import { BACKENDS } from '../backends/registry.ts';
import { parseFernetKeys } from '../metastore/fernet.ts';
import { type ConfigModules, readConfig } from './read-config.ts';
import type { Config } from './schema.ts';

export { loadConfigAsync, readConfig } from './read-config.ts';

/** Every backend module and the Fernet key check. */
const ALL_MODULES: ConfigModules = {
  backend: (type) => BACKENDS[type],
  checkKeys: parseFernetKeys,
};

/**
 * Reads and checks the configuration from `env`; throws one {@link ConfigError} listing every
 * problem.
 *
 * @example
 * ```ts
 * const config = loadConfig({
 *   AIRFLOW__SECRETS__BACKEND: 'airflow.secrets.local_filesystem.LocalFilesystemBackend',
 *   AIRFLOW__SECRETS__BACKEND_KWARGS: '{"variables_file_path": "/etc/vars.json"}',
 * });
 * config.secrets.backends[0]?.type; // 'local-file'
 * ```
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config {
  return readConfig(env, ALL_MODULES);
}
