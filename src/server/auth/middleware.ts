/**
 * @module server/auth/middleware
 * Authentication (session cookie; `Authorization: Bearer` with an airlock API token or a JWT from
 * `POST /auth/token`; HTTP basic auth for Airflow API clients), CSRF protection and the sign-in
 * rate limit.
 *
 * CSRF: a request that changes something and is authenticated by the session cookie must carry
 * the session's CSRF token, in the `X-CSRF-Token` header or a `_csrf` form field. Token, JWT and
 * basic-auth requests carry their credentials explicitly and so need no token. An API 401 carries
 * a `WWW-Authenticate: Basic realm="airlock"` challenge (for challenge-based clients), so a browser
 * may remember basic credentials: every changing request whose `Sec-Fetch-Site` is `cross-site`
 * is therefore refused whatever its credentials.
 */
import { timingSafeEqual } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { AirlockError } from '../../errors.ts';
import type { AppDeps, AppEnv, AuthUser } from '../context.ts';
import type { SessionRecord, UserRecord } from '../store.ts';
import { readCookie } from './cookies.ts';
import { looksLikeJwt, verifyAccessToken } from './jwt.ts';

/** The session cookie's name. */
export const SESSION_COOKIE = 'airlock_session';
/** The pre-sign-in CSRF cookie of the login form (double-submit). */
export const LOGIN_CSRF_COOKIE = 'airlock_login_csrf';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Constant-time string equality. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Where to go after signing in: `next` when it is a path of this server, else `/`. It is read as a
 * browser would (`new URL` against a placeholder origin, which turns `\` into `/` and drops tabs
 * and newlines), so `//host`, `/\host`, `/\t/host` and friends, which browsers send to another
 * host, fall back to `/`.
 *
 * @example
 * ```ts
 * safeNextPath('/variables?search=a'); // '/variables?search=a'
 * safeNextPath('/\\evil.example'); // '/'
 * ```
 */
export function safeNextPath(next: string | undefined): string {
  if (!next?.startsWith('/')) return '/';
  for (const ch of next) {
    const code = ch.charCodeAt(0);
    if (ch === '\\' || code < 0x20 || code === 0x7f) return '/';
  }
  const base = 'http://airlock.invalid';
  let url: URL;
  try {
    url = new URL(next, base);
  } catch {
    return '/';
  }
  if (url.origin !== base || url.pathname.startsWith('//')) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}

/** The client's address (for the sign-in limit). */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The subjects a sign-in counts against: the user name and the client address. */
export function loginSubjects(c: Context, deps: AppDeps, username: string): string[] {
  return [`user:${username.slice(0, 250)}`, `addr:${clientAddress(c, deps.trustProxy)}`];
}

/**
 * Checks a user name and password with the rate limit: too many attempts for the user or the
 * address → `AIRLOCK_ERR_HTTP_RATE_LIMITED` (with `retryAfter` seconds), before any check. The
 * attempt is counted before the check (`ServerStore.reserveLoginAttempt`), atomically.
 */
export async function checkPasswordLimited(
  c: Context,
  deps: AppDeps,
  username: string,
  password: string,
) {
  const subjects = loginSubjects(c, deps, username);
  // Count first, check second: concurrent attempts cannot all pass a check made before any of
  // them is counted.
  const wait = await deps.store.reserveLoginAttempt(subjects);
  if (wait > 0) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_RATE_LIMITED',
      `too many failed sign-ins; retry in ${wait} seconds`,
      { details: { retryAfter: wait } },
    );
  }
  const user = await deps.store.verifyUser(username, password);
  if (user) await deps.store.settleLoginSuccess(subjects);
  return user;
}

/** An `Authorization` header's scheme (lower-cased) and credentials. */
function authorization(header: string): { scheme: string; credentials: string } {
  const [scheme = '', credentials = ''] = header.split(/\s+/, 2);
  return { scheme: scheme.toLowerCase(), credentials };
}

/** Basic auth's user name and password. */
function basicCredentials(credentials: string): { username: string; password: string } {
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return {
    username: colon < 0 ? decoded : decoded.slice(0, colon),
    password: colon < 0 ? '' : decoded.slice(colon + 1),
  };
}

/**
 * The user of a credential this process checked moments ago (an API token, a basic-auth
 * password, a session; see `auth/verdicts.ts`), found without waiting for anything; `undefined`
 * when the credential must be checked ({@link authenticate}). A JWT always is (its own memory
 * lives in `jwt.ts`). `sessionCookie` reads the session cookie (only asked without an
 * `Authorization` header).
 *
 * @example
 * ```ts
 * const user = knownUser(deps, c.req.header('authorization'), () => readCookie(c, SESSION_COOKIE));
 * ```
 */
