/**
 * @module server/security-headers
 * The security headers of every response, by what the response is:
 *
 * - **Pages** (HTML, and what a browser renders): the strict Content-Security-Policy of
 *   {@link CONTENT_SECURITY_POLICY} and the full browser set (COOP, CORP, Origin-Agent-Cluster,
 *   Referrer-Policy, X-Frame-Options, nosniff, …), as Hono's `secureHeaders` defaults have them.
 * - **The API** (`/api/…`, `/auth/…`, `/health`: JSON a browser never renders as a document):
 *   OWASP's REST set — `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`,
 *   `Cross-Origin-Resource-Policy: same-origin`, `X-Content-Type-Options: nosniff`,
 *   `X-Frame-Options: DENY`. The browser-only headers of pages mean nothing on a JSON answer and
 *   would triple its header bytes (which a client parses on every call).
 * - `Cache-Control: no-store` on everything but the static assets (responses may carry values).
 * - `Strict-Transport-Security` everywhere when the server runs with secure cookies (HTTPS).
 *
 * Under the Node adapter the headers go straight onto Node's `ServerResponse` before the handler
 * runs (a header the handler sets itself wins, as `writeHead` merges them); elsewhere (`app.request`
 * in tests, other runtimes) they are added to the finished response. Setting them through Hono's
 * `Headers` after the handler cost the API a third of its throughput.
 */
import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';

/** The pages' Content-Security-Policy: only this origin's scripts and styles, no framing. */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  objectSrc: ["'none'"],
} as const;

export type HeaderList = readonly (readonly [string, string])[];

/** `defaultSrc` → `default-src`, directives joined as a policy. */
function policyText(policy: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(policy)
    .map(
      ([name, sources]) =>
        `${name.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)} ${sources.join(' ')}`,
    )
    .join('; ');
}

const PAGE_HEADERS: HeaderList = [
  ['Content-Security-Policy', policyText(CONTENT_SECURITY_POLICY)],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'same-origin'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

const API_HEADERS: HeaderList = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];

const NO_STORE: HeaderList = [['Cache-Control', 'no-store']];
const HSTS: HeaderList = [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains']];

/** Whether `path` is the API's (JSON for programs) rather than a page's. */
export function isApiPath(path: string): boolean {
  return path.startsWith('/api/') || path.startsWith('/auth/') || path === '/health';
}

/**
 * The headers every API response carries (in the order {@link securityHeaders} sets them).
 *
 * @example
 * ```ts
 * apiSecurityHeaders({ hsts: false })[0]; // ['Content-Security-Policy', "default-src 'none'; …"]
 * ```
 */
export function apiSecurityHeaders(options: { hsts: boolean }): HeaderList {
  return [...API_HEADERS, ...NO_STORE, ...(options.hsts ? HSTS : [])];
}

/**
 * The middleware that sets the security headers (see the module's documentation).
 *
 * @example
 * ```ts
 * app.use('*', securityHeaders({ hsts: deps.secureCookies }));
 * ```
 */
export function securityHeaders(options: { hsts: boolean }): MiddlewareHandler {
  const extra = options.hsts ? HSTS : [];
  const api = apiSecurityHeaders(options);
  const page = [...PAGE_HEADERS, ...NO_STORE, ...extra];
  const asset = [...PAGE_HEADERS, ...extra];
  return async (c, next) => {
    const path = c.req.path;
    const list = path.startsWith('/static/') ? asset : isApiPath(path) ? api : page;
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing && typeof outgoing.setHeader === 'function' && !outgoing.headersSent) {
      for (const [name, value] of list) outgoing.setHeader(name, value);
      return next();
    }
    await next();
    const headers = c.res.headers;
    for (const [name, value] of list) if (!headers.has(name)) headers.set(name, value);
  };
}
