/** A server app over a fresh SQLite metastore, with one user per role, for `app.request` tests. */
import { join } from 'node:path';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { createServerApp } from '../../src/server/app.ts';
import type { ServerDeps } from '../../src/server/context.ts';
import { ServerStore, type ServerStoreOptions } from '../../src/server/store.ts';
import { tempDir } from '../helpers/tmp.ts';

/** The password of every test user. */
export const PASSWORD = 'pw-for-tests-1';

export interface TestApp {
  app: ReturnType<typeof createServerApp>['app'];
  deps: ReturnType<typeof createServerApp>['deps'];
  metastore: Metastore;
  store: ServerStore;
  /** A request as `user` with basic auth. */
  as(user: 'admin' | 'editor' | 'viewer', path: string, init?: RequestInit): Promise<Response>;
  /** Posts the sign-in form (with its CSRF cookie and token) with `fields`; the raw response. */
  postLogin(fields: Record<string, string>): Promise<Response>;
  /** Signs in through the form; returns the cookie header and the CSRF token. */
  login(user: string, password?: string): Promise<{ cookie: string; csrf: string }>;
  close(): Promise<void>;
}

export async function createTestApp(
  options: {
    env?: Record<string, string>;
    store?: ServerStoreOptions;
    extra?: Partial<ServerDeps>;
  } = {},
): Promise<TestApp> {
  const dir = tempDir('airlock-server-');
  const metastore = await Metastore.open({
    url: `sqlite:///${join(dir, 'airlock.db')}`,
    keys: parseFernetKeys(Fernet.generateKey()),
  });
  const store = new ServerStore(metastore, options.store);
  for (const role of ['admin', 'editor', 'viewer'] as const) {
    await store.createUser(role, PASSWORD, role);
  }
  const created = createServerApp({
    metastore,
    store,
    env: options.env ?? {},
    masker: new SecretsMasker(),
    ...options.extra,
  });
  const { app } = created;
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`;
  const postLogin = async (fields: Record<string, string>): Promise<Response> => {
    const page = await app.request('/login');
    const csrfCookie = /airlock_login_csrf=([^;]+)/.exec(page.headers.get('set-cookie') ?? '')?.[1];
    if (!csrfCookie) throw new Error('no login CSRF cookie');
    return app.request('/login', {
      method: 'POST',
      headers: {
        cookie: `airlock_login_csrf=${csrfCookie}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ _csrf: csrfCookie, ...fields }).toString(),
    });
  };
  return {
    app,
    deps: created.deps,
    metastore,
    store,
    as(user, path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set('authorization', basic(user));
      if (init.body && !headers.has('content-type'))
        headers.set('content-type', 'application/json');
      return Promise.resolve(app.request(path, { ...init, headers }));
    },
    postLogin,
    async login(user, password = PASSWORD) {
      const res = await postLogin({ username: user, password });
      const session = /airlock_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
      if (!session) throw new Error(`sign-in failed: ${res.status} ${res.headers.get('location')}`);
      const cookie = `airlock_session=${session}`;
      const vars = await app.request('/variables', { headers: { cookie } });
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(await vars.text())?.[1] ?? '';
      return { cookie, csrf };
    },
    async close() {
      await created.dispose();
      await metastore.close();
    },
  };
}