export function knownUser(
  deps: AppDeps,
  header: string | null | undefined,
  sessionCookie: () => string | null | undefined,
): AuthUser | undefined {
  if (header) {
    const { scheme, credentials } = authorization(header);
    if (scheme === 'bearer') {
      const token = credentials.trim();
      if (looksLikeJwt(token)) return undefined;
      const user = deps.store.knownCredential<UserRecord>('token', token);
      return user && { username: user.username, role: user.role, via: 'token' };
    }
    if (scheme === 'basic') {
      const { username, password } = basicCredentials(credentials);
      const user = deps.store.knownPassword(username, password);
      return user && { username: user.username, role: user.role, via: 'basic' };
    }
    return undefined;
  }
  const cookie = sessionCookie();
  const session = cookie ? deps.store.knownCredential<SessionRecord>('session', cookie) : undefined;
  return (
    session && {
      username: session.username,
      role: session.role,
      via: 'session',
      csrfToken: session.csrfToken,
    }
  );
}

async function authenticate(c: Context<AppEnv>, deps: AppDeps): Promise<AuthUser | undefined> {
  const header = c.req.header('authorization');
  if (header) {
    const { scheme, credentials } = authorization(header);
    if (scheme === 'bearer') {
      const token = credentials.trim();
      if (looksLikeJwt(token)) {
        const user = await verifyAccessToken(deps.metastore, deps.store, token);
        return { username: user.username, role: user.role, via: 'jwt' };
      }
      const user = await deps.store.verifyToken(token);
      if (!user) throw unauthenticated('the API token is not valid', 'Bearer');
      return { username: user.username, role: user.role, via: 'token' };
    }
    if (scheme === 'basic') {
      const { username, password } = basicCredentials(credentials);
      // A password this process checked moments ago (and nothing changed since) is not checked
      // again: no scrypt, no sign-in counting for a script that sends it on every request.
      const user =
        deps.store.knownPassword(username, password) ??
        (await checkPasswordLimited(c, deps, username, password));
      if (!user) throw unauthenticated('the user name or password is wrong');
      return { username: user.username, role: user.role, via: 'basic' };
    }
    throw unauthenticated('the Authorization scheme must be Bearer or Basic');
  }
  const cookie = readCookie(c, SESSION_COOKIE);
  if (cookie) {
    const session = await deps.store.getSession(cookie);
    if (session) {
      return {
        username: session.username,
        role: session.role,
        via: 'session',
        csrfToken: session.csrfToken,
      };
    }
  }
  return undefined;
}

function unauthenticated(message: string, scheme: 'Basic' | 'Bearer' = 'Basic'): AirlockError {
  return new AirlockError('AIRLOCK_ERR_HTTP_UNAUTHENTICATED', message, { details: { scheme } });
}

/**
 * The `WWW-Authenticate` challenge of an API 401: `Bearer` (with `error="invalid_token"`) when a
 * bearer credential was refused, else `Basic realm="airlock"`.
 */
export function challengeOf(err: AirlockError): string {
  return err.details?.scheme === 'Bearer'
    ? 'Bearer realm="airlock", error="invalid_token"'
    : 'Basic realm="airlock"';
}

/** Refuses a changing request sent from another site (whatever its credentials). */
export function refuseCrossSite(c: Context): void {
  if (!UNSAFE.has(c.req.method)) return;
  if (c.req.header('sec-fetch-site') === 'cross-site') {
    throw new AirlockError('AIRLOCK_ERR_HTTP_CSRF', 'a cross-site request may not change anything');
  }
}

/** The CSRF token a request carries (header or form field). */
async function csrfTokenOf(c: Context): Promise<string | undefined> {
  const header = c.req.header('x-csrf-token');
  if (header) return header;
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
    const body = await c.req.parseBody();
    const field = body._csrf;
    return typeof field === 'string' ? field : undefined;
  }
  return undefined;
}

/**
 * The middleware that requires a signed-in user on every route it covers and checks CSRF.
 *
 * @example
 * ```ts
 * app.use('/api/v1/*', requireAuth(deps));
 * ```
 */
export function requireAuth(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const checked: MiddlewareHandler<AppEnv> = async (c, next) => {
    const user = await authenticate(c, deps);
    if (!user) throw unauthenticated('sign in, or send an API token or basic-auth credentials');
    if (UNSAFE.has(c.req.method) && user.via === 'session') {
      const token = await csrfTokenOf(c);
      if (!token || !user.csrfToken || !safeEqual(token, user.csrfToken)) {
        throw new AirlockError(
          'AIRLOCK_ERR_HTTP_CSRF',
          'the CSRF token is missing or wrong; reload the page and try again',
        );
      }
    }
    c.set('user', user);
    await next();
  };
  return (c, next) => {
    refuseCrossSite(c);
    // A credential checked moments ago costs no wait (a changing session request still goes
    // through the CSRF check below).
    const known = knownUser(deps, c.req.header('authorization'), () =>
      readCookie(c, SESSION_COOKIE),
    );
    if (known && !(known.via === 'session' && UNSAFE.has(c.req.method))) {
      c.set('user', known);
      return next();
    }
    return checked(c, next);
  };
}

/** Checks the login form's double-submit CSRF token. */
export async function checkLoginCsrf(c: Context): Promise<void> {
  refuseCrossSite(c);
  const cookie = getCookie(c, LOGIN_CSRF_COOKIE);
  const token = await csrfTokenOf(c);
  if (!cookie || !token || !safeEqual(cookie, token)) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_CSRF',
      'the sign-in form expired; reload the page and try again',
    );
  }
}
