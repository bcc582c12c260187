/**
 * `lists`: what a list costs as the table grows. `GET /api/v1/variables?limit=100` (bearer
 * token, through the real app) on 1k, 10k and 100k Variables in SQLite — paged in SQL, it should
 * cost about the same at every size (`list_100k_vs_1k` ≤ 2) — and `airlock variables export` of
 * the 100k (the built CLI, in its own process, its peak RSS beside it) against a raw
 * read-and-decrypt of the same rows with `node:sqlite` and the same Fernet keys
 * (`export_vs_raw` ≥ 0.5).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { parseFernetKeys } from '../../src/metastore/fernet.ts';
import { createServerApp } from '../../src/server/app.ts';
import { ServerStore } from '../../src/server/store.ts';
import type { ScenarioOptions } from '../_types.ts';
import { openBenchMetastore } from './_metastore.ts';
import { peakRssHook } from './_rss.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const SIZES = [1_000, 10_000, 100_000] as const;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function* entries(from: number, to: number) {
  for (let i = from; i < to; i++) {
    const key = `list_var_${String(i).padStart(6, '0')}`;
    yield { key, value: `value of ${key}`, description: i % 3 ? null : `row ${i}`, where: key };
  }
}

/** A raw read of every row with `node:sqlite`, each value decrypted: the export's floor. */
function rawReadAndDecrypt(file: string, key: string): number {
  const keys = parseFernetKeys(key);
  const db = new DatabaseSync(file, { readOnly: true });
  const started = performance.now();
  let n = 0;
  for (const row of db.prepare('select key, val from variable order by key').iterate()) {
    if (keys.decryptToString((row as { val: string }).val).length >= 0) n++;
  }
  const ms = performance.now() - started;
  db.close();
  if (n !== SIZES.at(-1)) throw new Error(`the raw read saw ${n} rows`);
  return ms;
}

/** `airlock variables export` in its own process: its wall time and peak RSS. */
function cliExport(env: Record<string, string>, out: string): { ms: number; rssMb: number } {
  const rss = peakRssHook();
  try {
    const started = performance.now();
    const result = spawnSync(
      node,
      ['--import', rss.hook, join(root, 'dist', 'cli', 'bin.js'), 'variables', 'export', out],
      { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
    );
    const ms = performance.now() - started;
    if (result.status !== 0) throw new Error(`variables export failed: ${result.stderr}`);
    return { ms, rssMb: rss.readMb() };
  } finally {
    rss.done();
  }
}

/** A metastore of `size` Variables behind the real app, and one timed list call on it. */
async function listTarget(size: number) {
  const meta = await openBenchMetastore('sqlite');
  await meta.store.importVariables(entries(0, size));
  const store = new ServerStore(meta.store);
  await store.createUser('bench', 'bench-password-1', 'viewer');
  const { token } = await store.createToken('bench', 'bench');
  const created = createServerApp({ metastore: meta.store, store, env: {} });
  const headers = { authorization: `Bearer ${token}` };
  return {
    meta,
    async list(): Promise<number> {
      const started = performance.now();
      const res = await created.app.request('/api/v1/variables?limit=100', { headers });
      const body = (await res.json()) as { total_entries: number; variables: unknown[] };
      if (body.total_entries !== size || body.variables.length !== 100) {
        throw new Error(`the list answered ${res.status} with ${body.total_entries} rows`);
      }
      return performance.now() - started;
    },
    async close() {
      await created.dispose();
      await meta.close();
    },
  };
}

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
  const calls = quick ? 30 : 100;
  const out: Record<string, number> = {};
  const targets = [];
  for (const size of SIZES) targets.push(await listTarget(size));
  try {
    // Warm up, then alternate the sizes call by call so that each sees the same machine state.
    for (const target of targets) for (let i = 0; i < 10; i++) await target.list();
    const samples: number[][] = targets.map(() => []);
    for (let i = 0; i < calls; i++) {
      for (const [n, target] of targets.entries()) samples[n]?.push(await target.list());
    }
    for (const [n, size] of SIZES.entries()) {
      out[`list_ms_${size / 1000}k`] = Math.round(median(samples[n] ?? []) * 1000) / 1000;
    }
    out.list_100k_vs_1k = (out.list_ms_100k ?? 0) / (out.list_ms_1k ?? 1);
    const biggest = targets.at(-1)?.meta as Awaited<ReturnType<typeof openBenchMetastore>>;
    const home = biggest.env.AIRLOCK_HOME as string;
    const key = biggest.env.AIRLOCK__CORE__FERNET_KEY as string;
    const target = join(home, 'export.json');
    // Alternated, so that both see the same machine state; the medians.
    const raws: number[] = [];
    const exports: number[] = [];
    for (let i = 0; i < (quick ? 3 : 5); i++) {
      raws.push(rawReadAndDecrypt(join(home, 'airlock.db'), key));
      exports.push(cliExport(biggest.env, target).ms);
    }
    const raw = median(raws);
    const exported = median(exports);
    out.raw_read_decrypt_100k_ms = Math.round(raw);
    out.export_100k_ms = Math.round(exported);
    out.export_100k_mb = Math.round((statSync(target).size / 2 ** 20) * 10) / 10;
    out.export_peak_rss_mb = cliExport(biggest.env, target).rssMb;
    out.export_vs_raw = raw / exported;
    // Memory does not grow with the table: the same export of 10k rows, for comparison.
    const ten = targets[1]?.meta as Awaited<ReturnType<typeof openBenchMetastore>>;
    out.export_10k_peak_rss_mb = cliExport(
      ten.env,
      join(ten.env.AIRLOCK_HOME as string, 'e.json'),
    ).rssMb;
  } finally {
    for (const target of targets) await target.close();
  }
  return out;
}
