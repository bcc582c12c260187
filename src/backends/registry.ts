/**
 * @module backends/registry
 * The external backends by short name and by Airflow class path.
 *
 * Backend modules are small (options schema + factory) and are imported statically so that
 * configuration can be checked at start-up; each loads its cloud SDK with a dynamic `import()`
 * only when it first talks to its store, so a command served by the environment loads none.
 */
import type { z } from 'zod';
import * as awsSecretsManager from './aws-secrets-manager.ts';
import * as awsSsm from './aws-ssm.ts';
import * as azureKeyVault from './azure-key-vault.ts';
import type { ExternalBackendName, SecretsBackend } from './backend.ts';
import * as gcpSecretManager from './gcp-secret-manager.ts';
import * as localFile from './local-file.ts';
import * as vault from './vault.ts';

/** What the registry knows of one external backend. */
export interface BackendEntry {
  /** The kwargs schema (Airflow's snake_case names). */
  readonly optionsSchema: z.ZodType<Record<string, unknown>>;
  /** Creates the backend from parsed kwargs. */
  readonly create: (options: Record<string, unknown>, deps?: BackendDeps) => SecretsBackend;
}

/** Injectable dependencies every factory accepts (tests pass fakes here). */
export interface BackendDeps {
  /** The environment (for `$VAULT_TOKEN`, `$AWS_REGION`, …). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** A `fetch` implementation for HTTP backends. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The external backends by short name. */
export const BACKENDS: Readonly<Record<ExternalBackendName, BackendEntry>> = Object.freeze({
  vault: {
    optionsSchema: vault.vaultOptionsSchema,
    create: vault.createVaultBackend as BackendEntry['create'],
  },
  'aws-secrets-manager': {
    optionsSchema: awsSecretsManager.awsSecretsManagerOptionsSchema,
    create: awsSecretsManager.createAwsSecretsManagerBackend as BackendEntry['create'],
  },
  'aws-ssm': {
    optionsSchema: awsSsm.awsSsmOptionsSchema,
    create: awsSsm.createAwsSsmBackend as BackendEntry['create'],
  },
  'gcp-secret-manager': {
    optionsSchema: gcpSecretManager.gcpSecretManagerOptionsSchema,
    create: gcpSecretManager.createGcpSecretManagerBackend as BackendEntry['create'],
  },
  'azure-key-vault': {
    optionsSchema: azureKeyVault.azureKeyVaultOptionsSchema,
    create: azureKeyVault.createAzureKeyVaultBackend as BackendEntry['create'],
  },
  'local-file': {
    optionsSchema: localFile.localFileOptionsSchema,
    create: localFile.createLocalFileBackend as BackendEntry['create'],
  },
});

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
  return Object.hasOwn(BACKENDS, name);
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
  return AIRFLOW_CLASS_PATHS[trimmed];
}
