/**
 * @module backends/azure-key-vault
 * Azure Key Vault, with Airflow's `AzureKeyVaultBackend` kwargs and naming: a Variable `my_key`
 * is the secret `airflow-variables-my-key` (prefix, separator, then every `_` of the whole name
 * replaced by the separator), read with the official `@azure/keyvault-secrets` `SecretClient`.
 *
 * The SDK and `@azure/identity` are loaded with `import()` on the first lookup, and the client is
 * memoised. Sign-in follows Airflow: `ClientSecretCredential` when `tenant_id`, `client_id` and
 * `client_secret` are all set, else `DefaultAzureCredential` (managed identity, workload
 * identity, environment, Azure CLI …). A 404 is "not here"; 401/403 are
 * `AIRLOCK_ERR_BACKEND_AUTH`; throttling (429) and 5xx are retried by the SDK's own retry policy,
 * which honours `Retry-After`, within a bounded budget, then become
 * `AIRLOCK_ERR_BACKEND_UNAVAILABLE`.
 */
import type { TokenCredential } from '@azure/identity';
import type { SecretClient, SecretClientOptions } from '@azure/keyvault-secrets';
import { z } from 'zod';
import { AirlockError, ConfigError, isAirlockError } from '../errors.ts';
import { nullablePrefix, optionalString, parseOptions } from './_options.ts';
import { loadSdk } from './_sdk.ts';
import { assertTestCredentialsAllowed, isLoopbackEndpoint } from './_test-credentials.ts';
import {
  type BackendDeps,
  type BackendDiagnosis,
  type BackendEntry,
  keysUnder,
  type SecretKind,
  type SecretsBackend,
  writableName,
} from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'azure-key-vault' as const;

/** The Key Vault REST API versions the SDK can speak (`api_version`). */
export const AZURE_KEY_VAULT_API_VERSIONS = [
  '7.0',
  '7.1',
  '7.2',
  '7.3',
  '7.4',
  '7.5',
  '7.6',
  '2025-07-01',
  '2026-04-01',
] as const;

/** The bearer token of the static test credential (`AIRLOCK_TEST_CREDENTIALS=1`). */
export const AZURE_TEST_TOKEN = 'airlock-test-token' as const;

/** A valid Key Vault secret name: 1 to 127 letters, digits and hyphens. */
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** What a separator or a prefix may hold (a prefix's `_` become the separator). */
const SEP_CHARS = /^[0-9a-zA-Z-]*$/;
const PREFIX_CHARS = /^[0-9a-zA-Z_-]*$/;

const DEFAULTS = {
  retryTotal: 3,
  retryBackoffFactorSeconds: 0.8,
  retryBackoffMaxSeconds: 30,
  readTimeoutSeconds: 30,
} as const;

function checkUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be a URL, such as https://<vault-name>.vault.azure.net/';
  }
  if (url.protocol !== 'https:') return 'must be an https:// URL (Key Vault speaks HTTPS only)';
  if (url.username !== '' || url.password !== '') return 'must not contain a user name or password';
  return undefined;
}

/**
 * Airflow's `AzureKeyVaultBackend` kwargs, the `SecretClient` kwargs Airflow passes through that
 * airlock honours (azure-core's Python names), and `endpoint_url` for local fakes.
 */
