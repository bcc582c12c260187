/**
 * `npm run bench -- server`: the HTTP server under load on loopback. Measures requests/s and p99
 * latency of an authenticated variable GET (`GET /api/v1/variables/<key>`, the same key every
 * time) with an API token, a session cookie and HTTP basic auth, against a bare Hono
 * hello-world route served by the same Node adapter in the same run, so the numbers show what
 * airlock's auth, metastore read and decryption cost on top of the framework.
 *
 * The load generator (autocannon's CLI) runs in its own process: in the servers' process it
 * would share their event loop and measure itself as much as them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Fernet, parseFernetKeys } from '../src/metastore/fernet.ts';
import { Metastore } from '../src/metastore/metastore.ts';
import { createServerApp } from '../src/server/app.ts';
import { ServerStore } from '../src/server/store.ts';

type Fetch = (request: Request) => Response | Promise<Response>;

async function listen(fetch: Fetch): Promise<{ url: string; close(): Promise<void> }> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

interface CannonResult {
  requests: { average: number };
  latency: { p99: number };
  non2xx: number;
  errors: number;
}

const AUTOCANNON = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'node_modules',
  '.bin',
  'autocannon',
);

/** `seconds` of load on `url` from autocannon's CLI in a child process; its JSON report. */
function load(
  url: string,
  headers: Record<string, string>,
  seconds: number,
): Promise<CannonResult> {
  const args = ['-j', '-c', '10', '-d', String(seconds), '-p', '1'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
  return new Promise((resolve, reject) => {
    const child = spawn(AUTOCANNON, [...args, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out) as CannonResult);
      } catch {
        reject(new Error(`autocannon failed (exit ${code}): ${err.slice(0, 300)}`));
      }
    });
  });
}

/**
 * Runs the server benchmark.
 *
 * @example
 * ```ts
 * const metrics = await runServerBench({ quick: true });
 * ```
 */
export async function runServerBench(options: { quick: boolean }): Promise<Record<string, number>> {
  const seconds = options.quick ? 3 : 10;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-server-'));
  const metastore = await Metastore.open({
    url: `sqlite:///${join(dir, 'airlock.db')}`,
    keys: parseFernetKeys(Fernet.generateKey()),
  });
  const store = new ServerStore(metastore);
  await store.createUser('bench', 'bench-password', 'editor');
  const { token } = await store.createToken('bench', 'bench');
  const session = await store.createSession('bench');
  await metastore.setVariable('bench_key', 's3://bench-bucket/path');
  // Two routes for the decomposition rows only (what the framework, airlock's middleware and
  // headers, and one prepared SQLite read cost before authentication): not part of airlock.
  const created = createServerApp({
    metastore,
    store,
    env: {},
    extensions: [
      (app) => {
        app.get('/api/bench/constant', (c) =>
          c.json({ key: 'bench_key', value: 's3://bench-bucket/path', description: null }),
        );
        app.get('/api/bench/read', async (c) =>
          c.json(await metastore.getVariableRecord('bench_key')),
        );
      },
    ],
  });
  const airlock = await listen(created.app.fetch);
  const hello = new Hono();
  hello.get('/', (c) => c.text('Hello Hono!'));
  const bare = await listen(hello.fetch);
  try {
    const auth: Record<string, Record<string, string>> = {
      token: { authorization: `Bearer ${token}` },
      cookie: { cookie: `airlock_session=${session.id}` },
      basic: { authorization: `Basic ${Buffer.from('bench:bench-password').toString('base64')}` },
    };
    const variableUrl = `${airlock.url}/api/v1/variables/bench_key`;
    // Warm up both (JIT, the SQLite page cache), then measure, the baseline between each.
    await load(variableUrl, auth.token as Record<string, string>, 1);
    await load(bare.url, {}, 1);
    const out: Record<string, number> = {};
    for (const [mode, headers] of Object.entries(auth)) {
      const variable = await load(variableUrl, headers, seconds);
      const baseline = await load(bare.url, {}, seconds);
      if (variable.non2xx > 0 || variable.errors > 0) {
        throw new Error(
          `variable GETs (${mode}) failed: ${variable.non2xx} non-2xx, ${variable.errors} errors`,
        );
      }
      out[`${mode}_rps`] = Math.round(variable.requests.average);
      out[`${mode}_p99_ms`] = variable.latency.p99;
      out[`${mode}_hello_rps`] = Math.round(baseline.requests.average);
      out[`${mode}_hello_p99_ms`] = baseline.latency.p99;
      out[`api_${mode}_vs_hono`] =
        Math.round((variable.requests.average / baseline.requests.average) * 1000) / 1000;
      out[`api_${mode}_p99_vs_hono`] =
        Math.round((variable.latency.p99 / Math.max(baseline.latency.p99, 1)) * 1000) / 1000;
    }
    // Where the time goes: the same app answering a constant JSON body (its middleware and the
    // API's security headers, no sign-in, no database), then one prepared read of the value (no
    // sign-in), each against the bare route measured right after it.
    for (const [name, path] of [
      ['constant', '/api/bench/constant'],
      ['read', '/api/bench/read'],
    ] as const) {
      const measured = await load(`${airlock.url}${path}`, {}, seconds);
      const baseline = await load(bare.url, {}, seconds);
      out[`decomposition_${name}_rps`] = Math.round(measured.requests.average);
      out[`decomposition_${name}_vs_hono`] =
        Math.round((measured.requests.average / baseline.requests.average) * 1000) / 1000;
    }
    return out;
  } finally {
    await airlock.close();
    await bare.close();
    await created.dispose();
    await metastore.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
