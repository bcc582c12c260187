/**
 * @module backends/azure-key-vault
 * Azure Key Vault, with Airflow's `AzureKeyVaultBackend` kwargs.
 */
import { z } from 'zod';
import { nullablePrefix, optionalString } from './_options.ts';
import { notAvailableYet } from './_pending.ts';
import type { SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'azure-key-vault' as const;

/** Airflow's `AzureKeyVaultBackend` kwargs, plus `endpoint_url` for local fakes. */
export const azureKeyVaultOptionsSchema = z.strictObject({
  /** @default 'airflow-connections' */
  connections_prefix: nullablePrefix('airflow-connections'),
  /** @default 'airflow-variables' */
  variables_prefix: nullablePrefix('airflow-variables'),
  /** @default 'airflow-config' */
  config_prefix: nullablePrefix('airflow-config'),
  /** @default '' */
  vault_url: z.string().default(''),
  /** @default '-' */
  sep: z.string().default('-'),
  tenant_id: optionalString(),
  client_id: optionalString(),
  client_secret: optionalString(),
  managed_identity_client_id: optionalString(),
  workload_identity_tenant_id: optionalString(),
  endpoint_url: optionalString(),
});

/** Options of {@link createAzureKeyVaultBackend}. */
export type AzureKeyVaultBackendOptions = z.input<typeof azureKeyVaultOptionsSchema>;

/**
 * Creates the Azure Key Vault backend.
 *
 * @example
 * ```ts
 * const kv = createAzureKeyVaultBackend({ vault_url: 'https://example.vault.azure.net/' });
 * ```
 */
export function createAzureKeyVaultBackend(_options: AzureKeyVaultBackendOptions): SecretsBackend {
  throw notAvailableYet(BACKEND_NAME);
}
