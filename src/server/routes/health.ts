/**
 * @module server/routes/health
 * `GET /health` and `GET /api/v1/health` (no sign-in, as Airflow's), with Airflow's component
 * keys (`metadatabase`, `scheduler`, `triggerer`, `dag_processor`; see `airflow-info.ts`) plus
 * airlock's overall `status` and `metastore` dialect; 503 when the metastore does not answer.
 * `GET /api/v1/version` (no sign-in) and `GET /api/v1/config` (admins) as Airflow 2 serves them.
 */

import { configSections, configText, healthInfo, versionInfo } from '../airflow-info.ts';
import { requirePermission } from '../auth/roles.ts';
import type { RouteModule } from '../context.ts';

/** Registers the public health and version endpoints and `/api/v1/config`. */
export const healthRoutes: RouteModule = (app, deps) => {
  for (const path of ['/health', '/api/v1/health']) {
    app.get(path, async (c) => {
      const info = await healthInfo(deps);
      const status = info.metadatabase.status;
      return c.json(
        { status, metastore: { status, dialect: deps.metastore.dialect }, ...info },
        status === 'healthy' ? 200 : 503,
      );
    });
  }
  app.get('/api/v1/version', (c) => c.json(versionInfo()));
};

/** Registers `GET /api/v1/config` (behind the API's sign-in). */
export const configRoutes: RouteModule = (app, deps) => {
  app.get('/api/v1/config', async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const sections = await configSections(deps, c.req.query('section'));
    if ((c.req.header('accept') ?? '').startsWith('text/plain'))
      return c.text(configText(sections));
    return c.json({ sections });
  });
};
