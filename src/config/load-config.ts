/**
 * @module config/load-config
 * The synchronous `loadConfig`: it loads every backend module (to check any backend's kwargs
 * at once), which costs start-up time; the CLI uses `loadConfigAsync` from `read-config.ts`,
 * which loads only the configured backends' modules.
 */
import '../backends/registry.ts';
import { parseFernetKeys } from '../metastore/fernet.ts';
import { readConfig, setFernetKeyCheck } from './read-config.ts';
import type { Config } from './schema.ts';

// Every backend module is registered by the import above, and the key check here: one
// synchronous pass checks everything.
setFernetKeyCheck(parseFernetKeys);

export { loadConfigAsync, readConfig } from './read-config.ts';

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
  return readConfig(env);
}
