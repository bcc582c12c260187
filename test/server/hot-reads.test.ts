/**
 * The hot reads (`src/server/hot-reads.ts`) answer exactly as the app does: two real servers over
 * one metastore and one credential store, one with the hot reads and one without, asked the same
 * raw HTTP requests; status, every header (but `Date`) in order, and body must be the same bytes,
 * and the hot server's counter shows which requests it answered itself.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { serve } from '@hono/node-server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { Connection } from '../../src/model/connection.ts';
import { type CreatedApp, createServerApp } from '../../src/server/app.ts';
import { ServerStore } from '../../src/server/store.ts';
import { tempDir } from '../helpers/tmp.ts';

const PASSWORD = 'pw-for-hot-reads-1';

interface Served {
  created: CreatedApp;
  url: string;
  close(): Promise<void>;
}

async function listen(created: CreatedApp): Promise<Served> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: created.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    created,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

interface RawAnswer {
  status: number;
  headers: string[];
  body: string;
}

/** A GET of `path` (sent as is, not normalised) with `headers`; the raw answer but `Date`. */
function get(base: string, path: string, headers: Record<string, string>): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        const raw: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]?.toLowerCase() === 'date') continue;
          raw.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        }
        resolve({ status: res.statusCode ?? 0, headers: raw, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

let metastore: Metastore;
let store: ServerStore;
let hot: Served;
let plain: Served;
const auth: Record<string, Record<string, string>> = {};

beforeAll(async () => {
  const dir = tempDir('airlock-hot-reads-');
  const url = `sqlite:///${join(dir, 'airlock.db')}`;
  metastore = await Metastore.open({ url, keys: parseFernetKeys(Fernet.generateKey()) });
  store = new ServerStore(metastore);
  await store.createUser('editor', PASSWORD, 'editor');
  await store.createUser('viewer', PASSWORD, 'viewer');
  const make = (hotReads: boolean) =>
    createServerApp({
      metastore,
      store,
      env: { AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME: '600' },
      masker: new SecretsMasker(),
      hotReads,
    });
  hot = await listen(make(true));
  plain = await listen(make(false));
  for (const user of ['editor', 'viewer']) {
    auth[`${user}-token`] = {
      authorization: `Bearer ${(await store.createToken(user, 'hot')).token}`,
    };
    auth[`${user}-basic`] = {
      authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}`,
    };
    auth[`${user}-session`] = {
      cookie: `other=1; airlock_session=${(await store.createSession(user)).id}`,
    };
  }
  const jwt = await fetch(`${plain.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'editor', password: PASSWORD }),
  });
  auth['editor-jwt'] = {
    authorization: `Bearer ${((await jwt.json()) as { access_token: string }).access_token}`,
  };
  await metastore.setVariable('plain_key', 's3://bucket/hot', { description: 'landing' });
  await metastore.setVariable('my_password', 'cnry-hot-password-value');
  await metastore.setVariable("odd.key~!$&'()*+,;=:@-", 'odd');
  await metastore.setVariable('...', 'dots');
  await metastore.setVariable('ünï cöde', 'unicode');
  await metastore.setVariable('a%b', 'percent');
  await metastore.addConnection(
    'warehouse',
    Connection.fromUri('postgres://loader:cnry-hot-conn-pw@db.internal:5432/dw?sslmode=require'),
  );
  // A row encrypted with another key: the app answers its coded error, the hot path must not.
  await metastore.setVariable('foreign_key_row', 'readable for now');
  const db = new DatabaseSync(join(dir, 'airlock.db'));
  db.prepare('UPDATE variable SET val = ? WHERE key = ?').run(
    new Fernet(Fernet.generateKey()).encrypt('unreadable here'),
    'foreign_key_row',
  );
  db.close();
}, 60_000);

afterAll(async () => {
  await hot?.close();
  await plain?.close();
  await hot?.created.dispose();
  await plain?.created.dispose();
  await metastore?.close();
});

/** Asks both servers; returns both answers and how many the hot server answered itself. */
async function both(path: string, headers: Record<string, string>) {
  const before = hot.created.hotReads?.served ?? 0;
  const fromHot = await get(hot.url, path, headers);
  const served = (hot.created.hotReads?.served ?? 0) - before;
  const fromPlain = await get(plain.url, path, headers);
  return { fromHot, fromPlain, served };
}

/** Asks twice (the first request of a credential checks it; the second may be hot). */
async function settled(path: string, headers: Record<string, string>) {
  await both(path, headers);
  return both(path, headers);
}

const PATHS = [
  '/api/v1/variables/plain_key',
  '/api/v1/variables/my_password',
  `/api/v1/variables/odd.key~!$&'()*+,;=:@-`,
  '/api/v1/variables/...',
  `/api/v1/variables/${encodeURIComponent('ünï cöde')}`,
  '/api/v1/variables/a%25b',
  '/api/v1/variables/missing_key',
  '/api/v1/variables/foreign_key_row',
  '/api/v1/variables/plain_key?x=1',
  '/api/v1/variables/plain_key/',
  '/api/v1/variables/',
  '/api/v1/connections/warehouse',
  '/api/v1/connections/missing_conn',
] as const;

/** The paths the hot path answers itself once the credential is known. */
const HOT_PATHS = new Set<string>([
  '/api/v1/variables/plain_key',
  '/api/v1/variables/my_password',
  `/api/v1/variables/odd.key~!$&'()*+,;=:@-`,
  '/api/v1/connections/warehouse',
]);

