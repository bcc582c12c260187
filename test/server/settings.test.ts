// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
/** Deployment settings: names that control spawned programs, and checks against the effective configuration. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { ServerStore } from '../../src/server/store.ts';
import { createTestApp, type TestApp } from './_app.ts';

const VAULT = 'airflow.providers.hashicorp.secrets.vault.VaultBackend';
const CANARY = 'kwargs-canary-token-5e0c';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const put = (app: TestApp, name: string, value: string, secret = false) =>
  app.as('admin', `/api/v1/settings/${name}`, {
    method: 'PUT',
    body: JSON.stringify({ value, secret }),
  });

describe('settings that control spawned programs', () => {
  const refused = [
    ['NODE_OPTIONS', '--require /tmp/x.js'],
    ['NODE_PATH', '/tmp'],
    ['LD_PRELOAD', '/tmp/x.so'],
    ['LD_LIBRARY_PATH', '/tmp'],
    ['LD_AUDIT', '/tmp/x.so'],
    ['DYLD_INSERT_LIBRARIES', '/tmp/x.dylib'],
    ['PATH', '/tmp'],
    ['BASH_ENV', '/tmp/x.sh'],
    ['ENV', '/tmp/x.sh'],
    ['PYTHONPATH', '/tmp'],
    ['PYTHONSTARTUP', '/tmp/x.py'],
    ['PERL5OPT', '-Mx'],
    ['NODE_REPL_EXTERNAL_MODULE', '/tmp/x.js'],
    ['NODE_V8_COVERAGE', '/tmp'],
    ['npm_config_script_shell', '/tmp/x.sh'],
    ['GIT_SSH_COMMAND', 'sh /tmp/x.sh'],
    ['OPENSSL_CONF', '/tmp/x.cnf'],
    ['JAVA_TOOL_OPTIONS', '-javaagent:/tmp/x.jar'],
    ['AIRLOCK__CORE__DAGS_FOLDER', '/tmp'],
  ] as const;

  it('are refused with a coded error by the API and the settings page', async () => {
    for (const [name, value] of refused) {
      const res = await put(t, name, value);
      expect(res.status, name).toBe(400);
      const body = (await res.json()) as any;
      expect(body.code, name).toBe('AIRLOCK_ERR_HTTP_SETTING_REFUSED');
      expect(body.detail).not.toContain(value);
    }
    const { cookie, csrf } = await t.login('admin');
    const form = await t.app.request('/settings', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, name: 'LD_PRELOAD', value: '/tmp/x.so' }).toString(),
    });
    expect(form.status).toBe(303);
    expect(decodeURIComponent(form.headers.get('location') ?? '')).toContain('--allow-setting');
    expect((await t.store.listSettings()).map((s) => s.name)).toEqual([]);
  });

  it('are allowed by name with AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS, and only those', async () => {
    const allowed = await createTestApp({
      env: { AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS: 'PATH, TZDIR' },
    });
    try {
      expect((await put(allowed, 'PATH', '/opt/tools/bin:/usr/bin')).status).toBe(201);
      expect((await allowed.deps.runtime.environment()).PATH).toBe('/opt/tools/bin:/usr/bin');
      expect((await put(allowed, 'NODE_OPTIONS', '--require /tmp/x.js')).status).toBe(400);
      // Harmless neighbours of refused names are not refused.
      expect((await put(allowed, 'PYTHONUNBUFFERED', '1')).status).toBe(201);
    } finally {
      await allowed.close();
    }
  });

  it('stored before (or allowed elsewhere) are not applied to the environment runs get', async () => {
    const other = await createTestApp();
    try {
      await other.store.putSetting('NODE_OPTIONS', '--require /tmp/x.js', false, 'old');
      await other.store.putSetting('AIRFLOW_VAR_PLAIN', 'kept', false, 'old');
      const env = await other.deps.runtime.environment();
      expect(env.NODE_OPTIONS).toBeUndefined();
      expect(env.AIRFLOW_VAR_PLAIN).toBe('kept');
      // Deleting it is always possible.
      const del = await other.as('admin', '/api/v1/settings/NODE_OPTIONS', { method: 'DELETE' });
      expect(del.status).toBe(204);
    } finally {
      await other.close();
    }
  });
});

describe('a change is checked against the effective configuration', () => {
  it('refuses backend kwargs the backend refuses, bad JSON and unknown class paths, naming no value', async () => {
    // The Airflow docs' order: the backend first, its kwargs next. In between, `which` answers
    // a coded 503 naming what is missing, not an internal error.
    expect((await put(t, 'AIRFLOW__SECRETS__BACKEND', VAULT)).status).toBe(201);
    const between = await t.as('admin', '/api/v1/secrets/which?kind=variable&id=x');
    expect(between.status).toBe(503);
    expect(((await between.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_DEPLOYMENT_INVALID');
    const bad = [
      `{"url": "http://127.0.0.1:1", "token": "${CANARY}", `,
      JSON.stringify({ url: 'http://127.0.0.1:1', auth_type: 'approle', secret_id: CANARY }),
      JSON.stringify({ url: 'http://127.0.0.1:1', auth_type: 'kubernetes', token: CANARY }),
      JSON.stringify({ url: 'http://127.0.0.1:1', token: CANARY, no_such_kwarg: 1 }),
    ];
    for (const value of bad) {
      const res = await put(t, 'AIRFLOW__SECRETS__BACKEND_KWARGS', value, true);
      const text = await res.text();
      expect(res.status, text).toBe(400);
      expect(JSON.parse(text).code).toBe('AIRLOCK_ERR_HTTP_BAD_REQUEST');
      expect(text).toContain('AIRFLOW__SECRETS__BACKEND');
      expect(text).not.toContain(CANARY);
      // Nothing was stored: the settings are as before.
      expect((await t.store.listSettings()).map((s) => s.name)).not.toContain(
        'AIRFLOW__SECRETS__BACKEND_KWARGS',
      );
    }
    const unknown = await put(t, 'AIRFLOW__SECRETS__BACKEND', 'airflow.nope.NoSuchBackend');
    expect(unknown.status).toBe(400);
    const good = await put(
      t,
      'AIRFLOW__SECRETS__BACKEND_KWARGS',
      JSON.stringify({ url: 'http://127.0.0.1:1', token: CANARY }),
      true,
    );
    expect(good.status).toBe(201);
    expect((await t.as('admin', '/api/v1/secrets/which?kind=variable&id=x')).status).toBe(200);
    // The chain builds: the health check probes the (unreachable) Vault instead of failing.
    const health = await t.as('admin', '/api/v1/backends/health');
    expect(health.status).not.toBe(500);
    expect(await health.text()).not.toMatch(/DEPLOYMENT_INVALID|CONFIG_INVALID|ERR_INTERNAL/);
    // With the kwargs in place, a backend class that refuses them is refused too.
    const otherBackend = await put(
      t,
      'AIRFLOW__SECRETS__BACKEND',
      'airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend',
    );
    expect(otherBackend.status).toBe(400);
    expect(await otherBackend.text()).not.toContain(CANARY);
  });
});

describe('the key check guards settings writes', () => {
  it("refuses a setting encrypted with keys that are not the metastore's, and writes nothing", async () => {
    const own = await createTestApp();
    try {
      await own.metastore.setVariable('written', 'with the right key');
      const stranger = await Metastore.open({
        url: own.metastore.url,
        keys: parseFernetKeys(Fernet.generateKey()),
      });
      try {
        const err = await new ServerStore(stranger)
          .putSetting('AIRFLOW_VAR_X', 'value', true, 'admin')
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'AIRLOCK_ERR_CRYPTO_KEY_WRONG' });
        expect(String((err as Error).message)).not.toContain('value');
      } finally {
        await stranger.close();
      }
      expect(await own.store.listSettings()).toEqual([]);
      expect((await put(own, 'AIRFLOW_VAR_X', 'value')).status).toBe(201);
    } finally {
      await own.close();
    }
  });
});
