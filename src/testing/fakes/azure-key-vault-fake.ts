/**
 * @module testing/fakes/azure-key-vault-fake
 * A test double of Azure Key Vault's secrets REST API, served over HTTPS on 127.0.0.1 with a
 * certificate authority generated at start, so that the official `@azure/keyvault-secrets`
 * `SecretClient` can talk to it unchanged: the same challenge-based bearer handshake (a request
 * without a token gets a 401 whose `WWW-Authenticate` names the tenant and the resource), the same
 * paths, JSON shapes and error bodies (`{"error": {"code", "message"}}`), soft delete, versions,
 * paging and throttling with `Retry-After`.
 *
 * It is a test double: secrets live in memory, any bearer token is accepted unless
 * `acceptedTokens` says otherwise, and nothing is hardened for untrusted networks, which is why it
 * binds to 127.0.0.1 only. The SDK checks that the challenge's resource (`vault.azure.net`)
 * matches the vault's host; a client of this fake sets `disableChallengeResourceVerification`
 * (the airlock backend does so for loopback endpoints by itself).
 *
 * @example
 * ```ts
 * const fake = await startAzureKeyVaultFake({ seed: { 'airflow-variables-hello': 'world' } });
 * const client = new SecretClient(fake.url, credential, fake.clientOptions());
 * console.log((await client.getSecret('airflow-variables-hello')).value); // 'world'
 * await fake.close();
 * ```
 */