export const azureKeyVaultOptionsSchema = z
  .strictObject({
    /**
     * Prefix of Connection secrets; `null` turns Connection lookups off, `""` means no prefix.
     * @default 'airflow-connections'
     */
    connections_prefix: nullablePrefix('airflow-connections'),
    /**
     * Prefix of Variable secrets; `null` turns Variable lookups off, `""` means no prefix.
     * @default 'airflow-variables'
     */
    variables_prefix: nullablePrefix('airflow-variables'),
    /**
     * Prefix of configuration secrets (Airflow's `get_config`); accepted, not read yet.
     * @default 'airflow-config'
     */
    config_prefix: nullablePrefix('airflow-config'),
    /**
     * The vault, such as `https://example.vault.azure.net/`. The backend needs it (or
     * `endpoint_url`) when it is created.
     * @default ''
     */
    vault_url: z.string().default(''),
    /**
     * Joins prefix and id, and replaces every `_` of the name; `""` removes underscores.
     * @default '-'
     */
    sep: z.string().default('-'),
    /** With `client_id` and `client_secret`: sign in as that service principal. */
    tenant_id: optionalString(),
    client_id: optionalString(),
    client_secret: optionalString(),
    /** A user-assigned managed identity's client id, for `DefaultAzureCredential`. */
    managed_identity_client_id: optionalString(),
    /** The workload identity's tenant, for `DefaultAzureCredential`. */
    workload_identity_tenant_id: optionalString(),
    /** Where requests go instead of `vault_url` (a private endpoint, a local fake). */
    endpoint_url: optionalString(),
    /**
     * The Key Vault REST API version (Python `SecretClient(api_version=…)`).
     * @default the SDK's latest
     */
    api_version: z.enum(AZURE_KEY_VAULT_API_VERSIONS).nullable().optional(),
    /**
     * Check that the sign-in challenge names the vault's domain (Python's kwarg). Loopback
     * endpoints skip the check, since no Azure domain can match them.
     * @default true
     */
    verify_challenge_resource: z.boolean().nullable().optional(),
    /**
     * Retries of a throttled (429), failed (5xx) or unreachable request.
     * @default 3
     */
    retry_total: z.int().min(0).max(10).nullable().optional(),
    /**
     * First back-off delay in seconds; it doubles with each retry.
     * @default 0.8
     */
    retry_backoff_factor: z.number().min(0).max(60).nullable().optional(),
    /**
     * Longest wait in seconds before a retry, a server's `Retry-After` included: a longer
     * `Retry-After` ends the lookup with `AIRLOCK_ERR_BACKEND_UNAVAILABLE` at once.
     * @default 30
     */
    retry_backoff_max: z.number().positive().max(600).nullable().optional(),
    /**
     * Time limit of one request, in seconds (`AIRLOCK_ERR_BACKEND_TIMEOUT` past it).
     * @default 30
     */
    read_timeout: z.number().positive().max(600).nullable().optional(),
  })
  .superRefine((o, ctx) => {
    if (!SEP_CHARS.test(o.sep)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sep'],
        message: 'may hold only letters, digits and hyphens (as Key Vault secret names)',
      });
    }
    for (const key of ['connections_prefix', 'variables_prefix', 'config_prefix'] as const) {
      const prefix = o[key];
      if (prefix !== null && !PREFIX_CHARS.test(prefix)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message:
            'may hold only letters, digits, hyphens and underscores (Key Vault secret names allow nothing else)',
        });
      }
    }
    for (const key of ['vault_url', 'endpoint_url'] as const) {
      const value = o[key];
      const problem = value ? checkUrl(value) : undefined;
      if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
  });

/** Options of {@link createAzureKeyVaultBackend}. */
export type AzureKeyVaultBackendOptions = z.input<typeof azureKeyVaultOptionsSchema>;

type IdentityModule = Pick<
  typeof import('@azure/identity'),
  'ClientSecretCredential' | 'DefaultAzureCredential'
>;

/** What tests (and embedders) may inject into {@link createAzureKeyVaultBackend}. */
export interface AzureKeyVaultBackendDeps extends BackendDeps {
  /** A credential to use instead of the one the kwargs describe. */
  credential?: TokenCredential;
  /** Extra `SecretClient` options, such as `tlsOptions` to trust a private CA. */
  clientOptions?: SecretClientOptions;
  /** Loads `@azure/identity` (tests pass recording doubles). @default import('@azure/identity') */
  loadIdentity?: () => Promise<IdentityModule>;
}

/**
 * Python's `str.rstrip(chars)`: removes trailing characters that appear anywhere in `chars`.
 */
function rstripChars(text: string, chars: string): string {
  if (chars === '') return text;
  let end = text.length;
  while (end > 0 && chars.includes(text.charAt(end - 1))) end -= 1;
  return text.slice(0, end);
}

/**
 * A prefix as Airflow keeps it: `null` stays `null` (lookups off), `""` stays `""` (no prefix),
 * anything else loses its trailing separator characters (`prefix.rstrip(sep)`).
 *
 * @example
 * ```ts
 * normalizeAzurePrefix('airflow-variables-', '-'); // 'airflow-variables'
 * ```
 */
export function normalizeAzurePrefix(prefix: string | null, sep: string): string | null {
  if (prefix === null || prefix === '') return prefix;
  return rstripChars(prefix, sep);
}

