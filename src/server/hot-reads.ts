/**
 * @module server/hot-reads
 * The API's two hottest calls — `GET /api/v1/variables/{variable_key}` and `GET
 * /api/v1/connections/{connection_id}`, what every Airflow client and script sends over and over —
 * answered without the app's middleware chain when nothing about the request needs it.
 *
 * Through the app, such a GET passes five middleware layers (body limits, security headers,
 * sign-in, validation, the handler), each an `async` step of Hono's `compose` with its own
 * promises, plus the Node adapter's slower path for a response that is a promise: together about
 * half of the request's CPU time, more than the database read, the decryption and the HTTP
 * exchange itself. {@link installHotReads} puts a check in front of the app's `fetch` that answers
 * the request itself when all of these hold, and hands it to the app unchanged otherwise:
 *
 * - the method is `GET` and the path is exactly `/api/v1/variables/<key>` (or connections), with
 *   a key of plain URL characters (no `%`, no query string, not only dots), so that the key is
 *   the one the router would extract;
 * - the credential (API token, basic-auth password or session cookie) was checked by this process
 *   moments ago and nothing about it changed since (`knownUser`, the same verdicts the sign-in
 *   middleware trusts; a JWT, a new or a revoked credential goes through the app);
 * - the metastore has the row and it decrypts (a missing or unreadable row, or any error, goes
 *   through the app, which answers the 404 or the coded error).
 *
 * The answer is built from the same parts as the app's: the same prepared metastore read, the
 * same views (role-based masking), the same API security headers in the same order, the same
 * JSON; a test compares both answers byte for byte. A GET needs no CSRF token and has no body, so
 * the body limit and CSRF checks have nothing to do.
 *
 * A hot answer is handed to the adapter in the event loop's check phase (`setImmediate`), not
 * in the microtasks of the request that asked: the requests of all the connections that were
 * readable in one poll are read first, then their answers written back to back. On loopback a
 * write delivers to the client at once and wakes it; written one by one between reads, each
 * answer wakes a client that went back to sleep, which on a virtual machine is an interrupt
 * sent to another virtual CPU and about a third of the server's time per request under load.
 * Written together, the first answer wakes the client and the others find it awake: under
 * `wrk -c10` on the 2-core machine of `docs/performance.md`, 33,500 requests/s instead of
 * 23,000, at 30 µs of server CPU per request instead of 43, and a lower p99.
 */

import { plainCookie } from './auth/cookies.ts';
import { knownUser, SESSION_COOKIE } from './auth/middleware.ts';
import type { AirlockApp, AppDeps, AuthUser } from './context.ts';
import { v1View } from './routes/connections.ts';
import { apiSecurityHeaders } from './security-headers.ts';
import { variableView } from './service.ts';

/** What a hot read needs of a request: its id and who asks. */
type HotAnswer = (deps: AppDeps, user: AuthUser, id: string) => Promise<unknown>;

const VARIABLES = '/api/v1/variables/';
const CONNECTIONS = '/api/v1/connections/';

/** A path segment the router extracts unchanged: URL characters, no `%`, `/`, `?` or `#`. */
const PLAIN_SEGMENT = /^[\w.~!$&'()*+,;=:@-]+$/;
const ONLY_DOTS = /^\.+$/;

/** The variable's view, or `undefined` when the app must answer (missing or unreadable). */
const variableAnswer: HotAnswer = async (deps, user, key) => {
  const record = await deps.metastore.getVariableRecord(key);
  return record && !record.unreadable ? variableView(deps, user, record, false) : undefined;
};

/** The connection's v1 view, or `undefined` when the app must answer. */
const connectionAnswer: HotAnswer = async (deps, user, connId) => {
  const record = await deps.metastore.getConnection(connId);
  return record && !record.unreadable ? v1View(user, record, false) : undefined;
};

/** How many requests the hot path answered (tests and benchmarks check that it did). */
export interface HotReadStats {
  served: number;
}

/** The resource and id of a hot path, or `undefined`. */
function route(url: string): { answer: HotAnswer; id: string } | undefined {
  // The path starts at the first `/` after the scheme's `://` (as Hono's `getPath` reads it).
  const start = url.indexOf('/', url.indexOf(':') + 3);
  if (start === -1) return undefined;
  let answer: HotAnswer;
  let from: number;
  if (url.startsWith(VARIABLES, start)) {
    answer = variableAnswer;
    from = start + VARIABLES.length;
  } else if (url.startsWith(CONNECTIONS, start)) {
    answer = connectionAnswer;
    from = start + CONNECTIONS.length;
  } else {
    return undefined;
  }
  const id = url.slice(from);
  if (!PLAIN_SEGMENT.test(id) || ONLY_DOTS.test(id)) return undefined;
  return { answer, id };
}

/**
 * Puts the hot reads in front of `app.fetch` (see the module); `app.request` goes through them
 * too. Returns the count of requests they answered.
 *
 * @example
 * ```ts
 * const stats = installHotReads(app, deps);
 * ```
 */
export function installHotReads(app: AirlockApp, deps: AppDeps): HotReadStats {
  const stats: HotReadStats = { served: 0 };
  const headers: Record<string, string> = {};
  for (const [name, value] of apiSecurityHeaders({ hsts: deps.secureCookies })) {
    headers[name] = value;
  }
  headers['Content-Type'] = 'application/json';
  const full = app.fetch;
  app.fetch = (request, env, executionCtx) => {
    if (request.method !== 'GET') return full(request, env, executionCtx);
    const hot = route(request.url);
    if (!hot) return full(request, env, executionCtx);
    const user = knownUser(
      deps,
      request.headers.get('authorization'),
      () =>
        // A cookie header only Hono's parser can read goes through the app.
        plainCookie(request.headers.get('cookie'), SESSION_COOKIE) ?? undefined,
    );
    if (!user) return full(request, env, executionCtx);
    return hot.answer(deps, user, hot.id).then(
      (view) => {
        if (view === undefined) return full(request, env, executionCtx);
        stats.served++;
        const response = new Response(JSON.stringify(view), { status: 200, headers });
        // Written in the event loop's check phase rather than as soon as it is ready: the
        // answers to the requests read in one poll then go out together (see the module).
        return new Promise<Response>((resolve) => setImmediate(resolve, response));
      },
      () => full(request, env, executionCtx),
    );
  };
  return stats;
}
