/**
 * @module backends/_aws
 * What the two AWS backends share: the client configuration Airflow's AWS connection kwargs
 * describe (region, endpoint, credentials, timeouts, retries, TLS), a lazily built and memoised
 * client, the throttling backoff, and the mapping of AWS errors to airlock's codes.
 *
 * Nothing here imports the AWS SDK at module load: the SDK and the credential providers are
 * loaded with `import()` when a backend first talks to AWS, so a command served by the
 * environment never loads them.
 */
import { readFile } from 'node:fs/promises';
import type { SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { AirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { redactSensitive } from '../masking/sensitive-keys.ts';
import { exponentialBackoff, withRetry } from '../util/retry.ts';
import type { AwsConnectionOptions } from './_aws-options.ts';
import { samlCredentialProvider } from './_aws-saml.ts';
import { loadSdk } from './_sdk.ts';
import { signSigV4 } from './_sigv4.ts';
import type { BackendDeps, BackendDiagnosis, BackendName } from './backend.ts';

/** The credentials a client takes: static keys or a provider. */
export type AwsCredentials = NonNullable<SecretsManagerClientConfig['credentials']>;

/** The client settings both AWS clients accept (a structural subset of their configs). */
export interface AwsClientConfig {
  region?: string;
  profile?: string;
  endpoint?: string;
  credentials?: AwsCredentials;
  maxAttempts?: number;
  retryMode?: 'standard' | 'adaptive';
  tls?: boolean;
  customUserAgent?: string;
  requestHandler: {
    connectionTimeout: number;
    requestTimeout: number;
    throwOnRequestTimeout: true;
    httpAgent: { maxSockets: number };
    httpsAgent: { maxSockets: number; rejectUnauthorized?: boolean; ca?: Buffer };
  };
}

/** The boto3 service names of the AWS stores airlock reads. */
export type AwsService = 'secretsmanager' | 'ssm';

/**
 * How long airlock keeps trying when AWS throttles a read, on top of the SDK's own retries
 * (which already retry `ThrottlingException` a few times with backoff).
 */
export interface ThrottlePolicy {
  /** Ceiling of the first wait, in ms; each later ceiling doubles. @default 250 */
  baseMs: number;
  /** Largest ceiling of one wait, in ms. @default 2000 */
  capMs: number;
  /** Total time a read may spend waiting out throttling, in ms. @default 5000 */
  budgetMs: number;
  /** Rounds after the first one. @default 4 */
  maxRetries: number;
}

/** The default {@link ThrottlePolicy}. */
export const DEFAULT_THROTTLE_POLICY: Readonly<ThrottlePolicy> = Object.freeze({
  baseMs: 250,
  capMs: 2000,
  budgetMs: 5000,
  maxRetries: 4,
});

/** Dependencies of the AWS backend factories. */
export interface AwsBackendDeps extends BackendDeps {
  /** Overrides of the throttling backoff (tests shorten it). */
  throttle?: Partial<ThrottlePolicy>;
  /** The jitter source, a number in [0, 1). @default Math.random */
  random?: () => number;
}

/** botocore's default connect and read timeouts, in seconds. */
const DEFAULT_TIMEOUT_SECONDS = 60;
/** Sockets per client (the JavaScript SDK's default). */
const DEFAULT_MAX_SOCKETS = 50;

type Env = Readonly<Record<string, string | undefined>>;

function configError(backend: BackendName, message: string, details: Record<string, string>) {
  return new AirlockError('AIRLOCK_ERR_CONFIG_INVALID', `${backend}: ${message}`, {
    details: { backend, ...details },
  });
}

/** The region: `region_name`, botocore config's `region_name`, then `$AWS_REGION`/`$AWS_DEFAULT_REGION`. */
export function resolveRegion(opts: AwsConnectionOptions, env: Env): string | undefined {
  return (
    opts.region_name ||
    opts.config_kwargs?.region_name ||
    opts.botocore_config?.region_name ||
    env.AWS_REGION ||
    env.AWS_DEFAULT_REGION ||
    undefined
  );
}

/**
 * The endpoint of `service`: `service_config[service].endpoint_url`, else `endpoint_url`
 * (Airflow's `AwsConnectionWrapper.get_service_endpoint_url`).
 */
export function resolveEndpoint(opts: AwsConnectionOptions, service: string): string | undefined {
  return opts.service_config?.[service]?.endpoint_url || opts.endpoint_url || undefined;
}

function loadCredentialProviders() {
  return loadSdk(
    'aws',
    '@aws-sdk/credential-providers',
    () => import('@aws-sdk/credential-providers'),
  );
}

/**
 * The credentials, in Airflow's order: static keys, then `profile_name`, then (with `role_arn`)
 * an assumed role on top of either; `undefined` leaves the SDK's default chain in charge
 * (environment, shared config and SSO, web identity, container and instance metadata).
 */
export async function resolveCredentials(
  backend: BackendName,
  opts: AwsConnectionOptions,
  env: Env,
  region: string | undefined,
  logger?: Logger,
): Promise<AwsCredentials | undefined> {
  let base: AwsCredentials | undefined;
  const session = opts.session_kwargs ?? {};
  // Airflow's `_get_credentials`: the kwargs' keys, else `session_kwargs`' keys; the session
  // token likewise, each source on its own.
  const sessionToken = opts.aws_session_token || session.aws_session_token || undefined;
  if (opts.aws_access_key_id && opts.aws_secret_access_key) {
    base = {
      accessKeyId: opts.aws_access_key_id,
      secretAccessKey: opts.aws_secret_access_key,
      ...(sessionToken ? { sessionToken } : {}),
    };
  } else if (session.aws_access_key_id && session.aws_secret_access_key) {
    base = {
      accessKeyId: session.aws_access_key_id,
      secretAccessKey: session.aws_secret_access_key,
      ...(sessionToken ? { sessionToken } : {}),
    };
  } else if (opts.profile_name) {
    base = (await loadCredentialProviders()).fromIni({ profile: opts.profile_name });
  } else if (env !== process.env && env.AWS_PROFILE) {
    // An injected environment stands in for process.env, which the SDK's chain would read;
    // like the chain, a named profile wins over keys in the environment.
    base = (await loadCredentialProviders()).fromIni({ profile: env.AWS_PROFILE });
  } else if (env !== process.env && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    base = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  if (!opts.role_arn) return base;

  const kwargs = opts.assume_role_kwargs ?? {};
  const sessionName =
    typeof kwargs.RoleSessionName === 'string' ? kwargs.RoleSessionName : 'airlock';
  // As in Airflow, the global endpoint_url is not used for STS; service_config.sts is.
  const stsEndpoint = opts.service_config?.sts?.endpoint_url;
  const clientConfig = {
    ...(region ? { region } : {}),
    ...(stsEndpoint ? { endpoint: stsEndpoint } : {}),
  };
  const viaSts = (provider: AwsCredentials): AwsCredentials =>
    stsFailureNamed(backend, provider, opts.role_arn as string, stsEndpoint, region);
  if (opts.assume_role_method === 'assume_role_with_saml') {
    // Airflow's `_assume_role_with_saml`: the IdP's assertion is the proof; no base credentials.
    const { requestHandler, maxAttempts } = httpSettings(opts);
    return viaSts(
      samlCredentialProvider(opts, {
        backend,
        region,
        stsEndpoint,
        timeouts: {
          connectionTimeout: requestHandler.connectionTimeout,
          requestTimeout: requestHandler.requestTimeout,
        },
        maxAttempts,
        logger,
      }),
    );
  }
  const providers = await loadCredentialProviders();
  // AssumeRoleWithWebIdentity's parameters, whichever way the token comes.
  const webIdentity = {
    roleArn: opts.role_arn,
    roleSessionName: sessionName,
    ...(typeof kwargs.DurationSeconds === 'number'
      ? { durationSeconds: kwargs.DurationSeconds }
      : {}),
    ...(typeof kwargs.Policy === 'string' ? { policy: kwargs.Policy } : {}),
    clientConfig,
  };
  if (
    opts.assume_role_method === 'assume_role_with_web_identity' &&
    opts.assume_role_with_web_identity_federation === 'google'
  ) {
    const audience = opts.assume_role_with_web_identity_federation_audience as string;
    // Airflow's `_get_google_identity_token_loader`: a fresh Google ID token for the audience
    // (Application Default Credentials: a service-account key, or the metadata server), given to
    // STS AssumeRoleWithWebIdentity at each credential refresh.
    return viaSts(async () => {
      const token = await googleIdToken(backend, audience);
      return providers.fromWebToken({ ...webIdentity, webIdentityToken: token })();
    });
  }
  if (opts.assume_role_method === 'assume_role_with_web_identity') {
    const tokenFile =
      opts.assume_role_with_web_identity_token_file || env.AWS_WEB_IDENTITY_TOKEN_FILE;
    if (!tokenFile) {
      throw configError(
        backend,
        'assume_role_with_web_identity needs assume_role_with_web_identity_token_file or $AWS_WEB_IDENTITY_TOKEN_FILE',
        { kwarg: 'assume_role_with_web_identity_token_file' },
      );
    }
    return viaSts(providers.fromTokenFile({ ...webIdentity, webIdentityTokenFile: tokenFile }));
  }
  return viaSts(
    providers.fromTemporaryCredentials({
      params: { ...kwargs, RoleArn: opts.role_arn, RoleSessionName: sessionName },
      ...(base ? { masterCredentials: base } : {}),
      clientConfig,
    }),
  );
}

/**
 * A Google ID token for `audience` from Application Default Credentials, with the
 * google-auth-library that the Google SDK installed; a failure is a coded error naming the
 * federation, never the library's message.
 */
async function googleIdToken(backend: BackendName, audience: string): Promise<string> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  let gal: typeof import('google-auth-library');
  try {
    const gaxPath = createRequire(require.resolve('@google-cloud/secret-manager')).resolve(
      'google-gax',
    );
    gal = createRequire(gaxPath)('google-auth-library') as typeof import('google-auth-library');
  } catch {
    throw configError(
      backend,
      'assume_role_with_web_identity_federation "google" needs google-auth-library (installed with @google-cloud/secret-manager)',
      {
        kwarg: 'assume_role_with_web_identity_federation',
      },
    );
  }
  try {
    const client = await new gal.GoogleAuth().getIdTokenClient(audience);
    return await client.idTokenProvider.fetchIdToken(audience);
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${backend}: could not get a Google ID token for assume_role_with_web_identity_federation_audience ${audience} (${name}); Application Default Credentials need a service-account key or the metadata server`,
      { details: { backend, kwarg: 'assume_role_with_web_identity_federation', error: name } },
    );
  }
}

/**
 * Wraps an assume-role credential provider so that its failure names the STS endpoint it asked
 * and the kwarg that sets it: without this, an unreachable STS surfaced as the read of the
 * secret failing with a bare `ENOTFOUND`. As in Airflow's `AwsConnectionWrapper`, assuming a
 * role never uses the global `endpoint_url`; only `service_config.sts.endpoint_url` moves it.
 */
function stsFailureNamed(
  backend: BackendName,
  provider: AwsCredentials,
  roleArn: string,
  stsEndpoint: string | undefined,
  region: string | undefined,
): AwsCredentials {
  if (typeof provider !== 'function') return provider;
  // The SDK's STS client asks the regional endpoint unless told otherwise.
  const endpoint = stsEndpoint ?? `https://sts.${region ?? '<region>'}.amazonaws.com`;
  return async (...args: Parameters<typeof provider>) => {
    try {
      return await provider(...args);
    } catch (err) {
      const message = (err as SdkErrorShape | null)?.message;
      // A missing region keeps its own configuration error (mapped by toAirlockError).
      if (
        err instanceof AirlockError ||
        (typeof message === 'string' && /region is missing/i.test(message))
      ) {
        throw err;
      }
      const name = awsErrorName(err);
      const status = httpStatus(err);
      const why = status === undefined ? name : `${name}, HTTP ${status}`;
      const denied = AUTH_NAMES.has(name) || status === 401 || status === 403;
      const fix = stsEndpoint
        ? 'check service_config {"sts": {"endpoint_url": …}}'
        : 'to use another STS, set service_config {"sts": {"endpoint_url": "…"}} (endpoint_url does not apply to STS when assuming a role, as in Airflow)';
      throw new AirlockError(
        denied ? 'AIRLOCK_ERR_BACKEND_AUTH' : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
        `${backend}: could not assume role_arn ${roleArn} through STS at ${endpoint} (${why}); ${denied ? "check the credentials and the role's trust policy; " : ''}${fix}`,
        {
          details: {
            backend,
            kwarg: 'service_config.sts.endpoint_url',
            endpoint,
            error: name,
            ...(status === undefined ? {} : { status }),
          },
        },
      );
    }
  };
}

/** The botocore config's timeouts, pool size and attempts, as the JavaScript SDK takes them. */
function httpSettings(opts: AwsConnectionOptions): {
  requestHandler: AwsClientConfig['requestHandler'];
  maxAttempts: number | undefined;
} {
  const botocore = { ...(opts.botocore_config ?? {}), ...(opts.config_kwargs ?? {}) };
  const maxSockets = botocore.max_pool_connections ?? DEFAULT_MAX_SOCKETS;
  const retries = botocore.retries;
  let maxAttempts: number | undefined;
  if (retries?.total_max_attempts !== undefined) maxAttempts = retries.total_max_attempts;
  else if (retries?.max_attempts !== undefined) maxAttempts = retries.max_attempts + 1;
  return {
    requestHandler: {
      connectionTimeout: (botocore.connect_timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      requestTimeout: (botocore.read_timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      throwOnRequestTimeout: true,
      httpAgent: { maxSockets },
      httpsAgent: { maxSockets },
    },
    maxAttempts,
  };
}

/**
 * The client configuration the kwargs describe.
 *
 * @example
 * ```ts
 * const config = await buildAwsClientConfig('aws-ssm', 'ssm', { region_name: 'eu-west-1' }, process.env);
 * new SSMClient(config);
 * ```
 */
export async function buildAwsClientConfig(
  backend: BackendName,
  service: AwsService,
  opts: AwsConnectionOptions,
  env: Env,
  logger?: Logger,
): Promise<AwsClientConfig> {
  const botocore = { ...(opts.botocore_config ?? {}), ...(opts.config_kwargs ?? {}) };
  const region = resolveRegion(opts, env);
  const endpoint = resolveEndpoint(opts, service);
  const credentials = await resolveCredentials(backend, opts, env, region, logger);

  const { requestHandler, maxAttempts } = httpSettings(opts);
  const { httpsAgent } = requestHandler;
  if (opts.verify === false) httpsAgent.rejectUnauthorized = false;
  if (typeof opts.verify === 'string' && opts.verify !== '') {
    try {
      httpsAgent.ca = await readFile(opts.verify);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw configError(backend, `verify: cannot read the CA bundle \`${opts.verify}\` (${code})`, {
        kwarg: 'verify',
        errno: code,
      });
    }
  }

  const retries = botocore.retries;
  const config: AwsClientConfig = { requestHandler };
  if (region) config.region = region;
  if (opts.profile_name) config.profile = opts.profile_name;
  if (endpoint) config.endpoint = endpoint;
  if (credentials) config.credentials = credentials;
  if (maxAttempts !== undefined) config.maxAttempts = maxAttempts;
  if (retries?.mode) config.retryMode = retries.mode === 'adaptive' ? 'adaptive' : 'standard';
  if (opts.use_ssl === false) config.tls = false;
  if (botocore.user_agent_extra) config.customUserAgent = botocore.user_agent_extra;
  return config;
}

/** A client built on first use, memoised, and destroyed by `dispose()`. */
export interface LazyClient<C> {
  get(): Promise<C>;
  dispose(): Promise<void>;
}

/**
 * Memoises `build()`; a failed build is not memoised, so the next call tries again.
 *
 * @example
 * ```ts
 * const client = lazyClient(async () => new SSMClient(await buildAwsClientConfig(…)));
 * ```
 */
export function lazyClient<C extends { destroy(): void }>(build: () => Promise<C>): LazyClient<C> {
  let pending: Promise<C> | undefined;
  return {
    get() {
      if (!pending) {
        pending = build();
        pending.catch(() => {
          pending = undefined;
        });
      }
      return pending;
    },
    async dispose() {
      const current = pending;
      pending = undefined;
      if (!current) return;
      try {
        (await current).destroy();
      } catch {
        // A client that never got built has nothing to release.
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
  $retryable?: { throttling?: boolean };
}

/** The AWS error name (`AccessDeniedException`, …) or the Node error code of a failure. */
export function awsErrorName(err: unknown): string {
  if (err === null || typeof err !== 'object') return typeof err;
  const e = err as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (name === 'Error' && typeof e.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(e.code)) {
    return e.code;
  }
  // The SDK names every transient socket error `TimeoutError`; a reset or refused connection is
  // not a timeout, and its errno says what happened.
  if (name === 'TimeoutError' && typeof e.code === 'string' && /^E[A-Z0-9_]+$/.test(e.code)) {
    return e.code;
  }
  return name;
}

function httpStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

function requestId(err: unknown): string | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.requestId;
}

const THROTTLING_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottledException',
  'RequestThrottled',
  'TooManyRequestsException',
  'TooManyUpdates',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'SlowDown',
  'PriorRequestNotComplete',
]);

const AUTH_NAMES = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'ExpiredTokenException',
  'ExpiredToken',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'NotAuthorized',
  'AuthFailure',
  'CredentialsProviderError',
  // Secrets Manager: the caller may not use the secret's KMS key (or the key is disabled).
  'DecryptionFailure',
]);

const TIMEOUT_NAMES = new Set([
  'TimeoutError',
  'ETIMEDOUT',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Whether AWS throttled the call (a name AWS uses for throttling, or HTTP 429). */
export function isThrottlingError(err: unknown): boolean {
  if (THROTTLING_NAMES.has(awsErrorName(err))) return true;
  if ((err as SdkErrorShape | null)?.$retryable?.throttling === true) return true;
  return httpStatus(err) === 429;
}

/** What a failed AWS call was doing, for the error message (names only, never values). */
export interface AwsFailureContext {
  backend: BackendName;
  /** `variable` or `connection`. */
  kind: string;
  /** The Variable key or conn_id. */
  id: string;
  /** The secret id or parameter name asked for. */
  location: string;
  /** `secret` or `parameter`. */
  locationNoun: string;
  /** Overrides the default description of what was read (for batch reads). */
  what?: string;
  /** The throttling rounds made, when the failure is throttling. */
  rounds?: number;
  /** What was being done. @default 'reading' */
  verb?: 'reading' | 'writing' | 'deleting';
}

/**
 * Maps any failure of an AWS call to a coded, secret-free {@link AirlockError}: the SDK error is
 * not attached as `cause` (its message may quote the service's answer); only its name, HTTP
 * status and request id are kept.
 *
 * @example
 * ```ts
 * throw toAirlockError(err, { backend: 'aws-ssm', kind: 'variable', id: 'x', location: '/airflow/variables/x', locationNoun: 'parameter' });
 * ```
 */
export function toAirlockError(err: unknown, ctx: AwsFailureContext): AirlockError {
  if (err instanceof AirlockError) return err;
  if (err instanceof ThrottledOut) return toAirlockError(err.last, { ...ctx, rounds: err.rounds });
  const name = awsErrorName(err);
  const status = httpStatus(err);
  const rid = requestId(err);
  const details: Record<string, string | number> = {
    backend: ctx.backend,
    kind: ctx.kind,
    id: ctx.id,
    [ctx.locationNoun]: ctx.location,
    error: name,
  };
  if (status !== undefined) details.status = status;
  if (rid) details.requestId = rid;
  const verb = ctx.verb ?? 'reading';
  const what = ctx.what ?? `${ctx.kind} \`${ctx.id}\` (${ctx.locationNoun} \`${ctx.location}\`)`;
  const why = status === undefined ? name : `${name}, HTTP ${status}`;
  const message = (err as SdkErrorShape | null)?.message;

  if (typeof message === 'string' && /region is missing/i.test(message)) {
    return new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${ctx.backend}: no AWS region is set; give region_name or set AWS_REGION`,
      { details: { backend: ctx.backend, kwarg: 'region_name' } },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${ctx.backend}: no usable AWS credentials for ${verb} ${what} (${name}); set keys, a profile or a role`,
      { details },
    );
  }
  if (isThrottlingError(err)) {
    if (ctx.rounds !== undefined) details.rounds = ctx.rounds;
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_THROTTLED',
      `${ctx.backend}: AWS kept throttling ${verb} ${what} (${why}) after ${ctx.rounds ?? 1} rounds of retries`,
      { details },
    );
  }
  if (TIMEOUT_NAMES.has(name)) {
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_TIMEOUT',
      `${ctx.backend}: ${verb} ${what} did not finish in time (${name})`,
      { details },
    );
  }
  if (AUTH_NAMES.has(name) || status === 401 || status === 403) {
    const hint =
      name === 'DecryptionFailure'
        ? 'check kms:Decrypt on the KMS key of the secret'
        : 'check the credentials and the IAM policy';
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${ctx.backend}: access denied ${verb} ${what} (${why}); ${hint}`,
      { details },
    );
  }
  return new AirlockError(
    'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    `${ctx.backend}: could not ${verb === 'reading' ? 'read' : verb === 'writing' ? 'write' : 'delete'} ${what} (${why})`,
    { details },
  );
}

/** AWS refuses a signature made more than 5 minutes off its clock. */
const MAX_SKEW_S = 300;

/**
 * `airlock doctor`'s AWS facts: the caller identity (`sts:GetCallerIdentity`, signed with the
 * credentials the backend resolves, at `service_config.sts.endpoint_url` / `endpoint_url` or the
 * regional STS) and the clock against AWS's (`Date` of the answer): signatures more than five
 * minutes off are refused.
 */
export async function diagnoseAws(
  backend: BackendName,
  opts: AwsConnectionOptions,
  env: Env,
  signal: AbortSignal | undefined,
): Promise<BackendDiagnosis[]> {
  const region = resolveRegion(opts, env) ?? 'us-east-1';
  let credentials = await resolveCredentials(backend, opts, env, region);
  if (credentials === undefined)
    credentials = (await loadCredentialProviders()).fromNodeProviderChain();
  const fix =
    'check the AWS credentials (keys, profile, role) the backend kwargs and the environment give';
  let resolved: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };
  try {
    resolved = typeof credentials === 'function' ? await credentials() : credentials;
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    return [
      { status: 'failure', detail: `caller identity: no usable AWS credentials (${name})`, fix },
    ];
  }
  const url = `${(resolveEndpoint(opts, 'sts') ?? `https://sts.${region}.amazonaws.com`).replace(/\/+$/, '')}/`;
  const body = 'Action=GetCallerIdentity&Version=2011-06-15';
  const request = {
    method: 'POST',
    url,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
      Host: new URL(url).host,
    },
    body,
  };
  const { Host: _host, ...headers } = signSigV4(request, resolved, region, 'sts', new Date());
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: signal ?? AbortSignal.timeout(15_000),
    });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? 'network error';
    return [
      {
        status: 'warning',
        detail: `caller identity: STS at ${new URL(url).host} is unreachable (${code})`,
        fix: 'allow the machine to reach STS (or set service_config.sts.endpoint_url)',
      },
    ];
  }
  const xml = await res.text();
  const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1];
  const out: BackendDiagnosis[] = [];
  if (res.ok && field('Arn')) {
    out.push({
      status: 'ok',
      detail: `caller identity: ${field('Arn')} (account ${field('Account') ?? '?'})`,
    });
  } else {
    out.push({
      status: 'failure',
      detail: `caller identity: STS answered HTTP ${res.status} (${field('Code') ?? 'no code'})`,
      fix,
    });
  }
  const date = Date.parse(res.headers.get('date') ?? '');
  if (Number.isFinite(date)) {
    const skew = Math.round(Math.abs(date - Date.now()) / 1000);
    out.push(
      skew > MAX_SKEW_S
        ? {
            status: 'failure',
            detail: `clock: ${skew} s apart from AWS; signatures are refused beyond ${MAX_SKEW_S} s`,
            fix: 'sync this machine clock (NTP)',
          }
        : { status: 'ok', detail: `clock: within ${skew} s of AWS` },
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Throttling backoff and concurrency
// ---------------------------------------------------------------------------------------------

/** A throttling failure that outlasted the backoff, with the rounds it took. */
export class ThrottledOut extends Error {
  readonly rounds: number;
  readonly last: unknown;
  constructor(last: unknown, rounds: number) {
    super('throttled');
    this.name = 'ThrottledOut';
    this.last = last;
    this.rounds = rounds;
  }
}

/**
 * Runs `call` and, while AWS throttles it, runs it again after a full-jitter exponential wait
 * (`random() × min(cap, base × 2^n)`), within `maxRetries` rounds and `budgetMs` of waiting.
 * Each round is one SDK call, with the SDK's own retries inside. Other failures pass through.
 *
 * @throws {ThrottledOut} when the budget is spent and AWS still throttles.
 */
export async function withThrottleBackoff<T>(
  call: () => Promise<T>,
  deps: AwsBackendDeps,
  signal: AbortSignal | undefined,
): Promise<T> {
  const policy = { ...DEFAULT_THROTTLE_POLICY, ...deps.throttle };
  return withRetry(call, {
    retries: policy.maxRetries,
    delayMs: exponentialBackoff({
      baseMs: policy.baseMs,
      capMs: policy.capMs,
      random: deps.random ?? Math.random,
    }),
    retryOn: isThrottlingError,
    mayWait: (ms, waited) => waited + ms <= policy.budgetMs,
    giveUp: (err, reason, attempts) => (reason === 'fatal' ? err : new ThrottledOut(err, attempts)),
    signal,
  });
}

export { chunks, mapLimit } from '../util/concurrency.ts';

/**
 * Python's `str.rstrip(chars)`: removes trailing characters that are in `chars` (a set, not a
 * suffix), as Airflow does to prefixes with `prefix.rstrip(sep)`.
 */
export function pyRstrip(value: string, chars: string): string {
  if (chars === '') return value;
  const set = new Set(chars);
  let end = value.length;
  while (end > 0 && set.has(value.charAt(end - 1))) end--;
  return value.slice(0, end);
}

/** An Airflow prefix after `rstrip(sep)` when truthy; `null` stays `null` (lookups disabled). */
export function normalisePrefix(prefix: string | null, sep: string): string | null {
  if (prefix === null) return null;
  return prefix ? pyRstrip(prefix, sep) : prefix;
}

/**
 * The kwargs for `describe()`: credentials and tokens redacted (Airflow's sensitive names),
 * user info removed from endpoint URLs.
 */
export function describeAwsOptions(
  type: BackendName,
  opts: Record<string, unknown>,
): Record<string, unknown> {
  const redacted = redactSensitive(opts) as Record<string, unknown>;
  const stripUserInfo = (url: unknown) =>
    typeof url === 'string' ? url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@') : url;
  if ('endpoint_url' in redacted) redacted.endpoint_url = stripUserInfo(redacted.endpoint_url);
  const services = redacted.service_config;
  if (services && typeof services === 'object') {
    for (const value of Object.values(services as Record<string, Record<string, unknown>>)) {
      if (value && typeof value === 'object' && 'endpoint_url' in value) {
        value.endpoint_url = stripUserInfo(value.endpoint_url);
      }
    }
  }
  return { type, ...redacted };
}
