/**
 * @module server/routes/secrets
 * `GET /api/v1/secrets/which?kind=variable|connection&id=…[&all=true]`: which link of the chain
 * serves a key (provenance, never the value), and `GET /api/v1/backends/health`: each link's
 * health, probed with a lookup of a key no one defines.
 */
import { AirlockError } from '../../errors.ts';
import type { RouteModule } from '../context.ts';
import { v1Route } from '../v1/app.ts';
import { AIRLOCK_V1 } from '../v1/operations.ts';

/** The key the health probe looks up (a miss is healthy). */
export const HEALTH_PROBE_KEY = 'airlock_health_probe_9f1c';

/** Registers the provenance and backend-health endpoints. */
export const secretsRoutes: RouteModule = (_app, deps) => {
  v1Route(deps.apiV1, AIRLOCK_V1.which, async (c) => {
    const kind = c.req.query('kind') ?? 'variable';
    const id = c.req.query('id') ?? '';
    if (kind !== 'variable' && kind !== 'connection') {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        '`kind` must be variable or connection',
      );
    }
    if (!id) throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`id` is required');
    const resolver = await deps.runtime.resolver();
    const report = await resolver.which(kind, id, { all: c.req.query('all') === 'true' });
    return c.json(report);
  });

  v1Route(deps.apiV1, AIRLOCK_V1.backendsHealth, async (c) => {
    const resolver = await deps.runtime.resolver();
    const report = await resolver.which('variable', HEALTH_PROBE_KEY, { all: true });
    const backends = report.trace.map((link) => ({
      backend: link.backend,
      status: link.outcome === 'error' ? 'unhealthy' : 'healthy',
      duration_ms: Math.round(link.durationMs),
      ...(link.errorCode ? { error_code: link.errorCode } : {}),
      ...(link.reason && link.outcome === 'error'
        ? { detail: deps.masker.redact(link.reason) }
        : {}),
    }));
    const healthy = backends.every((b) => b.status === 'healthy');
    return c.json({ status: healthy ? 'healthy' : 'unhealthy', backends }, healthy ? 200 : 503);
  });
};
