// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are checked field by field.
/**
 * Two `airlock server` processes on one PostgreSQL schema: sessions and settings live in the
 * database, so a session made on one works on the other, and a setting changed on one applies
 * on the other at once. A credential revoked on one stops working there at once, and on the other
 * once the credential cache time has passed (`AIRLOCK__API__AUTH_CACHE_SECONDS`, 2 s here).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../src/metastore/fernet.ts';
import { BIN, cleanEnv, NODE, ROOT } from '../helpers/cli.ts';
import { postgresDatabases } from '../metastore/_databases.ts';

const PASSWORD = 'multi-admin-pw1';
/** The credential cache time of both servers. */
const CACHE_SECONDS = 2;
/** Past the cache time, with room for a loaded machine. */
const AFTER_CACHE_MS = CACHE_SECONDS * 1000 + 500;
const databases = postgresDatabases();
const servers: ChildProcess[] = [];
const urls: string[] = [];
let home = '';

function start(env: Record<string, string>): Promise<string> {
  const child = spawn(NODE, [BIN, 'server', '--port', '0'], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 40_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

beforeAll(async () => {
  const db = await databases.create();
  home = mkdtempSync(join(tmpdir(), 'airlock-multi-'));
  const env = {
    AIRLOCK_HOME: home,
    AIRLOCK__DATABASE__URL: db.url,
    AIRLOCK__CORE__FERNET_KEY: Fernet.generateKey(),
    AIRLOCK_ADMIN_PASSWORD: PASSWORD,
    AIRLOCK__API__AUTH_CACHE_SECONDS: String(CACHE_SECONDS),
  };
  // Started together: the migration lock and the admin bootstrap must cope.
  urls.push(...(await Promise.all([start(env), start(env)])));
}, 60_000);

afterAll(async () => {
  await Promise.all(
    servers.map((s) => {
      if (s.exitCode !== null) return undefined;
      const exited = new Promise((r) => s.once('exit', r));
      s.kill('SIGTERM');
      return exited;
    }),
  );
  await databases.dispose();
  rmSync(home, { recursive: true, force: true });
});

const basic = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };

/** Signs in on the form of `url`; the session cookie's value. */
async function signIn(url: string, username: string, password: string): Promise<string> {
  const page = await fetch(`${url}/login`);
  const csrf = /airlock_login_csrf=([^;]+)/.exec(page.headers.get('set-cookie') ?? '')?.[1] ?? '';
  const res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      cookie: `airlock_login_csrf=${csrf}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ _csrf: csrf, username, password }).toString(),
  });
  const session = /airlock_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  expect(session).toBeDefined();
  return session ?? '';
}

describe('two server processes on one PostgreSQL metastore', () => {
  it('accepts on one process a session made on the other', async () => {
    const [a, b] = urls as [string, string];
    const session = await signIn(a, 'admin', PASSWORD);
    const onB = await fetch(`${b}/api/v1/variables`, {
      headers: { cookie: `airlock_session=${session}` },
    });
    expect(onB.status).toBe(200);
  });

  it('applies on one process a setting changed on the other', async () => {
    const [a, b] = urls as [string, string];
    const which = async () =>
      (
        (await (
          await fetch(`${b}/api/v1/secrets/which?id=shared_flag`, { headers: basic })
        ).json()) as any
      ).source;
    expect(await which()).toBeNull();
    const put = await fetch(`${a}/api/v1/settings/AIRFLOW_VAR_SHARED_FLAG`, {
      method: 'PUT',
      headers: { ...basic, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'on', secret: true }),
    });
    expect(put.status).toBe(201);
    expect(await which()).toBe('env');
  });

  it('checks at most the sign-in limit of 150 parallel wrong passwords sent to both', async () => {
    const wrong = (i: number) => ({
      authorization: `Basic ${Buffer.from(`ghost:wrong-${i}`).toString('base64')}`,
    });
    const statuses = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        fetch(`${urls[i % 2]}/api/v1/variables`, { headers: wrong(i) }).then((r) => r.status),
      ),
    );
    const checked = statuses.filter((s) => s === 401).length;
    expect(checked).toBeGreaterThan(0);
    expect(checked).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBe(150 - checked);
    // Another user from the same address is not locked out.
    expect((await fetch(`${urls[1]}/api/v1/variables`, { headers: basic })).status).toBe(200);
  });

  it('stops a revoked API token at once where it was revoked, and on the other process within the cache time', async () => {
    const [a, b] = urls as [string, string];
    const made = await fetch(`${a}/api/v1/tokens`, {
      method: 'POST',
      headers: { ...basic, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'revoke-me' }),
    });
    expect(made.status).toBe(201);
    const { id, token } = (await made.json()) as { id: string; token: string };
    const bearer = { authorization: `Bearer ${token}` };
    const status = async (url: string) =>
      (await fetch(`${url}/api/v1/variables`, { headers: bearer })).status;
    // Both processes check it, and so remember it.
    expect(await status(a)).toBe(200);
    expect(await status(b)).toBe(200);
    const revoked = await fetch(`${a}/api/v1/tokens/${id}`, { method: 'DELETE', headers: basic });
    expect(revoked.status).toBe(204);
    expect(await status(a)).toBe(401);
    await new Promise((r) => setTimeout(r, AFTER_CACHE_MS));
    expect(await status(b)).toBe(401);
    expect(await status(a)).toBe(401);
  });

  it('ends a session at once on sign-out, and keeps basic auth under the sign-in limit although the password was remembered', async () => {
    const [a, b] = urls as [string, string];
    const created = await fetch(`${a}/api/v1/users`, {
      method: 'POST',
      headers: { ...basic, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'carol-password-1', role: 'editor' }),
    });
    expect(created.status).toBe(201);
    // A session, remembered by the process that checks it, ends there at once on sign-out.
    const session = await signIn(a, 'carol', 'carol-password-1');
    const cookie = { cookie: `airlock_session=${session}` };
    expect((await fetch(`${a}/api/v1/variables`, { headers: cookie })).status).toBe(200);
    const home = await (await fetch(`${a}/`, { headers: cookie })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(home)?.[1] ?? '';
    const out = await fetch(`${a}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...cookie, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(303);
    expect((await fetch(`${a}/api/v1/variables`, { headers: cookie })).status).toBe(401);
    const carol = (password: string) => ({
      authorization: `Basic ${Buffer.from(`carol:${password}`).toString('base64')}`,
    });
    const status = async (url: string, password: string) =>
      (await fetch(`${url}/api/v1/variables`, { headers: carol(password) })).status;
    // The right password, remembered by both processes.
    expect(await status(a, 'carol-password-1')).toBe(200);
    expect(await status(b, 'carol-password-1')).toBe(200);
    // Ten wrong passwords use up carol's attempts; from then on even the right one is refused,
    // at once on the process that counted them.
    for (let i = 0; i < 10; i++) expect(await status(a, `wrong-${i}`)).toBe(401);
    expect(await status(a, 'wrong-10')).toBe(429);
    expect(await status(a, 'carol-password-1')).toBe(429);
    await new Promise((r) => setTimeout(r, AFTER_CACHE_MS));
    expect(await status(b, 'carol-password-1')).toBe(429);
  });
});
