/**
 * @module server/app
 * The HTTP application of `airlock server`: `createApp(deps)` returns a Hono app (no listening:
 * `serve.ts` does that, and tests call `app.request`). Routes come from {@link ROUTE_MODULES}
 * plus `deps.extensions`, all behind the same security headers, authentication, CSRF checks and
 * error handler.
 */
import { Hono } from 'hono';
import { AirlockError } from '../errors.ts';
import { SecretsMasker } from '../masking/masker.ts';
import { jwtExpirationFromEnv } from './auth/jwt.ts';
import type { AppDeps, AppEnv, RouteModule, ServerDeps } from './context.ts';
import { createErrorHandler } from './error-handler.ts';
import { type HotReadStats, installHotReads } from './hot-reads.ts';
import { authCacheSecondsFromEnv, bodyLimitsFromEnv, limitBodies } from './limits.ts';
import { adminRoutes } from './routes/admin.ts';
import { authTokenRoutes } from './routes/auth-token.ts';
import { connectionRoutes } from './routes/connections.ts';
import { configRoutes, healthRoutes } from './routes/health.ts';
import { adminPages } from './routes/pages-admin.ts';
import { connectionPages } from './routes/pages-connections.ts';
import { sessionPages } from './routes/pages-session.ts';
import { statusPages } from './routes/pages-status.ts';
import { tokenPages } from './routes/pages-tokens.ts';
import { variablePages } from './routes/pages-variables.ts';
import { secretsRoutes } from './routes/secrets.ts';
import { variableRoutes } from './routes/variables.ts';
import { allowedSettingsFromEnv, DeploymentRuntime } from './runtime.ts';
import { securityHeaders } from './security-headers.ts';
import { ServerStore } from './store.ts';
import { createApiV1, mountApiV1, v1Auth } from './v1/app.ts';
import { createApiV2, mountApiV2 } from './v2/app.ts';
import { apiV2Routes } from './v2/routes.ts';

/** The built-in route modules, in registration order (the API, then the pages). */
export const ROUTE_MODULES: readonly RouteModule[] = [
  healthRoutes,
  authTokenRoutes,
  variableRoutes,
  connectionRoutes,
  configRoutes,
  apiV2Routes,
  secretsRoutes,
  adminRoutes,
  sessionPages,
  variablePages,
  connectionPages,
  statusPages,
  adminPages,
  tokenPages,
];

/** The pages' Content-Security-Policy (kept here too for those who imported it from here). */
export { CONTENT_SECURITY_POLICY } from './security-headers.ts';

/** What {@link createApp} returns: the app and what it built. */
export interface CreatedApp {
  readonly app: Hono<AppEnv>;
  readonly deps: AppDeps;
  /** How many requests the hot reads answered (`undefined` when they are off). */
  readonly hotReads: HotReadStats | undefined;
  /** Disposes the deployment runtime's resolver (the metastore is the caller's). */
  dispose(): Promise<void>;
}

/**
 * The server app.
 *
 * @example
 * ```ts
 * const app = createApp({ metastore });
 * const res = await app.request('/health');
 * ```
 */
export function createApp(input: ServerDeps): Hono<AppEnv> {
  return createServerApp(input).app;
}

/**
 * The server app with the dependencies it built (the deployment runtime, the store) and a
 * `dispose()` for them.
 *
 * @example
 * ```ts
 * const { app, deps, dispose } = createServerApp({ metastore });
 * ```
 */
export function createServerApp(input: ServerDeps): CreatedApp {
  const masker = input.masker ?? new SecretsMasker();
  const store =
    input.store ??
    new ServerStore(input.metastore, {
      authCacheSeconds: authCacheSecondsFromEnv(input.env ?? process.env),
    });
  const runtime = new DeploymentRuntime({
    metastore: input.metastore,
    store,
    baseEnv: input.env ?? process.env,
    masker,
    logger: input.logger,
    allowedSettings:
      input.allowedRuntimeSettings ?? allowedSettingsFromEnv(input.env ?? process.env),
  });
  const deps: AppDeps = {
    metastore: input.metastore,
    store,
    runtime,
    masker,
    logger: input.logger,
    secureCookies: input.secureCookies ?? false,
    trustProxy: input.trustProxy ?? false,
    apiV1: createApiV1(),
    apiV2: createApiV2(),
    jwtExpirationSeconds:
      input.jwtExpirationSeconds ?? jwtExpirationFromEnv(input.env ?? process.env),
    navigation: input.navigation ?? [],
  };
  const app = new Hono<AppEnv>();
  app.use('*', limitBodies(input.bodyLimits ?? bodyLimitsFromEnv(input.env ?? process.env)));
  // Responses may carry values: never cached (static assets excepted); see the module.
  app.use('*', securityHeaders({ hsts: deps.secureCookies }));
  // Before any route module: an extension's own `/api/v1` routes are behind sign-in too.
  app.use('/api/v1/*', v1Auth(deps));
  for (const register of [...ROUTE_MODULES, ...(input.extensions ?? [])]) register(app, deps);
  mountApiV1(app, deps.apiV1);
  mountApiV2(app, deps.apiV2, deps);
  app.notFound(() => {
    throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', 'no such page or endpoint');
  });
  app.onError(
    createErrorHandler(masker, (err, coded) => {
      if (coded.code === 'AIRLOCK_ERR_INTERNAL') {
        input.logger?.error(
          { error: err instanceof Error ? err.name : typeof err },
          'unexpected error in a request',
        );
      } else {
        input.logger?.error({ code: coded.code }, coded.message);
      }
    }),
  );
  const hotReads = input.hotReads === false ? undefined : installHotReads(app, deps);
  return { app, deps, hotReads, dispose: () => runtime.dispose() };
}
