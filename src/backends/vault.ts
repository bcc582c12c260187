/**
 * @module backends/vault
 * HashiCorp Vault (KV v1/v2), with Airflow's `VaultBackend` kwargs and semantics, over Vault's
 * HTTP API (`_http.ts`; Vault has no official Node SDK).
 *
 * Token lifecycle, where airlock does better than Airflow: Airflow calls `is_authenticated()` (a
 * `lookup-self` round trip) before every read and logs in again from scratch when it fails. Here
 * the token lives in the backend instance; a token from a login is renewed (`renew-self`) once a
 * third of its lease is left, or replaced by a new login near its end when it cannot be renewed;
 * a 403 triggers at most one recovery per read (re-login, or re-reading `token_path`), and only
 * when the token, not the policy, is at fault. A read therefore costs one HTTP call.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AirlockError, ConfigError } from '../errors.ts';
import {
  createHttpClient,
  createNodeFetch,
  errorCodeForStatus,
  type FetchLike,
  type HttpClient,
  type HttpResponse,
  type RetryPolicy,
} from './_http.ts';
import { nullablePrefix, optionalString, parseOptions } from './_options.ts';
import { isLoopbackEndpoint } from './_test-credentials.ts';
import {
  type BackendDeps,
  type BackendEntry,
  escapesPath,
  type SecretKind,
  type SecretsBackend,
} from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'vault' as const;

/** Vault auth methods Airflow's `VaultBackend` accepts; airlock logs in with each. */
export const VAULT_AUTH_TYPES = [
  'approle',
  'aws_iam',
  'azure',
  'github',
  'gcp',
  'jwt',
  'kubernetes',
  'ldap',
  'radius',
  'token',
  'userpass',
] as const;

/** Airflow's `VaultBackend` kwargs, plus the hvac client kwargs Airflow passes through. */
export const vaultOptionsSchema = z.strictObject({
  /** @default 'connections' */
  connections_path: nullablePrefix('connections'),
  /** @default 'variables' */
  variables_path: nullablePrefix('variables'),
  /** @default 'config' */
  config_path: nullablePrefix('config'),
  /** Vault's address, such as `https://vault.example.com:8200`. @default $VAULT_ADDR */
  url: optionalString(),
  /** @default 'token' */
  auth_type: z.enum(VAULT_AUTH_TYPES).default('token'),
  /** Where the auth method is mounted. @default the auth type's name (`approle`, …) */
  auth_mount_point: optionalString(),
  /** @default 'secret' */
  mount_point: z.string().nullable().default('secret'),
  /** @default 2 */
  kv_engine_version: z.union([z.literal(1), z.literal(2)]).default(2),
  token: optionalString(),
  token_path: optionalString(),
  username: optionalString(),
  password: optionalString(),
  key_id: optionalString(),
  secret_id: optionalString(),
  role_id: optionalString(),
  assume_role_kwargs: z.record(z.string(), z.unknown()).nullable().optional(),
  region: optionalString(),
  kubernetes_role: optionalString(),
  /** @default '/var/run/secrets/kubernetes.io/serviceaccount/token' */
  kubernetes_jwt_path: z.string().default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
  gcp_key_path: optionalString(),
  gcp_keyfile_dict: z.record(z.string(), z.unknown()).nullable().optional(),
  gcp_scopes: optionalString(),
  azure_tenant_id: optionalString(),
  azure_resource: optionalString(),
  radius_host: optionalString(),
  radius_secret: optionalString(),
  radius_port: z.number().int().nullable().optional(),
  jwt_role: optionalString(),
  jwt_token: optionalString(),
  jwt_token_path: optionalString(),
  use_team_secrets_path: z.boolean().optional(),
  global_secrets_path: optionalString(),
  /** Airflow's AppRole token file cache; airlock keeps the token in memory instead. */
  cache_approle_token: z.boolean().optional(),
  // hvac.Client kwargs that Airflow passes through.
  namespace: optionalString(),
  /** TLS verification: `true`, `false`, or the path of a CA bundle. @default $VAULT_CACERT or true */
  verify: z.union([z.boolean(), z.string()]).optional(),
  /** Request timeout in seconds, as hvac takes it. @default 30 */
  timeout: z.number().positive().optional(),
  cert: z
    .union([z.string(), z.tuple([z.string(), z.string()])])
    .nullable()
    .optional(),
  proxies: z.record(z.string(), z.string()).nullable().optional(),
});

