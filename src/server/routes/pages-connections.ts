/**
 * @module server/routes/pages-connections
 * The Connections pages: list (search), add, edit, delete, import and export.
 */
import { AirlockError, isAirlockError } from '../../errors.ts';
import { formatConnections, readConnectionFile } from '../../metastore/import-export.ts';
import { requireAuth } from '../auth/middleware.ts';
import { can, requirePermission } from '../auth/roles.ts';
import type { RouteModule } from '../context.ts';
import {
  allConnections,
  type ConnectionInput,
  connectionFromInput,
  connectionOrThrow,
  connectionView,
  inputOf,
  replaceConnection,
} from '../service.ts';
import { connectionFormPage, connectionsPage, page } from '../ui/pages.ts';
import { action, back, form, uploadedText, withTempFile } from './_forms.ts';

/** Registers the Connections pages. */
export const connectionPages: RouteModule = (app, deps) => {
  // Every page here needs a signed-in user.
  const auth = requireAuth(deps);
  app.use('/connections', auth);
  app.use('/connections/*', auth);

  app.get('/connections', async (c) => {
    const user = c.get('user');
    const search = (c.req.query('search') ?? '').toLowerCase();
    const records = (await allConnections(deps, { onUnreadable: 'mark' })).filter(
      (r) =>
        !search ||
        [r.connId, r.connType, r.host ?? '', r.description ?? ''].some((t) =>
          t.toLowerCase().includes(search),
        ),
    );
    return c.html(
      connectionsPage(
        page(c, deps, 'Connections'),
        records.map((r) => connectionView(user, r, true)),
        {
          search: c.req.query('search') ?? '',
          canWrite: can(user.role, 'write'),
          total: records.length,
        },
      ),
    );
  });

  app.get('/connections/new', (c) => {
    requirePermission(c.get('user').role, 'write');
    return c.html(
      connectionFormPage(page(c, deps, 'Add a connection'), undefined, {
        revealed: false,
        hasPassword: false,
      }),
    );
  });

  const inputFromForm = (body: Record<string, string>): ConnectionInput => ({
    conn_type: body.conn_type,
    description: body.description || null,
    host: body.host,
    login: body.login,
    password: body.password,
    schema: body.schema,
    port: body.port,
    extra: body.extra,
  });

  app.post('/connections/new', async (c) => {
    requirePermission(c.get('user').role, 'write');
    const body = await form(c);
    const connId = body.connection_id ?? '';
    try {
      if (await deps.metastore.getConnection(connId)) {
        throw new AirlockError(
          'AIRLOCK_ERR_HTTP_CONFLICT',
          `the connection \`${connId}\` already exists`,
        );
      }
      await deps.metastore.addConnection(connId, connectionFromInput(connId, inputFromForm(body)));
    } catch (err) {
      if (!isAirlockError(err) || err.code === 'AIRLOCK_ERR_HTTP_FORBIDDEN') throw err;
      return back(c, '/connections/new', 'error', deps.masker.redact(err.message));
    }
    return back(c, '/connections', 'ok', `Added connection ${connId}.`);
  });

  app.get('/connections/edit/:id', async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const record = await connectionOrThrow(deps, c.req.param('id'));
    const revealed = c.req.query('reveal') === '1';
    return c.html(
      connectionFormPage(
        page(c, deps, `Edit ${record.connId}`),
        connectionView(user, record, false),
        {
          revealed,
          hasPassword: record.password !== null,
        },
      ),
    );
  });

  app.post('/connections/edit/:id', (c) => {
    const connId = c.req.param('id');
    return action(c, deps, '/connections', async () => {
      requirePermission(c.get('user').role, 'write');
      const existing = await connectionOrThrow(deps, connId);
      const input = inputFromForm(await form(c));
      if (!input.password) input.password = inputOf(existing).password;
      await replaceConnection(deps, connId, connectionFromInput(connId, input));
      return `Saved connection ${connId}.`;
    });
  });

  app.post('/connections/delete/:id', (c) => {
    const connId = c.req.param('id');
    return action(c, deps, '/connections', async () => {
      requirePermission(c.get('user').role, 'write');
      if (!(await deps.metastore.deleteConnection(connId))) await connectionOrThrow(deps, connId);
      return `Deleted connection ${connId}.`;
    });
  });

  app.post('/connections/import', (c) =>
    action(c, deps, '/connections', async () => {
      requirePermission(c.get('user').role, 'write');
      const text = await uploadedText(c);
      const overwrite = (await form(c)).overwrite === '1';
      const report = await withTempFile(text, async (path) =>
        deps.metastore.importConnections(await readConnectionFile({ path, format: 'json' }), {
          onExisting: overwrite ? 'overwrite' : 'skip',
        }),
      );
      return `Imported ${report.total} connections: ${report.created} created, ${report.overwritten} overwritten, ${report.skipped} skipped.`;
    }),
  );

  app.get('/connections/export', async (c) => {
    requirePermission(c.get('user').role, 'read-secrets');
    const text = await formatConnections(await allConnections(deps), 'json');
    return c.body(text, 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': 'attachment; filename="connections.json"',
    });
  });
};
