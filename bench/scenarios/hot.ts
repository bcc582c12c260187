/**
 * `hot`: cached Variable lookups through the resolver against the floor a cache can reach, an
 * async function around a bare `Map.get`. Same keys, same loop, same run.
 */
import { createEnvBackend } from '../../src/backends/env.ts';
import { SecretCache } from '../../src/resolver/cache.ts';
import { createResolver } from '../../src/resolver/resolver.ts';
import type { ScenarioOptions } from '../_types.ts';

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  const lookups = 1_000_000;
  const rounds = quick ? 3 : 5;
  const keys = Array.from({ length: 100 }, (_, i) => `hot_key_${i}`);
  const env = Object.fromEntries(keys.map((k) => [`AIRFLOW_VAR_${k.toUpperCase()}`, `v-${k}`]));
  const resolver = createResolver({
    backends: [createEnvBackend({ env })],
    cache: new SecretCache({ ttlSeconds: { variable: 3600 } }),
  });
  for (const key of keys) await resolver.getVariable(key);

  const map = new Map(keys.map((k) => [k, `v-${k}`]));
  const baseline = async (key: string) => map.get(key);

  async function timeAirlock(): Promise<number> {
    let sink = 0;
    const started = performance.now();
    for (let i = 0; i < lookups; i++) {
      const hit = await resolver.getVariable(keys[i % 100] as string);
      sink += hit?.value.length ?? 0;
    }
    const ms = performance.now() - started;
    if (sink === 0) throw new Error('no value read');
    return (lookups / ms) * 1000;
  }
  async function timeBaseline(): Promise<number> {
    let sink = 0;
    const started = performance.now();
    for (let i = 0; i < lookups; i++) {
      const value = await baseline(keys[i % 100] as string);
      sink += value?.length ?? 0;
    }
    const ms = performance.now() - started;
    if (sink === 0) throw new Error('no value read');
    return (lookups / ms) * 1000;
  }
  // Interleaved rounds, best of each: both sides see the same machine state.
  let airlock = 0;
  let bare = 0;
  for (let r = 0; r < rounds; r++) {
    bare = Math.max(bare, await timeBaseline());
    airlock = Math.max(airlock, await timeAirlock());
  }
  return {
    lookups,
    airlock_ops_s: Math.round(airlock),
    baseline_ops_s: Math.round(bare),
    hot_ratio: airlock / bare,
  };
}
