/**
 * @module backends/aws-secrets-manager
 * AWS Secrets Manager, with Airflow's `SecretsManagerBackend` kwargs.
 */
import { z } from 'zod';
import { awsConnectionOptionsShape } from './_aws-options.ts';
import { nullablePrefix } from './_options.ts';
import { notAvailableYet } from './_pending.ts';
import type { SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'aws-secrets-manager' as const;

/** Airflow's `SecretsManagerBackend` kwargs. */
export const awsSecretsManagerOptionsSchema = z.strictObject({
  /** @default 'airflow/connections' */
  connections_prefix: nullablePrefix('airflow/connections'),
  /** @default 'airflow/variables' */
  variables_prefix: nullablePrefix('airflow/variables'),
  /** @default 'airflow/config' */
  config_prefix: nullablePrefix('airflow/config'),
  /** @default '/' */
  sep: z.string().default('/'),
  extra_conn_words: z.record(z.string(), z.array(z.string())).nullable().optional(),
  /** Deprecated in Airflow and ignored: the encoding is detected. */
  full_url_mode: z.boolean().optional(),
  are_secret_values_urlencoded: z.boolean().optional(),
  ...awsConnectionOptionsShape,
});

/** Options of {@link createAwsSecretsManagerBackend}. */
export type AwsSecretsManagerBackendOptions = z.input<typeof awsSecretsManagerOptionsSchema>;

/**
 * Creates the AWS Secrets Manager backend.
 *
 * @example
 * ```ts
 * const sm = createAwsSecretsManagerBackend({ region_name: 'eu-west-1' });
 * ```
 */
export function createAwsSecretsManagerBackend(
  _options: AwsSecretsManagerBackendOptions,
): SecretsBackend {
  throw notAvailableYet(BACKEND_NAME);
}
