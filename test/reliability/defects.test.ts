/**
 * Issue 16's defects, each tried as a user meets it: the CLI spawned against real Redis,
 * SQLite/PostgreSQL, and loopback servers that misbehave. Every check here failed before the fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../src/metastore/fernet.ts';
import { runAirlock } from '../helpers/cli.ts';
import { type Blackhole, startBlackhole } from '../helpers/fault-proxy.ts';
import { tempDir } from '../helpers/tmp.ts';

/** A generous bound for "it did not hang" (the faults below are set to time out in ≤ 1 s). */
const BOUNDED_MS = 12_000;

function sqliteEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AIRLOCK_HOME: dir,
    AIRLOCK__DATABASE__URL: `sqlite:///${dir}/airlock.db`,
    AIRLOCK__CORE__FERNET_KEY: Fernet.generateKey(),
    ...extra,
  };
}

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await run();
  return { result, ms: performance.now() - started };
}

function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /shared cache/.test(line));
}

describe('defect 1: a shared-cache Redis that accepts and never answers', () => {
  let hole: Blackhole;
  beforeAll(async () => {
    hole = await startBlackhole();
  });
  afterAll(() => hole.close());

  const cacheEnv = () => ({
    AIRLOCK__SECRETS__SHARED_CACHE_URL: `redis://127.0.0.1:${hole.port}/0`,
    AIRLOCK__SECRETS__SHARED_CACHE_TIMEOUT_MS: '300',
  });

  it('does not hold `variables get` of a value the environment serves, and warns once', async () => {
    const dir = tempDir();
    const { result, ms } = await timed(() =>
      runAirlock(['variables', 'get', 'from_env'], {
        env: sqliteEnv(dir, { ...cacheEnv(), AIRFLOW_VAR_FROM_ENV: 'env-value' }),
        timeoutMs: BOUNDED_MS,
      }),
    );
    expect(result.signal).toBeNull();
    expect(result.stdout).toBe('env-value\n');
    expect(result.code).toBe(0);
    expect(warnings(result.stderr)).toHaveLength(1);
    expect(result.stderr).not.toContain('env-value');
    expect(ms).toBeLessThan(BOUNDED_MS);
  });

  it('reports a committed `variables set` as done, with one warning, and keeps the value', async () => {
    const dir = tempDir();
    const env = sqliteEnv(dir, cacheEnv());
    const set = await runAirlock(['variables', 'set', 'k', 'written'], {
      env,
      timeoutMs: BOUNDED_MS,
    });
    expect(set.signal).toBeNull();
    expect(set.code).toBe(0);
    expect(set.stdout).toBe('Variable k created\n');
    expect(warnings(set.stderr)).toHaveLength(1);
    const get = await runAirlock(['variables', 'get', 'k'], { env, timeoutMs: BOUNDED_MS });
    expect(get.stdout).toBe('written\n');
    expect(get.code).toBe(0);
  });

  it('bypasses it for a whole multi-key lookup after the first failure', async () => {
    const dir = tempDir();
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const env = sqliteEnv(dir, cacheEnv());
    for (const key of keys) env[`AIRFLOW_VAR_${key.toUpperCase()}`] = `v-${key}`;
    const { result, ms } = await timed(() =>
      runAirlock(['variables', 'get', ...keys], { env, timeoutMs: BOUNDED_MS }),
    );
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(keys.length);
    expect(warnings(result.stderr)).toHaveLength(1);
    expect(ms).toBeLessThan(BOUNDED_MS);
  });
});

describe('defect 1: a PostgreSQL metastore that accepts and never answers', () => {
  let hole: Blackhole;
  beforeAll(async () => {
    hole = await startBlackhole();
  });
  afterAll(() => hole.close());

  it("fails `variables set` within libpq's connect_timeout with AIRLOCK_ERR_STORE_UNAVAILABLE", async () => {
    const dir = tempDir();
    const { result, ms } = await timed(() =>
      runAirlock(['variables', 'set', 'k', 'never-stored'], {
        env: sqliteEnv(dir, {
          AIRLOCK__DATABASE__URL: `postgresql://postgres:db-password@127.0.0.1:${hole.port}/test?connect_timeout=1`,
        }),
        timeoutMs: 8_000,
      }),
    );
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    // One warning that the deployment settings could not be read (bounded by the same
    // connect_timeout), then the command's own error.
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('could not read the deployment settings');
    expect(lines[1]).toMatch(/^airlock: error AIRLOCK_ERR_STORE_UNAVAILABLE: /);
    expect(result.stderr).not.toMatch(/never-stored|db-password/);
    expect(ms).toBeLessThan(8_000);
  });
});

describe('defect 2: one deadline per lookup', () => {
  let hole: Blackhole;
  beforeAll(async () => {
    hole = await startBlackhole();
  });
  afterAll(() => hole.close());

  it('fails a lookup held by a store that never answers with AIRLOCK_ERR_BACKEND_TIMEOUT', async () => {
    const dir = tempDir();
    const { result, ms } = await timed(() =>
      runAirlock(['variables', 'get', 'held'], {
        env: sqliteEnv(dir, {
          AIRLOCK__SECRETS__BACKEND: 'vault',
          // Vault's own per-request timeout stays as the user set it (a minute here).
          AIRLOCK__SECRETS__BACKEND_KWARGS: JSON.stringify({
            url: `http://127.0.0.1:${hole.port}`,
            token: 'root-token-value',
            timeout: 60,
          }),
          AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS: '1',
        }),
        timeoutMs: BOUNDED_MS,
      }),
    );
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^airlock: error AIRLOCK_ERR_BACKEND_TIMEOUT: vault: the lookup of variable `held` did not finish within its 1000 ms deadline/,
    );
    expect(result.stderr).not.toContain('root-token-value');
    expect(ms).toBeLessThan(BOUNDED_MS);
  });
});
