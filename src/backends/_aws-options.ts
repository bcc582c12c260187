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

/**
 * `requests.get` kwargs for the IdP request of SAML federation (`idp_request_kwargs`): the ones
 * airlock acts on; any other key is refused by name.
 */
export const idpRequestKwargsSchema = z.strictObject({
  /** Extra request headers. */
  headers: z.record(z.string(), z.string()).optional(),
  /** Query parameters added to `idp_url`. */
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** Seconds for one request, or `[connect, read]` (the larger bounds the whole request). @default 60 */
  timeout: z
    .union([z.number().positive(), z.tuple([z.number().positive(), z.number().positive()])])
    .optional(),
  /** `false`: no TLS verification; a string: a CA bundle (file or folder). @default true */
  verify: z.union([z.boolean(), z.string().min(1)]).optional(),
  /** A client certificate: one PEM file, or `[cert, key]`. */
  cert: z.union([z.string().min(1), z.tuple([z.string().min(1), z.string().min(1)])]).optional(),
  /** Follow redirects (each hop signs in again if it asks to). @default true */
  allow_redirects: z.boolean().optional(),
});

/**
 * urllib3 `Retry` kwargs for the IdP request (`idp_request_retry_kwargs`): the ones airlock acts
 * on; any other key is refused by name.
 */
export const idpRetryKwargsSchema = z.strictObject({
  /** Retries in all. @default 10 (urllib3's) */
  total: z.number().int().min(0).optional(),
  /** Retries after a connection error. @default total */
  connect: z.number().int().min(0).optional(),
  /** Retries after an error once connected (a reset, a read timeout). @default total */
  read: z.number().int().min(0).optional(),
  /** Retries after a status in `status_forcelist`. @default total */
  status: z.number().int().min(0).optional(),
  /** No wait before the first retry, then `backoff_factor × 2^(n−1)` seconds. @default 0 */
  backoff_factor: z.number().min(0).optional(),
  /** The longest wait, in seconds. @default 120 */
  backoff_max: z.number().min(0).optional(),
  /** Statuses that are tried again. @default [] */
  status_forcelist: z.array(z.number().int().min(100).max(599)).optional(),
  /** Methods that are retried; the IdP request is a GET, retried only when GET is listed. */
  allowed_methods: z.array(z.string()).optional(),
});

/**
 * Airflow's `assume_role_with_saml` extra: how `assume_role_method: assume_role_with_saml` signs
 * in at the identity provider and which SAML provider STS trusts.
 */
export const samlFederationSchema = z.strictObject({
  /** The IAM SAML provider STS checks the assertion against (`PrincipalArn`). */
  principal_arn: z.string().min(1),
  /** The identity provider's sign-in URL, answered with a page holding the SAMLResponse. */
  idp_url: z.url({ protocol: /^https?$/ }),
  /** How to sign in at the IdP: only `http_spegno_auth` (Airflow's spelling: Kerberos SPNEGO). */
  idp_auth_method: z.string(),
  /** Whether the IdP must prove itself back (requests-gssapi). @default 'DISABLED' */
  mutual_authentication: z.string().optional(),
  idp_request_kwargs: idpRequestKwargsSchema.optional(),
  idp_request_retry_kwargs: idpRetryKwargsSchema.optional(),
  /** Log the IdP's answer (with the assertion masked) at debug level, after a warning. @default false */
  log_idp_response: z.boolean().optional(),
  /** The XPath of the base64 assertion in the IdP's answer, e.g. `//input[@name='SAMLResponse']/@value`. */
  saml_response_xpath: z.string().min(1),
});

/** The parsed `assume_role_with_saml` kwarg. */
export type SamlFederationOptions = z.output<typeof samlFederationSchema>;

/** The IdP sign-in methods Airflow implements (its spelling). */
export const IDP_AUTH_METHODS = ['http_spegno_auth'] as const;
/** requests-gssapi's mutual authentication settings. */
export const MUTUAL_AUTHENTICATION = ['REQUIRED', 'OPTIONAL', 'DISABLED'] as const;
/** The AssumeRoleWithSAML parameters `assume_role_kwargs` may add. */
const SAML_STS_KWARGS = new Set(['DurationSeconds', 'Policy', 'PolicyArns']);

/** AWS session and client kwargs shared by `aws-secrets-manager` and `aws-ssm`. */
export const awsConnectionOptionsShape = {
  connections_lookup_pattern: lookupPattern(),
  variables_lookup_pattern: lookupPattern(),
  config_lookup_pattern: lookupPattern(),
  region_name: optionalString(),
  profile_name: optionalString(),
  role_arn: optionalString(),
  assume_role_method: z
    .enum(['assume_role', 'assume_role_with_web_identity', 'assume_role_with_saml'])
    .nullable()
    .optional(),
  /** The IdP sign-in of `assume_role_with_saml` (Airflow's extra of the same name). */
  assume_role_with_saml: samlFederationSchema.nullable().optional(),
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
  assume_role_method?:
    | 'assume_role'
    | 'assume_role_with_web_identity'
    | 'assume_role_with_saml'
    | null
    | undefined;
  assume_role_with_saml?: SamlFederationOptions | null | undefined;
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
  if (value.assume_role_method === 'assume_role_with_saml') checkSaml(value, ctx);
}

/** `assume_role_with_saml`'s checks, with Airflow's wording for an unsupported method. */
function checkSaml(value: AwsConnectionOptions, ctx: z.RefinementCtx): void {
  if (!value.role_arn) {
    ctx.addIssue({
      code: 'custom',
      path: ['role_arn'],
      message: 'assume_role_with_saml needs role_arn',
    });
  }
  const saml = value.assume_role_with_saml;
  if (!saml) {
    ctx.addIssue({
      code: 'custom',
      path: ['assume_role_with_saml'],
      message:
        'is required with assume_role_method "assume_role_with_saml" (principal_arn, idp_url, idp_auth_method, saml_response_xpath)',
    });
    return;
  }
  if (!(IDP_AUTH_METHODS as readonly string[]).includes(saml.idp_auth_method)) {
    ctx.addIssue({
      code: 'custom',
      path: ['assume_role_with_saml', 'idp_auth_method'],
      message: `idp_auth_method=${saml.idp_auth_method} is not supported: currently only "http_spegno_auth" is, and must be specified (as in Airflow)`,
    });
  }
  const mutual = saml.mutual_authentication;
  if (mutual !== undefined && !(MUTUAL_AUTHENTICATION as readonly string[]).includes(mutual)) {
    ctx.addIssue({
      code: 'custom',
      path: ['assume_role_with_saml', 'mutual_authentication'],
      message: `mutual_authentication=${mutual} is not supported: currently "REQUIRED", "OPTIONAL" and "DISABLED" are (leave it out for the default)`,
    });
  }
  for (const key of Object.keys(value.assume_role_kwargs ?? {})) {
    if (!SAML_STS_KWARGS.has(key)) {
      ctx.addIssue({
        code: 'custom',
        path: ['assume_role_kwargs', key],
        message: `is not a parameter of STS AssumeRoleWithSAML (use ${[...SAML_STS_KWARGS].join(', ')})`,
      });
    }
  }
}
