/**
 * @module server/routes/pages-status
 * The provenance page (`/which`: which link serves a key) and the health page.
 */
import { requireAuth } from '../auth/middleware.ts';
import type { RouteModule } from '../context.ts';
import { healthPage, page, whichPage } from '../ui/pages.ts';
import { HEALTH_PROBE_KEY } from './secrets.ts';

/** Registers the provenance and health pages. */
export const statusPages: RouteModule = (app, deps) => {
  // Every page here needs a signed-in user.
  const auth = requireAuth(deps);
  app.use('/which', auth);
  app.use('/health-status', auth);

  app.get('/which', async (c) => {
    const kind = c.req.query('kind') === 'connection' ? 'connection' : 'variable';
    const id = c.req.query('id') ?? '';
    const report = id
      ? await (await deps.runtime.resolver()).which(kind, id, { all: true })
      : undefined;
    return c.html(whichPage(page(c, deps, 'Provenance'), { kind, id }, report));
  });

  app.get('/health-status', async (c) => {
    let status = 'healthy';
    try {
      await deps.store.settingsVersion();
    } catch {
      status = 'unhealthy';
    }
    const resolver = await deps.runtime.resolver();
    const report = await resolver.which('variable', HEALTH_PROBE_KEY, { all: true });
    const backends = report.trace.map((t) => ({
      backend: t.backend,
      status: t.outcome === 'error' ? 'unhealthy' : 'healthy',
      durationMs: t.durationMs,
      detail:
        t.outcome === 'error'
          ? deps.masker.redact(`${t.errorCode ?? ''} ${t.reason ?? ''}`)
          : t.location,
    }));
    return c.html(
      healthPage(
        page(c, deps, 'Health'),
        { status, dialect: deps.metastore.dialect, url: deps.metastore.url },
        backends,
      ),
    );
  });
};
