/**
 * @module backends/_aws-options
 * The AWS connection kwargs that Airflow's Secrets Manager and Parameter Store backends both
 * accept (every kwarg they do not know becomes the extra of an AWS connection).
 */
import { z } from 'zod';
import { lookupPattern, optionalString } from './_options.ts';

/**
 * botocore `Config` keys (`config_kwargs`, or the older `botocore_config`). The keys airlock
 * acts on are typed; other botocore keys (`signature_version`, `proxies`, `tcp_keepalive`, …)
 * are accepted and have no effect.
 */
export const botocoreConfigSchema = z.looseObject({
  /** Seconds to wait for a TCP/TLS connection. @default 60 */
  connect_timeout: z.number().positive().optional(),
  /** Seconds one attempt may take once connected. @default 60 */
  read_timeout: z.number().positive().optional(),
  retries: z
    .looseObject({
      /** Attempts in all, the first included (wins over `max_attempts`). */
      total_max_attempts: z.number().int().min(1).optional(),
      /** Retries after the first attempt. @default 2 */
      max_attempts: z.number().int().min(0).optional(),
      /** `standard` (also used for `legacy`) or `adaptive` (client-side rate limiting). */
      mode: z.enum(['legacy', 'standard', 'adaptive']).optional(),
    })
    .optional(),
  /** Concurrent sockets per client. @default 50 */
  max_pool_connections: z.number().int().min(1).optional(),
  region_name: z.string().optional(),
  user_agent_extra: z.string().optional(),
});

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
  /** The web identity token file for `assume_role_with_web_identity`. @default $AWS_WEB_IDENTITY_TOKEN_FILE */
  assume_role_with_web_identity_token_file: optionalString(),
  /**
   * Where `assume_role_with_web_identity` takes its token: `file` (the token file) or `google`
   * (a Google ID token from Application Default Credentials, for
   * `assume_role_with_web_identity_federation_audience`).
   * @default 'file'
   */
  assume_role_with_web_identity_federation: z.enum(['file', 'google']).nullable().optional(),
  /** The audience of the Google ID token (`federation: google`). */
  assume_role_with_web_identity_federation_audience: optionalString(),
  aws_access_key_id: optionalString(),
  aws_secret_access_key: optionalString(),
  aws_session_token: optionalString(),
  /**
   * boto3 `Session` kwargs (Airflow's deprecated third source of keys): only the credential keys,
   * used when `aws_access_key_id`/`aws_secret_access_key` are not given, as Airflow's
   * `AwsConnectionWrapper` reads them; other keys are refused by name.
   */
  session_kwargs: z
    .strictObject({
      aws_access_key_id: optionalString(),
      aws_secret_access_key: optionalString(),
      aws_session_token: optionalString(),
    })
    .nullable()
    .optional(),
  endpoint_url: optionalString(),
  verify: z.union([z.boolean(), z.string()]).nullable().optional(),
  config_kwargs: botocoreConfigSchema.nullable().optional(),
  botocore_config: botocoreConfigSchema.nullable().optional(),
  /** Per-service settings, e.g. `{"sts": {"endpoint_url": "…"}}` (boto3 service names). */
  service_config: z
    .record(z.string(), z.looseObject({ endpoint_url: z.string().optional() }))
    .nullable()
    .optional(),
  /** Accepted for compatibility; the JavaScript SDK has one API version per client. */
  api_version: optionalString(),
  /** `false`: plain HTTP to the service endpoint. @default true */
  use_ssl: z.boolean().nullable().optional(),
  /** Accepted for compatibility; these kwargs are the connection, no Airflow one is read. */
  aws_conn_id: optionalString(),
} as const;

/** The parsed AWS connection kwargs, as the backends hand them to `_aws.ts`. */
export interface AwsConnectionOptions {
  region_name?: string | null | undefined;
  profile_name?: string | null | undefined;
  role_arn?: string | null | undefined;
  assume_role_method?: 'assume_role' | 'assume_role_with_web_identity' | null | undefined;
  assume_role_kwargs?: Record<string, unknown> | null | undefined;
  assume_role_with_web_identity_token_file?: string | null | undefined;
  assume_role_with_web_identity_federation?: 'file' | 'google' | null | undefined;
  assume_role_with_web_identity_federation_audience?: string | null | undefined;
  aws_access_key_id?: string | null | undefined;
  aws_secret_access_key?: string | null | undefined;
  aws_session_token?: string | null | undefined;
  session_kwargs?:
    | {
        aws_access_key_id?: string | null | undefined;
        aws_secret_access_key?: string | null | undefined;
        aws_session_token?: string | null | undefined;
      }
    | null
    | undefined;
  endpoint_url?: string | null | undefined;
  verify?: boolean | string | null | undefined;
  config_kwargs?: z.output<typeof botocoreConfigSchema> | null | undefined;
  botocore_config?: z.output<typeof botocoreConfigSchema> | null | undefined;
  service_config?: Record<string, { endpoint_url?: string | undefined }> | null | undefined;
  use_ssl?: boolean | null | undefined;
}

/**
 * Cross-kwarg checks shared by both AWS backends, for a schema's `superRefine`: static keys come
 * in pairs, and the web identity method needs a role.
 */
export function checkAwsConnectionOptions(value: AwsConnectionOptions, ctx: z.RefinementCtx): void {
  const hasId = Boolean(value.aws_access_key_id);
  const hasSecret = Boolean(value.aws_secret_access_key);
  if (hasId !== hasSecret) {
    ctx.addIssue({
      code: 'custom',
      path: [hasId ? 'aws_secret_access_key' : 'aws_access_key_id'],
      message: 'aws_access_key_id and aws_secret_access_key must be given together',
    });
  }
  const session = value.session_kwargs ?? {};
  if (Boolean(session.aws_access_key_id) !== Boolean(session.aws_secret_access_key)) {
    ctx.addIssue({
      code: 'custom',
      path: [
        'session_kwargs',
        session.aws_access_key_id ? 'aws_secret_access_key' : 'aws_access_key_id',
      ],
      message: 'aws_access_key_id and aws_secret_access_key must be given together',
    });
  }
  if (
    value.assume_role_with_web_identity_federation === 'google' &&
    !value.assume_role_with_web_identity_federation_audience
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['assume_role_with_web_identity_federation_audience'],
      message: 'is required with assume_role_with_web_identity_federation "google"',
    });
  }
  if (value.assume_role_method === 'assume_role_with_web_identity' && !value.role_arn) {
    ctx.addIssue({
      code: 'custom',
      path: ['role_arn'],
      message: 'assume_role_with_web_identity needs role_arn',
    });
  }
}