/** Options of {@link createVaultBackend}. */
export type VaultBackendOptions = z.input<typeof vaultOptionsSchema>;

/** Dependencies of {@link createVaultBackend}; tests inject a clock or a transport. */
export interface VaultBackendDeps extends BackendDeps {
  /** The clock token lifetimes are measured with. @default Date.now */
  now?: () => number;
  /** Retries of transient failures. @default Airflow's: 3 retries of 412/500/502/503 */
  retry?: RetryPolicy;
}

type Options = z.output<typeof vaultOptionsSchema>;
type LoginType = Exclude<(typeof VAULT_AUTH_TYPES)[number], 'token'>;

/** Where a secret lives: its mount and its path inside the mount. */
interface Location {
  mount: string;
  path: string;
}

/** The token in use and what is known of its lifetime. */
interface TokenState {
  token: string;
  /** From a login (which can be repeated) or from the configuration. */
  source: 'login' | 'static';
  /** When it expires (ms since the epoch); `undefined`: never, or not known. */
  expiresAt: number | undefined;
  /** Its lease when issued or last renewed, in ms. */
  leaseMs: number;
  renewable: boolean;
  /** For a configured token: whether `lookup-self` has told its lifetime yet. */
  known: boolean;
  /** No renewal attempt before this time (after one failed for a transient reason). */
  renewNotBefore: number;
  /** Requests sent with this token so far. */
  uses: number;
}

type Action = 'none' | 'authenticate' | 'login' | 'renew' | 'lookup' | 'reload';

const SENSITIVE_KWARGS = [
  'token',
  'password',
  'secret_id',
  'role_id',
  'key_id',
  'jwt_token',
  'radius_secret',
  'gcp_keyfile_dict',
  'assume_role_kwargs',
] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function rstripSlash(value: string | null): string | null {
  return value === null ? null : value.replace(/\/+$/, '');
}

/** Percent-encodes each segment of a Vault path, keeping the slashes (as hvac's `format_url`). */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** A secret-free summary of Vault's `errors` list: only phrases airlock recognises. */
function vaultReason(body: unknown): string | undefined {
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.join(' ') : '';
  if (/invalid token/i.test(errors)) return 'invalid or expired token';
  if (
    /invalid role or secret id|invalid (role|secret) id|invalid username or password|failed to bind/i.test(
      errors,
    )
  ) {
    return 'invalid credentials';
  }
  if (/error making upstream request/i.test(errors)) {
    return 'STS did not accept the signed GetCallerIdentity request';
  }
  if (/does not belong to the role/i.test(errors)) {
    return 'the IAM principal is not bound to the role';
  }
  if (/signed JWT|service account .* not (found|authorized)|audience \(aud\)/i.test(errors)) {
    return 'Vault did not accept the signed JWT';
  }
  if (/unable to (verify|parse) the token/i.test(errors))
    return 'Vault did not accept the Azure token';
  if (/permission denied/i.test(errors)) return 'permission denied';
  if (/sealed/i.test(errors)) return 'Vault is sealed';
  return undefined;
}

function describeKind(kind: SecretKind): string {
  return kind === 'variable' ? 'variable' : 'connection';
}