/**
 * The secret name Airflow's `AzureKeyVaultBackend.build_path` gives: `id` alone when the prefix
 * is `""`, else `prefix + sep + id`; then every `_` in the whole name becomes `sep`.
 *
 * @example
 * ```ts
 * buildAzureSecretName('airflow-connections', 'smtp_default', '-'); // 'airflow-connections-smtp-default'
 * buildAzureSecretName('', 'my_var', ''); // 'myvar'
 * ```
 */
export function buildAzureSecretName(prefix: string, id: string, sep: string): string {
  const path = prefix === '' ? id : `${prefix}${sep}${id}`;
  return path.replaceAll('_', sep);
}

/**
 * Whether Key Vault can hold a secret of this name (1–127 of `0-9`, `a-z`, `A-Z`, `-`).
 *
 * @example
 * ```ts
 * isValidAzureSecretName('airflow-variables-my.key'); // false
 * ```
 */
export function isValidAzureSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** A service principal with a client secret, and where it was configured (for messages). */
interface ServicePrincipal {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  from: string;
}

/**
 * The service principal the kwargs name (Airflow's `ClientSecretCredential` case), else the one
 * `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET` name (`EnvironmentCredential`'s).
 */
function servicePrincipalOf(
  opts: {
    tenant_id?: string | null | undefined;
    client_id?: string | null | undefined;
    client_secret?: string | null | undefined;
  },
  env: Readonly<Record<string, string | undefined>>,
): ServicePrincipal | undefined {
  if (opts.tenant_id && opts.client_id && opts.client_secret) {
    return {
      tenantId: opts.tenant_id,
      clientId: opts.client_id,
      clientSecret: opts.client_secret,
      from: 'tenant_id, client_id, client_secret',
    };
  }
  if (env.AZURE_TENANT_ID && env.AZURE_CLIENT_ID && env.AZURE_CLIENT_SECRET) {
    return {
      tenantId: env.AZURE_TENANT_ID,
      clientId: env.AZURE_CLIENT_ID,
      clientSecret: env.AZURE_CLIENT_SECRET,
      from: 'AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET',
    };
  }
  return undefined;
}

/** The static credential of `AIRLOCK_TEST_CREDENTIALS=1`: a fixed token, valid for an hour. */
const testCredential: TokenCredential = {
  getToken: async () => ({
    token: AZURE_TEST_TOKEN,
    expiresOnTimestamp: Date.now() + 3600_000,
    tokenType: 'Bearer',
  }),
};

/** Thrown by the budget policy when a server asks for a wait longer than the budget. */
class RetryAfterBeyondBudget extends Error {
  readonly status: number;
  readonly retryAfterMs: number;

