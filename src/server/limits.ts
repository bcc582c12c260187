/**
 * @module server/limits
 * Request body size limits: small for the sign-in form (nothing there needs more, and an
 * unauthenticated client must not make the server buffer megabytes), larger for imports, and a
 * default for everything else. A body over its limit is refused with
 * `413 AIRLOCK_ERR_HTTP_PAYLOAD_TOO_LARGE` before any handler reads it (Hono's `bodyLimit`, which
 * checks `Content-Length` and counts a streamed body as it arrives).
 */

import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AirlockError } from '../errors.ts';
import { DEFAULT_AUTH_CACHE_SECONDS } from './auth/verdicts.ts';
import type { Env } from './runtime.ts';

/** The body size limits, in bytes. */
export interface BodyLimits {
  /** `POST /login` and `POST /auth/token`. @default 16384 */
  readonly signInBytes: number;
  /** The variable and connection imports. `AIRLOCK__SERVER__MAX_IMPORT_BYTES`. @default 16 MiB */
  readonly importBytes: number;
  /** Every other request. `AIRLOCK__SERVER__MAX_REQUEST_BYTES`. @default 1 MiB */
  readonly requestBytes: number;
}

/** The default limits. */
export const DEFAULT_BODY_LIMITS: BodyLimits = Object.freeze({
  signInBytes: 16 * 1024,
  importBytes: 16 * 1024 * 1024,
  requestBytes: 1024 * 1024,
});

/** The routes that take an uploaded file. */
const IMPORT_PATHS = new Set(['/variables/import', '/connections/import']);

/**
 * A server setting that is a whole number of `unit` (at least `min`), read from `env`.
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` naming the setting, never its value.
 */
export function wholeNumberSetting(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  unit: string,
): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d{1,12}$/.test(raw) || Number(raw) < min) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${name}: must be a whole number of ${unit}, at least ${min}`,
      { details: { setting: name } },
    );
  }
  return Number(raw);
}

function bytes(env: Env, name: string, fallback: number): number {
  return wholeNumberSetting(env, name, fallback, 1024, 'bytes');
}

/**
 * The limits `env` configures.
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` for a value that is not a size.
 * @example
 * ```ts
 * bodyLimitsFromEnv({ AIRLOCK__SERVER__MAX_IMPORT_BYTES: '67108864' }).importBytes; // 64 MiB
 * ```
 */
export function bodyLimitsFromEnv(env: Env): BodyLimits {
  return Object.freeze({
    signInBytes: DEFAULT_BODY_LIMITS.signInBytes,
    importBytes: bytes(env, 'AIRLOCK__SERVER__MAX_IMPORT_BYTES', DEFAULT_BODY_LIMITS.importBytes),
    requestBytes: bytes(
      env,
      'AIRLOCK__SERVER__MAX_REQUEST_BYTES',
      DEFAULT_BODY_LIMITS.requestBytes,
    ),
  });
}

/**
 * The middleware that enforces `limits` by route.
 *
 * @example
 * ```ts
 * app.use('*', limitBodies(DEFAULT_BODY_LIMITS));
 * ```
 */
export function limitBodies(limits: BodyLimits): MiddlewareHandler {
  const refuse = (max: number) =>
    bodyLimit({
      maxSize: max,
      onError: () => {
        throw new AirlockError(
          'AIRLOCK_ERR_HTTP_PAYLOAD_TOO_LARGE',
          `the request body is larger than the ${max} bytes this route accepts`,
          { details: { maxBytes: max } },
        );
      },
    });
  const signIn = refuse(limits.signInBytes);
  const imports = refuse(limits.importBytes);
  const other = refuse(limits.requestBytes);
  return (c, next) => {
    // A GET or HEAD has no body a handler reads; asking Hono's limit would also make the Node
    // adapter build a full Fetch `Request` for nothing (its `body` getter does).
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const path = c.req.path;
    if (path === '/login' || path === '/auth/token') return signIn(c, next);
    if (IMPORT_PATHS.has(path)) return imports(c, next);
    return other(c, next);
  };
}

/**
 * `AIRLOCK__API__AUTH_CACHE_SECONDS`: how long a checked credential is trusted (0: never).
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` when it is not a whole number of seconds.
 */
export function authCacheSecondsFromEnv(env: Env): number {
  return wholeNumberSetting(
    env,
    'AIRLOCK__API__AUTH_CACHE_SECONDS',
    DEFAULT_AUTH_CACHE_SECONDS,
    0,
    'seconds',
  );
}
