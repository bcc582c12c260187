/**
 * @module server/auth/jwt
 * The access tokens of `POST /auth/token` (Airflow 3's simple auth manager): HS256 JWTs, signed
 * with a key derived from the metastore's Fernet key by HKDF-SHA256 (info `airlock jwt v1`), so
 * there is no second secret to keep; a token signed with an older Fernet key of the configured
 * list is still accepted, and removing that key ends it. Each token names its user (`sub`) and a
 * stamp of their password: the user's current role applies on every request, a deleted user's
 * tokens stop working, and a new password ends them as it ends API tokens.
 *
 * Built on `node:crypto` alone: only `HS256` is accepted (never `none`, never a key from the token).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AirlockError } from '../../errors.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import { safeJsonParse } from '../../util/json.ts';
import { wholeNumberSetting } from '../limits.ts';
import type { Env } from '../runtime.ts';
import type { ServerStore, UserRecord } from '../store.ts';
import { airflowRoleOf } from './roles.ts';

/** The HKDF `info` of the signing key. */
const KEY_INFO = 'airlock jwt v1';
/** The `aud` claim (Airflow's `[api_auth] jwt_audience` default). */
export const JWT_AUDIENCE = 'apache-airflow';
/** The `iss` claim. */
export const JWT_ISSUER = 'airlock';
/** Airflow's `[api_auth] jwt_expiration_time` default, in seconds (24 hours). */
export const DEFAULT_JWT_EXPIRATION_SECONDS = 86_400;
/** Clock skew allowed on `nbf` and `exp`, in seconds. */
const LEEWAY_SECONDS = 30;

/** The claims of an access token. */
export interface AccessTokenClaims {
  readonly sub: string;
  /** The user's role under Airflow's name, at issue time (informational: the store's role applies). */
  readonly role: string;
  readonly aud: string;
  readonly iss: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  /** The stamp of the user's password at issue time. */
  readonly stamp: string;
}

function b64(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function invalid(): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_HTTP_UNAUTHENTICATED',
    'the access token is not valid or has expired; get a new one from POST /auth/token',
    { details: { scheme: 'Bearer' } },
  );
}

/**
 * The token lifetime `env` configures: `AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME` (seconds), as
 * Airflow's `[api_auth] jwt_expiration_time`.
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` for a value that is not a positive whole number.
 * @example
 * ```ts
 * jwtExpirationFromEnv({ AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME: '3600' }); // 3600
 * ```
 */
export function jwtExpirationFromEnv(env: Env): number {
  return wholeNumberSetting(
    env,
    'AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME',
    DEFAULT_JWT_EXPIRATION_SECONDS,
    1,
    'seconds',
  );
}

/**
 * Issues an access token for `username` (already authenticated by the caller).
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_UNAUTHENTICATED` when the user does not exist.
 * @example
 * ```ts
 * const token = await issueAccessToken(metastore, store, 'ada', 86400);
 * ```
 */
export async function issueAccessToken(
  metastore: Metastore,
  store: ServerStore,
  username: string,
  lifetimeSeconds: number,
  now = Date.now(),
): Promise<string> {
  const found = await store.userStamp(username);
  if (!found) throw invalid();
  const iat = Math.floor(now / 1000);
  const claims: AccessTokenClaims = {
    sub: found.user.username,
    role: airflowRoleOf(found.user.role),
    aud: JWT_AUDIENCE,
    iss: JWT_ISSUER,
    iat,
    nbf: iat,
    exp: iat + lifetimeSeconds,
    jti: randomBytes(16).toString('hex'),
    stamp: found.stamp,
  };
  const [key] = metastore.fernet.deriveKeys(KEY_INFO);
  const signingInput = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', key as Buffer)
    .update(signingInput)
    .digest('base64url');
  return `${signingInput}.${signature}`;
}

/** Whether a bearer credential has a JWT's shape (three base64url parts, a JSON header). */
export function looksLikeJwt(token: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token);
}

function parsePart(part: string): Record<string, unknown> {
  const parsed = safeJsonParse(Buffer.from(part, 'base64url').toString('utf8'));
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') throw invalid();
  return parsed.value as Record<string, unknown>;
}

/**
 * The user an access token names, when its signature, audience, times and password stamp hold.
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_UNAUTHENTICATED` otherwise (one message for every reason).
 * @example
 * ```ts
 * const user = await verifyAccessToken(metastore, store, token);
 * ```
 */
export async function verifyAccessToken(
  metastore: Metastore,
  store: ServerStore,
  token: string,
  now = Date.now(),
): Promise<UserRecord> {
  // Verified moments ago (signature, claims, the user's stamp) and unchanged since: no HMAC and
  // no database read. The verdict ends with the token's own expiry.
  // The verdict holds the keys that checked the signature: after a key change it is checked again.
  const known = store.knownCredential<{ user: UserRecord; keys: unknown }>('jwt', token, now);
  if (known && metastore.hasKeys && known.keys === metastore.fernet) return known.user;
  const [header = '', payload = '', signature = ''] = token.split('.');
  if (parsePart(header).alg !== 'HS256') throw invalid();
  const given = Buffer.from(signature, 'base64url');
  const signed = metastore.hasKeys
    ? metastore.fernet.deriveKeys(KEY_INFO).some((key) => {
        const expected = createHmac('sha256', key).update(`${header}.${payload}`).digest();
        return expected.length === given.length && timingSafeEqual(expected, given);
      })
    : false;
  if (!signed) throw invalid();
  const claims = parsePart(payload);
  const seconds = now / 1000;
  if (
    typeof claims.sub !== 'string' ||
    typeof claims.stamp !== 'string' ||
    claims.aud !== JWT_AUDIENCE ||
    typeof claims.exp !== 'number' ||
    claims.exp + LEEWAY_SECONDS < seconds ||
    (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_SECONDS > seconds)
  ) {
    throw invalid();
  }
  const found = await store.userStamp(claims.sub);
  if (!found || found.stamp.length !== claims.stamp.length) throw invalid();
  if (!timingSafeEqual(Buffer.from(found.stamp), Buffer.from(claims.stamp))) throw invalid();
  store.rememberCredential(
    'jwt',
    token,
    found.user.username,
    { user: found.user, keys: metastore.fernet },
    (claims.exp + LEEWAY_SECONDS) * 1000,
  );
  return found.user;
}
