/**
 * `negative`: ids that live only in the metastore while Vault is configured first, the case
 * where Airflow pays a remote miss on every lookup. 1,000 lookups of 50 Variables; the store
 * calls counted at the Vault fake, for airlock with its cache and without.
 */
import { createEnvBackend } from '../../src/backends/env.ts';
import { createMetastoreBackend } from '../../src/backends/metastore.ts';
import { createVaultBackend } from '../../src/backends/vault.ts';
import { SecretCache } from '../../src/resolver/cache.ts';
import { createResolver } from '../../src/resolver/resolver.ts';
import { startVaultFake } from '../../src/testing/fakes/vault-fake.ts';
import type { ScenarioOptions } from '../_types.ts';
import { openBenchMetastore } from './_metastore.ts';

export async function run(_options: ScenarioOptions): Promise<Record<string, number>> {
  const lookups = 1_000;
  const keys = Array.from({ length: 50 }, (_, i) => `meta_only_${i}`);
  const vault = await startVaultFake();
  const meta = await openBenchMetastore('sqlite');
  try {
    for (const key of keys) await meta.store.setVariable(key, `value of ${key}`);
    const chain = () => [
      createVaultBackend({ url: vault.url, token: vault.rootToken }),
      createEnvBackend({ env: {} }),
      createMetastoreBackend({ metastore: meta.store, closeOnDispose: false }),
    ];
    const measure = async (cache: SecretCache | undefined) => {
      const resolver = createResolver({ backends: chain(), ...(cache ? { cache } : {}) });
      vault.clearRequests();
      const started = performance.now();
      for (let i = 0; i < lookups; i++) {
        const hit = await resolver.getVariable(keys[i % keys.length] as string);
        if (hit?.source !== 'metastore') throw new Error('expected a metastore hit');
      }
      const wall = performance.now() - started;
      // Reads of secrets, per key; the backend's one token check (`auth/token/lookup-self`,
      // once per process) is reported apart.
      const calls = vault.requests.filter((r) => r.path.startsWith('secret/')).length;
      const auth = vault.requests.length - calls;
      await resolver.dispose();
      return { calls, auth, wall };
    };
    const baseline = await measure(undefined);
    const airlock = await measure(new SecretCache());
    return {
      lookups,
      distinct_keys: keys.length,
      nocache_backend_calls: baseline.calls,
      nocache_wall_ms: baseline.wall,
      negative_backend_calls: airlock.calls,
      negative_auth_calls: airlock.auth,
      airlock_wall_ms: airlock.wall,
      negative_calls_ratio: airlock.calls / keys.length,
    };
  } finally {
    await meta.close();
    await vault.close();
  }
}
