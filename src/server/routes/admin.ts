/**
 * @module server/routes/admin
 * Deployment settings (`/api/v1/settings`, admin only), users and their API tokens
 * (`/api/v1/users`, `/api/v1/users/{username}/tokens`, admin only), the caller's own API tokens
 * (`/api/v1/tokens`, every role) and password (`/api/v1/me/password`, every role).
 *
 * A secret setting is write-only: the API says it is set and never returns its value.
 */
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { restartRequired } from '../../config/process-settings.ts';
import { AirlockError } from '../../errors.ts';
import { checkPasswordLimited, SESSION_COOKIE } from '../auth/middleware.ts';
import { parseRole, requirePermission } from '../auth/roles.ts';
import type { AppDeps, AppEnv, RouteModule } from '../context.ts';
import type { ApiTokenRecord, SettingRecord } from '../store.ts';
import { v1Route } from '../v1/app.ts';
import { AIRLOCK_V1 } from '../v1/operations.ts';
import { jsonBody, stringField } from './_api.ts';

/** A setting as the API shows it. */
export function settingView(setting: SettingRecord) {
  return {
    name: setting.name,
    secret: setting.secret,
    is_set: true,
    value: setting.secret ? null : setting.value,
    updated_at: setting.updatedAt,
    updated_by: setting.updatedBy,
    // Read by running processes only at their start: new task processes get it at once.
    restart_required: restartRequired(setting.name),
  };
}

/** A list of API tokens as the API shows it (never the token). */
function tokenList(tokens: readonly ApiTokenRecord[]) {
  return {
    tokens: tokens.map((t) => ({
      id: t.id,
      name: t.name,
      username: t.username,
      prefix: t.prefix,
      created_at: t.createdAt,
      last_used_at: t.lastUsedAt,
    })),
    total_entries: tokens.length,
  };
}

/** What saving `name` means for the running processes, in one sentence. */
export function appliesWhen(name: string): string {
  return restartRequired(name)
    ? `${name} applies to task processes started from now on; running airlock servers and workers take it on when restarted`
    : `${name} applies now`;
}

/** Stores a setting after checking that the configuration it makes is valid. */
export async function putSetting(
  deps: AppDeps,
  name: string,
  value: string,
  secret: boolean,
  by: string,
): Promise<'created' | 'updated'> {
  await deps.runtime.checkChange(name, value);
  return deps.store.putSetting(name, value, secret, by);
}

/**
 * Changes the caller's own password after checking the current one (under the sign-in limit: a
 * wrong current password counts as a failed sign-in). Every API token of the caller is revoked
 * and every other session ends; a session that makes the change stays signed in.
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_BAD_REQUEST` when the current password is wrong or the
 *   new one is too short, `AIRLOCK_ERR_HTTP_RATE_LIMITED` after too many wrong ones.
 */
export async function changeOwnPassword(
  c: Context<AppEnv>,
  deps: AppDeps,
  current: string,
  password: string,
): Promise<void> {
  const me = c.get('user');
  if (!(await checkPasswordLimited(c, deps, me.username, current))) {
    throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'the current password is wrong');
  }
  const cookie = me.via === 'session' ? getCookie(c, SESSION_COOKIE) : undefined;
  await deps.store.setPassword(me.username, password, cookie ? { keepSessionId: cookie } : {});
}

