import { afterAll, describe, expect, it } from 'vitest';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { startTcpFaultProxy } from '../helpers/fault-proxy.ts';
import { postgresDatabases } from './_databases.ts';
import {
  expectCoded,
  runMetastoreBackendContract,
  runMetastoreContract,
} from './metastore-contract.ts';

runMetastoreContract({ databases: postgresDatabases });

runMetastoreBackendContract(postgresDatabases);

describe('metastore on PostgreSQL', () => {
  const databases = postgresDatabases();
  const keys = parseFernetKeys(Fernet.generateKey());
  afterAll(() => databases.dispose());

  it('writes a Variable in one round trip once the key check passed', async () => {
    const db = await databases.create();
    const proxy = await startTcpFaultProxy({ host: '127.0.0.1', port: 5432 });
    const store = await Metastore.open({
      url: db.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
      keys,
    });
    try {
      // The first write checks the keys (in a transaction with the write).
      expect(await store.setVariable('first', 'one')).toBe('created');
      const before = proxy.sends;
      const outcomes = [];
      for (let i = 0; i < 10; i++) outcomes.push(await store.setVariable(`k${i % 5}`, `v${i}`));
      expect(proxy.sends - before).toBe(10);
      expect(outcomes).toEqual([...Array(5).fill('created'), ...Array(5).fill('updated')]);
      expect(await store.getVariable('k4')).toBe('v9');
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it("accepts SQLAlchemy's postgresql+psycopg2:// and postgres:// forms", async () => {
    const db = await databases.create();
    for (const scheme of ['postgresql+psycopg2', 'postgres']) {
      const store = await Metastore.open({
        url: db.url.replace(/^postgresql/, scheme),
        keys,
      });
      expect(store.dialect).toBe('postgres');
      await store.setVariable(`via_${scheme}`, 'ok');
      await store.close();
    }
  });

  it('reports a refused connection and a bad password without the password', async () => {
    const refused = await expectCoded(
      () => Metastore.open({ url: 'postgresql://app:hunter2-pw@127.0.0.1:1/db', keys }),
      'AIRLOCK_ERR_STORE_UNAVAILABLE',
      ['hunter2-pw'],
    );
    expect(refused.message).toContain('postgresql://app:***@127.0.0.1:1/db');
    const missing = await expectCoded(
      () =>
        Metastore.open({
          url: 'postgresql://postgres:hunter2-pw@127.0.0.1:5432/airlock_no_such_database',
          keys,
        }),
      'AIRLOCK_ERR_STORE_UNAVAILABLE',
      ['hunter2-pw'],
    );
    expect(missing.message).toContain('SQLSTATE 3D000');
  });

  it('reports a search_path that names no schema', async () => {
    await expectCoded(
      () =>
        Metastore.open({
          url: 'postgresql://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dairlock_no_such_schema',
          keys,
        }),
      'AIRLOCK_ERR_STORE_UNAVAILABLE',
    );
  });
});
