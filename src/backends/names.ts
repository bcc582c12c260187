/**
 * @module backends/names
 * The external backends' names, Airflow class paths and module loaders, without loading any
 * backend module (nor zod): a command the environment serves needs only this. The configuration
 * loads the modules of the backends it names ({@link loadBackend}) and keeps them in what it
 * returns; `registry.ts` has every module loaded at once, for synchronous callers.
 */
import { type BackendEntry, EXTERNAL_BACKEND_NAMES, type ExternalBackendName } from './backend.ts';

/** Airflow's class paths (`AIRFLOW__SECRETS__BACKEND`) for each external backend. */
export const AIRFLOW_CLASS_PATHS: Readonly<Record<string, ExternalBackendName>> = Object.freeze({
  'airflow.providers.hashicorp.secrets.vault.VaultBackend': 'vault',
  'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend':
    'aws-secrets-manager',
  'airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend':
    'aws-ssm',
  'airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend':
    'gcp-secret-manager',
  'airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend': 'azure-key-vault',
  'airflow.secrets.local_filesystem.LocalFilesystemBackend': 'local-file',
  // Airflow 1.10 `contrib` paths, still found in old deployments' settings.
  'airflow.contrib.secrets.hashicorp_vault.VaultBackend': 'vault',
  'airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend': 'aws-secrets-manager',
  'airflow.contrib.secrets.aws_systems_manager.SystemsManagerParameterStoreBackend': 'aws-ssm',
  'airflow.contrib.secrets.gcp_secrets_manager.CloudSecretsManagerBackend': 'gcp-secret-manager',
});

/** Whether `name` is an external backend's short name. */
export function isExternalBackendName(name: string): name is ExternalBackendName {
  return (EXTERNAL_BACKEND_NAMES as readonly string[]).includes(name);
}

/**
 * The short name for a backend given as a short name or an Airflow class path, or `undefined`.
 *
 * @example
 * ```ts
 * resolveBackendType('airflow.providers.hashicorp.secrets.vault.VaultBackend'); // 'vault'
 * resolveBackendType('aws-ssm'); // 'aws-ssm'
 * ```
 */
export function resolveBackendType(value: string): ExternalBackendName | undefined {
  const trimmed = value.trim();
  if (isExternalBackendName(trimmed)) return trimmed;
  return Object.hasOwn(AIRFLOW_CLASS_PATHS, trimmed) ? AIRFLOW_CLASS_PATHS[trimmed] : undefined;
}

/** Each backend's module, loaded on first use (Node keeps a loaded module: later calls are free). */
const LOADERS: Readonly<Record<ExternalBackendName, () => Promise<BackendEntry>>> = {
  vault: async () => (await import('./vault.ts')).backendEntry,
  'aws-secrets-manager': async () => (await import('./aws-secrets-manager.ts')).backendEntry,
  'aws-ssm': async () => (await import('./aws-ssm.ts')).backendEntry,
  'gcp-secret-manager': async () => (await import('./gcp-secret-manager.ts')).backendEntry,
  'azure-key-vault': async () => (await import('./azure-key-vault.ts')).backendEntry,
  'local-file': async () => (await import('./local-file.ts')).backendEntry,
};

/**
 * Loads a backend's module (its options schema and factory).
 *
 * @example
 * ```ts
 * const vault = await loadBackend('vault');
 * vault.optionsSchema.parse({ url: 'http://127.0.0.1:8200' });
 * ```
 */
export function loadBackend(name: ExternalBackendName): Promise<BackendEntry> {
  return LOADERS[name]();
}
