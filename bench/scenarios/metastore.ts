/**
 * `metastore`: the encrypted metastore's own speed, one operation at a time (latency, not
 * throughput under load): writes (`setVariable`, Fernet-encrypted) then reads (`getVariable`,
 * decrypted) on SQLite and PostgreSQL. Ops/s and p99 latency of each, and the writes against a
 * raw upsert of the same rows with the same driver (`pg`; `node:sqlite`), alternating rounds:
 * `pg_set_vs_raw` (issue 21: ≥ 0.7) and `sqlite_set_vs_raw`.
 */
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { ScenarioOptions } from '../_types.ts';
import { type BenchMetastore, openBenchMetastore } from './_metastore.ts';

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

const UPSERT = `insert into variable (key, val, description, is_encrypted, created_at, updated_at)
  values ($1, $2, null, true, $3, $3)
  on conflict (key) do update set val = excluded.val, is_encrypted = true, updated_at = excluded.updated_at`;

/** A raw upsert of one row with the driver alone (the value as airlock would store it). */
async function rawUpserter(
  dialect: 'sqlite' | 'postgres',
  meta: BenchMetastore,
): Promise<{ upsert(key: string, val: string): Promise<unknown>; close(): Promise<void> }> {
  if (dialect === 'postgres') {
    const pool = new pg.Pool({ connectionString: meta.env.AIRLOCK__DATABASE__URL, max: 1 });
    return {
      upsert: (key, val) => pool.query(UPSERT, [key, val, new Date().toISOString()]),
      close: () => pool.end(),
    };
  }
  const db = new DatabaseSync(`${meta.env.AIRLOCK_HOME}/airlock.db`, { timeout: 30_000 });
  const statement = db.prepare(UPSERT.replaceAll(/\$(\d)/g, '?$1'));
  return {
    upsert: async (key, val) => statement.run(key, val, new Date().toISOString()),
    close: async () => db.close(),
  };
}

/** airlock's `setVariable` against the raw upsert, in alternating rounds: the ops/s of each. */
async function setVsRaw(
  dialect: 'sqlite' | 'postgres',
  meta: BenchMetastore,
  count: number,
): Promise<{ airlock: number; raw: number }> {
  const raw = await rawUpserter(dialect, meta);
  const token = meta.store.fernet.encrypt('a value of the usual size');
  const rounds = 5;
  const per = Math.ceil(count / rounds);
  let airlockMs = 0;
  let rawMs = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      for (let i = 0; i < per; i++) await meta.store.setVariable(`cmp_a_${i}`, `value ${round}`);
      airlockMs += performance.now() - started;
      started = performance.now();
      for (let i = 0; i < per; i++) await raw.upsert(`cmp_r_${i}`, token);
      rawMs += performance.now() - started;
    }
  } finally {
    await raw.close();
  }
  const ops = per * rounds;
  return { airlock: (ops / airlockMs) * 1000, raw: (ops / rawMs) * 1000 };
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
      const compared = await setVsRaw(dialect, meta, quick ? 1_000 : 5_000);
      const short = dialect === 'postgres' ? 'pg' : 'sqlite';
      out[`${short}_set_ops_s`] = Math.round(compared.airlock);
      out[`${short}_raw_upsert_ops_s`] = Math.round(compared.raw);
      out[`${short}_set_vs_raw`] = compared.airlock / compared.raw;
    } finally {
      await meta.close();
    }
  }
  return out;
}