  constructor(status: number, retryAfterMs: number) {
    super(`the server asked to retry after ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'RetryAfterBeyondBudget';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

interface HeaderBag {
  get(name: string): string | undefined;
}

/** The wait a throttled answer asks for, read as the SDK's throttling strategy reads it. */
function retryAfterMs(headers: HeaderBag): number | undefined {
  for (const [name, factor] of [
    ['retry-after-ms', 1],
    ['x-ms-retry-after-ms', 1],
    ['retry-after', 1000],
  ] as const) {
    const raw = headers.get(name)?.trim();
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (Number.isFinite(n)) return n * factor;
    if (name === 'retry-after') {
      const date = Date.parse(raw);
      if (Number.isFinite(date)) return Math.max(0, date - Date.now());
    }
  }
  return undefined;
}

type AdditionalPolicy = NonNullable<SecretClientOptions['additionalPolicies']>[number];

/**
 * The SDK's retry policy honours `Retry-After` on 429/503 however long it is; this policy, run
 * on every attempt, refuses a wait beyond `maxWaitMs` instead of sleeping through it.
 */
function retryAfterBudgetPolicy(maxWaitMs: number): AdditionalPolicy {
  return {
    position: 'perRetry',
    policy: {
      name: 'airlockRetryAfterBudget',
      async sendRequest(request, next) {
        const response = await next(request);
        if (response.status === 429 || response.status === 503) {
          const wait = retryAfterMs(response.headers);
          if (wait !== undefined && wait > maxWaitMs) {
            throw new RetryAfterBeyondBudget(response.status, wait);
          }
        }
        return response;
      },
    },
  };
}

/** A token from an error that is safe to repeat: a service or system error code, no more. */
function safeCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : undefined;
}

interface RestErrorLike {
  name: string;
  statusCode?: number;
  code?: string;
  response?: { headers?: HeaderBag };
  details?: unknown;
}

function isRestErrorLike(err: unknown): err is RestErrorLike {
  return err instanceof Error && err.name === 'RestError';
}

function innerErrorCode(details: unknown): string | undefined {
  if (details === null || typeof details !== 'object') return undefined;
  const error = (details as { error?: { innerError?: { code?: unknown } } }).error;
  return safeCode(error?.innerError?.code);
}

/** Network errors that mean a host cannot be reached at all (retrying does not help). */
const UNREACHABLE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Thrown by the sign-in reachability policy in place of the network error. */
class LoginHostUnreachable extends Error {
  constructor(host: string, code: string) {
    super(`the sign-in host ${host} could not be reached (${code})`);
    this.name = 'LoginHostUnreachable';
  }
}

const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AuthenticationRequiredError',
  'AggregateAuthenticationError',
]);

/**
 * Sign-in hosts that could not be reached (DNS failure, refused, no route), with the error code,
 * recorded by a policy on the credential's own HTTP pipeline. Without it, a sign-in host that does
 * not resolve is retried for ~6 s and then surfaces as a bare `AuthenticationRequiredError`
 * (`network_error`) that names no host. With it, the host is recorded and the attempt ends at
 * once: the error is no longer a system error, which the SDK's retry strategy does not retry. A
 * host leaves the map when it answers again.
 */
class LoginReachability {
  readonly hosts = new Map<string, string>();
  readonly policy: AdditionalPolicy;

  constructor() {
    const hosts = this.hosts;
    this.policy = {
      position: 'perRetry',
      policy: {
        name: 'airlockLoginReachability',
        async sendRequest(request, next) {
          const host = new URL(request.url).host;
          try {
            const response = await next(request);
            hosts.delete(host);
            return response;
          } catch (err) {
            const code = (err as { code?: unknown } | null)?.code;
            if (typeof code !== 'string' || !UNREACHABLE_CODES.has(code)) throw err;
            hosts.set(host, code);
            throw new LoginHostUnreachable(host, code);
          }
        },
      },
    };
  }

  /** `: the sign-in host … could not be reached (…)`, or `''` when every host answered. */
  note(): string {
    if (this.hosts.size === 0) return '';
    const hosts = [...this.hosts].map(([host, code]) => `${host} (${code})`).join(', ');
    return `: the sign-in host ${hosts} could not be reached; check the network, the tenant and AZURE_AUTHORITY_HOST`;
  }
}

/** What the credential is built from. */
interface CredentialSetup {
  opts: z.output<typeof azureKeyVaultOptionsSchema>;
  deps: AzureKeyVaultBackendDeps;
  useTestCredential: boolean;
  testPrincipal: ReturnType<typeof servicePrincipalOf>;
  authorityHost: string | undefined;
  logins: LoginReachability;
}

/** The Azure credential the kwargs (or the environment) name. */
async function buildCredential(setup: CredentialSetup): Promise<TokenCredential> {
  const { opts, deps, useTestCredential, testPrincipal, authorityHost } = setup;
  const loginReachability = setup.logins.policy;
  if (deps.credential) return deps.credential;
  if (useTestCredential && !testPrincipal) return testCredential;
  const identity = await loadSdk(
    BACKEND_NAME,
    '@azure/identity',
    deps.loadIdentity ?? (() => import('@azure/identity')),
  );
  if (testPrincipal) {
    return new identity.ClientSecretCredential(
      testPrincipal.tenantId,
      testPrincipal.clientId,
      testPrincipal.clientSecret,
      {
        additionalPolicies: [loginReachability],
        authorityHost: authorityHost as string,
        disableInstanceDiscovery: true,
      },
    );
  }
  try {
    if (opts.tenant_id && opts.client_id && opts.client_secret) {
      // A sign-in endpoint on this machine (a test double of Entra ID) is used as it is:
      // MSAL's instance discovery would ask login.microsoftonline.com about it first.
      const localAuthority = authorityHost !== undefined && isLoopbackEndpoint(authorityHost);
      return new identity.ClientSecretCredential(
        opts.tenant_id,
        opts.client_id,
        opts.client_secret,
        {
          additionalPolicies: [loginReachability],
          ...(authorityHost ? { authorityHost } : {}),
          ...(localAuthority ? { disableInstanceDiscovery: true } : {}),
        },
      );
    }
    const managedId = opts.managed_identity_client_id || undefined;
    const workloadTenant = opts.workload_identity_tenant_id || undefined;
    return new identity.DefaultAzureCredential({
      additionalPolicies: [loginReachability],
      ...(managedId ? { managedIdentityClientId: managedId } : {}),
      ...(workloadTenant
        ? { tenantId: workloadTenant, additionallyAllowedTenants: [workloadTenant] }
        : {}),
    });
  } catch (err) {
    // The SDK's message may quote what it was given; keep the error's name only.
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${BACKEND_NAME}: could not set up the Azure credential (${err instanceof Error ? err.name : 'error'}); check tenant_id and client_id`,
      { details: { backend: BACKEND_NAME } },
    );
  }
}

