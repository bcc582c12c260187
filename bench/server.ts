/**
 * `npm run bench -- server`: the HTTP server under load on loopback (autocannon). Measures
 * requests/s and p99 latency of an authenticated variable GET (`GET /api/v1/variables/<key>`,
 * API token, the same key every time) against a bare Hono hello-world route served by the same
 * Node adapter in the same run, so the numbers show what airlock's auth, metastore read and
 * decryption cost on top of the framework.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

async function load(
  url: string,
  headers: Record<string, string>,
  seconds: number,
): Promise<CannonResult> {
  // autocannon ships no types; the specifier is a variable so that none are looked for.
  const specifier = 'autocannon';
  const { default: autocannon } = (await import(specifier)) as {
    default: (o: Record<string, unknown>) => Promise<CannonResult>;
  };
  return autocannon({ url, headers, connections: 10, duration: seconds, pipelining: 1 });
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
  await metastore.setVariable('bench_key', 's3://bench-bucket/path');
  const created = createServerApp({ metastore, store, env: {} });
  const airlock = await listen(created.app.fetch);
  const hello = new Hono();
  hello.get('/', (c) => c.text('Hello Hono!'));
  const bare = await listen(hello.fetch);
  try {
    const headers = { authorization: `Bearer ${token}` };
    // Warm up both (JIT, the SQLite page cache), then measure.
    await load(`${airlock.url}/api/v1/variables/bench_key`, headers, 1);
    await load(bare.url, {}, 1);
    const variable = await load(`${airlock.url}/api/v1/variables/bench_key`, headers, seconds);
    const baseline = await load(bare.url, {}, seconds);
    if (variable.non2xx > 0 || variable.errors > 0) {
      throw new Error(
        `variable GETs failed: ${variable.non2xx} non-2xx, ${variable.errors} errors`,
      );
    }
    return {
      variable_get_rps: Math.round(variable.requests.average),
      variable_get_p99_ms: variable.latency.p99,
      hello_rps: Math.round(baseline.requests.average),
      hello_p99_ms: baseline.latency.p99,
      variable_vs_hello_ratio:
        Math.round((variable.requests.average / baseline.requests.average) * 1000) / 1000,
    };
  } finally {
    await airlock.close();
    await bare.close();
    await created.dispose();
    await metastore.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
