/**
 * `metastore`: the encrypted metastore's own speed, one operation at a time (latency, not
 * throughput under load): writes (`setVariable`, Fernet-encrypted) then reads (`getVariable`,
 * decrypted) on SQLite and PostgreSQL. Ops/s and p99 latency of each.
 */
import type { ScenarioOptions } from '../_types.ts';
import { openBenchMetastore } from './_metastore.ts';

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

export async function run({ quick }: ScenarioOptions): Promise<Record<string, number>> {
  const count = quick ? 1_000 : 10_000;
  const out: Record<string, number> = { operations: count };
  for (const dialect of ['sqlite', 'postgres'] as const) {
    const meta = await openBenchMetastore(dialect);
    try {
      const keys = Array.from({ length: count }, (_, i) => `bench_var_${i}`);
      const writes: number[] = [];
      let started = performance.now();
      for (const key of keys) {
        const t = performance.now();
        await meta.store.setVariable(key, `value of ${key}`);
        writes.push(performance.now() - t);
      }
      const writeWall = performance.now() - started;
      const reads: number[] = [];
      started = performance.now();
      for (const key of keys) {
        const t = performance.now();
        if ((await meta.store.getVariable(key)) === undefined) throw new Error(`lost ${key}`);
        reads.push(performance.now() - t);
      }
      const readWall = performance.now() - started;
      out[`${dialect}_write_ops_s`] = Math.round((count / writeWall) * 1000);
      out[`${dialect}_write_p99_ms`] = p99(writes);
      out[`${dialect}_read_ops_s`] = Math.round((count / readWall) * 1000);
      out[`${dialect}_read_p99_ms`] = p99(reads);
    } finally {
      await meta.close();
    }
  }
  return out;
}
