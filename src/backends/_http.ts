/**
 * @module backends/_http
 * The small HTTP layer of the backends that speak plain HTTP (Vault): a per-attempt timeout, a
 * few retries of transient failures, and the mapping from network failures and HTTP statuses to
 * airlock's error codes. Nothing here ever puts a response body, a header value or a request
 * body in an error: messages name the backend, the operation and the status only.
 *
 * TLS: Node's global `fetch` cannot take a CA bundle or skip verification without the `undici`
 * package (its `Agent` is not exposed by Node, and airlock does not depend on `undici`), so
 * {@link createNodeFetch} provides a `fetch`-compatible function over `node:https` with an
 * `https.Agent` for those cases. Everything else goes through the global `fetch`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { AirlockError, ConfigError, type ErrorCode } from '../errors.ts';
import { exponentialBackoff, withRetry } from '../util/retry.ts';

/** A `fetch`-compatible function (the global one, a test's stub, or {@link createNodeFetch}'s). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** One HTTP request. The body, when given, is sent as JSON. */
export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A response: the status and the body parsed as JSON (`undefined` when empty or not JSON). */
export interface HttpResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** Which failures are tried again, and how long to wait between attempts. */
export interface RetryPolicy {
  /**
   * Attempts after the first one.
   * @default 3
   */
  retries: number;
  /**
   * Base back-off: no wait before the first retry, then `backoffMs * 2 ** (n - 1)` before the
   * n-th, as urllib3's `Retry(backoff_factor=0.1)` that Airflow's Vault client uses.
   * @default 100
   */
  backoffMs: number;
  /**
   * Statuses worth another attempt (Airflow's list for Vault).
   * @default [412, 500, 502, 503]
   */
  statuses: readonly number[];
}

/** Airflow's Vault session: `Retry(total=3, backoff_factor=0.1, status_forcelist=[412,500,502,503])`. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  retries: 3,
  backoffMs: 100,
  statuses: Object.freeze([412, 429, 500, 502, 503]),
});

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** The backend's short name, the first word of every message. */
  backend: string;
  /** The transport. @default globalThis.fetch */
  fetch?: FetchLike;
  /** The bound on each attempt, body included, in milliseconds. */
  timeoutMs: number;
  /** @default DEFAULT_RETRY */
  retry?: RetryPolicy;
}

/** An HTTP client bound to one backend's options. */
export interface HttpClient {
  /**
   * Sends `request`, retrying transient failures of idempotent methods. Resolves with any HTTP
   * status (the caller decides what 404 means); rejects with a coded {@link AirlockError} for a
   * network failure (`AIRLOCK_ERR_BACKEND_UNAVAILABLE`) or a timeout
   * (`AIRLOCK_ERR_BACKEND_TIMEOUT`), or with `signal.reason` when the caller aborts.
   * `what` names the operation in messages, such as ``read variable `db_url` ``.
   */
  send(request: HttpRequest, what: string, signal?: AbortSignal): Promise<HttpResponse>;
}

/** Methods urllib3 retries by default (plus Vault's `LIST`, which is a read). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'LIST']);

/** Network errors where a second attempt may succeed (not TLS or DNS-name errors). */
const TRANSIENT_NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** Network errors that mean nothing answered at all. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** TLS verification failures, which get a hint about `verify` in the message. */
const TLS_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME/;

/**
 * The error code for an HTTP status that is not a success: 401/403 → auth, 429 → throttled
 * (after the retries), 408/504 → timeout, anything else → unavailable. 404 has no code: what it means is the caller's business.
 *
 * @example
 * ```ts
 * errorCodeForStatus(403); // 'AIRLOCK_ERR_BACKEND_AUTH'
 * ```
 */
export function errorCodeForStatus(status: number): ErrorCode | undefined {
  if (status === 404) return undefined;
  if (status === 401 || status === 403) return 'AIRLOCK_ERR_BACKEND_AUTH';
  if (status === 429) return 'AIRLOCK_ERR_BACKEND_THROTTLED';
  if (status === 408 || status === 504) return 'AIRLOCK_ERR_BACKEND_TIMEOUT';
  return 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
}

/** The `code` of a network error, looked for on the error and along its `cause` chain. */
export function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = current.cause;
  }
  return undefined;
}

/** `scheme://host:port` of a URL, without user info, path or query. */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the configured URL';
  }
}

/** Thrown by {@link readBodyJson} for a success whose body is not JSON. */
class MalformedBody extends Error {}

async function readBodyJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // An error status keeps its meaning whatever its body (a proxy's HTML page); a success
    // whose body is not JSON was cut short or did not come from the store.
    if (response.ok) throw new MalformedBody();
    return undefined;
  }
}

