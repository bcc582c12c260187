/**
 * @module server/routes/ui
 * The pages: sign-in, Variables, Connections, provenance, health, deployment settings, users and
 * API tokens. Forms post back here (Post/Redirect/Get, a flash message in the query), each with
 * the session's CSRF token.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { AirlockError, isAirlockError } from '../../errors.ts';
import {
  formatConnections,
  readConnectionFile,
  readVariableFile,
  writeVariablesJson,
} from '../../metastore/import-export.ts';
import {
  checkLoginCsrf,
  checkPasswordLimited,
  LOGIN_CSRF_COOKIE,
  requireAuth,
  SESSION_COOKIE,
  safeNextPath,
} from '../auth/middleware.ts';
import { can, isRole, requirePermission } from '../auth/roles.ts';
import type { AppDeps, AppEnv, RouteModule } from '../context.ts';
import {
  allConnections,
  allVariables,
  type ConnectionInput,
  connectionFromInput,
  connectionOrThrow,
  connectionView,
  inputOf,
  replaceConnection,
  variableOrThrow,
  variableView,
} from '../service.ts';
import { APP_CSS, APP_JS } from '../ui/assets.ts';
import {
  connectionFormPage,
  connectionsPage,
  healthPage,
  loginPage,
  page,
  settingsPage,
  tokensPage,
  usersPage,
  variableEditPage,
  variablesPage,
  whichPage,
} from '../ui/pages.ts';
import { appliesWhen, changeOwnPassword, putSetting } from './admin.ts';
import { HEALTH_PROBE_KEY } from './secrets.ts';

async function form(c: Context): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  return out;
}

function back(c: Context, path: string, kind: 'ok' | 'error', text: string): Response {
  const sep = path.includes('?') ? '&' : '?';
  return c.redirect(`${path}${sep}${kind}=${encodeURIComponent(text)}`, 303);
}

/** Runs a form action; a coded error goes back to `path` as a flash message. */
async function action(
  c: Context<AppEnv>,
  deps: AppDeps,
  path: string,
  fn: () => Promise<string>,
): Promise<Response> {
  try {
    return back(c, path, 'ok', await fn());
  } catch (err) {
    if (!isAirlockError(err) || err.code.startsWith('AIRLOCK_ERR_HTTP_CSRF')) throw err;
    if (err.code === 'AIRLOCK_ERR_HTTP_FORBIDDEN') throw err;
    return back(c, path, 'error', deps.masker.redact(err.message));
  }
}

async function uploadedText(c: Context): Promise<string> {
  const body = await c.req.parseBody();
  const file = body.file;
  if (file instanceof File) return file.text();
  if (typeof file === 'string') return file;
  throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'choose a file to import');
}

/** Writes an upload to a private temporary file for the Airflow-exact file readers. */
async function withTempFile<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = join(tmpdir(), `airlock-import-${randomBytes(8).toString('hex')}.json`);
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
  try {
    return await fn(path);
  } finally {
    rmSync(path, { force: true });
  }
}

/** Registers the pages. */
export const uiRoutes: RouteModule = (app, deps) => {
  app.get('/static/app.css', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(APP_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });
  app.get('/static/app.js', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(APP_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8' });
  });

  app.get('/login', (c) => {
    const csrf = randomBytes(24).toString('base64url');
    setCookie(c, LOGIN_CSRF_COOKIE, csrf, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: deps.secureCookies,
      path: '/login',
      maxAge: 3600,
    });
    const next = safeNextPath(c.req.query('next'));
    const error = c.req.query('error');
    return c.html(
      loginPage(
        {
          user: undefined,
          title: 'Sign in',
          path: '/login',
          navigation: [],
          flash: error ? { kind: 'error', text: error.slice(0, 200) } : undefined,
        },
        csrf,
        next,
      ),
    );
  });

  app.post('/login', async (c) => {
    await checkLoginCsrf(c);
    const body = await form(c);
    const username = body.username ?? '';
    const next = safeNextPath(body.next);
    let user: Awaited<ReturnType<typeof checkPasswordLimited>>;
    try {
      user = await checkPasswordLimited(c, deps, username, body.password ?? '');
    } catch (err) {
      if (isAirlockError(err) && err.code === 'AIRLOCK_ERR_HTTP_RATE_LIMITED') {
        c.header('Retry-After', String(err.details?.retryAfter ?? 60));
        return c.redirect(`/login?error=${encodeURIComponent(err.message)}`, 303);
      }
      throw err;
    }
    if (!user) {
      return c.redirect(
        `/login?error=${encodeURIComponent('The user name or password is wrong.')}&next=${encodeURIComponent(next)}`,
        303,
      );
    }
    const session = await deps.store.createSession(user.username);
    deleteCookie(c, LOGIN_CSRF_COOKIE, { path: '/login' });
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: deps.secureCookies,
      path: '/',
    });
    return c.redirect(next, 303);
  });

  // Everything below needs a signed-in user.
  const auth = requireAuth(deps);
  for (const path of [
    '/',
    '/logout',
    '/variables',
    '/variables/*',
    '/connections',
    '/connections/*',
    '/which',
    '/health-status',
    '/settings',
    '/settings/*',
    '/users',
    '/users/*',
    '/tokens',
    '/tokens/*',
  ]) {
    app.use(path, auth);
  }

  app.get('/', (c) => c.redirect('/variables', 303));
  // Airflow 1's UI lived under /admin/ (its docs still link there): land on the home page.
  app.get('/admin', (c) => c.redirect('/', 301));
  app.get('/admin/', (c) => c.redirect('/', 301));

  app.post('/logout', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) await deps.store.deleteSession(cookie);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });

  // --- variables -----------------------------------------------------------------------------
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
    await writeVariablesJson(deps.metastore.variables(), (chunk) => {
      text += chunk;
    });
    return c.body(text, 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': 'attachment; filename="variables.json"',
    });
  });

  // --- connections ---------------------------------------------------------------------------
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

  // --- provenance and health -----------------------------------------------------------------
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

  // --- deployment settings (admin) -----------------------------------------------------------
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
      const role = body.role ?? 'viewer';
      if (!isRole(role)) throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'unknown role');
      await deps.store.createUser(body.username ?? '', body.password ?? '', role);
      return `Added user ${body.username} (${role}).`;
    }),
  );

  app.post('/users/role/:username', (c) => {
    const username = c.req.param('username');
    return action(c, deps, '/users', async () => {
      requirePermission(c.get('user').role, 'admin');
      const role = (await form(c)).role ?? '';
      if (!isRole(role)) throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', 'unknown role');
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

  // --- API tokens ----------------------------------------------------------------------------
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
