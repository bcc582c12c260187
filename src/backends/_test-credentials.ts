/**
 * @module backends/_test-credentials
 * The guard of `AIRLOCK_TEST_CREDENTIALS=1`: cloud backends may swap their real sign-in for
 * static test credentials (an insecure gRPC channel, a fixed token) so that a shell can point
 * `npx airlock …` at a local fake, but only when the backend's endpoint is on this machine.
 * Any other endpoint is refused with a coded config error: test credentials must never reach a
 * real cloud service, where they would at best fail and at worst be logged.
 */
import { AirlockError } from '../errors.ts';

/** The environment variable that turns test credentials on (value `1`). */
export const TEST_CREDENTIALS_ENV = 'AIRLOCK_TEST_CREDENTIALS' as const;

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function isLoopbackHost(rawHost: string): boolean {
  const host = stripBrackets(rawHost.trim().toLowerCase()).replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped IPv6 loopback, such as `::ffff:127.0.0.1` (WHATWG URL keeps it as `::ffff:7f00:1`).
  const mapped = /^::ffff:(.+)$/.exec(host);
  if (mapped?.[1] !== undefined) {
    const inner = mapped[1];
    if (/^7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(inner)) return true;
    return isLoopbackIpv4(inner);
  }
  return isLoopbackIpv4(host);
}

function isLoopbackIpv4(host: string): boolean {
  const parts = host.split('.');
  if (parts.length !== 4) return false;
  if (!parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return false;
  return parts[0] === '127';
}

/**
 * Whether `url` points at this machine: `localhost` (and `*.localhost`), `127.0.0.0/8` or `::1`.
 * Accepts a full URL (`http://127.0.0.1:8080`), a `host:port` pair (`127.0.0.1:8443`, the form
 * gRPC clients take) or a bare host. Anything that does not parse is not loopback.
 *
 * @example
 * ```ts
 * isLoopbackEndpoint('http://127.0.0.1:9000'); // true
 * isLoopbackEndpoint('secretmanager.googleapis.com'); // false
 * ```
 */
export function isLoopbackEndpoint(url: string): boolean {
  const text = url.trim();
  if (text === '') return false;
  let host: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      const parsed = new URL(text);
      // Credentials in the URL (`http://127.0.0.1@evil.example`) are parsed away by URL, but
      // refuse them outright: nobody needs them to reach a fake.
      if (parsed.username !== '' || parsed.password !== '') return false;
      host = parsed.hostname;
    } catch {
      return false;
    }
  } else {
    if (/[/@?#\s]/.test(text)) return false;
    const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
    if (bracketed?.[1] !== undefined) {
      host = bracketed[1];
    } else if ((text.match(/:/g) ?? []).length > 1) {
      host = text; // a bare IPv6 address without a port
    } else {
      const m = /^([^:]+)(?::\d{1,5})?$/.exec(text);
      if (m?.[1] === undefined) return false;
      host = m[1];
    }
  }
  return host !== '' && isLoopbackHost(host);
}

/** The endpoint's scheme and host only: a URL's user-info, path or query may hold a token. */
function describeEndpoint(endpoint: string): string {
  try {
    const parsed = new URL(
      /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `x://${endpoint}`,
    );
    return parsed.protocol === 'x:' ? parsed.host : `${parsed.protocol}//${parsed.host}`;
  } catch {
    return 'the configured endpoint';
  }
}

/**
 * Whether `backend` is to use static test credentials instead of real sign-in.
 *
 * Returns `false` when `AIRLOCK_TEST_CREDENTIALS` is not `1` in `env`. Returns `true` when it is
 * `1` and `endpoint` is a loopback address. Throws `AIRLOCK_ERR_CONFIG_INVALID` when it is `1`
 * and the endpoint is missing or not loopback: a test-credentials run must not silently fall
 * back to real credentials, nor send test credentials to a real service.
 *
 * @example
 * ```ts
 * const insecure = assertTestCredentialsAllowed('gcp-secret-manager', opts.endpoint_url, env);
 * ```
 */
export function assertTestCredentialsAllowed(
  backend: string,
  endpoint: string | null | undefined,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (env[TEST_CREDENTIALS_ENV] !== '1') return false;
  if (endpoint === null || endpoint === undefined || endpoint.trim() === '') {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${backend}: ${TEST_CREDENTIALS_ENV}=1 needs a loopback \`endpoint_url\`; none is configured`,
      { details: { backend } },
    );
  }
  if (!isLoopbackEndpoint(endpoint)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${backend}: ${TEST_CREDENTIALS_ENV}=1 is allowed only with a loopback endpoint (localhost, 127.0.0.0/8, ::1); \`${describeEndpoint(endpoint)}\` is not one`,
      { details: { backend } },
    );
  }
  return true;
}
