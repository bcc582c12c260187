/**
 * @module server/routes/pages-variables
 * The Variables pages: list (search, reveal), add, edit, delete, import and export.
 */
import { AirlockError } from '../../errors.ts';
import { readVariableFile, writeVariablesJson } from '../../metastore/import-export.ts';
import { requireAuth } from '../auth/middleware.ts';
import { can, requirePermission } from '../auth/roles.ts';
import type { RouteModule } from '../context.ts';
import { allVariables, variableOrThrow, variableView } from '../service.ts';
import { page, variableEditPage, variablesPage } from '../ui/pages.ts';
import { action, form, uploadedText, withTempFile } from './_forms.ts';

/** Registers the Variables pages. */
export const variablePages: RouteModule = (app, deps) => {
  // Every page here needs a signed-in user.
  const auth = requireAuth(deps);
  app.use('/variables', auth);
  app.use('/variables/*', auth);

  app.get('/variables', async (c) => {
    const user = c.get('user');
    const search = c.req.query('search') ?? '';
    const reveal = c.req.query('reveal');
    const canReveal = can(user.role, 'read-secrets');
    const records = (await allVariables(deps, { onUnreadable: 'mark' })).filter(
      (r) =>
        !search ||
        r.key.toLowerCase().includes(search.toLowerCase()) ||
        (r.description ?? '').toLowerCase().includes(search.toLowerCase()),
    );
    const rows = records.map((r) => {
      const revealed = canReveal && reveal === r.key;
      const view = variableView(deps, user, r, false);
      return {
        ...view,
        value: revealed ? view.value : '***',
        revealed,
        hasValue: r.value !== null,
      };
    });
    return c.html(
      variablesPage(page(c, deps, 'Variables'), rows, {
        search,
        canWrite: can(user.role, 'write'),
        canReveal,
        total: records.length,
      }),
    );
  });

  app.post('/variables', (c) =>
    action(c, deps, '/variables', async () => {
      requirePermission(c.get('user').role, 'write');
      const body = await form(c);
      const key = body.key?.trim() ?? '';
      if (await deps.metastore.getVariableRecord(key)) {
        throw new AirlockError(
          'AIRLOCK_ERR_HTTP_CONFLICT',
          `the variable \`${key}\` already exists; edit it instead`,
        );
      }
      await deps.metastore.setVariable(key, body.value ?? '', {
        description: body.description || null,
      });
      return `Added variable ${key}.`;
    }),
  );

  app.get('/variables/edit/:key', async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'write');
    const record = await variableOrThrow(deps, c.req.param('key'));
    const revealed = c.req.query('reveal') === '1';
    const view = variableView(deps, user, record, false);
    return c.html(
      variableEditPage(
        page(c, deps, `Edit ${record.key}`),
        revealed ? view : { ...view, value: '' },
        revealed,
      ),
    );
  });

  app.post('/variables/edit/:key', (c) => {
    const key = c.req.param('key');
    return action(c, deps, '/variables', async () => {
      requirePermission(c.get('user').role, 'write');
      const existing = await variableOrThrow(deps, key);
      const body = await form(c);
      const value = body.value ? body.value : (existing.value ?? '');
      await deps.metastore.setVariable(key, value, { description: body.description ?? null });
      return `Saved variable ${key}.`;
    });
  });

  app.post('/variables/delete/:key', (c) => {
    const key = c.req.param('key');
    return action(c, deps, '/variables', async () => {
      requirePermission(c.get('user').role, 'write');
      if (!(await deps.metastore.deleteVariable(key))) await variableOrThrow(deps, key);
      return `Deleted variable ${key}.`;
    });
  });

  app.post('/variables/import', (c) =>
    action(c, deps, '/variables', async () => {
      requirePermission(c.get('user').role, 'write');
      const text = await uploadedText(c);
      const skip = (await form(c)).skip_existing === '1';
      const report = await withTempFile(text, (path) =>
        deps.metastore.importVariables(readVariableFile({ path, format: 'json' }), {
          onExisting: skip ? 'skip' : 'overwrite',
        }),
      );
      return `Imported ${report.total} variables: ${report.created} created, ${report.overwritten} overwritten, ${report.skipped} skipped.`;
    }),
  );

  app.get('/variables/export', async (c) => {
    requirePermission(c.get('user').role, 'read-secrets');
    let text = '';
    await writeVariablesJson(deps.metastore.variablePages(), (chunk) => {
      text += chunk;
    });
    return c.body(text, 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': 'attachment; filename="variables.json"',
    });
  });
};