/** What an error message says about the read's limits and the endpoint. */
interface ReadLimits {
  maxWaitMs: number;
  timeoutMs: number;
  retryTotal: number;
  endpointHost: string;
  logins: LoginReachability;
}

function describeKind(kind: SecretKind): string {
  return kind === 'variable' ? 'variable' : 'connection';
}

/** Turns an SDK or credential error into a coded, secret-free error; `undefined` = missing. */
function mapError(
  err: unknown,
  kind: SecretKind,
  id: string,
  name: string,
  limits: ReadLimits,
  verb: 'read' | 'write' | 'delete' = 'read',
): AirlockError | undefined {
  const doing = verb === 'read' ? 'reading' : verb === 'write' ? 'writing' : 'deleting';
  const { maxWaitMs, timeoutMs, retryTotal, endpointHost } = limits;
  const what = `${describeKind(kind)} \`${id}\``;
  const base = { backend: BACKEND_NAME, kind, id, secret: name };
  if (err instanceof RetryAfterBeyondBudget) {
    const seconds = Math.ceil(err.retryAfterMs / 1000);
    return new AirlockError(
      err.status === 429 ? 'AIRLOCK_ERR_BACKEND_THROTTLED' : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      `${BACKEND_NAME}: Key Vault throttled ${doing} ${what} (secret \`${name}\`, HTTP ${err.status}) and asked to wait ${seconds} s, more than retry_backoff_max (${maxWaitMs / 1000} s)`,
      { details: { ...base, status: err.status, retryAfterSeconds: seconds } },
    );
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_TIMEOUT',
      `${BACKEND_NAME}: ${doing} ${what} (secret \`${name}\`) took longer than ${timeoutMs} ms`,
      { details: { ...base, timeoutMs } },
    );
  }
  if (isRestErrorLike(err)) {
    const status = err.statusCode;
    const code = safeCode(err.code);
    const requestId = safeCode(err.response?.headers?.get('x-ms-request-id'));
    const details = {
      ...base,
      ...(status === undefined ? {} : { status }),
      ...(code === undefined ? {} : { code }),
      ...(requestId === undefined ? {} : { requestId }),
    };
    const label = `HTTP ${status}${code ? ` ${code}` : ''}`;
    if (status === 404) return undefined;
    if (status === 401) {
      return new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: Key Vault refused the credentials ${doing} ${what} (secret \`${name}\`, ${label})`,
        { details },
      );
    }
    if (status === 403) {
      const disabled = innerErrorCode(err.details) === 'SecretDisabled';
      return new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        disabled
          ? `${BACKEND_NAME}: the secret \`${name}\` for ${what} is disabled (${label} SecretDisabled)`
          : `${BACKEND_NAME}: not allowed to ${verb} ${what} (secret \`${name}\`, ${label}); the identity needs ${verb === 'read' ? 'the Key Vault Secrets User role or an access policy with get' : `the Key Vault Secrets Officer role or an access policy with ${verb === 'write' ? 'set' : 'delete'}`} on secrets`,
        { details: disabled ? { ...details, innerCode: 'SecretDisabled' } : details },
      );
    }
    if (status === 429) {
      return new AirlockError(
        'AIRLOCK_ERR_BACKEND_THROTTLED',
        `${BACKEND_NAME}: Key Vault throttled ${doing} ${what} (secret \`${name}\`, ${label}) after ${retryTotal} retries`,
        { details },
      );
    }
    if (status !== undefined) {
      return new AirlockError(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
        `${BACKEND_NAME}: could not ${verb} ${what} (secret \`${name}\`, ${label})`,
        { details },
      );
    }
    // Node's certificate verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, …).
    const tls =
      code !== undefined && /CERT|SSL|TLS|UNABLE_TO_VERIFY|ISSUER|SIGNATURE|HOSTNAME/i.test(code);
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      tls
        ? `${BACKEND_NAME}: the TLS certificate of ${endpointHost} is not trusted (${code}) ${doing} ${what}; for a local fake, set NODE_EXTRA_CA_CERTS to its CA file`
        : `${BACKEND_NAME}: could not reach ${endpointHost} ${doing} ${what} (${code ?? 'network error'})`,
      { details },
    );
  }
  if (err instanceof Error && CREDENTIAL_ERRORS.has(err.name)) {
    const unreachable = limits.logins.note();
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      unreachable
        ? `${BACKEND_NAME}: could not get an Azure token to ${verb} ${what} (${err.name})${unreachable}`
        : `${BACKEND_NAME}: could not get an Azure token to ${verb} ${what} (${err.name}); see the sign-in options in docs/backends/azure-key-vault.md`,
      {
        details: {
          ...base,
          error: err.name,
          ...(unreachable ? { loginHosts: [...limits.logins.hosts.keys()].join(',') } : {}),
        },
      },
    );
  }
  if (err instanceof Error && /challenge resource/i.test(err.message)) {
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${BACKEND_NAME}: the sign-in challenge of ${endpointHost} names another domain than the vault's, so no token was sent (set verify_challenge_resource to false only if this host is really your vault)`,
      { details: base },
    );
  }
  const errName = err instanceof Error ? err.name : typeof err;
  return new AirlockError(
    'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    `${BACKEND_NAME}: could not ${verb} ${what} (secret \`${name}\`, ${errName})`,
    { details: { ...base, error: errName } },
  );
}