/**
 * Creates an HTTP client for one backend.
 *
 * @example
 * ```ts
 * const http = createHttpClient({ backend: 'vault', timeoutMs: 30_000 });
 * const res = await http.send({ method: 'GET', url: 'http://127.0.0.1:8200/v1/sys/health' }, 'check health');
 * ```
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const transport: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const retry = options.retry ?? DEFAULT_RETRY;
  const { backend, timeoutMs } = options;

  async function attempt(
    request: HttpRequest,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    const init: RequestInit = { method: request.method, headers, signal: combined };
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    try {
      const response = await transport(request.url, init);
      return {
        status: response.status,
        headers: response.headers,
        body: await readBodyJson(response),
      };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof MalformedBody) {
        throw new AirlockError(
          'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
          `${backend}: could not ${what}: the answer from ${origin(request.url)} is not valid JSON (cut short, or not from the store)`,
          { details: { backend, errno: 'EBADBODY' } },
        );
      }
      if (timeout.aborted) {
        throw new AirlockError(
          'AIRLOCK_ERR_BACKEND_TIMEOUT',
          `${backend}: ${what} took longer than ${formatMs(timeoutMs)}`,
          { details: { backend, timeoutMs } },
        );
      }
      const code = networkCode(err) ?? (err instanceof Error ? err.name : 'Error');
      const hint = TLS_ERRORS.test(code)
        ? '; TLS verification failed: set `verify` to the CA bundle that signed the server certificate'
        : '';
      // The foreign error is not attached as `cause`: its message may quote the request.
      // Refused or unresolvable: nothing answered. Anything else: it answered, then the
      // connection broke (reset, closed mid-answer).
      const where = UNREACHABLE.has(code)
        ? `${origin(request.url)} is unreachable`
        : `the connection to ${origin(request.url)} failed`;
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
        `${backend}: could not ${what}: ${where} (${code})${hint}`,
        { details: { backend, errno: code } },
      );
    }
  }

  const backoff = exponentialBackoff({ baseMs: retry.backoffMs });
  return {
    send(request, what, signal) {
      // Only idempotent methods are sent again (urllib3's `allowed_methods`).
      const idempotent = IDEMPOTENT.has(request.method.toUpperCase());
      return withRetry(() => attempt(request, what, signal), {
        retries: idempotent ? retry.retries : 0,
        // No wait before the first retry, then `backoffMs * 2 ** (n - 1)` (urllib3's rule).
        delayMs: (n) => (n <= 1 ? 0 : backoff(n)),
        retryOn: (err) => {
          const code = err instanceof AirlockError ? err.details?.errno : undefined;
          return typeof code === 'string' && TRANSIENT_NETWORK.has(code);
        },
        retryResult: (response) => retry.statuses.includes(response.status),
        signal,
      });
    },
  };
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** TLS settings for {@link createNodeFetch}, in Python `requests`' terms. */
export interface TlsOptions {
  /**
   * `true`: verify against Node's CA store; `false`: do not verify (testing only); a string:
   * the path of a CA bundle file (PEM) or of a folder of PEM files to verify against.
   */
  verify: boolean | string;
  /** A client certificate: one PEM file with the certificate and key, or `[cert, key]` paths. */
  cert?: string | readonly [string, string] | undefined;
}

/** A {@link FetchLike} over `node:https` with its own agent, and a way to close it. */
export interface NodeFetch {
  fetch: FetchLike;
  /** Closes the agent's pooled sockets. */
  close(): void;
}

async function readPem(backend: string, kwarg: string, path: string): Promise<Buffer> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return await readFile(path);
    const names = (await readdir(path)).filter((n) => /\.(pem|crt|cer)$/i.test(n)).sort();
    return Buffer.concat(await Promise.all(names.map((n) => readFile(join(path, n)))));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new ConfigError([`${backend} kwargs.${kwarg}: cannot read \`${path}\` (${code})`]);
  }
}

/** Responses that must not carry a body in a `Response` object. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch`-compatible function over `node:http`/`node:https` whose HTTPS agent verifies with a
 * CA bundle, skips verification, or presents a client certificate, as `requests`' `verify` and
 * `cert` do. Files are read once, when this is called.
 *
 * @example
 * ```ts
 * const { fetch, close } = await createNodeFetch('vault', { verify: '/etc/ssl/vault-ca.pem' });
 * ```
 */
export async function createNodeFetch(backend: string, tls: TlsOptions): Promise<NodeFetch> {
  const agentOptions: ConstructorParameters<typeof HttpsAgent>[0] = { keepAlive: true };
  if (tls.verify === false) agentOptions.rejectUnauthorized = false;
  if (typeof tls.verify === 'string')
    agentOptions.ca = await readPem(backend, 'verify', tls.verify);
  if (typeof tls.cert === 'string') {
    const pem = await readPem(backend, 'cert', tls.cert);
    agentOptions.cert = pem;
    agentOptions.key = pem;
  } else if (tls.cert) {
    agentOptions.cert = await readPem(backend, 'cert', tls.cert[0]);
    agentOptions.key = await readPem(backend, 'cert', tls.cert[1]);
  }
  const agent = new HttpsAgent(agentOptions);

  const fetchImpl: FetchLike = (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      const secure = url.protocol === 'https:';
      const headers = new Headers(init.headers);
      const body = typeof init.body === 'string' ? init.body : undefined;
      if (body !== undefined) headers.set('content-length', String(Buffer.byteLength(body)));
      const send = secure ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: init.method ?? 'GET',
          headers: Object.fromEntries(headers),
          ...(secure ? { agent } : {}),
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 500;
            const responseHeaders = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (value === undefined) continue;
              for (const v of Array.isArray(value) ? value : [value])
                responseHeaders.append(name, v);
            }
            resolve(
              new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), {
                status,
                headers: responseHeaders,
              }),
            );
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  return { fetch: fetchImpl, close: () => agent.destroy() };
}
