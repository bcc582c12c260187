/**
 * @module server/routes/health
 * `GET /health` and `GET /api/v1/health` (no sign-in, as Airflow's), with Airflow's component
 * keys (`metadatabase`, `scheduler`, `triggerer`, `dag_processor`; see `airflow-info.ts`) plus
 * airlock's overall `status` and `metastore` dialect; 503 when the metastore does not answer.
 * `GET /api/v1/version` (no sign-in) and `GET /api/v1/config` (admins) as Airflow 2 serves them.
 */

import { configSections, configText, healthInfo, versionInfo } from '../airflow-info.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps, RouteModule } from '../context.ts';
import { v1Route } from '../v1/app.ts';
import { AIRFLOW_V1 } from '../v1/operations.ts';

async function health(deps: AppDeps) {
  const info = await healthInfo(deps);
  const status = info.metadatabase.status;
  return {
    body: { status, metastore: { status, dialect: deps.metastore.dialect }, ...info },
    status: status === 'healthy' ? 200 : 503,
  } as const;
}

/** Registers the public health and version endpoints. */
export const healthRoutes: RouteModule = (_app, deps) => {
  for (const route of [AIRFLOW_V1.rootHealth, AIRFLOW_V1.health]) {
    v1Route(deps.apiV1, route, async (c) => {
      const { body, status } = await health(deps);
      return c.json(body, status);
    });
  }
  v1Route(deps.apiV1, AIRFLOW_V1.version, (c) => c.json(versionInfo()));
};

/** Registers `GET /api/v1/config` (behind the API's sign-in). */
export const configRoutes: RouteModule = (_app, deps) => {
  v1Route(deps.apiV1, AIRFLOW_V1.config, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const sections = await configSections(deps, c.req.valid('query').section);
    if ((c.req.header('accept') ?? '').startsWith('text/plain'))
      return c.text(configText(sections));
    return c.json({ sections });
  });
};
