// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/model/connection.ts';
import { createApp } from '../../src/server/app.ts';
import { createTestApp, PASSWORD, type TestApp } from './_app.ts';

const CANARY = {
  variable: 'canary-var-7f3a9',
  password: 'canary-pw-51c2e',
  extra: 'canary-extra-90d1',
  setting: 'canary-setting-c8e4',
};

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ store: { loginMaxFailures: 3, loginWindowSeconds: 60 } });
  await t.metastore.setVariable('plain_var', CANARY.variable);
  await t.metastore.addConnection(
    'canary_conn',
    Connection.fromFields(
      {
        conn_type: 'postgres',
        host: 'db',
        login: 'u',
        password: CANARY.password,
        extra: { token: CANARY.extra },
      },
      'canary_conn',
    ),
  );
  await t.store.putSetting(
    'AIRFLOW__SECRETS__BACKEND_KWARGS',
    `{"x": "${CANARY.setting}"}`,
    true,
    'admin',
  );
});
afterAll(() => t.close());

async function dump(res: Response): Promise<string> {
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
  return `${res.status}\n${headers}\n${await res.text()}`;
}

describe('no-leak checks', () => {
  const viewerPaths = [
    '/api/v1/variables',
    '/api/v1/variables/plain_var',
    '/api/v1/connections',
    '/api/v1/connections/canary_conn',
    '/api/v1/secrets/which?kind=variable&id=plain_var',
    '/api/v1/secrets/which?kind=connection&id=canary_conn&all=true',
    '/api/v1/settings',
    '/api/v1/backends/health',
    '/variables',
    '/variables?reveal=plain_var',
    '/variables/edit/plain_var?reveal=1',
    '/variables/export',
    '/connections',
    '/connections/edit/canary_conn?reveal=1',
    '/connections/export',
    '/which?kind=connection&id=canary_conn',
    '/health-status',
    '/settings',
    '/users',
  ];

  it('shows a viewer no value on any page or endpoint', async () => {
    for (const path of viewerPaths) {
      const text = await dump(await t.as('viewer', path));
      for (const canary of Object.values(CANARY)) {
        expect(text, `${path} leaked ${canary}`).not.toContain(canary);
      }
    }
  });

  it('never shows a secret setting, even to an admin', async () => {
    for (const path of [...viewerPaths, '/api/v1/settings']) {
      const text = await dump(await t.as('admin', path));
      expect(text, path).not.toContain(CANARY.setting);
    }
  });

  it('shows an editor passwords only on request (reveal) and never in lists', async () => {
    const list = await dump(await t.as('editor', '/connections'));
    expect(list).not.toContain(CANARY.password);
    const apiList = await dump(await t.as('editor', '/api/v1/connections'));
    expect(apiList).not.toContain(CANARY.password);
    const page = await dump(await t.as('editor', '/variables'));
    expect(page).not.toContain(CANARY.variable);
    const revealed = await dump(await t.as('editor', '/variables?reveal=plain_var'));
    expect(revealed).toContain(CANARY.variable);
    const edit = await dump(await t.as('editor', '/connections/edit/canary_conn'));
    expect(edit).not.toContain(CANARY.password);
    expect(await dump(await t.as('editor', '/connections/edit/canary_conn?reveal=1'))).toContain(
      CANARY.password,
    );
  });

  it('refuses the viewer with 403 where values would be shown', async () => {
    expect((await t.as('viewer', '/variables/export')).status).toBe(403);
    expect((await t.as('viewer', '/variables/edit/plain_var')).status).toBe(403);
    expect((await t.as('viewer', '/settings')).status).toBe(403);
  });
});

