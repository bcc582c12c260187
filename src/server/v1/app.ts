/**
 * @module server/v1/app
 * `/api/v1`, Airflow 2's stable REST API (and airlock's own operations beside it), on
 * `@hono/zod-openapi`, as `/api/v2` is: every operation is declared once with `createRoute` (zod
 * schemas for its path, query, body and responses; see `operations.ts` and `schemas.ts`), the same
 * declaration validates the request and generates the served document (`/api/v1/openapi.json`),
 * so the two cannot drift. A request that fails validation answers Airflow 2's `400` problem body
 * (`application/problem+json`, never echoing the input: it may hold a value).
 *
 * `createServerApp` builds one {@link ApiV1} per app; every route module (and extension, such as
 * the DAG routes) adds its operations with {@link v1Route}, and {@link mountApiV1} serves them
 * after they all have.
 */
import { OpenAPIHono, type RouteConfig, type RouteHandler } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { VERSION } from '../../cli/version.ts';
import { AirlockError } from '../../errors.ts';
import { requireAuth } from '../auth/middleware.ts';
import type { AirlockApp, ApiV1, AppDeps, AppEnv } from '../context.ts';
import { validateSynchronously } from '../openapi-validation.ts';

export type { ApiV1 } from '../context.ts';

/** A zod issue (its `input` is never shown: it may be a value). */
interface ValidationIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * A new, empty `/api/v1` sub-app whose validation errors answer as Airflow 2's do (a 400 problem).
 *
 * @example
 * ```ts
 * const v1 = createApiV1();
 * ```
 */
export function createApiV1(): ApiV1 {
  const v1 = new OpenAPIHono<AppEnv>({ defaultHook: v1Hook });
  validateSynchronously(v1, v1Hook);
  return v1;
}

/** Airflow 2's answer to a request that fails validation: a 400 that never echoes the input. */
function v1Hook(result: { success: boolean; error?: unknown; target: string }): undefined {
  if (result.success) return;
  const issues = (result.error as { issues: readonly ValidationIssue[] }).issues;
  const where = result.target === 'json' ? 'body' : result.target;
  const said = issues
    .slice(0, 3)
    .map((issue) => {
      const at = [where, ...issue.path.map(String)].join('.');
      return `${at}: ${issue.message.replace(/\s+/g, ' ')}`;
    })
    .join('; ');
  throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', `invalid request: ${said}`);
}

/** A v1 handler: the validated request is typed by its route; any response may come back. */
export type V1Handler<R extends RouteConfig> = (
  c: Parameters<RouteHandler<R, AppEnv>>[0],
) => Response | Promise<Response>;

/**
 * Adds one operation to `/api/v1`: `route` validates the request and documents it; `handler`
 * answers it. The response bodies are checked against the declared schemas by the tests (against
 * Airflow's published spec too), not typed here: views are built by helpers shared with v2.
 *
 * @example
 * ```ts
 * v1Route(deps.apiV1, V1.getVariable, async (c) => c.json(view));
 * ```
 */
export function v1Route<R extends RouteConfig>(v1: ApiV1, route: R, handler: V1Handler<R>): void {
  v1.openapi(route, handler as never);
}

/** The security schemes of the v1 document. */
const SECURITY_SCHEMES = {
  Basic: { type: 'http', scheme: 'basic' },
  Bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'An airlock API token, or a JWT from `POST /auth/token`.',
  },
  Session: {
    type: 'apiKey',
    in: 'cookie',
    name: 'airlock_session',
    description: 'A browser session; changes also send `X-CSRF-Token`.',
  },
} as const;

/** What Airflow 2 serves without sign-in: the document, health and version. */
export const V1_PUBLIC_PATHS: ReadonlySet<string> = new Set([
  '/health',
  '/api/v1/health',
  '/api/v1/version',
  '/api/v1/openapi.json',
]);

/** The path of the served document. */
export const V1_DOCUMENT_PATH = '/api/v1/openapi.json';

/**
 * The sign-in check of `/api/v1/*` (registered before any route module, so that an extension's
 * own `/api/v1` routes are behind it too): the document, health and version are public.
 *
 * @example
 * ```ts
 * app.use('/api/v1/*', v1Auth(deps));
 * ```
 */
export function v1Auth(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const auth = requireAuth(deps);
  return async (c, next) => {
    if (V1_PUBLIC_PATHS.has(c.req.path)) return next();
    return auth(c, next);
  };
}

/**
 * Serves `v1` (the OpenAPI document and every operation). Call it after every route module has
 * added its operations (Hono copies routes when mounting).
 *
 * @example
 * ```ts
 * mountApiV1(app, deps.apiV1);
 * ```
 */
export function mountApiV1(app: AirlockApp, v1: ApiV1): void {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) {
    v1.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
  }
  v1.doc31(V1_DOCUMENT_PATH, {
    openapi: '3.1.0',
    info: {
      title: 'airlock API',
      version: VERSION,
      description:
        "Airflow 2's stable REST API v1 for Variables, Connections, DAGs, DAG runs, task instances, logs, XCom entries, import errors, health, version and configuration, plus airlock's deployment settings, users, tokens and provenance (Airflow 3's API is `/api/v2`, documented at `/api/v2/openapi.json`). Generated from the schemas that validate the requests. Authenticate with a session cookie (plus `X-CSRF-Token` on changes), `Authorization: Bearer` with an API token or a JWT from `POST /auth/token`, or HTTP basic auth.",
    },
    security: [{ Basic: [] }, { Bearer: [] }, { Session: [] }],
  });
  app.route('/', v1);
}
