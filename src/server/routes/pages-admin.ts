/**
 * @module server/routes/pages-admin
 * The admin's pages: deployment settings and users.
 */
import { AirlockError } from '../../errors.ts';
import { requireAuth } from '../auth/middleware.ts';
import { parseRole, requirePermission } from '../auth/roles.ts';
import type { RouteModule } from '../context.ts';
import { page, settingsPage, usersPage } from '../ui/pages.ts';
import { action, form } from './_forms.ts';
import { appliesWhen, putSetting } from './admin.ts';

/** Registers the deployment settings and users pages (admins only). */
export const adminPages: RouteModule = (app, deps) => {
  // Every page here needs a signed-in user.
  const auth = requireAuth(deps);
  app.use('/settings', auth);
  app.use('/settings/*', auth);
  app.use('/users', auth);
  app.use('/users/*', auth);

  app.get('/settings', async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const rows = await deps.store.listSettings();
    return c.html(settingsPage(page(c, deps, 'Deployment settings'), rows));
  });

  app.post('/settings', (c) =>
    action(c, deps, '/settings', async () => {
      const user = c.get('user');
      requirePermission(user.role, 'admin');
      const body = await form(c);
      const name = body.name?.trim() ?? '';
      await putSetting(deps, name, body.value ?? '', body.secret === '1', user.username);
      return `Saved; ${appliesWhen(name)}.`;
    }),
  );

  app.post('/settings/delete/:name', (c) => {
    const name = c.req.param('name');
    return action(c, deps, '/settings', async () => {
      requirePermission(c.get('user').role, 'admin');
      await deps.runtime.checkChange(name, undefined);
      await deps.store.deleteSetting(name);
      return `Deleted ${name}.`;
    });
  });

  // --- users (admin) -------------------------------------------------------------------------
  app.get('/users', async (c) => {
    requirePermission(c.get('user').role, 'admin');
    return c.html(usersPage(page(c, deps, 'Users'), await deps.store.listUsers()));
  });

  app.post('/users', (c) =>
    action(c, deps, '/users', async () => {
      requirePermission(c.get('user').role, 'admin');
      const body = await form(c);
      const role = parseRole(body.role ?? 'viewer');
      await deps.store.createUser(body.username ?? '', body.password ?? '', role);
      return `Added user ${body.username} (${role}).`;
    }),
  );

  app.post('/users/role/:username', (c) => {
    const username = c.req.param('username');
    return action(c, deps, '/users', async () => {
      requirePermission(c.get('user').role, 'admin');
      const role = parseRole((await form(c)).role ?? '');
      if (!(await deps.store.setRole(username, role))) {
        throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', `no user \`${username}\``);
      }
      return `${username} is now ${role}.`;
    });
  });

  app.post('/users/delete/:username', (c) => {
    const username = c.req.param('username');
    return action(c, deps, '/users', async () => {
      const user = c.get('user');
      requirePermission(user.role, 'admin');
      if (username === user.username) {
        throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'you cannot delete yourself');
      }
      await deps.store.deleteUser(username);
      return `Deleted user ${username}.`;
    });
  });
};