describe('authentication', () => {
  it('answers 401 JSON for the API and redirects pages to the sign-in form', async () => {
    const api = await t.app.request('/api/v1/variables');
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toBe('Basic realm="airlock"');
    expect((await api.json()) as any).toMatchObject({
      code: 'AIRLOCK_ERR_HTTP_UNAUTHENTICATED',
      status: 401,
    });
    const page = await t.app.request('/variables');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fvariables');
  });

  it('sets an HttpOnly SameSite session cookie and ends it on sign-out', async () => {
    const pageRes = await t.app.request('/login');
    const token =
      /airlock_login_csrf=([^;]+)/.exec(pageRes.headers.get('set-cookie') ?? '')?.[1] ?? '';
    const res = await t.app.request('/login', {
      method: 'POST',
      headers: {
        cookie: `airlock_login_csrf=${token}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        _csrf: token,
        username: 'editor',
        password: PASSWORD,
      }).toString(),
    });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/airlock_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax/);
    const session = `airlock_session=${/airlock_session=([^;]+)/.exec(cookie)?.[1]}`;
    expect((await t.app.request('/variables', { headers: { cookie: session } })).status).toBe(200);
    const html = await (await t.app.request('/variables', { headers: { cookie: session } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? '';
    await t.app.request('/logout', {
      method: 'POST',
      headers: { cookie: session, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${csrf}`,
    });
    expect((await t.app.request('/variables', { headers: { cookie: session } })).status).toBe(303);
  });

  it('rate-limits failed sign-ins with 429 and Retry-After', async () => {
    const bad = `Basic ${Buffer.from('viewer:wrong-password').toString('base64')}`;
    for (let i = 0; i < 3; i++) {
      expect(
        (await t.app.request('/api/v1/variables', { headers: { authorization: bad } })).status,
      ).toBe(401);
    }
    const limited = await t.app.request('/api/v1/variables', { headers: { authorization: bad } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_RATE_LIMITED');
    // The right password is refused too while the limit holds.
    expect((await t.as('viewer', '/api/v1/variables')).status).toBe(429);
    await t.store.clearLoginFailures(['user:viewer', 'addr:unknown']);
    expect((await t.as('viewer', '/api/v1/variables')).status).toBe(200);
  });
});

describe('CSRF', () => {
  it('refuses a cookie-authenticated change without the token', async () => {
    const { cookie, csrf } = await t.login('editor');
    const body = JSON.stringify({ key: 'csrf_var', value: 'v' });
    const headers = { cookie, 'content-type': 'application/json' };
    const missing = await t.app.request('/api/v1/variables', { method: 'POST', headers, body });
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_CSRF');
    const form = await t.app.request('/variables', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'key=csrf_form&value=v&_csrf=wrong',
    });
    expect(form.status).toBe(403);
    const ok = await t.app.request('/api/v1/variables', {
      method: 'POST',
      headers: { ...headers, 'x-csrf-token': csrf },
      body,
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a sign-in without the form token, and cross-site changes', async () => {
    const res = await t.app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=editor&password=${PASSWORD}`,
    });
    expect(res.status).toBe(403);
    const cross = await t.as('editor', '/api/v1/variables', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
      body: JSON.stringify({ key: 'x', value: 'y' }),
    });
    expect(cross.status).toBe(403);
  });
});

describe('security headers', () => {
  it('sends a strict CSP, no-store and nosniff on pages and the API', async () => {
    for (const path of ['/login', '/api/v1/variables']) {
      const res = await t.as('viewer', path);
      const csp = res.headers.get('content-security-policy') ?? '';
      if (path.startsWith('/api/')) {
        expect(csp).toBe("default-src 'none'; frame-ancestors 'none'");
      } else {
        expect(csp).toContain("default-src 'self'");
        expect(csp).toContain("script-src 'self'");
        expect(csp).toContain("frame-ancestors 'none'");
      }
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });
});

describe('extensions', () => {
  it('registers extra route modules behind the same auth and error handler', async () => {
    const app = createApp({
      metastore: t.metastore,
      env: {},
      extensions: [
        (a, deps) => {
          a.get('/api/v1/dags', (c) =>
            c.json({ user: c.get('user').username, dialect: deps.metastore.dialect }),
          );
        },
      ],
    });
    expect((await app.request('/api/v1/dags')).status).toBe(401);
    const basic = `Basic ${Buffer.from(`viewer:${PASSWORD}`).toString('base64')}`;
    expect(
      (await (
        await app.request('/api/v1/dags', { headers: { authorization: basic } })
      ).json()) as any,
    ).toEqual({ user: 'viewer', dialect: 'sqlite' });
  });
});

describe('sign-in redirect (next=)', () => {
  async function signInWith(next: string): Promise<string | null> {
    const html = await (await t.app.request(`/login?next=${encodeURIComponent(next)}`)).text();
    const shown = /name="next" value="([^"]*)"/.exec(html)?.[1];
    expect(new URL(shown ?? '/', 'http://airlock.test').host, JSON.stringify(next)).toBe(
      'airlock.test',
    );
    const res = await t.postLogin({ username: 'viewer', password: PASSWORD, next });
    expect(res.status).toBe(303);
    return res.headers.get('location');
  }

  it('goes only to a path of this server', async () => {
    expect(await signInWith('/variables?search=a')).toBe('/variables?search=a');
    for (const next of [
      '//evil.example',
      '/\\evil.example',
      '/\\/evil.example',
      '\\\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      '/%2f%2fevil.example'.replace('%2f%2f', '//'),
      'https://evil.example/',
      '%2f%2fevil.example',
      '/ /evil.example',
    ]) {
      const location = (await signInWith(next)) ?? '';
      expect(location, JSON.stringify(next)).toMatch(/^\/(?![/\\])/);
      expect(new URL(location, 'http://airlock.test').host, JSON.stringify(next)).toBe(
        'airlock.test',
      );
    }
  });
});

describe('request body limits', () => {
  it('refuses a large sign-in body with 413 before reading it', async () => {
    const res = await t.app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=viewer&password=${'x'.repeat(20 * 1024)}`,
    });
    expect(res.status).toBe(413);
  });

  it('answers 413 in the API problem shape over the general limit, and takes a larger import', async () => {
    const big = JSON.stringify({ key: 'big', value: 'v'.repeat(2 * 1024 * 1024) });
    const res = await t.as('editor', '/api/v1/variables', { method: 'POST', body: big });
    expect(res.status).toBe(413);
    expect((await res.json()) as any).toMatchObject({
      code: 'AIRLOCK_ERR_HTTP_PAYLOAD_TOO_LARGE',
      status: 413,
      title: expect.any(String),
    });
    const { cookie, csrf } = await t.login('editor');
    const form = new FormData();
    form.set('_csrf', csrf);
    form.set(
      'file',
      new File([JSON.stringify({ imported_big: 'w'.repeat(2 * 1024 * 1024) })], 'v.json'),
    );
    const imported = await t.app.request('/variables/import', {
      method: 'POST',
      headers: { cookie },
      body: form,
    });
    expect(imported.status).toBe(303);
    expect(imported.headers.get('location')).toContain('ok=');
    expect((await t.metastore.getVariableRecord('imported_big'))?.value?.length).toBe(
      2 * 1024 * 1024,
    );
  });
});

describe('sign-in limit under concurrency', () => {
  const basic = (user: string, password: string) => ({
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  });

  it('checks at most the limit of 150 parallel wrong passwords', async () => {
    const app = await createTestApp({ store: { loginMaxFailures: 5, loginWindowSeconds: 600 } });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 150 }, async (_, i) => {
          const res = await app.app.request('/api/v1/variables', basic('editor', `wrong-${i}`));
          return res.status;
        }),
      );
      const checked = statuses.filter((s) => s === 401).length;
      expect(checked).toBeGreaterThan(0);
      expect(checked).toBeLessThanOrEqual(5);
      expect(statuses.filter((s) => s === 429).length).toBe(150 - checked);
      expect((await app.as('editor', '/api/v1/variables')).status).toBe(429);
    } finally {
      await app.close();
    }
  });

  it("does not lock another user out of an address with someone else's failures", async () => {
    const app = await createTestApp({ store: { loginMaxFailures: 10, loginWindowSeconds: 600 } });
    try {
      for (let i = 0; i < 10; i++) {
        expect((await app.app.request('/api/v1/variables', basic('editor', 'nope'))).status).toBe(
          401,
        );
      }
      expect((await app.app.request('/api/v1/variables', basic('editor', 'nope'))).status).toBe(
        429,
      );
      // The same address (every app.request comes from `unknown`), another user, right password.
      expect((await app.as('viewer', '/api/v1/variables')).status).toBe(200);
      expect((await app.as('admin', '/api/v1/variables')).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('locks an address after the address limit of failures across user names', async () => {
    const app = await createTestApp({
      store: { loginMaxFailures: 10, loginMaxAddressFailures: 20, loginWindowSeconds: 600 },
    });
    try {
      for (let i = 0; i < 20; i++) {
        expect(
          (await app.app.request('/api/v1/variables', basic(`spray${i}`, 'nope'))).status,
        ).toBe(401);
      }
      expect((await app.as('viewer', '/api/v1/variables')).status).toBe(429);
    } finally {
      await app.close();
    }
  });
});
