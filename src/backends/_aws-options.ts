/**
 * @module backends/_aws-options
 * The AWS connection kwargs that Airflow's Secrets Manager and Parameter Store backends both
 * accept (every kwarg they do not know becomes the extra of an AWS connection).
 */
import { z } from 'zod';
import { lookupPattern, optionalString } from './_options.ts';

/** AWS session and client kwargs shared by `aws-secrets-manager` and `aws-ssm`. */
export const awsConnectionOptionsShape = {
  connections_lookup_pattern: lookupPattern(),
  variables_lookup_pattern: lookupPattern(),
  config_lookup_pattern: lookupPattern(),
  region_name: optionalString(),
  profile_name: optionalString(),
  role_arn: optionalString(),
  assume_role_method: z
    .enum(['assume_role', 'assume_role_with_web_identity'])
    .nullable()
    .optional(),
  assume_role_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  aws_access_key_id: optionalString(),
  aws_secret_access_key: optionalString(),
  aws_session_token: optionalString(),
  endpoint_url: optionalString(),
  verify: z.union([z.boolean(), z.string()]).nullable().optional(),
  config_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  botocore_config: z.record(z.string(), z.unknown()).nullable().optional(),
  service_config: z.record(z.string(), z.unknown()).nullable().optional(),
  api_version: optionalString(),
  use_ssl: z.boolean().nullable().optional(),
  aws_conn_id: optionalString(),
} as const;
