/**
 * `npm run bench -- server`: the HTTP server under load on loopback. Measures requests/s and p99
 * latency of an authenticated variable GET (`GET /api/v1/variables/<key>`, the same key every
 * time) with an API token, a session cookie and HTTP basic auth, against a bare Hono
 * hello-world route served by the same Node adapter in the same run, so the numbers show what
 * airlock's auth, metastore read and decryption cost on top of the framework. Each comparison is
 * a few pairs of short runs, each side first in turn, and reports the median ratio of the pairs.
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
import { inTurn } from './_rounds.ts';
import { median } from './scenarios/cold_cli.ts';

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
  // Pairs of short runs rather than one long run each (see `compare`); two seconds at least even
  // with --quick: autocannon averages its per-second counts, and one second is one count.
  const seconds = options.quick ? 2 : 3;
  const rounds = options.quick ? 3 : 5;
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
    // Warm up both (JIT, the SQLite page cache), then measure.
    await load(variableUrl, auth.token as Record<string, string>, 1);
    await load(bare.url, {}, 1);
    const out: Record<string, number> = {};
    /**
     * `rounds` pairs of runs, airlock's and the bare route's back to back, in turn first and
     * second (a machine whose speed drifts during the run then shifts both alike): the median
     * ratio of the pairs, and the medians of each side's figures.
     */
    const compare = async (name: string, url: string, headers: Record<string, string>) => {
      const ratios: number[] = [];
      const rps: number[] = [];
      const p99: number[] = [];
      const helloRps: number[] = [];
      const helloP99: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const [measured, bareRun] = await inTurn(
          round,
          () => load(url, headers, seconds),
          () => load(bare.url, {}, seconds),
        );
        if (measured.non2xx > 0 || measured.errors > 0) {
          throw new Error(
            `${name} GETs failed: ${measured.non2xx} non-2xx, ${measured.errors} errors`,
          );
        }
        ratios.push(measured.requests.average / bareRun.requests.average);
        rps.push(measured.requests.average);
        p99.push(measured.latency.p99);
        helloRps.push(bareRun.requests.average);
        helloP99.push(bareRun.latency.p99);
      }
      return {
        ratio: Math.round(median(ratios) * 1000) / 1000,
        rps: Math.round(median(rps)),
        p99: median(p99),
        helloRps: Math.round(median(helloRps)),
        helloP99: median(helloP99),
      };
    };
    for (const [mode, headers] of Object.entries(auth)) {
      const r = await compare(`variable (${mode})`, variableUrl, headers);
      out[`${mode}_rps`] = r.rps;
      out[`${mode}_p99_ms`] = r.p99;
      out[`${mode}_hello_rps`] = r.helloRps;
      out[`${mode}_hello_p99_ms`] = r.helloP99;
      out[`api_${mode}_vs_hono`] = r.ratio;
      out[`api_${mode}_p99_vs_hono`] = Math.round((r.p99 / Math.max(r.helloP99, 1)) * 1000) / 1000;
    }
    // Where the time goes: the same app answering a constant JSON body (its middleware and the
    // API's security headers, no sign-in, no database), then one prepared read of the value (no
    // sign-in), each against the bare route the same way.
    for (const [name, path] of [
      ['constant', '/api/bench/constant'],
      ['read', '/api/bench/read'],
    ] as const) {
      const r = await compare(name, `${airlock.url}${path}`, {});
      out[`decomposition_${name}_rps`] = r.rps;
      out[`decomposition_${name}_vs_hono`] = r.ratio;
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
