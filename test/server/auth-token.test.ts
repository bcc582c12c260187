import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { issueAccessToken, verifyAccessToken } from '../../src/server/auth/jwt.ts';
import { ServerStore } from '../../src/server/store.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, PASSWORD, type TestApp } from './_app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME: '3600' } });
  await t.metastore.setVariable('plain_var', 'v1');
});
afterAll(() => t.close());

const token = async (username: string, password = PASSWORD) =>
  t.app.request('/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });

const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));

describe('POST /auth/token', () => {
  it('answers 201 with an HS256 JWT accepted on /api/v1 and /api/v2', async () => {
    const res = await token('editor');
    expect(res.status).toBe(201);
    const body = (await res.json()) as { access_token: string };
    expect(Object.keys(body)).toEqual(['access_token']);
    const header = JSON.parse(
      Buffer.from(body.access_token.split('.')[0] ?? '', 'base64url').toString(),
    );
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = claimsOf(body.access_token);
    expect(claims).toMatchObject({ sub: 'editor', role: 'Op', aud: 'apache-airflow' });
    expect(claims.exp - claims.iat).toBe(3600);
    const auth = { authorization: `Bearer ${body.access_token}` };
    const v1 = await t.app.request('/api/v1/variables/plain_var', { headers: auth });
    expect(v1.status).toBe(200);
    expect(((await v1.json()) as { value: string }).value).toBe('v1');
    const v2 = await t.app.request('/api/v2/variables/plain_var', { headers: auth });
    expect(v2.status).toBe(200);
  });

  it('refuses a wrong password with 401 {"detail"} and a tampered or foreign token', async () => {
    const bad = await token('editor', 'wrong-password');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ detail: 'Invalid credentials' });
    const { access_token } = (await (await token('viewer')).json()) as { access_token: string };
    const [h, , s] = access_token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...claimsOf(access_token), sub: 'admin' }),
    ).toString('base64url');
    for (const jwt of [`${h}.${forged}.${s}`, `${h}.${access_token.split('.')[1]}.`]) {
      const res = await t.app.request('/api/v1/users', {
        headers: { authorization: `Bearer ${jwt}` },
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${access_token.split('.')[1]}.x`;
    const res = await t.app.request('/api/v1/variables', {
      headers: { authorization: `Bearer ${none}` },
    });
    expect(res.status).toBe(401);
  });

  it('applies the current role, and a new password ends the tokens issued before it', async () => {
    await t.store.createUser('temp', PASSWORD, 'editor');
    const { access_token } = (await (await token('temp')).json()) as { access_token: string };
    const auth = { authorization: `Bearer ${access_token}` };
    expect((await t.app.request('/api/v1/variables/plain_var', { headers: auth })).status).toBe(
      200,
    );
    await t.store.setRole('temp', 'viewer');
    const asViewer = await t.app.request('/api/v1/variables/plain_var', { headers: auth });
    expect(((await asViewer.json()) as { value: string }).value).toBe('***');
    await t.store.setPassword('temp', 'another-password-1');
    expect((await t.app.request('/api/v1/variables', { headers: auth })).status).toBe(401);
  });

  it('takes Airflow role names and refuses Public', async () => {
    const create = (role: string, username: string) =>
      t.as('admin', '/api/v1/users', {
        method: 'POST',
        body: JSON.stringify({ username, password: PASSWORD, role }),
      });
    expect((await create('Op', 'op_user')).status).toBe(201);
    expect((await t.store.getUser('op_user'))?.role).toBe('editor');
    expect((await create('User', 'user_user')).status).toBe(201);
    expect((await t.store.getUser('user_user'))?.role).toBe('viewer');
    const pub = await create('Public', 'pub_user');
    expect(pub.status).toBe(400);
    expect(((await pub.json()) as { detail: string }).detail).toContain('Public');
  });
});

describe('challenges', () => {
  it('answers API 401s with WWW-Authenticate: Basic realm="airlock" and problem+json', async () => {
    const none = await t.app.request('/api/v1/variables');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="airlock"');
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    const wrong = await t.app.request('/api/v1/variables', {
      headers: { authorization: `Basic ${Buffer.from('viewer:nope-nope').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="airlock"');
    const v2 = await t.app.request('/api/v2/variables');
    expect(v2.status).toBe(401);
    expect(await v2.json()).toEqual({ detail: expect.any(String) });
  });
});

describe('the signing key', () => {
  it('is derived from the Fernet key: an older key of the list still verifies, a removed one not', async () => {
    const [a, b] = [Fernet.generateKey(), Fernet.generateKey()];
    const metastore = await Metastore.open({
      url: `sqlite:///${join(tempDir('airlock-jwt-'), 'airlock.db')}`,
      keys: parseFernetKeys(a),
    });
    try {
      const store = new ServerStore(metastore);
      await store.createUser('ada', PASSWORD, 'editor');
      const token = await issueAccessToken(metastore, store, 'ada', 60);
      expect((await verifyAccessToken(metastore, store, token)).username).toBe('ada');
      metastore.useKeys(parseFernetKeys(`${b},${a}`));
      expect((await verifyAccessToken(metastore, store, token)).username).toBe('ada');
      const fresh = await issueAccessToken(metastore, store, 'ada', 60);
      metastore.useKeys(parseFernetKeys(b));
      await expect(verifyAccessToken(metastore, store, token)).rejects.toMatchObject({
        code: 'AIRLOCK_ERR_HTTP_UNAUTHENTICATED',
      });
      expect((await verifyAccessToken(metastore, store, fresh)).username).toBe('ada');
      const expired = await issueAccessToken(metastore, store, 'ada', 60, Date.now() - 3_600_000);
      await expect(verifyAccessToken(metastore, store, expired)).rejects.toMatchObject({
        code: 'AIRLOCK_ERR_HTTP_UNAUTHENTICATED',
      });
    } finally {
      await metastore.close();
    }
  });
});
