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
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import {
  FAKE_TENANT_ID,
  type FakeSecretOptions,
  KEY_VAULT_API_VERSIONS,
  KEY_VAULT_RESOURCE,
  KeyVaultError,
  KeyVaultSecrets,
  newVersionId,
  statusCode,
} from './_azure-secrets.ts';
import { EntraIdDouble, type FakeSignInRecord } from './_azure-sign-in.ts';
import { FakeHttpError, type FaultInjection, FaultInjector, sendJson } from './_serve-fake.ts';
import { type FakeTlsMaterial, generateTestCertificate } from './_test-certificate.ts';

export {
  FAKE_TENANT_ID,
  KEY_VAULT_API_VERSIONS,
  KEY_VAULT_MAX_VALUE_BYTES,
  KEY_VAULT_RESOURCE,
  KEY_VAULT_SECRET_NAME,
} from './_azure-secrets.ts';
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
export type { FakeSecretOptions, FakeSignInRecord, FakeTlsMaterial };

export function generateFakeTls(): Promise<FakeTlsMaterial> {
  return generateTestCertificate();
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

/** What one running double's request handler works with. */
interface KeyVaultDouble {
  readonly secrets: KeyVaultSecrets;
  readonly entra: EntraIdDouble;
  readonly faults: FaultInjector;
  readonly requests: FakeRequestRecord[];
  /** Tokens accepted besides those the double issued; `undefined`: any token. */
  readonly accepted: ReadonlySet<string> | undefined;
  /** The `WWW-Authenticate` challenge of a 401. */
  readonly challenge: string;
  retryAfterSeconds: number;
}

function sendError(res: ServerResponse, err: KeyVaultError): void {
  const error = {
    code: err.code,
    message: err.message,
    ...(err.innerCode === undefined ? {} : { innererror: { code: err.innerCode } }),
  };
  sendJson(res, err.status, { error }, { 'x-ms-request-id': newVersionId(), ...err.headers });
}

function injected(d: KeyVaultDouble, status: number): KeyVaultError {
  const { code, message } = statusCode(status);
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = d.challenge;
  if (status === 429) headers['retry-after'] = String(d.retryAfterSeconds);
  return new KeyVaultError(status, code, message, headers);
}

async function handle(d: KeyVaultDouble, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://fake.invalid');
  const base = `https://${req.headers.host ?? '127.0.0.1'}`;
  const auth = req.headers.authorization;
  const bearer = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth.trim())?.[1] : undefined;
  if (await d.entra.signIn(req, res, url, base)) return;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    path = url.pathname;
  }
  d.requests.push({
    method: req.method ?? 'GET',
    path,
    apiVersion: url.searchParams.get('api-version'),
    token: bearer ?? null,
  });
  await d.faults.delay();
  try {
    if (bearer === undefined) {
      // Drain the body (the SDK sends the d.challenge request without one, others might not).
      req.resume();
      throw new KeyVaultError(
        401,
        'Unauthorized',
        'AKV10000: Request is missing a Bearer or PoP token.',
        {
          'www-authenticate': d.challenge,
        },
      );
    }
    if (d.accepted !== undefined && !d.accepted.has(bearer) && !d.entra.issuedTokens.has(bearer)) {
      req.resume();
      throw new KeyVaultError(401, 'Unauthorized', 'AKV10032: Invalid issuer.', {
        'www-authenticate': d.challenge,
      });
    }
    const failure = d.faults.takeFailure(url.pathname);
    if (failure !== undefined) {
      req.resume();
      throw injected(d, failure);
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
    const [status, body] = await d.secrets.route(req, url, base);
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
  const entra = new EntraIdDouble(tenantId, options.servicePrincipals);
  const d: KeyVaultDouble = {
    secrets: new KeyVaultSecrets(),
    entra,
    faults: new FaultInjector(),
    requests: [],
    accepted: options.acceptedTokens === undefined ? undefined : new Set(options.acceptedTokens),
    challenge: `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${KEY_VAULT_RESOURCE}"`,
    retryAfterSeconds: 1,
  };
  const { secrets, faults, requests } = d;

  const server: Server = createServer({ key: tls.key, cert: tls.cert });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(d, req, res).catch((error: unknown) => {
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
    for (const [name, value] of Object.entries(options.seed)) secrets.storeVersion(name, value);

  let closing: Promise<void> | undefined;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caCertificate: tls.ca,
    tenantId,
    requests,
    authorityHost: `https://127.0.0.1:${port}`,
    signIns: entra.signIns,
    signingPublicKey: entra.signingPublicKey,
    principalObjectId: (clientId) => entra.principalObjectId(clientId),
    seed(entries) {
      for (const [name, value] of Object.entries(entries)) secrets.storeVersion(name, value);
    },
    setSecret: (name, value, opts) => secrets.storeVersion(name, value, opts),
    peek(name) {
      const s = secrets.secrets.get(name.toLowerCase());
      return s?.versions.at(-1)?.value;
    },
    failNext: (status, count, pathPrefix) => faults.failNext(status, count, pathPrefix),
    setLatency: (ms) => faults.setLatency(ms),
    throttleNext(count = 1, seconds = 1) {
      if (!Number.isFinite(seconds) || seconds < 0) {
        throw new RangeError('throttleNext: retryAfterSeconds must be >= 0');
      }
      d.retryAfterSeconds = Math.ceil(seconds);
      faults.failNext(429, count);
    },
    reset() {
      secrets.reset();
      entra.reset();
      requests.length = 0;
      faults.reset();
      d.retryAfterSeconds = 1;
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
