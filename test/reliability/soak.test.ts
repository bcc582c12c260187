/**
 * A bounded soak (issue 16), loopback only: two `airlock server` processes on one PostgreSQL
 * metastore (each with its worker: two workers on one queue), the shared cache in Redis, Vault
 * in front of the chain failing intermittently, concurrent API clients writing on one server and
 * reading on the other, and a client triggering DAG runs on both. Counted: wrong values (a read
 * older than a write already acknowledged, or a value never written), lost writes (a key whose
 * final value is not its last acknowledged write), lookups that fell through past the failing
 * store or took longer than the bound, task tries run twice or never, runs that did not end
 * well, and each server's RSS over time.
 *
 * `AIRLOCK_SOAK_SECONDS` sets the length (8 s by default; CI keeps it short);
 * `UPDATE_RELIABILITY_DOC=1` writes the figures into `docs/reliability.md`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../src/metastore/fernet.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { type ServerProcess, startServerProcess } from '../helpers/browser.ts';
import { ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { postgresDatabases } from '../metastore/_databases.ts';

const SECONDS = Number(process.env.AIRLOCK_SOAK_SECONDS ?? 8);
const PASSWORD = 'soak-admin-pw-1';
const WRITERS = 4;
const READERS = 4;
const KEYS_PER_WRITER = 5;
/** A lookup slower than this counts as a hang (Vault's own timeout in the soak is 1 s). */
const LOOKUP_BOUND_MS = 5_000;
/** Redis database of the soak, away from the other tests' shared-cache entries. */
const REDIS_URL = 'redis://127.0.0.1:6379/13';
/** How often Vault fails a burst of 12 requests (4 attempts of each of the lookups in flight). */
const FLAP_MS = 1_000;
/** How often the trigger client starts a DAG run (two tasks, each appending to the trace). */
const TRIGGER_MS = 400;
/** Each task try appends `<run_id> <task_id>` here: a try run twice, or never, shows. */
const TRACE = join(tempDir('airlock-soak-trace-'), 'tries.log');
const SOAK_DAG = `import { appendFileSync } from 'node:fs';
import { dag, task } from 'airlock';
dag('soak_dag', { schedule: null }, () => {
  const first = task('first', ({ runId }) => { appendFileSync(process.env.SOAK_TRACE ?? '/dev/null', runId + ' first\\n'); });
  task('second', ({ runId }) => { appendFileSync(process.env.SOAK_TRACE ?? '/dev/null', runId + ' second\\n'); }, { dependsOn: [first] });
});
`;

const basic = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };
/** An API token (a hash lookup per request, where basic auth costs a scrypt per request). */
let auth: { authorization: string } = basic;

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

interface Counts {
  writes: number;
  reads: number;
  lookups: number;
  lookupsFailed: number;
  wrongValues: number;
  lostWrites: number;
  fellThrough: number;
  slowLookups: number;
  httpErrors: number;
  runs: number;
  runsNotSuccess: number;
  triesTwice: number;
  triesMissing: number;
}