import { createHash, createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import {
  FakeHttpError,
  type FaultInjection,
  FaultInjector,
  readBody,
  readJsonBody,
  sendJson,
} from './_serve-fake.ts';

/** The `api-version` values the fake accepts (those the installed SDK can send). */
export const KEY_VAULT_API_VERSIONS = [
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

/** The resource Key Vault names in its bearer challenge (the token's audience). */
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

/** What Key Vault accepts as a secret name: 1 to 127 letters, digits and hyphens. */
export const KEY_VAULT_SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The largest secret value Key Vault stores (25 KiB). */
export const KEY_VAULT_MAX_VALUE_BYTES = 25 * 1024;

/** The tenant the fake names in its challenge unless told otherwise. */
export const FAKE_TENANT_ID = '00000000-0000-4000-8000-00000000a1c0';

const RECOVERY_LEVEL = 'Recoverable+Purgeable';
const RECOVERABLE_DAYS = 90;
const MAX_PAGE = 25;

/** A certificate authority and the server certificate it signed, all PEM. */
export interface FakeTlsMaterial {
  /** The CA certificate clients trust (`NODE_EXTRA_CA_CERTS`, or the SDK's TLS settings). */
  ca: string;
  /** The server certificate, for `localhost`, `127.0.0.1` and `::1`. */
  cert: string;
  /** The server's private key. */
  key: string;
}

/**
 * Generates a throw-away CA and a server certificate for `localhost`/`127.0.0.1`/`::1` (P-256,
 * valid for a day), with the `selfsigned` package: no `openssl` binary is needed.
 *
 * @example
 * ```ts
 * const tls = await generateFakeTls();
 * const a = await startAzureKeyVaultFake({ tls });
 * const b = await startAzureKeyVaultFake({ tls }); // same CA, no second generation
 * ```
 */
export async function generateFakeTls(): Promise<FakeTlsMaterial> {
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 24 * 3600_000);
  const ca = await generate([{ name: 'commonName', value: 'airlock fake azure-key-vault CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { ca: ca.cert, cert: server.cert, key: server.private };
}

/** Options of {@link startAzureKeyVaultFake}. */
export interface AzureKeyVaultFakeOptions {
  /**
   * Port on 127.0.0.1; `0` lets the OS pick one (tests keep 0).
   * @default 0
   */
  port?: number;
  /** Secrets to hold from the start, by name (each becomes one enabled version). */
  seed?: Record<string, string>;
  /**
   * The tenant named in the bearer challenge.
   * @default FAKE_TENANT_ID
   */
  tenantId?: string;
  /**
   * Bearer tokens the fake accepts; any other gets a 401 with a fresh challenge.
   * @default any non-empty token
   */
  acceptedTokens?: readonly string[];
  /**
   * Service principals the fake's sign-in endpoint (Entra ID's client-credentials flow, under
   * `/<tenant>/oauth2/v2.0/token`) knows: client id → client secret. A token it issues is
   * accepted by the vault whatever `acceptedTokens` says.
   * @default any client id with a non-empty secret
   */
  servicePrincipals?: Readonly<Record<string, string>>;
  /**
   * Certificates to serve; pass the same material to several fakes to generate it once.
   * @default a new CA from {@link generateFakeTls}
   */
  tls?: FakeTlsMaterial;
}

/** One request as the fake saw it (for assertions on what the SDK sent). */
export interface FakeRequestRecord {
  readonly method: string;
  /** The path, percent-decoded, without the query. */
  readonly path: string;
  readonly apiVersion: string | null;
  /** The bearer token sent, or `null` for the unauthenticated challenge request. */
  readonly token: string | null;
}

/** One sign-in at the fake's token endpoint (never the client secret or the token). */
export interface FakeSignInRecord {
  readonly tenant: string;
  readonly clientId: string;
  readonly scope: string;
  /** `issued`, or the OAuth error the fake answered (`invalid_client`, …). */
  readonly outcome: string;
}

/** Attributes of a stored version, as {@link AzureKeyVaultFake.setSecret} takes them. */
export interface FakeSecretOptions {
  contentType?: string;
  tags?: Record<string, string>;
  /** @default true */
  enabled?: boolean;
}

/** A running Azure Key Vault fake. */
export interface AzureKeyVaultFake extends FaultInjection {
  /** The vault URL, `https://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The PEM certificate of the CA that signed the fake's certificate. */
  readonly caCertificate: string;
  /** The tenant the challenge names. */
  readonly tenantId: string;
  /** Every request received, in order (cleared by {@link AzureKeyVaultFake.reset}). */
  readonly requests: readonly FakeRequestRecord[];
  /**
   * The sign-in endpoint's authority host, the same `https://127.0.0.1:<port>`: give it as
   * `AZURE_AUTHORITY_HOST` to sign a service principal in here.
   */
  readonly authorityHost: string;
  /** Every sign-in at the token endpoint, in order (cleared by {@link AzureKeyVaultFake.reset}). */
  readonly signIns: readonly FakeSignInRecord[];
  /**
   * The public key (PEM) that signs the access tokens the sign-in endpoint issues (RS256 JWTs,
   * also published as JWKS at `/<tenant>/discovery/v2.0/keys`): give it to another double that
   * must verify them, such as the Vault double's azure auth method.
   */
  readonly signingPublicKey: string;
  /** The object id (`oid`) the tokens of a service principal carry, by client id. */
  principalObjectId(clientId: string): string;
  /** Stores each `name → value` as a new enabled version. */
  seed(secrets: Record<string, string>): void;
  /** Stores a new version of `name` and returns its version id. */
  setSecret(name: string, value: string, options?: FakeSecretOptions): string;
  /** The latest value of `name`, or `undefined` (test-side inspection; no HTTP). */
  peek(name: string): string | undefined;
  /**
   * Makes the next `count` requests answer 429 `Throttled` with `Retry-After: retryAfterSeconds`.
   * `failNext(429)` does the same with the last `Retry-After` set here (1 s at first).
   */
  throttleNext(count?: number, retryAfterSeconds?: number): void;
  /** Forgets every secret, deleted secret, request record, failure and latency. */
  reset(): void;
  /**
   * `SecretClient` options that trust this fake's CA and skip the challenge-resource check
   * (which a host of 127.0.0.1 cannot pass); spread them into the client's options.
   */
  clientOptions(): FakeClientOptions;
  /** Stops listening and destroys open connections. */
  close(): Promise<void>;
}

/** The subset of `SecretClientOptions` that {@link AzureKeyVaultFake.clientOptions} fills. */
export interface FakeClientOptions {
  disableChallengeResourceVerification: true;
  /** The SDK pipeline's TLS settings: trust the fake's CA (and only it). */
  tlsOptions: { ca: string };
}

interface StoredVersion {
  id: string;
  value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  nbf: number | undefined;
  exp: number | undefined;
  created: number;
  updated: number;
}

interface StoredSecret {
  /** The name as first created (Key Vault names are case-insensitive but keep their case). */
  name: string;
  versions: StoredVersion[];
}

interface DeletedSecret {
  secret: StoredSecret;
  deletedDate: number;
  scheduledPurgeDate: number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const newVersionId = () => randomBytes(16).toString('hex');

class KeyVaultError extends FakeHttpError {
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly innerCode: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
    innerCode?: string,
  ) {
    super(status, message);
    this.code = code;
    this.headers = headers;
    this.innerCode = innerCode;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringRecord(value: unknown, what: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new KeyVaultError(400, 'BadParameter', `Property ${what} must map strings to strings.`);
  }
  return value as Record<string, string>;
}

function optionalSeconds(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new KeyVaultError(400, 'BadParameter', `Property ${what} must be a Unix time.`);
  }
  return value;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new KeyVaultError(400, 'BadParameter', 'The request URI is not valid.');
  }
}

function checkName(name: string): void {
  if (!KEY_VAULT_SECRET_NAME.test(name)) {
    throw new KeyVaultError(
      400,
      'BadParameter',
      'The request URI contains an invalid name. Secret names may contain only 0-9, a-z, A-Z and -.',
    );
  }
}

function statusCode(status: number): { code: string; message: string } {
  switch (status) {
    case 400:
      return { code: 'BadParameter', message: 'The request is invalid.' };
    case 401:
      return { code: 'Unauthorized', message: 'AKV10032: Invalid issuer.' };
    case 403:
      return {
        code: 'Forbidden',
        message:
          "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
      };
    case 404:
      return { code: 'NotFound', message: 'The requested resource was not found.' };
    case 409:
      return { code: 'Conflict', message: 'The request conflicts with the vault state.' };
    case 429:
      return {
        code: 'Throttled',
        message:
          'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      };
    case 500:
      return { code: 'InternalServerError', message: 'An internal error occurred.' };
    case 502:
      return { code: 'BadGateway', message: 'Bad gateway.' };
    case 503:
      return { code: 'ServiceUnavailable', message: 'The service is unavailable.' };
    case 504:
      return { code: 'GatewayTimeout', message: 'The gateway timed out.' };
    default:
      return { code: 'Error', message: `HTTP ${status}.` };
  }
}

/**
 * Starts an Azure Key Vault fake on `https://127.0.0.1:<port>`.
 *
 * @example
 * ```ts
 * const fake = await startAzureKeyVaultFake();
 * fake.seed({ 'airflow-connections-smtp-default': 'smtp://user:pass@mail.example.com:587' });
 * fake.throttleNext(1, 1); // the next request gets a 429 with Retry-After: 1
 * await fake.close();
 * ```
 */
export async function startAzureKeyVaultFake(
  options: AzureKeyVaultFakeOptions = {},
): Promise<AzureKeyVaultFake> {
  const tls = options.tls ?? (await generateFakeTls());
  const tenantId = options.tenantId ?? FAKE_TENANT_ID;
  const accepted =
    options.acceptedTokens === undefined ? undefined : new Set(options.acceptedTokens);
  const secrets = new Map<string, StoredSecret>();
  const deleted = new Map<string, DeletedSecret>();
  const requests: FakeRequestRecord[] = [];
  const faults = new FaultInjector();
  let retryAfterSeconds = 1;

  const challenge = `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${KEY_VAULT_RESOURCE}"`;
  const servicePrincipals = options.servicePrincipals;
  const issuedTokens = new Set<string>();
  const signIns: FakeSignInRecord[] = [];

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKid = randomBytes(8).toString('hex');
  const signingPublicKey = signingKey.publicKey.export({ type: 'spki', format: 'pem' }) as string;

  function signJwt(claims: Record<string, unknown>): string {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${part({ typ: 'JWT', alg: 'RS256', kid: signingKid })}.${part(claims)}`;
    const signature = createSign('RSA-SHA256')
      .update(input)
      .sign(signingKey.privateKey, 'base64url');
    return `${input}.${signature}`;
  }

  /** A stable object id for a service principal (Entra ID's `oid`), derived from its client id. */
  function principalObjectId(clientId: string): string {
    const hex = createHash('sha256').update(`${tenantId}/${clientId}`).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }

  /** Entra ID's error body (`AADSTS…` codes, as MSAL reads them). */
  function oauthError(
    res: ServerResponse,
    status: number,
    error: string,
    code: number,
    text: string,
  ) {
    sendJson(res, status, {
      error,
      error_description: `AADSTS${code}: ${text}`,
      error_codes: [code],
      timestamp: new Date()
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z'),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    });
  }

  /**
   * Entra ID's sign-in, as much of it as the client-credentials flow needs: the tenant's OpenID
   * configuration (MSAL reads it first) and the token endpoint. `true` when it answered.
   */
  async function signIn(req: IncomingMessage, res: ServerResponse, url: URL, base: string) {
    if (url.pathname === `/${tenantId}/discovery/v2.0/keys`) {
      req.resume();
      sendJson(res, 200, {
        keys: [
          {
            ...signingKey.publicKey.export({ format: 'jwk' }),
            kid: signingKid,
            use: 'sig',
            alg: 'RS256',
          },
        ],
      });
      return true;
    }
    const metadata = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    const tenant = metadata?.[1] ?? token?.[1];
    if (tenant === undefined) return false;
    if (tenant !== tenantId) {
      req.resume();
      oauthError(res, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
      return true;
    }
    if (metadata) {
      req.resume();
      const root = `${base}/${tenantId}`;
      sendJson(res, 200, {
        token_endpoint: `${root}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
        jwks_uri: `${base}/${tenantId}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        issuer: `${root}/v2.0`,
        authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${root}/oauth2/v2.0/logout`,
        tenant_region_scope: null,
        cloud_instance_name: 'microsoftonline.com',
      });
      return true;
    }
    if (req.method !== 'POST') {
      req.resume();
      oauthError(res, 405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
      return true;
    }
    const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString('utf8'));
    const clientId = form.get('client_id') ?? '';
    const scope = form.get('scope') ?? '';
    const record = (outcome: string) => signIns.push({ tenant, clientId, scope, outcome });
    if (form.get('grant_type') !== 'client_credentials') {
      record('unsupported_grant_type');
      oauthError(
        res,
        400,
        'unsupported_grant_type',
        70003,
        'The app requested an unsupported grant type.',
      );
      return true;
    }
    const secret = form.get('client_secret') ?? '';
    if (secret === '') {
      record('invalid_client');
      oauthError(
        res,
        401,
        'invalid_client',
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
      return true;
    }
    if (servicePrincipals !== undefined && servicePrincipals[clientId] === undefined) {
      record('unauthorized_client');
      oauthError(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
      );
      return true;
    }
    if (servicePrincipals !== undefined && servicePrincipals[clientId] !== secret) {
      record('invalid_client');
      oauthError(
        res,
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
      return true;
    }
    if (!scope.split(' ').some((s) => s.endsWith('/.default'))) {
      record('invalid_scope');
      oauthError(
        res,
        400,
        'invalid_scope',
        1002012,
        'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.',
      );
      return true;
    }
    // An Entra ID access token: a JWT signed with the fake's key (its JWKS is published), for
    // the scope's resource, naming the tenant and the service principal.
    const issuedAt = Math.floor(Date.now() / 1000);
    const resource = (scope.split(' ').find((x) => x.endsWith('/.default')) ?? '').slice(
      0,
      -'/.default'.length,
    );
    const accessToken = signJwt({
      aud: resource,
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + 3599,
      tid: tenantId,
      appid: clientId,
      oid: principalObjectId(clientId),
      sub: principalObjectId(clientId),
      idtyp: 'app',
      uti: randomBytes(12).toString('base64url'),
      ver: '1.0',
    });
    issuedTokens.add(accessToken);
    record('issued');
    sendJson(res, 200, {
      token_type: 'Bearer',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: accessToken,
    });
    return true;
  }

  function storeVersion(name: string, value: string, opts: FakeSecretOptions = {}): string {
    checkName(name);
    const key = name.toLowerCase();
    if (deleted.has(key)) {
      throw new KeyVaultError(
        409,
        'Conflict',
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      );
    }
    if (Buffer.byteLength(value, 'utf8') > KEY_VAULT_MAX_VALUE_BYTES) {
      throw new KeyVaultError(400, 'BadParameter', 'The secret value exceeds the 25 KB limit.');
    }
    const now = nowSeconds();
    const version: StoredVersion = {
      id: newVersionId(),
      value,
      contentType: opts.contentType,
      tags: opts.tags,
      enabled: opts.enabled ?? true,
      nbf: undefined,
      exp: undefined,
      created: now,
      updated: now,
    };
    const existing = secrets.get(key);
    if (existing) existing.versions.push(version);
    else secrets.set(key, { name, versions: [version] });
    return version.id;
  }

  function attributes(v: StoredVersion): Record<string, unknown> {
    return {
      enabled: v.enabled,
      ...(v.nbf === undefined ? {} : { nbf: v.nbf }),
      ...(v.exp === undefined ? {} : { exp: v.exp }),
      created: v.created,
      updated: v.updated,
      recoveryLevel: RECOVERY_LEVEL,
      recoverableDays: RECOVERABLE_DAYS,
    };
  }

  function bundle(base: string, s: StoredSecret, v: StoredVersion, withValue: boolean) {
    return {
      ...(withValue ? { value: v.value } : {}),
      ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
      id: `${base}/secrets/${s.name}/${v.id}`,
      attributes: attributes(v),
      ...(v.tags === undefined ? {} : { tags: v.tags }),
    };
  }

  function deletedBundle(base: string, d: DeletedSecret) {
    const latest = d.secret.versions.at(-1) as StoredVersion;
    return {
      recoveryId: `${base}/deletedsecrets/${d.secret.name}`,
      deletedDate: d.deletedDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
      ...bundle(base, d.secret, latest, false),
    };
  }

  function find(name: string): StoredSecret {
    checkName(name);
    const s = secrets.get(name.toLowerCase());
    if (s === undefined) {
      throw new KeyVaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    return s;
  }

  function findVersion(name: string, version: string): { s: StoredSecret; v: StoredVersion } {
    const s = find(name);
    const v =
      version === ''
        ? s.versions.at(-1)
        : s.versions.find((x) => x.id.toLowerCase() === version.toLowerCase());
    if (v === undefined) {
      throw new KeyVaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}/${version} was not found in this key vault.`,
      );
    }
    return { s, v };
  }

  function findDeleted(name: string): DeletedSecret {
    checkName(name);
    const d = deleted.get(name.toLowerCase());
    if (d === undefined) {
      throw new KeyVaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
    }
    return d;
  }

  function page<T>(url: URL, base: string, items: T[]): { value: T[]; nextLink: string | null } {
    const max = url.searchParams.get('maxresults');
    const size = max === null ? MAX_PAGE : Number(max);
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
      throw new KeyVaultError(
        400,
        'BadParameter',
        `The value of maxresults must be between 1 and ${MAX_PAGE}.`,
      );
    }
    const token = url.searchParams.get('$skiptoken');
    const start = token === null ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0) {
      throw new KeyVaultError(400, 'BadParameter', 'The $skiptoken is invalid.');
    }
    const value = items.slice(start, start + size);
    if (start + size >= items.length) return { value, nextLink: null };
    const next = new URL(`${base}${url.pathname}`);
    next.searchParams.set('api-version', url.searchParams.get('api-version') ?? '');
    next.searchParams.set('$skiptoken', Buffer.from(String(start + size)).toString('base64url'));
    next.searchParams.set('maxresults', String(size));
    return { value, nextLink: next.toString() };
  }

  async function route(req: IncomingMessage, url: URL, base: string): Promise<[number, unknown]> {
    const method = req.method ?? 'GET';
    // Segments stay raw until split, so that an encoded `/` in a name stays in the name.
    const parts = url.pathname.split('/').slice(1).map(decodeSegment);
    const [collection, name, third, fourth] = parts;
    const extra = parts.length > 4;
    if (collection === 'secrets' && !extra) {
      if (name === undefined || name === '') {
        if (method === 'GET' && parts.length <= 2) {
          const items = [...secrets.values()].map((s) => {
            const latest = s.versions.at(-1) as StoredVersion;
            const { id: _id, ...rest } = bundle(base, s, latest, false);
            return { ...rest, id: `${base}/secrets/${s.name}` };
          });
          return [200, page(url, base, items)];
        }
      } else if (third === undefined && method === 'PUT') {
        const body = await readJsonBody(req);
        if (!isRecord(body) || typeof body.value !== 'string') {
          throw new KeyVaultError(400, 'BadParameter', 'Property value is required.');
        }
        const attrs = isRecord(body.attributes) ? body.attributes : {};
        if (attrs.enabled !== undefined && typeof attrs.enabled !== 'boolean') {
          throw new KeyVaultError(400, 'BadParameter', 'Property enabled must be a boolean.');
        }
        const contentType = body.contentType;
        if (contentType !== undefined && contentType !== null && typeof contentType !== 'string') {
          throw new KeyVaultError(400, 'BadParameter', 'Property contentType must be a string.');
        }
        // Everything is checked before anything is stored.
        const tags = stringRecord(body.tags, 'tags');
        const nbf = optionalSeconds(attrs.nbf, 'nbf');
        const exp = optionalSeconds(attrs.exp, 'exp');
        const id = storeVersion(name, body.value, {
          ...(typeof contentType === 'string' ? { contentType } : {}),
          ...(tags === undefined ? {} : { tags }),
          ...(typeof attrs.enabled === 'boolean' ? { enabled: attrs.enabled } : {}),
        });
        const { s, v } = findVersion(name, id);
        v.nbf = nbf;
        v.exp = exp;
        return [200, bundle(base, s, v, true)];
      } else if (third === undefined && method === 'DELETE') {
        const s = find(name);
        secrets.delete(name.toLowerCase());
        const now = nowSeconds();
        const d = {
          secret: s,
          deletedDate: now,
          scheduledPurgeDate: now + RECOVERABLE_DAYS * 86_400,
        };
        deleted.set(name.toLowerCase(), d);
        return [200, deletedBundle(base, d)];
      } else if (third === 'versions' && fourth === undefined && method === 'GET') {
        const s = find(name);
        const items = s.versions.map((v) => bundle(base, s, v, false));
        return [200, page(url, base, items)];
      } else if (fourth === undefined && (method === 'GET' || method === 'PATCH')) {
        const { s, v } = findVersion(name, third ?? '');
        if (method === 'GET') {
          if (!v.enabled) {
            throw new KeyVaultError(
              403,
              'Forbidden',
              'Operation get is not allowed on a disabled secret.',
              {},
              'SecretDisabled',
            );
          }
          return [200, bundle(base, s, v, true)];
        }
        const body = await readJsonBody(req);
        const patch = isRecord(body) ? body : {};
        const attrs = isRecord(patch.attributes) ? patch.attributes : {};
        if (typeof attrs.enabled === 'boolean') v.enabled = attrs.enabled;
        if (attrs.nbf !== undefined) v.nbf = optionalSeconds(attrs.nbf, 'nbf');
        if (attrs.exp !== undefined) v.exp = optionalSeconds(attrs.exp, 'exp');
        if (typeof patch.contentType === 'string') v.contentType = patch.contentType;
        const tags = stringRecord(patch.tags, 'tags');
        if (tags !== undefined) v.tags = tags;
        v.updated = nowSeconds();
        return [200, bundle(base, s, v, false)];
      }
    }
    if (collection === 'deletedsecrets' && !extra && fourth === undefined) {
      if ((name === undefined || name === '') && method === 'GET') {
        return [
          200,
          page(
            url,
            base,
            [...deleted.values()].map((d) => deletedBundle(base, d)),
          ),
        ];
      }
      if (name !== undefined && name !== '') {
        if (third === undefined && method === 'GET')
          return [200, deletedBundle(base, findDeleted(name))];
        if (third === undefined && method === 'DELETE') {
          findDeleted(name);
          deleted.delete(name.toLowerCase());
          return [204, undefined];
        }
        if (third === 'recover' && method === 'POST') {
          const d = findDeleted(name);
          deleted.delete(name.toLowerCase());
          secrets.set(name.toLowerCase(), d.secret);
          const latest = d.secret.versions.at(-1) as StoredVersion;
          return [200, bundle(base, d.secret, latest, false)];
        }
      }
    }
    throw new KeyVaultError(
      405,
      'MethodNotAllowed',
      `The requested method ${method} is not allowed for this resource.`,
    );
  }

  function sendError(res: ServerResponse, err: KeyVaultError): void {
    const error = {
      code: err.code,
      message: err.message,
      ...(err.innerCode === undefined ? {} : { innererror: { code: err.innerCode } }),
    };
    sendJson(res, err.status, { error }, { 'x-ms-request-id': newVersionId(), ...err.headers });
  }

  function injected(status: number): KeyVaultError {
    const { code, message } = statusCode(status);
    const headers: Record<string, string> = {};
    if (status === 401) headers['www-authenticate'] = challenge;
    if (status === 429) headers['retry-after'] = String(retryAfterSeconds);
    return new KeyVaultError(status, code, message, headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake.invalid');
    const base = `https://${req.headers.host ?? '127.0.0.1'}`;
    const auth = req.headers.authorization;
    const bearer =
      typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth.trim())?.[1] : undefined;
    if (await signIn(req, res, url, base)) return;
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    requests.push({
      method: req.method ?? 'GET',
      path,
      apiVersion: url.searchParams.get('api-version'),
      token: bearer ?? null,
    });
    await faults.delay();
    try {
      if (bearer === undefined) {
        // Drain the body (the SDK sends the challenge request without one, others might not).
        req.resume();
        throw new KeyVaultError(
          401,
          'Unauthorized',
          'AKV10000: Request is missing a Bearer or PoP token.',
          {
            'www-authenticate': challenge,
          },
        );
      }
      if (accepted !== undefined && !accepted.has(bearer) && !issuedTokens.has(bearer)) {
        req.resume();
        throw new KeyVaultError(401, 'Unauthorized', 'AKV10032: Invalid issuer.', {
          'www-authenticate': challenge,
        });
      }
      const failure = faults.takeFailure(url.pathname);
      if (failure !== undefined) {
        req.resume();
        throw injected(failure);
      }
      const apiVersion = url.searchParams.get('api-version');
      if (apiVersion === null) {
        throw new KeyVaultError(400, 'BadParameter', 'The api-version query parameter is missing.');
      }
      if (!(KEY_VAULT_API_VERSIONS as readonly string[]).includes(apiVersion)) {
        throw new KeyVaultError(
          400,
          'BadParameter',
          `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (${KEY_VAULT_API_VERSIONS.at(-1)}).`,
        );
      }
      const [status, body] = await route(req, url, base);
      sendJson(res, status, body, { 'x-ms-request-id': newVersionId() });
    } catch (error) {
      if (error instanceof KeyVaultError) {
        sendError(res, error);
        return;
      }
      if (error instanceof FakeHttpError) {
        sendError(res, new KeyVaultError(error.status, 'BadParameter', error.message));
        return;
      }
      throw error;
    }
  }

  const server: Server = createServer({ key: tls.key, cert: tls.cert });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      sendJson(res, 500, { error: { code: 'InternalServerError', message: `fake: ${message}` } });
    });
  });
  // A client that gives up on TLS (an untrusted CA) is not an error of the fake.
  server.on('tlsClientError', () => {});
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fake did not get a port');
  const port = address.port;

  if (options.seed)
    for (const [name, value] of Object.entries(options.seed)) storeVersion(name, value);

  let closing: Promise<void> | undefined;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caCertificate: tls.ca,
    tenantId,
    requests,
    authorityHost: `https://127.0.0.1:${port}`,
    signIns,
    signingPublicKey,
    principalObjectId,
    seed(entries) {
      for (const [name, value] of Object.entries(entries)) storeVersion(name, value);
    },
    setSecret: (name, value, opts) => storeVersion(name, value, opts),
    peek(name) {
      const s = secrets.get(name.toLowerCase());
      return s?.versions.at(-1)?.value;
    },
    failNext: (status, count, pathPrefix) => faults.failNext(status, count, pathPrefix),
    setLatency: (ms) => faults.setLatency(ms),
    throttleNext(count = 1, seconds = 1) {
      if (!Number.isFinite(seconds) || seconds < 0) {
        throw new RangeError('throttleNext: retryAfterSeconds must be >= 0');
      }
      retryAfterSeconds = Math.ceil(seconds);
      faults.failNext(429, count);
    },
    reset() {
      secrets.clear();
      deleted.clear();
      requests.length = 0;
      signIns.length = 0;
      issuedTokens.clear();
      faults.reset();
      retryAfterSeconds = 1;
    },
    clientOptions: () => ({
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: tls.ca },
    }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        faults.dispose();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
