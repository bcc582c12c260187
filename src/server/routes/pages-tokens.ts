/**
 * @module server/routes/pages-tokens
 * The API tokens page: the caller's tokens (and, for an admin, everyone's), creating and revoking
 * them, and changing one's own password.
 */
import type { Context } from 'hono';
import { AirlockError } from '../../errors.ts';
import { requireAuth } from '../auth/middleware.ts';
import { can } from '../auth/roles.ts';
import type { AppEnv, RouteModule } from '../context.ts';
import { page, tokensPage } from '../ui/pages.ts';
import { action, form } from './_forms.ts';
import { changeOwnPassword } from './admin.ts';

/** Registers the API tokens page. */
export const tokenPages: RouteModule = (app, deps) => {
  // Every page here needs a signed-in user.
  const auth = requireAuth(deps);
  app.use('/tokens', auth);
  app.use('/tokens/*', auth);

  /** The caller's tokens, and for an admin every other user's too. */
  const tokenLists = async (c: Context<AppEnv>) => {
    const user = c.get('user');
    const own = await deps.store.listTokens(user.username);
    const others = can(user.role, 'admin')
      ? (await deps.store.listTokens()).filter((t) => t.username !== user.username)
      : undefined;
    return { own, others };
  };

  app.get('/tokens', async (c) => {
    const { own, others } = await tokenLists(c);
    return c.html(tokensPage(page(c, deps, 'API tokens'), own, undefined, others));
  });

  app.post('/tokens', async (c) => {
    const user = c.get('user');
    const body = await form(c);
    const created = await deps.store.createToken(user.username, body.name?.trim() || 'token');
    const { own, others } = await tokenLists(c);
    // The token is shown in this response only (never in a URL, never again).
    return c.html(tokensPage(page(c, deps, 'API tokens'), own, created.token, others));
  });

  app.post('/tokens/password', (c) =>
    action(c, deps, '/tokens', async () => {
      const body = await form(c);
      if ((body.password ?? '') !== (body.confirm ?? '')) {
        throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'the new passwords differ');
      }
      await changeOwnPassword(c, deps, body.current_password ?? '', body.password ?? '');
      return 'Changed your password; your API tokens are revoked and your other sessions ended.';
    }),
  );

  app.post('/tokens/delete/:id', (c) => {
    const id = c.req.param('id');
    return action(c, deps, '/tokens', async () => {
      const user = c.get('user');
      // An admin may revoke any user's token; everyone else only their own.
      const owner = can(user.role, 'admin') ? undefined : user.username;
      if (!(await deps.store.deleteToken(id, owner))) {
        throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', 'no such token');
      }
      return 'Revoked the token.';
    });
  });
};
