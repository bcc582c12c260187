// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/model/connection.ts';
import { createTestApp, type TestApp } from './_app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { AIRFLOW_VAR_FROM_ENV: 'env-value' } });
});
afterAll(() => t.close());

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body) });

describe('variables API', () => {
  it('creates, gets, lists, patches and deletes a variable', async () => {
    let res = await t.as(
      'editor',
      '/api/v1/variables',
      json({ key: 'bucket', value: 's3://a', description: 'landing' }),
    );
    expect(res.status).toBe(200);
    expect((await res.json()) as any).toEqual({
      key: 'bucket',
      value: 's3://a',
      description: 'landing',
    });
    res = await t.as('editor', '/api/v1/variables', json({ key: 'bucket', value: 'x' }));
    expect(res.status).toBe(409);
    expect(((await res.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_CONFLICT');
    res = await t.as('editor', '/api/v1/variables/bucket?update_mask=value', {
      method: 'PATCH',
      body: JSON.stringify({ key: 'bucket', value: 's3://b', description: 'ignored' }),
    });
    expect((await res.json()) as any).toEqual({
      key: 'bucket',
      value: 's3://b',
      description: 'landing',
    });
    res = await t.as('viewer', '/api/v1/variables/bucket');
    expect((await res.json()) as any).toEqual({
      key: 'bucket',
      value: '***',
      description: 'landing',
    });
    res = await t.as('editor', '/api/v1/variables/bucket', { method: 'DELETE' });
    expect(res.status).toBe(204);
    res = await t.as('editor', '/api/v1/variables/bucket');
    expect(res.status).toBe(404);
    expect((await res.json()) as any).toMatchObject({
      code: 'AIRLOCK_ERR_HTTP_NOT_FOUND',
      status: 404,
    });
  });

  it('paginates and orders with limit, offset and order_by', async () => {
    for (const key of ['p_c', 'p_a', 'p_b']) {
      await t.as('editor', '/api/v1/variables', json({ key, value: key }));
    }
    const res = await t.as('editor', '/api/v1/variables?search=p_&order_by=-key&limit=2&offset=0');
    const body = (await res.json()) as any;
    expect(body.total_entries).toBe(3);
    expect(body.variables.map((v: { key: string }) => v.key)).toEqual(['p_c', 'p_b']);
    const next = (await (
      await t.as('editor', '/api/v1/variables?search=p_&order_by=-key&limit=2&offset=2')
    ).json()) as any;
    expect(next.variables.map((v: { key: string }) => v.key)).toEqual(['p_a']);
    const bad = await t.as('editor', '/api/v1/variables?order_by=value');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_BAD_REQUEST');
  });

  it('redacts sensitive names in lists even for editors', async () => {
    await t.as('editor', '/api/v1/variables', json({ key: 'api_password', value: 'pw-in-list' }));
    const list = (await (
      await t.as('editor', '/api/v1/variables?search=api_password')
    ).json()) as any;
    expect(list.variables[0].value).toBe('***');
    const one = (await (await t.as('editor', '/api/v1/variables/api_password')).json()) as any;
    expect(one.value).toBe('pw-in-list');
  });

  it('refuses writes from a viewer with 403', async () => {
    const res = await t.as('viewer', '/api/v1/variables', json({ key: 'v', value: 'x' }));
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_FORBIDDEN');
  });
});

describe('connections API', () => {
  it('creates, gets, patches, lists and deletes a connection', async () => {
    let res = await t.as(
      'editor',
      '/api/v1/connections',
      json({
        connection_id: 'wh',
        conn_type: 'postgres',
        host: 'db',
        port: 5432,
        login: 'u',
        password: 'pw-wh',
        extra: '{"sslmode": "require"}',
      }),
    );
    expect(res.status).toBe(200);
    const created = (await res.json()) as any;
    expect(created).toMatchObject({ connection_id: 'wh', conn_type: 'postgres' });
    // Airflow 2's password is write-only: never returned, not even as null.
    expect(created).not.toHaveProperty('password');
    res = await t.as('editor', '/api/v1/connections/wh?update_mask=host', {
      method: 'PATCH',
      body: JSON.stringify({ host: 'db2', login: 'ignored' }),
    });
    expect((await res.json()) as any).toMatchObject({ host: 'db2', login: 'u' });
    const stored = await t.metastore.getConnection('wh');
    expect(stored?.password).toBe('pw-wh');
    expect(stored?.extra).toBe('{"sslmode": "require"}');
    const list = (await (
      await t.as('editor', '/api/v1/connections?order_by=connection_id')
    ).json()) as any;
    expect(list.connections[0]).not.toHaveProperty('password');
    expect(list.connections[0]).not.toHaveProperty('extra');
    const viewer = (await (await t.as('viewer', '/api/v1/connections/wh')).json()) as any;
    expect(viewer).not.toHaveProperty('password');
    expect(viewer.extra).toBe('***');
    res = await t.as('editor', '/api/v1/connections/wh', { method: 'DELETE' });
    expect(res.status).toBe(204);
  });

  it('rejects an invalid port with the connection error code', async () => {
    const res = await t.as(
      'editor',
      '/api/v1/connections',
      json({ connection_id: 'bad', conn_type: 'http', port: 'x' }),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).code).toBe('AIRLOCK_ERR_CONN_PORT_INVALID');
  });

  it('tests a connection by TCP reachability', async () => {
    const { createServer } = await import('node:net');
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const ok = (await (
        await t.as(
          'editor',
          '/api/v1/connections/test',
          json({ connection_id: 't', conn_type: 'postgres', host: '127.0.0.1', port }),
        )
      ).json()) as any;
      expect(ok.status).toBe(true);
      server.close();
      const closed = (await (
        await t.as(
          'editor',
          '/api/v1/connections/test',
          json({ connection_id: 't', conn_type: 'postgres', host: '127.0.0.1', port }),
        )
      ).json()) as any;
      expect(closed.status).toBe(false);
    } finally {
      server.close();
    }
    const denied = await t.as('viewer', '/api/v1/connections/test', json({ conn_type: 'http' }));
    expect(denied.status).toBe(403);
  });
});

describe('provenance and health', () => {
  it('reports the serving link without the value', async () => {
    await t.metastore.addConnection('from_store', Connection.fromUri('http://u:pw-prov@h'));
    const env = (await (
      await t.as('viewer', '/api/v1/secrets/which?kind=variable&id=from_env')
    ).json()) as any;
    expect(env.source).toBe('env');
    const res = await t.as('viewer', '/api/v1/secrets/which?kind=connection&id=from_store');
    const text = await res.text();
    expect(JSON.parse(text).source).toBe('metastore');
    expect(text).not.toContain('pw-prov');
  });

  it('serves /health without sign-in', async () => {
    const res = await t.app.request('/health');
    expect(res.status).toBe(200);
    expect((await res.json()) as any).toMatchObject({ status: 'healthy' });
  });
});

describe('deployment settings', () => {
  it('keeps a secret setting write-only and applies settings without a restart', async () => {
    let res = await t.as('admin', '/api/v1/settings/AIRFLOW_VAR_FROM_SETTING', {
      method: 'PUT',
      body: JSON.stringify({ value: 'setting-secret-xyz', secret: true }),
    });
    expect(res.status).toBe(201);
    const text = await (await t.as('admin', '/api/v1/settings')).text();
    expect(text).not.toContain('setting-secret-xyz');
    expect(JSON.parse(text).settings[0]).toMatchObject({
      name: 'AIRFLOW_VAR_FROM_SETTING',
      secret: true,
      is_set: true,
      value: null,
    });
    const which = (await (
      await t.as('viewer', '/api/v1/secrets/which?kind=variable&id=from_setting')
    ).json()) as any;
    expect(which.source).toBe('env');
    res = await t.as('admin', '/api/v1/settings/AIRFLOW_VAR_FROM_SETTING', { method: 'DELETE' });
    expect(res.status).toBe(204);
    const after = (await (
      await t.as('viewer', '/api/v1/secrets/which?kind=variable&id=from_setting')
    ).json()) as any;
    expect(after.source).toBeNull();
  });

  it('refuses a setting that makes the configuration invalid, without quoting it', async () => {
    const res = await t.as('admin', '/api/v1/settings/AIRFLOW__SECRETS__BACKEND_KWARGS', {
      method: 'PUT',
      body: JSON.stringify({ value: '{not json canary-kw', secret: true }),
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({
      code: 'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      detail: expect.stringContaining('BACKEND_KWARGS'),
    });
    expect(text).not.toContain('canary-kw');
  });

  it('is for admins only', async () => {
    expect((await t.as('editor', '/api/v1/settings')).status).toBe(403);
    expect((await t.as('editor', '/api/v1/users')).status).toBe(403);
  });
});

describe('users and tokens API', () => {
  it('creates a user, changes the role and deletes them', async () => {
    let res = await t.as(
      'admin',
      '/api/v1/users',
      json({ username: 'ada', password: 'long-enough', role: 'viewer' }),
    );
    expect(res.status).toBe(201);
    res = await t.as('admin', '/api/v1/users/ada', {
      method: 'PATCH',
      body: JSON.stringify({ role: 'editor' }),
    });
    expect(((await res.json()) as any).role).toBe('editor');
    res = await t.as('admin', '/api/v1/users/ada', { method: 'DELETE' });
    expect(res.status).toBe(204);
  });

  it('authenticates a script with a bearer token, and not after it is revoked', async () => {
    const created = (await (
      await t.as('editor', '/api/v1/tokens', json({ name: 'ci' }))
    ).json()) as any;
    const headers = { authorization: `Bearer ${created.token}` };
    expect((await t.app.request('/api/v1/variables', { headers })).status).toBe(200);
    const list = await (await t.as('editor', '/api/v1/tokens')).text();
    expect(list).not.toContain(created.token);
    await t.as('editor', `/api/v1/tokens/${created.id}`, { method: 'DELETE' });
    expect((await t.app.request('/api/v1/variables', { headers })).status).toBe(401);
  });
});