/** Checks the kwargs the way Airflow's `_VaultClient.__init__` does, reporting every problem. */
function checkAuthKwargs(opts: Options, env: Readonly<Record<string, string | undefined>>): void {
  const type = opts.auth_type;
  const issues: string[] = [];
  const need = (ok: unknown, what: string) => {
    if (!ok) issues.push(`${BACKEND_NAME} kwargs: auth_type \`${type}\` needs ${what}`);
  };
  if (type === 'token')
    need(opts.token || opts.token_path || env.VAULT_TOKEN, '`token`, `token_path` or $VAULT_TOKEN');
  if (type === 'github') need(opts.token || opts.token_path, '`token` or `token_path`');
  if (type === 'approle') need(opts.role_id, '`role_id`');
  if (type === 'azure') need(opts.role_id, '`role_id` (the Vault role)');
  if (type === 'gcp') {
    need(opts.role_id, '`role_id` (the Vault role)');
    need(opts.gcp_key_path || opts.gcp_keyfile_dict, '`gcp_key_path` or `gcp_keyfile_dict`');
  }
  if (type === 'userpass' || type === 'ldap' || type === 'radius') {
    need(opts.username, '`username`');
    need(opts.password, '`password`');
  }
  if (type === 'kubernetes') {
    need(opts.kubernetes_role, '`kubernetes_role`');
    need(opts.kubernetes_jwt_path, '`kubernetes_jwt_path`');
  }
  if (type === 'jwt') {
    need(opts.jwt_role, '`jwt_role`');
    need(opts.jwt_token || opts.jwt_token_path, '`jwt_token` or `jwt_token_path`');
  }
  if (opts.proxies && Object.keys(opts.proxies).length > 0) {
    issues.push(
      `${BACKEND_NAME} kwargs.proxies: not supported by airlock; set HTTPS_PROXY with NODE_USE_ENV_PROXY=1 instead`,
    );
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

async function readCredentialFile(kwarg: string, path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new AirlockError(
      'AIRLOCK_ERR_BACKEND_AUTH',
      `${BACKEND_NAME}: cannot read ${kwarg} \`${path}\` (${code})`,
      { details: { backend: BACKEND_NAME, kwarg, errno: code } },
    );
  }
}

/**
 * Creates the Vault backend.
 *
 * @example
 * ```ts
 * const vault = createVaultBackend({ url: 'http://127.0.0.1:8200', token: 'root' });
 * await vault.getVariable('hello'); // GET /v1/secret/data/variables/hello → its `value`
 * ```
 */
export function createVaultBackend(
  options: VaultBackendOptions = {},
  deps: VaultBackendDeps = {},
): SecretsBackend {
  const opts = parseOptions(BACKEND_NAME, vaultOptionsSchema, options);
  const env = deps.env ?? process.env;
  checkAuthKwargs(opts, env);

  const baseUrl = (opts.url || env.VAULT_ADDR || 'http://localhost:8200').replace(/\/+$/, '');
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(baseUrl);
    if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') throw new TypeError();
  } catch {
    throw new ConfigError([`${BACKEND_NAME} kwargs.url: must be an http:// or https:// URL`]);
  }
  if (parsedUrl.username !== '' || parsedUrl.password !== '') {
    // Vault takes no credentials in the URL (and fetch refuses to send them).
    throw new ConfigError([`${BACKEND_NAME} kwargs.url: must not contain a user name or password`]);
  }
  const now = deps.now ?? Date.now;
  const timeoutMs = Math.round((opts.timeout ?? 30) * 1000);
  const paths: Record<SecretKind, string | null> = {
    variable: rstripSlash(opts.variables_path),
    connection: rstripSlash(opts.connections_path),
  };
  const kv2 = opts.kv_engine_version === 2;
  const authType = opts.auth_type;
  // hvac's default mount of each method: the method's name (`gcp`, …), but `aws` for aws_iam.
  const authMount = (opts.auth_mount_point || (authType === 'aws_iam' ? 'aws' : authType)).replace(
    /^\/+|\/+$/g,
    '',
  );
  const verify = opts.verify ?? (env.VAULT_CACERT || env.VAULT_CAPATH || true);

  // ----- transport (built on first use, memoised) -------------------------------------------
  let httpPromise: Promise<HttpClient> | undefined;
  let closeTransport: (() => void) | undefined;
  function http(): Promise<HttpClient> {
    if (httpPromise) return httpPromise;
    httpPromise = (async () => {
      let transport: FetchLike | undefined = deps.fetch;
      const customTls = verify !== true || (opts.cert !== undefined && opts.cert !== null);
      if (!transport && parsedUrl.protocol === 'https:' && customTls) {
        const nodeFetch = await createNodeFetch(BACKEND_NAME, {
          verify,
          cert: opts.cert ?? undefined,
        });
        transport = nodeFetch.fetch;
        closeTransport = nodeFetch.close;
      }
      return createHttpClient({
        backend: BACKEND_NAME,
        timeoutMs,
        ...(transport ? { fetch: transport } : {}),
        ...(deps.retry ? { retry: deps.retry } : {}),
      });
    })();
    // A CA bundle that could not be read is tried again at the next lookup.
    httpPromise.catch(() => {
      httpPromise = undefined;
    });
    return httpPromise;
  }

  function headers(token?: string): Record<string, string> {
    const h: Record<string, string> = { 'x-vault-request': 'true' };
    if (token !== undefined) h['x-vault-token'] = token;
    if (opts.namespace) h['x-vault-namespace'] = opts.namespace;
    return h;
  }

  async function call(
    method: string,
    path: string,
    what: string,
    token: string | undefined,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const client = await http();
    return client.send(
      {
        method,
        url: `${baseUrl}/v1/${path}`,
        headers: headers(token),
        ...(body === undefined ? {} : { body }),
      },
      what,
      signal,
    );
  }

  // ----- authentication ----------------------------------------------------------------------

  async function loginRequest(): Promise<{ path: string; body: Record<string, unknown> }> {
    switch (authType as LoginType) {
      case 'approle':
        return {
          path: 'login',
          body: { role_id: opts.role_id, ...(opts.secret_id ? { secret_id: opts.secret_id } : {}) },
        };
      case 'userpass':
      case 'ldap':
      case 'radius':
        return {
          path: `login/${encodeURIComponent(opts.username ?? '')}`,
          body: { password: opts.password },
        };
      case 'kubernetes':
        return {
          path: 'login',
          body: {
            role: opts.kubernetes_role,
            jwt: await readCredentialFile('kubernetes_jwt_path', opts.kubernetes_jwt_path),
          },
        };
      case 'jwt':
        return {
          path: 'login',
          body: {
            role: opts.jwt_role,
            jwt: opts.jwt_token
              ? opts.jwt_token.trim()
              : await readCredentialFile('jwt_token_path', opts.jwt_token_path ?? ''),
          },
        };
      case 'aws_iam':
        return { path: 'login', body: await awsIamLoginBody() };
      case 'gcp':
        return { path: 'login', body: { role: opts.role_id, jwt: await gcpLoginJwt() } };
      case 'azure':
        return { path: 'login', body: { role: opts.role_id, jwt: await azureAccessToken() } };
      case 'github':
        return {
          path: 'login',
          body: {
            token: opts.token_path
              ? await readCredentialFile('token_path', opts.token_path)
              : opts.token,
          },
        };
    }
  }

  /**
   * hvac's `auth.aws.iam_login`, as Airflow calls it: a `sts:GetCallerIdentity` request to the
   * global STS endpoint, SigV4-signed for `region` (default us-east-1) with `key_id`/`secret_id`,
   * else the credentials of an assumed role (`assume_role_kwargs`), else the AWS default chain;
   * Vault replays it to STS to learn who is logging in. `role_id` names the Vault role.
   */
  async function awsIamLoginBody(): Promise<Record<string, unknown>> {
    const credentials = await awsIamCredentials();
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const request = {
      method: 'POST',
      url: 'https://sts.amazonaws.com/',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
        Host: 'sts.amazonaws.com',
        'Content-Length': String(Buffer.byteLength(body)),
      },
      body,
    };
    const { signSigV4 } = await import('./_sigv4.ts');
    // Airflow: `region`, else (for credentials from the AWS chain) the session's region; hvac's
    // default is us-east-1.
    const chainRegion =
      opts.key_id && opts.secret_id ? undefined : env.AWS_REGION || env.AWS_DEFAULT_REGION;
    const region = opts.region || chainRegion || 'us-east-1';
    const headers = signSigV4(request, credentials, region, 'sts', new Date(now()));
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    // As the Vault CLI and hvac send them: each header a list of values.
    const listed = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
    return {
      iam_http_request_method: request.method,
      iam_request_url: b64(request.url),
      iam_request_body: b64(body),
      iam_request_headers: b64(JSON.stringify(listed)),
      ...(opts.role_id ? { role: opts.role_id } : {}),
    };
  }

  /**
   * The JWT of Vault's `gcp` login (`iam` roles), as Airflow builds it: `sub` the service
   * account, `aud` `vault/<role_id>`, expiring in 15 minutes (Vault's limit), RS256-signed. Airflow
   * has IAM's `signJwt` sign it; airlock signs it with the same service account's key from
   * `gcp_key_path`/`gcp_keyfile_dict`, which Vault accepts alike and which needs no IAM call.
   */
  async function gcpLoginJwt(): Promise<string> {
    let key: Record<string, unknown>;
    if (opts.gcp_keyfile_dict) {
      key = opts.gcp_keyfile_dict;
    } else {
      const text = await readCredentialFile('gcp_key_path', opts.gcp_key_path ?? '');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!isRecord(parsed)) {
        throw new ConfigError([
          `${BACKEND_NAME} kwargs.gcp_key_path: \`${opts.gcp_key_path}\` is not a JSON service-account key`,
        ]);
      }
      key = parsed;
    }
    const email = key.client_email;
    const privateKey = key.private_key;
    if (typeof email !== 'string' || typeof privateKey !== 'string') {
      throw new ConfigError([
        `${BACKEND_NAME} kwargs: the gcp key needs client_email and private_key (a service-account key)`,
      ]);
    }
    const issued = Math.floor(now() / 1000);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const header = part({
      alg: 'RS256',
      typ: 'JWT',
      ...(typeof key.private_key_id === 'string' ? { kid: key.private_key_id } : {}),
    });
    const payload = part({
      iat: issued,
      exp: issued + 900,
      sub: email,
      aud: `vault/${opts.role_id}`,
    });
    const { createSign } = await import('node:crypto');
    let signature: string;
    try {
      signature = createSign('RSA-SHA256')
        .update(`${header}.${payload}`)
        .sign(privateKey, 'base64url');
    } catch {
      throw new ConfigError([
        `${BACKEND_NAME} kwargs: the private_key of the gcp key cannot sign (not an RSA key in PEM)`,
      ]);
    }
    return `${header}.${payload}.${signature}`;
  }

  /**
   * The `jwt` of Vault's `azure` login: an Entra ID access token for `azure_resource` (default
   * `https://management.azure.com/`, what Vault's azure auth is usually configured with), from
   * the service principal `key_id`/`secret_id` in `azure_tenant_id` (the kwargs Airflow hands to
   * the method's configure call), else `DefaultAzureCredential` (a managed identity, workload
   * identity, …). A loopback `AZURE_AUTHORITY_HOST` (a test double of Entra ID) is used as given.
   */
  async function azureAccessToken(): Promise<string> {
    const resource = (opts.azure_resource || 'https://management.azure.com/').replace(/\/+$/, '');
    const identity = await import('@azure/identity');
    const authorityHost = env.AZURE_AUTHORITY_HOST || undefined;
    const local = authorityHost !== undefined && isLoopbackEndpoint(authorityHost);
    const options = {
      ...(authorityHost ? { authorityHost } : {}),
      ...(local ? { disableInstanceDiscovery: true } : {}),
    };
    const credential =
      opts.key_id && opts.secret_id && opts.azure_tenant_id
        ? new identity.ClientSecretCredential(
            opts.azure_tenant_id,
            opts.key_id,
            opts.secret_id,
            options,
          )
        : new identity.DefaultAzureCredential(options);
    try {
      const token = await credential.getToken(`${resource}/.default`);
      return token.token;
    } catch (err) {
      const name = err instanceof Error ? err.name : typeof err;
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: could not get an Azure token for ${resource} to log in with azure (${name}); give azure_tenant_id, key_id and secret_id, or run with a managed identity`,
        { details: { backend: BACKEND_NAME, auth_type: authType, error: name } },
      );
    }
  }

  async function awsIamCredentials(): Promise<{
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string | undefined;
  }> {
    if (opts.key_id && opts.secret_id) {
      return { accessKeyId: opts.key_id, secretAccessKey: opts.secret_id };
    }
    const providers = await import('@aws-sdk/credential-providers');
    const provider = opts.assume_role_kwargs
      ? providers.fromTemporaryCredentials({
          params: opts.assume_role_kwargs as unknown as Parameters<
            typeof providers.fromTemporaryCredentials
          >[0]['params'],
        })
      : providers.fromNodeProviderChain();
    try {
      const found = await provider();
      return {
        accessKeyId: found.accessKeyId,
        secretAccessKey: found.secretAccessKey,
        sessionToken: found.sessionToken,
      };
    } catch (err) {
      const name = err instanceof Error ? err.name : typeof err;
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: no AWS credentials to log in with aws_iam (${name}); give key_id and secret_id, assume_role_kwargs, or the AWS default chain (AWS_ACCESS_KEY_ID, a profile, a role)`,
        { details: { backend: BACKEND_NAME, auth_type: authType, error: name } },
      );
    }
  }

  async function login(): Promise<TokenState> {
    const request = await loginRequest();
    const where = `auth/${authMount}`;
    const what = `log in with ${authType} at ${where}`;
    const res = await call(
      'POST',
      `auth/${encodePath(authMount)}/${request.path}`,
      what,
      undefined,
      request.body,
    );
    const auth = isRecord(res.body) && isRecord(res.body.auth) ? res.body.auth : undefined;
    if (res.status === 200 && typeof auth?.client_token === 'string' && auth.client_token !== '') {
      const leaseMs = Math.max(0, Number(auth.lease_duration) || 0) * 1000;
      return {
        token: auth.client_token,
        source: 'login',
        expiresAt: leaseMs > 0 ? now() + leaseMs : undefined,
        leaseMs,
        renewable: auth.renewable === true,
        known: true,
        renewNotBefore: 0,
        uses: 0,
      };
    }
    const reason = vaultReason(res.body);
    const code =
      res.status === 200 || res.status === 400 || res.status === 404
        ? 'AIRLOCK_ERR_BACKEND_AUTH'
        : (errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_AUTH');
    const problem = res.status === 200 ? 'the answer has no token' : `HTTP ${res.status}`;
    throw new AirlockError(
      code,
      `${BACKEND_NAME}: could not ${what} (${problem}${reason ? `, ${reason}` : ''})`,
      { details: { backend: BACKEND_NAME, auth_type: authType, status: res.status } },
    );
  }

  async function configuredToken(): Promise<TokenState> {
    const token = opts.token_path
      ? await readCredentialFile('token_path', opts.token_path)
      : (opts.token ?? env.VAULT_TOKEN ?? '');
    if (token === '') {
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: the configured token is empty`,
        {
          details: { backend: BACKEND_NAME, auth_type: authType },
        },
      );
    }
    return {
      token,
      source: 'static',
      expiresAt: undefined,
      leaseMs: 0,
      renewable: false,
      known: false,
      renewNotBefore: 0,
      uses: 0,
    };
  }

  const canLogin = authType !== 'token';
  let state: TokenState | undefined;
  let pending: Promise<TokenState> | undefined;

  /** What the token needs before the next request. */
  function due(s: TokenState): Action {
    const t = now();
    // A configured token's lifetime is asked for once, at its second use: a one-shot CLI call
    // never pays for it, a long-running worker learns whether to renew it.
    if (s.source === 'static' && !s.known && s.uses >= 1) return 'lookup';
    if (s.expiresAt === undefined) return 'none';
    const remaining = s.expiresAt - t;
    if (s.renewable && remaining > 0 && remaining <= s.leaseMs / 3 && t >= s.renewNotBefore) {
      return 'renew';
    }
    if (canLogin && remaining <= Math.max(s.leaseMs / 10, 1000)) return 'login';
    if (!canLogin && remaining <= 0 && opts.token_path) return 'reload';
    return 'none';
  }

  async function renew(s: TokenState): Promise<TokenState> {
    let res: HttpResponse;
    try {
      res = await call('POST', 'auth/token/renew-self', 'renew the token', s.token, {});
    } catch {
      return { ...s, renewNotBefore: now() + Math.min(Math.max(s.leaseMs / 20, 1000), 30_000) };
    }
    const auth = isRecord(res.body) && isRecord(res.body.auth) ? res.body.auth : undefined;
    if (res.status === 200 && auth) {
      const leaseMs = Math.max(0, Number(auth.lease_duration) || 0) * 1000;
      const expiresAt = leaseMs > 0 ? now() + leaseMs : undefined;
      // A renewal that no longer moves the end (the max TTL is reached) is the last one.
      const moved =
        expiresAt === undefined || s.expiresAt === undefined || expiresAt > s.expiresAt + 1000;
      return {
        ...s,
        expiresAt,
        leaseMs: Math.max(leaseMs, moved ? 0 : s.leaseMs),
        renewable: auth.renewable === true && moved,
      };
    }
    if ((res.status === 401 || res.status === 403) && canLogin) return login();
    return {
      ...s,
      renewable: res.status === 400 ? false : s.renewable,
      renewNotBefore: now() + 5000,
    };
  }

  async function lookup(s: TokenState): Promise<TokenState> {
    try {
      const res = await call('GET', 'auth/token/lookup-self', 'look up the token', s.token);
      if ((res.status === 401 || res.status === 403) && opts.token_path) {
        // Dead already: a Vault Agent may have written its successor to the file.
        const fresh = await configuredToken();
        if (fresh.token !== s.token) return fresh;
      }
      const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
      if (res.status !== 200 || !data) return { ...s, known: true };
      const ttlMs = Math.max(0, Number(data.ttl) || 0) * 1000;
      const leaseMs = Math.max(0, Number(data.period) || Number(data.creation_ttl) || 0) * 1000;
      return {
        ...s,
        known: true,
        expiresAt: ttlMs > 0 ? now() + ttlMs : undefined,
        leaseMs: leaseMs || ttlMs,
        renewable: data.renewable === true,
      };
    } catch {
      return { ...s, known: true };
    }
  }

  function run(action: Exclude<Action, 'none'>): Promise<TokenState> {
    const current = state;
    const work = async (): Promise<TokenState> => {
      switch (action) {
        case 'authenticate':
          return canLogin ? login() : configuredToken();
        case 'login':
          return login();
        case 'renew':
          return renew(current as TokenState);
        case 'lookup':
          return lookup(current as TokenState);
        case 'reload': {
          const fresh = await configuredToken();
          return fresh.token === current?.token
            ? { ...(current as TokenState), known: true }
            : fresh;
        }
      }
    };
    const promise = work().then((next) => {
      state = next;
      return next;
    });
    pending = promise;
    // Waiters see the outcome; the slot frees itself either way.
    promise.then(
      () => {
        if (pending === promise) pending = undefined;
      },
      () => {
        if (pending === promise) pending = undefined;
      },
    );
    return promise;
  }

  /** The token to send now: authenticating, renewing or replacing it first when needed. */
  async function currentToken(): Promise<string> {
    if (pending) {
      const joined = await pending;
      joined.uses += 1;
      return joined.token;
    }
    const action: Action = state === undefined ? 'authenticate' : due(state);
    const s = action === 'none' ? (state as TokenState) : await run(action);
    s.uses += 1;
    return s.token;
  }

  /**
   * After a 401/403 sent with `used`: whether a fresh token is now in place. Only a token that
   * Vault says is invalid (or that `lookup-self` rejects) is replaced, and only once.
   */
  async function recover(used: string, res: HttpResponse, signal?: AbortSignal): Promise<boolean> {
    if (pending) {
      try {
        return (await pending).token !== used;
      } catch {
        return false;
      }
    }
    if (state !== undefined && state.token !== used) return true;
    if (!canLogin && !opts.token_path) return false;
    let invalid = vaultReason(res.body) === 'invalid or expired token';
    if (!invalid) {
      try {
        const probe = await call(
          'GET',
          'auth/token/lookup-self',
          'check the token',
          used,
          undefined,
          signal,
        );
        invalid = probe.status === 401 || probe.status === 403;
      } catch {
        invalid = false;
      }
    }
    if (!invalid) return false;
    const next = await run(canLogin ? 'login' : 'reload');
    return next.token !== used;
  }

  async function authed(
    method: string,
    path: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const token = await currentToken();
    const res = await call(method, path, what, token, undefined, signal);
    if (res.status !== 401 && res.status !== 403) return res;
    if (!(await recover(token, res, signal))) return res;
    return call(method, path, what, await currentToken(), undefined, signal);
  }

  // ----- reads -----------------------------------------------------------------------------

  /** Airflow's `_parse_path` + `build_path`: where `id` of `kind` lives, or `undefined` (skipped). */
  function locateSecret(kind: SecretKind, id: string): Location | undefined {
    const base = paths[kind];
    // A key with `..` segments, a leading `/` or a backslash would leave the configured path.
    if (base === null || escapesPath(id)) return undefined;
    let mount = opts.mount_point;
    let key = id;
    if (!mount) {
      const slash = id.indexOf('/');
      if (slash === -1) return undefined;
      mount = id.slice(0, slash);
      key = id.slice(slash + 1);
    }
    return { mount: mount.replace(/^\/+|\/+$/g, ''), path: base === '' ? key : `${base}/${key}` };
  }

  function apiPath(loc: Location): string {
    return `${loc.mount}/${kv2 ? 'data/' : ''}${loc.path}`;
  }

  // ----- the mount's KV version, asked after a miss ------------------------------------------
  // A KV v2 read on a v1 mount (or the reverse) is a plain 404, the same answer as a missing
  // secret. After a miss, the mount's version is asked once (Vault reports it on the
  // `sys/internal/ui/mounts/<path>` preflight, which the Vault CLI and hvac send too) so that
  // `secrets which` and the not-found message can name the real cause.

  /** Per mount: the asked-for version (`null`: not a KV mount, or Vault would not say). */
  const mountVersions = new Map<string, Promise<1 | 2 | null>>();
  const knownVersions = new Map<string, 1 | 2 | null>();

  function mountVersion(mount: string, signal?: AbortSignal): Promise<1 | 2 | null> {
    let pending = mountVersions.get(mount);
    if (!pending) {
      pending = authed(
        'GET',
        `sys/internal/ui/mounts/${encodePath(mount)}`,
        `ask the KV version of ${mount}/`,
        signal,
      )
        .then((res) => {
          const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
          if (res.status !== 200 || data?.type !== 'kv') return null;
          const options = isRecord(data.options) ? data.options : {};
          // A `kv` mount without a version option is version 1, as in Vault.
          return String(options.version ?? '1') === '2' ? 2 : 1;
        })
        .catch(() => null)
        .then((version) => {
          knownVersions.set(mount, version);
          return version;
        });
      mountVersions.set(mount, pending);
    }
    return pending;
  }

  function versionNote(kind: SecretKind, id: string): string | undefined {
    const loc = locateSecret(kind, id);
    if (!loc) return undefined;
    const version = knownVersions.get(loc.mount);
    const configured = kv2 ? 2 : 1;
    if (version === undefined || version === null || version === configured) return undefined;
    return `${loc.mount}/ is a KV version ${version} mount, but kv_engine_version is ${configured}: set "kv_engine_version": ${version}`;
  }

  async function readSecret(
    kind: SecretKind,
    id: string,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown> | undefined> {
    const loc = locateSecret(kind, id);
    if (!loc) return undefined;
    const where = apiPath(loc);
    const what = `read ${describeKind(kind)} \`${id}\``;
    const res = await authed('GET', encodePath(where), what, signal);
    const details = { backend: BACKEND_NAME, kind, id, path: where, status: res.status };
    if (res.status === 404) {
      await mountVersion(loc.mount, signal);
      return undefined;
    }
    if (res.status === 200) {
      const outer = isRecord(res.body) ? res.body.data : undefined;
      const data = kv2 && isRecord(outer) ? outer.data : outer;
      if (isRecord(data)) return data;
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_VALUE_INVALID',
        `${BACKEND_NAME}: the answer for ${describeKind(kind)} \`${id}\` at ${where} holds no KV ${kv2 ? 'v2' : 'v1'} secret; check kv_engine_version`,
        { details },
      );
    }
    const reason = vaultReason(res.body);
    const code = errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
    const message =
      code === 'AIRLOCK_ERR_BACKEND_AUTH'
        ? `${BACKEND_NAME}: permission denied reading ${describeKind(kind)} \`${id}\` at ${where} (HTTP ${res.status}${reason && reason !== 'permission denied' ? `, ${reason}` : ''}); the token's policy needs \`read\` on this path`
        : `${BACKEND_NAME}: could not ${what} at ${where} (HTTP ${res.status}${reason ? `, ${reason}` : ''})`;
    throw new AirlockError(code, message, { details });
  }

  return {
    name: BACKEND_NAME,

    async getVariable(key, signal) {
      const secret = await readSecret('variable', key, signal);
      // Airflow 3.x logs a warning for a secret without `value` and returns None.
      if (secret === undefined || !('value' in secret)) return undefined;
      const value = secret.value;
      if (value === null || value === undefined) return undefined;
      return typeof value === 'string' ? value : JSON.stringify(value);
    },

    async getConnectionValue(connId, signal) {
      const secret = await readSecret('connection', connId, signal);
      if (secret === undefined) return undefined;
      const uri = secret.conn_uri;
      if (typeof uri === 'string' && uri !== '') return uri;
      // Airflow 3.x: `json.dumps(secret)`, then `Connection.from_json`.
      return JSON.stringify(secret);
    },

    locate(kind, id) {
      const loc = locateSecret(kind, id);
      return loc ? apiPath(loc) : undefined;
    },

    missNote: versionNote,

    describe() {
      const out: Record<string, unknown> = { type: BACKEND_NAME, ...opts, url: baseUrl };
      for (const key of SENSITIVE_KWARGS) {
        if (out[key] !== undefined && out[key] !== null) out[key] = '***';
      }
      return out;
    },

    async dispose() {
      const s = state;
      state = undefined;
      // A token from a login is ours: revoke it so that tokens do not pile up in Vault
      // (Airflow issue #30611). A configured token belongs to the user and is left alone.
      if (s?.source === 'login' && (s.expiresAt === undefined || s.expiresAt > now())) {
        const bound = AbortSignal.timeout(Math.min(timeoutMs, 5000));
        await call('POST', 'auth/token/revoke-self', 'revoke the token', s.token, {}, bound).catch(
          () => undefined,
        );
      }
      closeTransport?.();
      closeTransport = undefined;
      httpPromise = undefined;
    },
  };
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: vaultOptionsSchema as BackendEntry['optionsSchema'],
  create: createVaultBackend as BackendEntry['create'],
};
