/**
 * `cold_cli`: a whole `airlock variables get X` process served from the environment, against a
 * bare `node -e ""` on the same Node, alternating runs; the ratio of the medians. It measures the
 * built CLI (`dist/`), so it builds first.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScenarioOptions } from '../_types.ts';
import { peakRssHook } from './_rss.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function timeRun(args: string[], env: NodeJS.ProcessEnv, expect?: string): number {
  const started = performance.now();
  const result = spawnSync(node, args, { cwd: root, env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (result.status !== 0 || (expect !== undefined && result.stdout.trim() !== expect)) {
    throw new Error(
      `\`${args.join(' ')}\` failed (exit ${result.status}): ${result.stderr.slice(0, 500)}`,
    );
  }
  return ms;
}

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
  const bin = join(root, 'dist', 'cli', 'bin.js');
  if (!existsSync(bin)) throw new Error('the build made no dist/cli/bin.js');
  const runs = quick ? 25 : 60;
  const {
    AIRLOCK__SECRETS__BACKENDS,
    AIRLOCK__SECRETS__BACKEND,
    AIRFLOW__SECRETS__BACKEND,
    ...base
  } = process.env;
  const env = {
    ...base,
    AIRFLOW_VAR_COLD_START: 'served-from-env',
    AIRLOCK_HOME: join(tmpdir(), 'airlock-bench-cold-home'),
  };
  const airlock: number[] = [];
  const bare: number[] = [];
  // Warm the file cache, then alternate so both see the same machine state.
  timeRun([bin, 'variables', 'get', 'cold_start'], env, 'served-from-env');
  timeRun(['-e', ''], env);
  for (let i = 0; i < runs; i++) {
    bare.push(timeRun(['-e', ''], env));
    airlock.push(timeRun([bin, 'variables', 'get', 'cold_start'], env, 'served-from-env'));
  }
  const a = median(airlock);
  const b = median(bare);
  // The CLI's own peak RSS (this scenario's `peak_rss_mb` is the harness's): one more run that
  // writes it on exit through a preloaded module (not timed).
  const rss = peakRssHook();
  timeRun(['--import', rss.hook, bin, 'variables', 'get', 'cold_start'], env, 'served-from-env');
  const cliRssMb = rss.readMb();
  rss.done();
  return { runs, airlock_ms: a, node_ms: b, cold_cli_ratio: a / b, cli_peak_rss_mb: cliRssMb };
}
