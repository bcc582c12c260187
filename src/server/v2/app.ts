/**
 * @module server/v2/app
 * `/api/v2`, Airflow 3's public REST API, on `@hono/zod-openapi`: each operation is declared once
 * with `createRoute` (zod schemas for its path, query, body and responses), and the same
 * declaration validates the request and generates the served document (`/api/v2/openapi.json`),
 * so the two cannot drift. Requests that fail validation answer `422 {"detail": [{loc, msg,
 * type}]}` as FastAPI does (never echoing the input: it may hold a value); other errors answer
 * `{"detail": "…"}` (see `error-handler.ts`).
 *
 * `createServerApp` builds one {@link ApiV2} per app, every route module (and extension, such as
 * the DAG routes) adds its operations to it, and {@link mountApiV2} serves it after they all have.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { VERSION } from '../../cli/version.ts';
import { requireAuth } from '../auth/middleware.ts';
import type { AirlockApp, ApiV2, AppDeps, AppEnv } from '../context.ts';
import { validateSynchronously } from '../openapi-validation.ts';

export type { ApiV2 } from '../context.ts';

/** A zod issue as FastAPI reports a validation error (no `input`). */
interface ValidationIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code: string;
}

/**
 * A new, empty `/api/v2` sub-app whose validation errors answer as Airflow's do.
 *
 * @example
 * ```ts
 * const v2 = createApiV2();
 * ```
 */
export function createApiV2(): ApiV2 {
  const v2 = new OpenAPIHono<AppEnv>({ defaultHook: v2Hook });
  validateSynchronously(v2, v2Hook);
  return v2;
}

/** FastAPI's answer to a request that fails validation: a 422 listing each problem. */
function v2Hook(
  result: { success: boolean; error?: unknown; target: string },
  c: Context<AppEnv>,
): Response | undefined {
  if (result.success) return;
  const issues = (result.error as { issues: readonly ValidationIssue[] }).issues;
  const where = result.target === 'json' ? 'body' : result.target;
  return c.json(
    {
      detail: issues.map((issue) => ({
        loc: [where, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))],
        msg: issue.message,
        type: issue.code,
      })),
    },
    422,
  );
}

/** The servers' security schemes, as Airflow 3 declares them. */
const SECURITY_SCHEMES = {
  OAuth2PasswordBearer: {
    type: 'oauth2',
    description:
      'A JWT from `POST /auth/token` in `Authorization: Bearer <token>`. airlock API tokens and HTTP basic auth are accepted too.',
    flows: { password: { scopes: {}, tokenUrl: '/auth/token' } },
  },
  HTTPBearer: { type: 'http', scheme: 'bearer' },
  HTTPBasic: { type: 'http', scheme: 'basic' },
} as const;

/** What Airflow 3 serves without sign-in: the document, health and version. */
const PUBLIC_PATHS = new Set(['/api/v2/openapi.json', '/api/v2/monitor/health', '/api/v2/version']);

/**
 * Serves `v2` under `/api/v2`: the OpenAPI document without sign-in (as Airflow serves its own),
 * every operation behind the app's authentication. Call it after every route module has added
 * its operations (Hono copies routes when mounting).
 *
 * @example
 * ```ts
 * mountApiV2(app, deps.apiV2, deps);
 * ```
 */
export function mountApiV2(app: AirlockApp, v2: ApiV2, deps: AppDeps): void {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) {
    v2.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
  }
  v2.doc31('/api/v2/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'airlock: Airflow API',
      version: VERSION,
      description:
        "Airflow 3's public REST API (`/api/v2`) for Variables, Connections, DAGs, DAG runs, task instances, logs, import errors, health, version and configuration, served by airlock. Generated from the schemas that validate the requests.",
    },
    security: [{ OAuth2PasswordBearer: [] }, { HTTPBearer: [] }, { HTTPBasic: [] }],
  });
  const auth = requireAuth(deps);
  app.use('/api/v2/*', async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    return auth(c, next);
  });
  app.route('/', v2);
}
