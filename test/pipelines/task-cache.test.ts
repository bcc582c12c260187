/**
 * A task's lookups go through the deployment's cache and shared cache, as `docs/cache.md`
 * promises every resolver: the supervisor resolves for its task processes, so the tries of one
 * worker share its cache, and separate workers share the Redis cache.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const TOKEN = 'task-cache-token-31f';
const REDIS_URL = process.env.AIRLOCK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

let vault: VaultFake;
beforeAll(async () => {
  vault = await startVaultFake({ rootToken: TOKEN });
});
afterAll(async () => {
  await vault?.close();
});

/** A home whose DAG's three tasks each read the Variable `key` from Vault. */
function deployment(key: string, extra: Record<string, string> = {}): Record<string, string> {
  const home = tempDir('airlock-task-cache-');
  mkdirSync(join(home, 'dags'));
  writeFileSync(
    join(home, 'dags', 'readers.ts'),
    `import { dag, task, Variable } from 'airlock';
dag('readers', { schedule: null }, () => {
  const a = task('a', async ({ log }) => { log.info('a=' + (await Variable.get('${key}'))); });
  const b = task('b', async ({ log }) => { log.info('b=' + (await Variable.get('${key}'))); }, { dependsOn: [a] });
  task('c', async ({ log }) => { log.info('c=' + (await Variable.get('${key}'))); }, { dependsOn: [b] });
});
`,
  );
  return {
    AIRLOCK_HOME: home,
    AIRLOCK__CORE__FERNET_KEY: 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=',
    AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify({ url: vault.url, token: TOKEN }),
    ...extra,
  };
}

/** How many times Vault was asked for the Variable `key`. */
function storeCalls(key: string): number {
  return vault.requests.filter((r) => r.path.endsWith(`variables/${key}`)).length;
}

describe('task lookups and the cache', () => {
  it('lets the tries of one worker share its cache: three tasks, one store call', async () => {
    const key = `k-${randomUUID().slice(0, 8)}`;
    vault.writeSecret(`secret/variables/${key}`, { value: 'cached-value' });
    const r = await runAirlock(['dags', 'test', 'readers'], {
      env: deployment(key),
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    for (const t of ['a', 'b', 'c']) expect(r.stdout).toContain(`${t}=cached-value`);
    expect(storeCalls(key)).toBe(1);
  });

  it('shares values between workers through the Redis cache', async () => {
    const key = `k-${randomUUID().slice(0, 8)}`;
    vault.writeSecret(`secret/variables/${key}`, { value: 'shared-value' });
    const shared = { AIRLOCK__SECRETS__SHARED_CACHE_URL: `${REDIS_URL.replace(/\/\d+$/, '')}/7` };
    const first = await runAirlock(['dags', 'test', 'readers'], {
      env: deployment(key, shared),
      timeoutMs: 60_000,
    });
    expect(first.code, first.stderr).toBe(0);
    expect(storeCalls(key)).toBe(1);
    // Another process (another home, same Fernet key and Redis): served by the shared cache.
    const second = await runAirlock(['dags', 'test', 'readers'], {
      env: deployment(key, shared),
      timeoutMs: 60_000,
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('c=shared-value');
    expect(storeCalls(key)).toBe(1);
  });
});
