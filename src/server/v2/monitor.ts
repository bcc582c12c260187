/**
 * @module server/v2/monitor
 * `GET /api/v2/monitor/health` and `GET /api/v2/version` (no sign-in, as Airflow 3's) and
 * `GET /api/v2/config` (admins; `Accept: text/plain` for the ini text), from `airflow-info.ts`.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { configSections, configText, healthInfo, versionInfo } from '../airflow-info.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps } from '../context.ts';
import type { ApiV2 } from './app.ts';
import { errorResponses, jsonResponse, SECURED } from './schemas.ts';

const status = z.string().nullable().optional();

const HealthSchema = z
  .object({
    metadatabase: z.object({ status }).openapi('BaseInfoResponse'),
    scheduler: z
      .object({ status, latest_scheduler_heartbeat: z.string().nullable().optional() })
      .openapi('SchedulerInfoResponse'),
    triggerer: z
      .object({ status, latest_triggerer_heartbeat: z.string().nullable().optional() })
      .openapi('TriggererInfoResponse'),
    dag_processor: z
      .object({ status, latest_dag_processor_heartbeat: z.string().nullable().optional() })
      .nullable()
      .optional()
      .openapi('DagProcessorInfoResponse'),
  })
  .openapi('HealthInfoResponse');

const VersionSchema = z
  .object({ version: z.string(), git_version: z.string().nullable().optional() })
  .openapi('VersionInfo');

const ConfigSchema = z
  .object({
    sections: z.array(
      z
        .object({
          name: z.string(),
          options: z.array(
            z.object({ key: z.string(), value: z.string() }).strict().openapi('ConfigOption'),
          ),
        })
        .strict()
        .openapi('ConfigSection'),
    ),
  })
  .strict()
  .openapi('Config');

const routes = {
  health: createRoute({
    method: 'get',
    path: '/api/v2/monitor/health',
    tags: ['Monitor'],
    summary: 'Get Health',
    responses: { 200: jsonResponse(HealthSchema) },
  }),
  version: createRoute({
    method: 'get',
    path: '/api/v2/version',
    tags: ['Version'],
    summary: 'Get Version',
    responses: { 200: jsonResponse(VersionSchema) },
  }),
  config: createRoute({
    method: 'get',
    path: '/api/v2/config',
    tags: ['Config'],
    summary: 'Get Config',
    description:
      "The deployment's AIRLOCK__SECTION__KEY settings (admins only), secret values as `< hidden >`.",
    security: SECURED,
    request: {
      query: z.object({ section: z.string().nullable().optional() }),
      headers: z.object({
        accept: z.enum(['application/json', 'text/plain', '*/*']).optional(),
      }),
    },
    responses: {
      200: {
        description: 'Successful Response',
        content: {
          'application/json': { schema: ConfigSchema },
          'text/plain': { schema: z.string() },
        },
      },
      ...errorResponses(401, 403, 404, 422),
    },
  }),
};

/**
 * Adds health, version and config to `/api/v2`.
 *
 * @example
 * ```ts
 * registerMonitorV2(v2, deps);
 * ```
 */
export function registerMonitorV2(v2: ApiV2, deps: AppDeps): void {
  v2.openapi(routes.health, async (c) => c.json(await healthInfo(deps), 200));
  v2.openapi(routes.version, (c) => c.json(versionInfo(), 200));
  v2.openapi(routes.config, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const sections = await configSections(deps, c.req.valid('query').section ?? undefined);
    if (c.req.valid('header').accept === 'text/plain') {
      return c.text(configText(sections), 200);
    }
    return c.json({ sections }, 200);
  });
}
