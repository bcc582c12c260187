/**
 * @module backends/gcp-secret-manager
 * Google Cloud Secret Manager, with Airflow's `CloudSecretManagerBackend` kwargs.
 */
import { z } from 'zod';
import { nullablePrefix, optionalString } from './_options.ts';
import { notAvailableYet } from './_pending.ts';
import type { SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'gcp-secret-manager' as const;

/** Airflow's `CloudSecretManagerBackend` kwargs, plus `endpoint_url` for local fakes. */
export const gcpSecretManagerOptionsSchema = z.strictObject({
  /** @default 'airflow-connections' */
  connections_prefix: nullablePrefix('airflow-connections'),
  /** @default 'airflow-variables' */
  variables_prefix: nullablePrefix('airflow-variables'),
  /** @default 'airflow-config' */
  config_prefix: nullablePrefix('airflow-config'),
  /** @default '-' */
  sep: z.string().default('-'),
  gcp_keyfile_dict: z
    .union([z.record(z.string(), z.unknown()), z.string()])
    .nullable()
    .optional(),
  gcp_key_path: optionalString(),
  gcp_credential_config_file: optionalString(),
  gcp_scopes: optionalString(),
  project_id: optionalString(),
  impersonation_chain: z
    .union([z.string(), z.array(z.string())])
    .nullable()
    .optional(),
  endpoint_url: optionalString(),
});

/** Options of {@link createGcpSecretManagerBackend}. */
export type GcpSecretManagerBackendOptions = z.input<typeof gcpSecretManagerOptionsSchema>;

/**
 * Creates the Google Cloud Secret Manager backend.
 *
 * @example
 * ```ts
 * const gcp = createGcpSecretManagerBackend({ project_id: 'my-project' });
 * ```
 */
export function createGcpSecretManagerBackend(
  _options: GcpSecretManagerBackendOptions,
): SecretsBackend {
  throw notAvailableYet(BACKEND_NAME);
}