/**
 * `airlock secrets put` / `delete` on Key Vault: `setSecret` (a new version), recovering a
 * soft-deleted secret of that name first (Key Vault refuses the name until it is recovered or
 * purged); a delete is Key Vault's soft delete (`az keyvault secret delete`). A missing secret
 * is no error for a delete (a 404 maps to `undefined`).
 */
async function writeAzureSecret(
  kv: SecretClient,
  name: string,
  value: string | undefined,
  { signal, timeoutMs }: { signal: AbortSignal | undefined; timeoutMs: number },
): Promise<void> {
  const options = {
    ...(signal ? { abortSignal: signal } : {}),
    requestOptions: { timeout: timeoutMs },
  };
  if (value === undefined) {
    const poller = await kv.beginDeleteSecret(name, { ...options, intervalInMs: 200 });
    await poller.pollUntilDone();
    return;
  }
  try {
    await kv.setSecret(name, value, options);
  } catch (err) {
    if (!isRestErrorLike(err) || err.statusCode !== 409) throw err;
    const poller = await kv.beginRecoverDeletedSecret(name, { ...options, intervalInMs: 200 });
    await poller.pollUntilDone();
    await kv.setSecret(name, value, options);
  }
}

/** Entra ID tokens are refused this far past their validity window (its default clock skew). */
const MAX_CLOCK_SKEW_S = 300;

/**
 * `airlock doctor`'s Key Vault fact: the vault's clock against this machine's (the `Date` of an
 * unauthenticated request's answer, a 401 challenge). Tokens carry `nbf`/`exp` from the sign-in
 * service's clock: a machine far off refuses or is refused them.
 */
async function diagnoseAzureClock(
  endpoint: string,
  signal: AbortSignal | undefined,
): Promise<BackendDiagnosis[]> {
  const url = `${endpoint.replace(/\/+$/, '')}/secrets?api-version=7.5&maxresults=1`;
  let date: number;
  try {
    const res = await fetch(url, { signal: signal ?? AbortSignal.timeout(15_000) });
    await res.arrayBuffer();
    date = Date.parse(res.headers.get('date') ?? '');
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? 'network error';
    return [
      {
        status: 'warning',
        detail: `clock: the vault at ${new URL(url).host} did not answer (${code})`,
        fix: 'check that this machine reaches the vault (and trusts its certificate)',
      },
    ];
  }
  if (!Number.isFinite(date)) return [];
  const skew = Math.round(Math.abs(date - Date.now()) / 1000);
  return [
    skew > MAX_CLOCK_SKEW_S
      ? {
          status: 'failure',
          detail: `clock: ${skew} s apart from Key Vault; Entra ID tokens are refused beyond ${MAX_CLOCK_SKEW_S} s`,
          fix: 'sync this machine clock (NTP)',
        }
      : { status: 'ok', detail: `clock: within ${skew} s of Key Vault` },
  ];
}

