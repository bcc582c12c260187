// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
/** Users and API tokens: last-admin protection, revocation on a password change, admin token management. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { createTestApp, PASSWORD, type TestApp } from './_app.ts';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(() => t.close());

const json = (body: unknown) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

async function createToken(user: 'admin' | 'editor' | 'viewer', name: string): Promise<string> {
  const res = await t.as(user, '/api/v1/tokens', { method: 'POST', ...json({ name }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as any).token as string;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('the last admin', () => {
  it('cannot be demoted or deleted through the API', async () => {
    const demote = await t.as('admin', '/api/v1/users/admin', {
      method: 'PATCH',
      ...json({ role: 'editor' }),
    });
    expect(demote.status).toBe(409);
    expect(((await demote.json()) as any).code).toBe('AIRLOCK_ERR_HTTP_LAST_ADMIN');
    expect((await t.store.getUser('admin'))?.role).toBe('admin');
    // With a second admin, one may go; then the remaining one is protected again.
    await t.store.createUser('root2', PASSWORD, 'admin');
    const basic2 = `Basic ${Buffer.from(`root2:${PASSWORD}`).toString('base64')}`;
    expect(
      (
        await t.app.request('/api/v1/users/admin', {
          method: 'DELETE',
          headers: { authorization: basic2 },
        })
      ).status,
    ).toBe(204);
    const last = await t.app.request('/api/v1/users/root2', {
      method: 'PATCH',
      headers: { authorization: basic2, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'viewer' }),
    });
    expect(last.status).toBe(409);
    await expect(t.store.deleteUser('root2')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_HTTP_LAST_ADMIN',
    });
    expect((await t.store.getUser('root2'))?.role).toBe('admin');
  });

  it('cannot be demoted through the users page', async () => {
    const { cookie, csrf } = await t.login('admin');
    const res = await t.app.request('/users/role/admin', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, role: 'viewer' }).toString(),
    });
    expect(res.status).toBe(303);
    expect(decodeURIComponent(res.headers.get('location') ?? '')).toContain('last admin');
    expect((await t.store.getUser('admin'))?.role).toBe('admin');
  });

  it('cannot be deleted or demoted with `airlock users`', async () => {
    const home = tempDir('airlock-users-');
    const env = { AIRLOCK_HOME: home };
    expect((await runAirlock(['db', 'migrate'], { env })).code).toBe(0);
    const created = await runAirlock(
      ['users', 'create', 'root', '--role', 'admin', '--password-stdin'],
      { env, input: `${PASSWORD}\n` },
    );
    expect(created.code, created.stderr).toBe(0);
    const deleted = await runAirlock(['users', 'delete', 'root'], { env });
    expect(deleted.code).not.toBe(0);
    expect(deleted.stderr).toContain('AIRLOCK_ERR_HTTP_LAST_ADMIN');
    expect(deleted.stderr).not.toMatch(/\n\s+at /);
    const demoted = await runAirlock(
      ['users', 'create', 'root', '--role', 'viewer', '--force', '--password-stdin'],
      { env, input: `${PASSWORD}\n` },
    );
    expect(demoted.code).not.toBe(0);
    expect(demoted.stderr).toContain('AIRLOCK_ERR_HTTP_LAST_ADMIN');
    const list = await runAirlock(['users', 'list', '-o', 'json'], { env });
    expect(list.stdout).toContain('admin');
  });
});

describe('a password change', () => {
  it("revokes the user's API tokens and ends their other sessions, keeping the current one", async () => {
    const token = await createToken('admin', 'ci');
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(200);
    const other = await t.login('admin');
    const current = await t.login('admin');
    const res = await t.app.request('/api/v1/users/admin', {
      method: 'PATCH',
      headers: {
        cookie: current.cookie,
        'x-csrf-token': current.csrf,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ password: 'a-new-password-2' }),
    });
    expect(res.status).toBe(200);
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(401);
    expect(
      (await t.app.request('/api/v1/variables', { headers: { cookie: other.cookie } })).status,
    ).toBe(401);
    expect(
      (await t.app.request('/api/v1/variables', { headers: { cookie: current.cookie } })).status,
    ).toBe(200);
  });

  it("by an admin for another user revokes all of that user's tokens and sessions", async () => {
    const token = await createToken('editor', 'script');
    const session = await t.login('editor');
    const res = await t.as('admin', '/api/v1/users/editor', {
      method: 'PATCH',
      ...json({ password: 'a-new-password-3' }),
    });
    expect(res.status).toBe(200);
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(401);
    expect(
      (await t.app.request('/api/v1/variables', { headers: { cookie: session.cookie } })).status,
    ).toBe(401);
  });
});

describe('changing your own password', () => {
  it('through the page: revokes your tokens, ends your other sessions, keeps this one', async () => {
    const token = await createToken('viewer', 'mine');
    const other = await t.login('viewer');
    const current = await t.login('viewer');
    const change = (fields: Record<string, string>) =>
      t.app.request('/tokens/password', {
        method: 'POST',
        headers: { cookie: current.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: current.csrf, ...fields }).toString(),
      });
    const wrong = await change({
      current_password: 'not-my-password',
      password: 'viewer-new-pw-1',
      confirm: 'viewer-new-pw-1',
    });
    expect(decodeURIComponent(wrong.headers.get('location') ?? '')).toContain('wrong');
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(200);
    const ok = await change({
      current_password: PASSWORD,
      password: 'viewer-new-pw-1',
      confirm: 'viewer-new-pw-1',
    });
    expect(ok.headers.get('location')).toContain('ok=');
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(401);
    const headers = (cookie: string) => ({ headers: { cookie } });
    expect((await t.app.request('/api/v1/variables', headers(other.cookie))).status).toBe(401);
    expect((await t.app.request('/api/v1/variables', headers(current.cookie))).status).toBe(200);
    expect((await t.login('viewer', 'viewer-new-pw-1')).cookie).toMatch(/^airlock_session=/);
  });

  it('through the API, with the current password', async () => {
    const token = await createToken('editor', 'ci');
    const res = await t.as('editor', '/api/v1/me/password', {
      method: 'PUT',
      ...json({ current_password: PASSWORD, password: 'editor-new-pw-1' }),
    });
    expect(res.status).toBe(204);
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(401);
    const basic = `Basic ${Buffer.from('editor:editor-new-pw-1').toString('base64')}`;
    expect(
      (await t.app.request('/api/v1/variables', { headers: { authorization: basic } })).status,
    ).toBe(200);
  });
});

describe('admin token management', () => {
  it("lists and revokes any user's tokens through the API; others may not", async () => {
    const token = await createToken('editor', 'deploy');
    const listed = await t.as('admin', '/api/v1/users/editor/tokens');
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as any;
    expect(body.tokens).toHaveLength(1);
    expect(body.tokens[0]).toMatchObject({ name: 'deploy', username: 'editor' });
    expect(JSON.stringify(body)).not.toContain(token);
    expect((await t.as('viewer', '/api/v1/users/editor/tokens')).status).toBe(403);
    expect(
      (
        await t.as('viewer', `/api/v1/users/editor/tokens/${body.tokens[0].id}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(403);
    const revoked = await t.as('admin', `/api/v1/users/editor/tokens/${body.tokens[0].id}`, {
      method: 'DELETE',
    });
    expect(revoked.status).toBe(204);
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(401);
    expect((await t.as('admin', '/api/v1/users/nobody/tokens')).status).toBe(404);
  });

  it("shows an admin every user's tokens on the tokens page, with a working Revoke", async () => {
    const token = await createToken('viewer', 'viewer-script');
    const { cookie, csrf } = await t.login('admin');
    const html = await (await t.app.request('/tokens', { headers: { cookie } })).text();
    expect(html).toContain('viewer-script');
    expect(html).not.toContain(token);
    const id = /data-token="([0-9a-f]{16})"/.exec(html)?.[1] ?? '';
    const res = await t.app.request(`/tokens/delete/${id}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
    });
    expect(res.headers.get('location')).toContain('ok=');
    expect((await t.app.request('/api/v1/variables', bearer(token))).status).toBe(401);
    // A non-admin's tokens page shows only their own.
    await createToken('admin', 'admin-only');
    const editor = await t.login('editor');
    const page = await (
      await t.app.request('/tokens', { headers: { cookie: editor.cookie } })
    ).text();
    expect(page).not.toContain('admin-only');
  });
});
