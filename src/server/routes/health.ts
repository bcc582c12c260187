/**
 * @module server/routes/health
 * `GET /health` and `GET /api/v1/health` (no sign-in, as Airflow's): whether the metastore
 * answers. Nothing about keys, users or settings.
 */
import type { RouteModule } from '../context.ts';

/** Registers the public health endpoints. */
export const healthRoutes: RouteModule = (app, deps) => {
  const handler = async () => {
    try {
      await deps.store.settingsVersion();
      return {
        status: 'healthy',
        metastore: { status: 'healthy', dialect: deps.metastore.dialect },
      };
    } catch {
      return {
        status: 'unhealthy',
        metastore: { status: 'unhealthy', dialect: deps.metastore.dialect },
      };
    }
  };
  for (const path of ['/health', '/api/v1/health']) {
    app.get(path, async (c) => {
      const body = await handler();
      return c.json(body, body.status === 'healthy' ? 200 : 503);
    });
  }
};
