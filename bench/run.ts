/**
 * airlock's benchmark runner: `npm run bench -- [--quick] [scenario…]`.
 *
 * Each scenario runs in its own Node process (`_child.ts`), so its peak RSS is its own, and
 * measures airlock against its baselines in the same run: the targets are ratios, which hold
 * across machines where absolute times do not. Prints a table of every metric (with its target
 * and PASS/FAIL where it has one) and writes `bench/results/latest.json` (a run of named
 * scenarios writes `bench/results/latest-<names>.json` instead).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SCENARIOS = [
  'hot',
  'fanout',
  'negative',
  'cold_cli',
  'metastore',
  'lists',
  'masking',
  'tasks',
] as const;

/** The targets (issues 11 and 21), checked on the numbers in `latest.json`. */
const TARGETS: Record<string, { op: '>=' | '<=' | '=='; value: number }> = {
  'hot.hot_ratio': { op: '>=', value: 0.5 },
  'fanout.fanout_calls_ratio': { op: '==', value: 1 },
  'fanout.fanout_vs_powertools': { op: '<=', value: 0.5 },
  'negative.negative_calls_ratio': { op: '<=', value: 1 },
  'cold_cli.cold_cli_ratio': { op: '<=', value: 2.5 },
  'lists.list_100k_vs_1k': { op: '<=', value: 2 },
  'lists.export_vs_raw': { op: '>=', value: 0.5 },
  'metastore.pg_set_vs_raw': { op: '>=', value: 0.7 },
  'masking.mask_10_vs_passthrough': { op: '>=', value: 0.3 },
  'masking.mask_10000_vs_passthrough': { op: '>=', value: 0.3 },
  'tasks.task_try_vs_node': { op: '<=', value: 3 },
  'tasks.trigger_to_log_vs_node': { op: '<=', value: 4 },
  'tasks.tasks_vs_graphile': { op: '>=', value: 0.7 },
  'server.api_token_vs_hono': { op: '>=', value: 0.5 },
  'server.api_cookie_vs_hono': { op: '>=', value: 0.5 },
  'server.api_basic_vs_hono': { op: '>=', value: 0.25 },
};

function passes(target: { op: string; value: number }, actual: number): boolean {
  if (target.op === '>=') return actual >= target.value;
  if (target.op === '<=') return actual <= target.value;
  return Math.abs(actual - target.value) < 1e-9;
}

function format(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(3);
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const unknown = args.filter((a) => a.startsWith('-') && a !== '--quick');
if (unknown.length > 0) {
  console.error(`bench: unknown option ${unknown.join(', ')} (use --quick and scenario names)`);
  process.exit(2);
}
const hasServer = existsSync(join(here, 'server.ts'));
const available: string[] = [...SCENARIOS, ...(hasServer ? ['server'] : [])];
const asked = args.filter((a) => !a.startsWith('-'));
for (const name of asked) {
  if (!available.includes(name)) {
    console.error(`bench: unknown scenario \`${name}\` (one of ${available.join(', ')})`);
    process.exit(2);
  }
}
const selected = asked.length > 0 ? asked : available;

const results: Record<string, Record<string, number>> = {};
const failures: string[] = [];
const startedAll = performance.now();
for (const name of selected) {
  process.stderr.write(`bench: ${name}${quick ? ' (quick)' : ''}…\n`);
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    [join(here, '_child.ts'), name, ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 },
  );
  const last = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !last.startsWith('{')) {
    failures.push(`${name}: the scenario failed (exit ${child.status})`);
    continue;
  }
  results[name] = {
    ...(JSON.parse(last) as Record<string, number>),
    duration_s: Math.round((performance.now() - started) / 100) / 10,
  };
}

const rows: string[][] = [['scenario', 'metric', 'value', 'target', 'result']];
let allPass = failures.length === 0;
for (const [scenario, metrics] of Object.entries(results)) {
  for (const [metric, value] of Object.entries(metrics)) {
    const target = TARGETS[`${scenario}.${metric}`];
    let verdict = '';
    if (target) {
      const ok = passes(target, value);
      allPass &&= ok;
      verdict = ok ? 'PASS' : 'FAIL';
    }
    rows.push([
      scenario,
      metric,
      format(value),
      target ? `${target.op} ${target.value}` : '',
      verdict,
    ]);
  }
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
const line = (r: string[]) =>
  r
    .map((c, i) => (i === 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
    .join(' | ')
    .trimEnd();
console.log(line(rows[0] ?? []));
console.log(widths.map((w) => '-'.repeat(w)).join('-+-'));
for (const r of rows.slice(1)) console.log(line(r));
for (const failure of failures) console.log(`FAILED ${failure}`);

const targets: Record<string, { target: string; actual: number | null; pass: boolean }> = {};
for (const [key, target] of Object.entries(TARGETS)) {
  const [scenario, metric] = key.split('.') as [string, string];
  const actual = results[scenario]?.[metric];
  if (actual === undefined) continue;
  targets[key] = { target: `${target.op} ${target.value}`, actual, pass: passes(target, actual) };
}
const report = {
  mode: quick ? 'quick' : 'full',
  date: new Date().toISOString(),
  node: process.version,
  machine: { cpus: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30) },
  duration_s: Math.round((performance.now() - startedAll) / 100) / 10,
  scenarios: results,
  targets,
  ...(failures.length > 0 ? { failures } : {}),
};
// `latest.json` holds a run of every scenario; a run of some writes a file named after them, so
// that it never replaces the whole table with a part of it.
const file =
  asked.length > 0 ? `latest-${[...new Set(asked)].sort().join('-')}.json` : 'latest.json';
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', file), `${JSON.stringify(report, null, 2)}\n`);
console.log(
  `\nwrote bench/results/${file} (${report.duration_s} s); targets ${allPass ? 'all PASS' : 'NOT all met'}`,
);
process.exit(failures.length > 0 ? 1 : 0);