/** Registers the settings, users and tokens endpoints. */
export const adminRoutes: RouteModule = (_app, deps) => {
  const v1 = deps.apiV1;
  v1Route(v1, AIRLOCK_V1.listSettings, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const settings = await deps.store.listSettings();
    return c.json({ settings: settings.map(settingView), total_entries: settings.length });
  });

  v1Route(v1, AIRLOCK_V1.putSetting, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'admin');
    const name = c.req.param('name');
    const body = await jsonBody(c);
    const value = stringField(body, 'value', { required: true }) as string;
    const secret = body.secret === undefined ? false : body.secret;
    if (typeof secret !== 'boolean') {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', '`secret` must be a boolean');
    }
    const outcome = await putSetting(deps, name, value, secret, user.username);
    const stored = (await deps.store.listSettings()).find((s) => s.name === name);
    return c.json(stored ? settingView(stored) : {}, outcome === 'created' ? 201 : 200);
  });

  v1Route(v1, AIRLOCK_V1.deleteSetting, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const name = c.req.param('name');
    await deps.runtime.checkChange(name, undefined);
    if (!(await deps.store.deleteSetting(name))) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', `no deployment setting \`${name}\``);
    }
    return c.body(null, 204);
  });

  v1Route(v1, AIRLOCK_V1.listUsers, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const users = await deps.store.listUsers();
    return c.json({
      users: users.map((u) => ({ username: u.username, role: u.role, created_at: u.createdAt })),
      total_entries: users.length,
    });
  });

  v1Route(v1, AIRLOCK_V1.postUser, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const body = await jsonBody(c);
    const username = stringField(body, 'username', { required: true }) as string;
    const password = stringField(body, 'password', { required: true }) as string;
    const role = parseRole(stringField(body, 'role') ?? 'viewer');
    await deps.store.createUser(username, password, role);
    return c.json({ username, role }, 201);
  });

  v1Route(v1, AIRLOCK_V1.patchUser, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const username = c.req.param('username');
    const existing = await deps.store.getUser(username);
    if (!existing) throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', `no user \`${username}\``);
    const body = await jsonBody(c);
    const role = parseRole(stringField(body, 'role') ?? existing.role);
    const password = stringField(body, 'password');
    if (role !== existing.role) await deps.store.setRole(username, role);
    if (password) {
      // A new password revokes the user's API tokens and ends their other sessions; the session
      // that changes its own user's password stays signed in.
      const me = c.get('user');
      const cookie = getCookie(c, SESSION_COOKIE);
      const keep = me.via === 'session' && me.username === username ? cookie : undefined;
      await deps.store.setPassword(username, password, keep ? { keepSessionId: keep } : {});
    }
    return c.json({ username, role });
  });

  v1Route(v1, AIRLOCK_V1.deleteUser, async (c) => {
    const user = c.get('user');
    requirePermission(user.role, 'admin');
    const username = c.req.param('username');
    if (username === user.username) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'you cannot delete yourself');
    }
    if (!(await deps.store.deleteUser(username))) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', `no user \`${username}\``);
    }
    return c.body(null, 204);
  });

  v1Route(v1, AIRLOCK_V1.userTokens, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    const username = c.req.param('username');
    if (!(await deps.store.getUser(username))) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', `no user \`${username}\``);
    }
    return c.json(tokenList(await deps.store.listTokens(username)));
  });

  v1Route(v1, AIRLOCK_V1.revokeUserToken, async (c) => {
    requirePermission(c.get('user').role, 'admin');
    if (!(await deps.store.deleteToken(c.req.valid('param').id, c.req.valid('param').username))) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', 'no such token');
    }
    return c.body(null, 204);
  });

  v1Route(v1, AIRLOCK_V1.myPassword, async (c) => {
    const body = await jsonBody(c);
    const current = stringField(body, 'current_password', { required: true }) as string;
    const password = stringField(body, 'password', { required: true }) as string;
    await changeOwnPassword(c, deps, current, password);
    return c.body(null, 204);
  });

  v1Route(v1, AIRLOCK_V1.listTokens, async (c) => {
    return c.json(tokenList(await deps.store.listTokens(c.get('user').username)));
  });

  v1Route(v1, AIRLOCK_V1.postToken, async (c) => {
    const body = await jsonBody(c);
    const name = stringField(body, 'name') ?? 'token';
    const created = await deps.store.createToken(c.get('user').username, name);
    return c.json({ id: created.id, name, token: created.token }, 201);
  });

  v1Route(v1, AIRLOCK_V1.revokeToken, async (c) => {
    if (!(await deps.store.deleteToken(c.req.valid('param').id, c.get('user').username))) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', 'no such token');
    }
    return c.body(null, 204);
  });
};