describe('hot reads', () => {
  for (const credential of [
    'editor-token',
    'viewer-token',
    'editor-basic',
    'viewer-basic',
    'editor-session',
    'viewer-session',
  ]) {
    it(`answer as the app does, with ${credential}`, async () => {
      for (const path of PATHS) {
        const { fromHot, fromPlain, served } = await settled(
          path,
          auth[credential] as Record<string, string>,
        );
        expect({ path, ...fromHot }).toEqual({ path, ...fromPlain });
        expect({ path, served }).toEqual({ path, served: HOT_PATHS.has(path) ? 1 : 0 });
      }
    });
  }

  it('leave a JWT, an unknown credential and no credential to the app', async () => {
    for (const headers of [
      auth['editor-jwt'] as Record<string, string>,
      { authorization: 'Bearer not-a-token' },
      { authorization: 'Basic ZWRpdG9yOndyb25n' },
      { cookie: 'airlock_session=nope' },
      { cookie: 'airlock_session="quoted"' },
      {},
    ]) {
      const { fromHot, fromPlain, served } = await settled('/api/v1/variables/plain_key', headers);
      expect(fromHot).toEqual(fromPlain);
      expect(served).toBe(0);
    }
    const ok = await get(
      hot.url,
      '/api/v1/variables/plain_key',
      auth['editor-jwt'] as Record<string, string>,
    );
    expect(ok.status).toBe(200);
  });

  it('show what Airflow 2 shows: the value, the description; a connection without its password', async () => {
    const variable = await get(
      hot.url,
      '/api/v1/variables/plain_key',
      auth['editor-token'] as Record<string, string>,
    );
    expect(JSON.parse(variable.body)).toEqual({
      key: 'plain_key',
      value: 's3://bucket/hot',
      description: 'landing',
    });
    const connection = await get(
      hot.url,
      '/api/v1/connections/warehouse',
      auth['editor-token'] as Record<string, string>,
    );
    expect(connection.status).toBe(200);
    expect(connection.body).not.toContain('cnry-hot-conn-pw');
    expect(JSON.parse(connection.body)).toMatchObject({
      connection_id: 'warehouse',
      conn_type: 'postgres',
      host: 'db.internal',
      login: 'loader',
      port: 5432,
    });
    const viewer = await get(
      hot.url,
      '/api/v1/variables/my_password',
      auth['viewer-token'] as Record<string, string>,
    );
    expect(viewer.body).not.toContain('cnry-hot-password-value');
  });

  it('see a revoked token at once, and a changed value at once', async () => {
    const { token, id } = await store.createToken('editor', 'revoke-me');
    const headers = { authorization: `Bearer ${token}` };
    await get(hot.url, '/api/v1/variables/plain_key', headers);
    const before = hot.created.hotReads?.served ?? 0;
    expect((await get(hot.url, '/api/v1/variables/plain_key', headers)).status).toBe(200);
    expect(hot.created.hotReads?.served).toBe(before + 1);
    await store.deleteToken(id);
    const refused = await get(hot.url, '/api/v1/variables/plain_key', headers);
    expect(refused.status).toBe(401);
    await metastore.setVariable('plain_key', 's3://bucket/changed');
    const changed = await get(
      hot.url,
      '/api/v1/variables/plain_key',
      auth['editor-token'] as Record<string, string>,
    );
    expect(JSON.parse(changed.body).value).toBe('s3://bucket/changed');
    await metastore.setVariable('plain_key', 's3://bucket/hot', { description: 'landing' });
  });

  it('hand their answers over in the check phase, after the requests of the poll are read', async () => {
    const headers = auth['editor-token'] as Record<string, string>;
    // Known to this process first (through the server), then asked through `fetch` itself.
    await get(hot.url, '/api/v1/variables/plain_key', headers);
    const before = hot.created.hotReads?.served ?? 0;
    let settled = false;
    const answer = Promise.resolve(
      hot.created.app.fetch(
        new Request('http://localhost/api/v1/variables/plain_key', { headers }),
      ),
    ).then((r) => {
      settled = true;
      return r;
    });
    // The read and the view are done within the microtasks of the request…
    for (let i = 0; i < 50; i++) await Promise.resolve();
    expect(hot.created.hotReads?.served).toBe(before + 1);
    expect(settled).toBe(false);
    // …and the answer follows at the check phase.
    await new Promise((r) => setImmediate(r));
    await Promise.resolve();
    expect(settled).toBe(true);
    expect(((await (await answer).json()) as { value: string }).value).toBe('s3://bucket/hot');
  });

  it('carry Strict-Transport-Security when the server runs with secure cookies', async () => {
    const headers = auth['editor-token'] as Record<string, string>;
    const answers: Record<string, string>[] = [];
    for (const hotReads of [true, false]) {
      const created = createServerApp({ metastore, store, env: {}, secureCookies: true, hotReads });
      await created.app.request('/api/v1/variables/plain_key', { headers });
      const res = await created.app.request('/api/v1/variables/plain_key', { headers });
      expect((created.hotReads?.served ?? 0) > 0).toBe(hotReads);
      answers.push({ ...Object.fromEntries(res.headers), body: await res.text() });
      await created.dispose();
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]?.['strict-transport-security']).toMatch(/^max-age=\d+/);
  });

  it('answer as the app does for any key', async () => {
    const char = fc.constantFrom(..."aZ09_.-~!$&'()*+,;=:@ %/?#é".split(''));
    await fc.assert(
      fc.asyncProperty(
        fc.array(char, { minLength: 1, maxLength: 12 }).map((c) => c.join('')),
        fc.boolean(),
        async (key, encode) => {
          await metastore.setVariable(key, `value of ${key}`);
          const path = `/api/v1/variables/${encode ? encodeURIComponent(key) : key}`;
          if (/[ #?é%]/.test(path) && !encode) return;
          const { fromHot, fromPlain } = await settled(
            path,
            auth['editor-token'] as Record<string, string>,
          );
          expect(fromHot).toEqual(fromPlain);
        },
      ),
      { numRuns: 60 },
    );
  });
});
