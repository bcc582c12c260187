/** A fresh metastore (SQLite in a temp folder, or a new PostgreSQL schema) for a scenario. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.ts';
import { Fernet } from '../../src/metastore/fernet.ts';
import type { Metastore } from '../../src/metastore/metastore.ts';
import { openMetastoreFromConfig } from '../../src/metastore/open.ts';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

export interface BenchMetastore {
  store: Metastore;
  /** The environment that opens this metastore (for a CLI run against it). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function openBenchMetastore(dialect: 'sqlite' | 'postgres'): Promise<BenchMetastore> {
  const home = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  let url = `sqlite:///${join(home, 'airlock.db')}`;
  let schema: string | undefined;
  let admin: pg.Client | undefined;
  if (dialect === 'postgres') {
    admin = new pg.Client({ ...PG, connectionTimeoutMillis: 5_000 });
    try {
      await admin.connect();
    } catch (err) {
      throw new Error(
        `the metastore scenario needs PostgreSQL at ${PG.host}:${PG.port} (user ${PG.user}, database ${PG.database}): ${(err as Error).message}`,
      );
    }
    schema = `airlock_bench_${randomBytes(6).toString('hex')}`;
    await admin.query(`create schema ${schema}`);
    url = `postgresql://${PG.user}@${PG.host}:${PG.port}/${PG.database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }
  const env = {
    AIRLOCK_HOME: home,
    AIRLOCK__DATABASE__URL: url,
    AIRLOCK__CORE__FERNET_KEY: Fernet.generateKey(),
  };
  const config = loadConfig(env);
  const store = await openMetastoreFromConfig(config, { intent: 'write' });
  if (!store) throw new Error('the metastore could not be opened');
  return {
    store,
    env,
    async close() {
      await store.close();
      if (admin && schema) {
        await admin.query(`drop schema ${schema} cascade`);
        await admin.end();
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