/**
 * Creates the Azure Key Vault backend.
 *
 * @example
 * ```ts
 * const kv = createAzureKeyVaultBackend({ vault_url: 'https://example.vault.azure.net/' });
 * await kv.getVariable('my_key'); // reads the secret `airflow-variables-my-key`
 * ```
 */
export function createAzureKeyVaultBackend(
  options: AzureKeyVaultBackendOptions,
  deps: AzureKeyVaultBackendDeps = {},
): SecretsBackend {
  const opts = parseOptions(BACKEND_NAME, azureKeyVaultOptionsSchema, options);
  // Not in the schema: Airflow's default is `""`, so `config show` accepts it; a backend that
  // is to run needs a vault.
  if (!opts.vault_url && !opts.endpoint_url) {
    throw new ConfigError([
      `${BACKEND_NAME} kwargs.vault_url: is required: the vault, such as https://<vault-name>.vault.azure.net/`,
    ]);
  }
  const env = deps.env ?? process.env;
  const sep = opts.sep;
  const variablesPrefix = normalizeAzurePrefix(opts.variables_prefix, sep);
  const connectionsPrefix = normalizeAzurePrefix(opts.connections_prefix, sep);
  const endpoint = opts.endpoint_url || opts.vault_url;
  const endpointHost = new URL(endpoint).host;
  // Checked now, so that a test-credentials run against a real vault fails at start-up.
  const useTestCredential =
    deps.credential === undefined && assertTestCredentialsAllowed(BACKEND_NAME, endpoint, env);
  // Under test credentials, a service principal (the kwargs, else the environment that
  // EnvironmentCredential reads) signs in for real, at a loopback AZURE_AUTHORITY_HOST (the Key
  // Vault test double serves Entra ID's token endpoint); it is never dropped in silence.
  const testPrincipal = useTestCredential ? servicePrincipalOf(opts, env) : undefined;
  const authorityHost = env.AZURE_AUTHORITY_HOST || undefined;
  if (testPrincipal && !(authorityHost && isLoopbackEndpoint(authorityHost))) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${BACKEND_NAME}: AIRLOCK_TEST_CREDENTIALS=1 with a service principal (${testPrincipal.from}) signs it in at AZURE_AUTHORITY_HOST, which must then be a loopback https URL (the test double's, e.g. https://127.0.0.1:<port>); it is ${authorityHost ? 'not loopback' : 'unset'}`,
      { details: { backend: BACKEND_NAME, kwarg: 'AZURE_AUTHORITY_HOST' } },
    );
  }
  const timeoutMs = (opts.read_timeout ?? DEFAULTS.readTimeoutSeconds) * 1000;
  const maxWaitMs = (opts.retry_backoff_max ?? DEFAULTS.retryBackoffMaxSeconds) * 1000;
  const retryTotal = opts.retry_total ?? DEFAULTS.retryTotal;

  let clientPromise: Promise<SecretClient> | undefined;
  const logins = new LoginReachability();
  const limits: ReadLimits = { maxWaitMs, timeoutMs, retryTotal, endpointHost, logins };

  async function buildClient(): Promise<SecretClient> {
    const [{ SecretClient }, credential] = await Promise.all([
      loadSdk(BACKEND_NAME, '@azure/keyvault-secrets', () => import('@azure/keyvault-secrets')),
      buildCredential({ opts, deps, useTestCredential, testPrincipal, authorityHost, logins }),
    ]);
    const extra = deps.clientOptions ?? {};
    return new SecretClient(endpoint, credential, {
      ...extra,
      ...(opts.api_version ? { serviceVersion: opts.api_version } : {}),
      // The kwarg wins; else no Azure domain can match a loopback host, so its check is off.
      disableChallengeResourceVerification:
        typeof opts.verify_challenge_resource === 'boolean'
          ? !opts.verify_challenge_resource
          : (extra.disableChallengeResourceVerification ?? isLoopbackEndpoint(endpoint)),
      retryOptions: {
        maxRetries: retryTotal,
        retryDelayInMs: (opts.retry_backoff_factor ?? DEFAULTS.retryBackoffFactorSeconds) * 1000,
        maxRetryDelayInMs: maxWaitMs,
      },
      additionalPolicies: [...(extra.additionalPolicies ?? []), retryAfterBudgetPolicy(maxWaitMs)],
      userAgentOptions: { userAgentPrefix: 'airlock' },
    });
  }

  function client(): Promise<SecretClient> {
    clientPromise ??= buildClient().catch((err: unknown) => {
      clientPromise = undefined;
      throw err;
    });
    return clientPromise;
  }

  function locate(kind: SecretKind, id: string): string | undefined {
    const prefix = kind === 'variable' ? variablesPrefix : connectionsPrefix;
    return prefix === null ? undefined : buildAzureSecretName(prefix, id, sep);
  }

  async function read(
    kind: SecretKind,
    id: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const name = locate(kind, id);
    // A disabled kind is never sent; nor is a name Key Vault cannot hold (it holds no such
    // secret, and Airflow's call would only fail with a 400 and fall through).
    if (name === undefined || !isValidAzureSecretName(name)) return undefined;
    let value: string | undefined;
    try {
      const kv = await client();
      const secret = await kv.getSecret(name, {
        ...(signal ? { abortSignal: signal } : {}),
        requestOptions: { timeout: timeoutMs },
      });
      value = secret.value;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isAirlockError(err)) throw err;
      const mapped = mapError(err, kind, id, name, limits);
      if (mapped === undefined) return undefined;
      throw mapped;
    }
    if (typeof value !== 'string') {
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_VALUE_INVALID',
        `${BACKEND_NAME}: the secret \`${name}\` for ${describeKind(kind)} \`${id}\` has no value`,
        { details: { backend: BACKEND_NAME, kind, id, secret: name } },
      );
    }
    return value;
  }

  async function write(
    kind: SecretKind,
    id: string,
    value: string | undefined,
    signal?: AbortSignal,
  ) {
    const name = writableName(
      BACKEND_NAME,
      kind,
      id,
      locate(kind, id),
      isValidAzureSecretName,
      '0-9, a-z, A-Z and -, at most 127 characters; sep and the key may hold no other character',
    );
    try {
      await writeAzureSecret(await client(), name, value, { signal, timeoutMs });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isAirlockError(err)) throw err;
      const verb = value === undefined ? 'delete' : 'write';
      const mapped = mapError(err, kind, id, name, limits, verb);
      if (mapped !== undefined) throw mapped;
    }
  }

  return {
    name: BACKEND_NAME,
    async listKeys(kind, signal) {
      const prefix = kind === 'variable' ? variablesPrefix : connectionsPrefix;
      if (prefix === null) return [];
      // The name Airflow builds turns `_` into sep: the key listed is the name's own spelling.
      const head = buildAzureSecretName(prefix, '', sep);
      const names: string[] = [];
      try {
        const kv = await client();
        const options = signal ? { abortSignal: signal } : {};
        for await (const secret of kv.listPropertiesOfSecrets(options)) names.push(secret.name);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (isAirlockError(err)) throw err;
        throw mapError(err, kind, '*', `${head}*`, limits) ?? err;
      }
      return keysUnder(names, head);
    },
    putSecret: (kind, id, value, signal) => write(kind, id, value, signal),
    deleteSecret: (kind, id, signal) => write(kind, id, undefined, signal),
    diagnose: (signal) => diagnoseAzureClock(endpoint, signal),
    getVariable: (key, signal) => read('variable', key, signal),
    getConnectionValue: (connId, signal) => read('connection', connId, signal),
    locate,
    describe() {
      return {
        type: BACKEND_NAME,
        ...opts,
        ...(opts.client_secret ? { client_secret: '***' } : {}),
      };
    },
    async dispose() {
      // The SDK keeps no sockets of its own beyond Node's shared, unref'd keep-alive agents;
      // forgetting the client lets the next lookup start afresh.
      clientPromise = undefined;
    },
  };
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: azureKeyVaultOptionsSchema as BackendEntry['optionsSchema'],
  create: createAzureKeyVaultBackend as BackendEntry['create'],
};
