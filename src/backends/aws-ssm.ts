/**
 * @module backends/aws-ssm
 * AWS Systems Manager Parameter Store, with Airflow's `SystemsManagerParameterStoreBackend` kwargs.
 */
import { z } from 'zod';
import { awsConnectionOptionsShape } from './_aws-options.ts';
import { nullablePrefix } from './_options.ts';
import { notAvailableYet } from './_pending.ts';
import type { SecretsBackend } from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'aws-ssm' as const;

/** Airflow's `SystemsManagerParameterStoreBackend` kwargs (no `sep`: always `/`). */
export const awsSsmOptionsSchema = z.strictObject({
  /** @default '/airflow/connections' */
  connections_prefix: nullablePrefix('/airflow/connections'),
  /** @default '/airflow/variables' */
  variables_prefix: nullablePrefix('/airflow/variables'),
  /** @default '/airflow/config' */
  config_prefix: nullablePrefix('/airflow/config'),
  ...awsConnectionOptionsShape,
});

/** Options of {@link createAwsSsmBackend}. */
export type AwsSsmBackendOptions = z.input<typeof awsSsmOptionsSchema>;

/**
 * Creates the Parameter Store backend.
 *
 * @example
 * ```ts
 * const ssm = createAwsSsmBackend({ region_name: 'eu-west-1' });
 * ```
 */
export function createAwsSsmBackend(_options: AwsSsmBackendOptions): SecretsBackend {
  throw notAvailableYet(BACKEND_NAME);
}