describe('soak', () => {
  const databases = postgresDatabases();
  let vault: VaultFake;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    const db = await databases.create();
    vault = await startVaultFake({ rootToken: 'soak-root-token' });
    for (let i = 0; i < 10; i++)
      vault.writeSecret(`secret/variables/ext_${i}`, { value: `ext-${i}` });
    const home = tempDir('airlock-soak-');
    mkdirSync(join(home, 'dags'));
    writeFileSync(join(home, 'dags', 'soak_dag.ts'), SOAK_DAG);
    const env = {
      AIRLOCK_HOME: home,
      SOAK_TRACE: TRACE,
      AIRLOCK__CORE__DAGS_ARE_PAUSED_AT_CREATION: 'false',
      AIRLOCK__WORKER__POLL_INTERVAL_MS: '200',
      AIRLOCK__DATABASE__URL: db.url,
      AIRLOCK__CORE__FERNET_KEY: Fernet.generateKey(),
      AIRLOCK_ADMIN_PASSWORD: PASSWORD,
      AIRLOCK__SECRETS__SHARED_CACHE_URL: REDIS_URL,
      AIRLOCK__SECRETS__BACKEND: 'vault',
      AIRLOCK__SECRETS__BACKEND_KWARGS: JSON.stringify({
        url: vault.url,
        token: 'soak-root-token',
        timeout: 1,
      }),
    };
    // One first, so that the second finds the schema and the admin user in place.
    servers.push(await startServerProcess(env));
    servers.push(await startServerProcess(env));
    const res = await fetch(`${servers[0]?.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { ...basic, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'soak' }),
    });
    auth = { authorization: `Bearer ${((await res.json()) as { token: string }).token}` };
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await vault?.close();
    await databases.dispose();
  });

  it(
    `runs ${SECONDS} s with no wrong value, no lost write, no fall-through, flat memory`,
    async () => {
      const [a, b] = servers as [ServerProcess, ServerProcess];
      const counts: Counts = {
        writes: 0,
        reads: 0,
        lookups: 0,
        lookupsFailed: 0,
        wrongValues: 0,
        lostWrites: 0,
        fellThrough: 0,
        slowLookups: 0,
        httpErrors: 0,
        runs: 0,
        runsNotSuccess: 0,
        triesTwice: 0,
        triesMissing: 0,
      };
      /** The runs the API acknowledged (created), by run_id. */
      const triggered: string[] = [];
      /** The last acknowledged version of each key (a write the server answered 2xx to). */
      const acknowledged = new Map<string, number>();
      const end = Date.now() + SECONDS * 1000;
      const rss: Array<{ at: number; a: number; b: number }> = [];
      const sampler = setInterval(() => {
        rss.push({ at: Date.now(), a: rssKb(a.pid), b: rssKb(b.pid) });
      }, 500);
      // Vault fails a burst of requests (every attempt of one lookup) each second: a store that flaps.
      const flapper = setInterval(() => vault.failNext(503, 12, 'secret/'), FLAP_MS);

      const writer = async (w: number) => {
        for (let n = 1; Date.now() < end; n++) {
          const key = `soak_${w}_${n % KEYS_PER_WRITER}`;
          const known = acknowledged.has(key);
          const res = await fetch(
            known ? `${a.url}/api/v1/variables/${key}` : `${a.url}/api/v1/variables`,
            {
              method: known ? 'PATCH' : 'POST',
              headers: { ...auth, 'content-type': 'application/json' },
              body: JSON.stringify({ key, value: `v${n}` }),
            },
          );
          await res.arrayBuffer();
          if (res.ok) {
            acknowledged.set(key, n);
            counts.writes++;
          } else counts.httpErrors++;
        }
      };
      const reader = async (r: number) => {
        for (let n = 0; Date.now() < end; n++) {
          const key = `soak_${r % WRITERS}_${n % KEYS_PER_WRITER}`;
          const floor = acknowledged.get(key);
          if (floor === undefined) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            continue;
          }
          const res = await fetch(`${b.url}/api/v1/variables/${key}`, { headers: auth });
          const body = (await res.json()) as { value?: string };
          counts.reads++;
          const version = Number(/^v(\d+)$/.exec(body.value ?? '')?.[1] ?? Number.NaN);
          // Never older than what was acknowledged before the read began, never made up.
          if (!(version >= floor) || version % KEYS_PER_WRITER !== floor % KEYS_PER_WRITER) {
            counts.wrongValues++;
          }
        }
      };
      const looker = async (l: number) => {
        for (let n = 0; Date.now() < end; n++) {
          const id = `ext_${(l + n) % 10}`;
          const started = performance.now();
          const res = await fetch(
            `${(n % 2 ? a : b).url}/api/v1/secrets/which?kind=variable&id=${id}`,
            {
              headers: auth,
            },
          );
          const report = (await res.json()) as {
            source: string | null;
            trace: Array<{ outcome: string; errorCode?: string }>;
          };
          counts.lookups++;
          if (performance.now() - started > LOOKUP_BOUND_MS) counts.slowLookups++;
          if (report.source === null) {
            counts.lookupsFailed++;
            if (report.trace[0]?.errorCode !== 'AIRLOCK_ERR_BACKEND_UNAVAILABLE')
              counts.wrongValues++;
          } else if (report.source !== 'vault') {
            counts.fellThrough++;
          }
        }
      };
      const triggerer = async () => {
        for (let n = 0; Date.now() < end; n++) {
          const runId = `soak_${n}`;
          const res = await fetch(`${(n % 2 ? a : b).url}/api/v1/dags/soak_dag/dagRuns`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify({ dag_run_id: runId }),
          });
          await res.arrayBuffer();
          if (res.ok) triggered.push(runId);
          else counts.httpErrors++;
          await new Promise((resolve) => setTimeout(resolve, TRIGGER_MS));
        }
      };
      try {
        await Promise.all([
          ...Array.from({ length: WRITERS }, (_, i) => writer(i)),
          ...Array.from({ length: READERS }, (_, i) => reader(i)),
          looker(0),
          looker(1),
          triggerer(),
        ]);
      } finally {
        clearInterval(flapper);
      }
      // The runs end (two workers, one on each server, share the queue); then each task of each
      // acknowledged run must have run exactly once.
      const states = async () => {
        const res = await fetch(`${a.url}/api/v1/dags/soak_dag/dagRuns?limit=1000`, {
          headers: auth,
        });
        const body = (await res.json()) as {
          dag_runs: Array<{ dag_run_id: string; state: string }>;
        };
        return new Map(body.dag_runs.map((r) => [r.dag_run_id, r.state]));
      };
      const settle = Date.now() + 90_000;
      let finalStates = await states();
      while (
        Date.now() < settle &&
        triggered.some((id) => !['success', 'failed'].includes(finalStates.get(id) ?? ''))
      ) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        finalStates = await states();
      }
      clearInterval(sampler);
      counts.runs = triggered.length;
      counts.runsNotSuccess = triggered.filter((id) => finalStates.get(id) !== 'success').length;
      const tries = new Map<string, number>();
      const lines = existsSync(TRACE)
        ? readFileSync(TRACE, 'utf8').split('\n').filter(Boolean)
        : [];
      for (const line of lines) tries.set(line, (tries.get(line) ?? 0) + 1);
      for (const id of triggered) {
        for (const task of ['first', 'second']) {
          const n = tries.get(`${id} ${task}`) ?? 0;
          if (n === 0) counts.triesMissing++;
          if (n > 1) counts.triesTwice++;
        }
      }
      // Every key ends at its last acknowledged write.
      for (const [key, version] of acknowledged) {
        const res = await fetch(`${b.url}/api/v1/variables/${key}`, { headers: auth });
        const body = (await res.json()) as { value?: string };
        if (body.value !== `v${version}`) counts.lostWrites++;
      }

      expect(counts.writes).toBeGreaterThan(0);
      expect(counts.reads).toBeGreaterThan(0);
      expect(counts.lookups).toBeGreaterThan(0);
      expect(counts.lookupsFailed, 'the flapping store was seen failing').toBeGreaterThan(0);
      expect(counts.runs).toBeGreaterThan(0);
      expect({
        wrongValues: counts.wrongValues,
        lostWrites: counts.lostWrites,
        fellThrough: counts.fellThrough,
        slowLookups: counts.slowLookups,
        httpErrors: counts.httpErrors,
        runsNotSuccess: counts.runsNotSuccess,
        triesTwice: counts.triesTwice,
        triesMissing: counts.triesMissing,
      }).toEqual({
        wrongValues: 0,
        lostWrites: 0,
        fellThrough: 0,
        slowLookups: 0,
        httpErrors: 0,
        runsNotSuccess: 0,
        triesTwice: 0,
        triesMissing: 0,
      });

      // Memory: after the first third (warm-up), RSS stays within a band (no steady growth).
      const warm = rss.slice(Math.floor(rss.length / 3));
      const mb = (kb: number) => Math.round(kb / 102.4) / 10;
      const figures = (['a', 'b'] as const).map((server) => {
        const values = warm.map((s) => s[server]);
        return { first: values[0] ?? 0, last: values.at(-1) ?? 0, max: Math.max(...values) };
      });
      for (const f of figures) expect(f.last).toBeLessThan(f.first * 1.5 + 20_000);
      /** Seven samples, evenly spread over the whole run, of one server's RSS. */
      const series = (server: 'a' | 'b') =>
        Array.from(
          { length: 7 },
          (_, i) => rss[Math.round((i * (rss.length - 1)) / 6)]?.[server] ?? 0,
        );

      if (process.env.UPDATE_RELIABILITY_DOC === '1') {
        const path = join(ROOT, 'docs/reliability.md');
        const page = readFileSync(path, 'utf8');
        const BEGIN = '<!-- soak:begin (written by test/reliability/soak.test.ts) -->';
        const END = '<!-- soak:end -->';
        const table = [
          BEGIN,
          `Last recorded run: ${SECONDS} s, ${WRITERS} writers and ${READERS} readers on two servers, 2 lookup clients, a DAG run triggered every ${TRIGGER_MS} ms (two tasks, run by the two servers' workers), Vault failing 12 requests every ${FLAP_MS} ms.`,
          '',
          '| Figure | Value |',
          '| --- | --- |',
          `| acknowledged writes | ${counts.writes} |`,
          `| reads on the other server | ${counts.reads} |`,
          `| lookups through the chain (of which failed closed on the flapping Vault) | ${counts.lookups} (${counts.lookupsFailed}) |`,
          `| wrong values | ${counts.wrongValues} |`,
          `| lost writes | ${counts.lostWrites} |`,
          `| lookups that fell through past Vault | ${counts.fellThrough} |`,
          `| lookups slower than ${LOOKUP_BOUND_MS / 1000} s | ${counts.slowLookups} |`,
          `| DAG runs triggered (not ending in success) | ${counts.runs} (${counts.runsNotSuccess}) |`,
          `| task tries run twice / never | ${counts.triesTwice} / ${counts.triesMissing} |`,
          `| server RSS after warm-up, first → last (max), MB | ${figures.map((f) => `${mb(f.first)} → ${mb(f.last)} (${mb(f.max)})`).join('; ')} |`,
          `| server RSS over the run (every sixth of it), MB | ${(['a', 'b'] as const).map((server) => series(server).map(mb).join(' → ')).join('; ')} |`,
          END,
        ].join('\n');
        const start = page.indexOf(BEGIN);
        const stop = page.indexOf(END);
        writeFileSync(
          path,
          start >= 0 && stop > start
            ? page.slice(0, start) + table + page.slice(stop + END.length)
            : `${page.trimEnd()}\n\n${table}\n`,
        );
      }
    },
    SECONDS * 1000 + 150_000,
  );
});
