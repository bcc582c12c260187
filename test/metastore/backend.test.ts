import { describe, expect, it } from 'vitest';
import {
  connectionJson,
  createMetastoreBackend,
  type MetastoreReader,
} from '../../src/backends/metastore.ts';
import { AirlockError } from '../../src/errors.ts';
import { Connection } from '../../src/model/connection.ts';

function reader(): MetastoreReader & { closed: number } {
  return {
    closed: 0,
    async getVariable(key) {
      return key === 'k' ? 'v' : undefined;
    },
    async getConnection(connId) {
      return connId === 'c'
        ? {
            connType: 'postgres',
            description: 'd',
            host: 'h',
            login: 'u',
            password: 'p@ss',
            schema: 's',
            port: 5432,
            extra: '{"a": "1", "n": 2}',
          }
        : undefined;
    },
    async listVariableKeys() {
      return ['k'];
    },
    async close() {
      this.closed++;
    },
  };
}

describe('metastore backend', () => {
  it('opens the store on the first lookup only, once, and closes it on dispose', async () => {
    const store = reader();
    let opens = 0;
    const backend = createMetastoreBackend({
      metastore: async () => {
        opens++;
        return store;
      },
      url: 'sqlite:////x/airlock.db',
    });
    expect(opens).toBe(0);
    expect(backend.describe()).toEqual({ type: 'metastore', url: 'sqlite:////x/airlock.db' });
    expect(backend.locate?.('variable', 'k')).toBe('sqlite:////x/airlock.db#variable/k');
    const [a, b] = await Promise.all([backend.getVariable('k'), backend.getVariable('zz')]);
    expect([a, b]).toEqual(['v', undefined]);
    expect(await backend.listVariableKeys?.()).toEqual(['k']);
    expect(opens).toBe(1);
    await backend.dispose?.();
    expect(store.closed).toBe(1);
  });

  it('misses everything when there is no metastore yet', async () => {
    const backend = createMetastoreBackend({ metastore: async () => undefined });
    expect(await backend.getVariable('k')).toBeUndefined();
    expect(await backend.getConnectionValue('c')).toBeUndefined();
    expect(await backend.listVariableKeys?.()).toEqual([]);
  });

  it('tries to open again after a failed open', async () => {
    let attempts = 0;
    const backend = createMetastoreBackend({
      metastore: async () => {
        attempts++;
        if (attempts === 1) throw new AirlockError('AIRLOCK_ERR_STORE_UNAVAILABLE', 'down');
        return reader();
      },
    });
    await expect(backend.getVariable('k')).rejects.toThrow('down');
    expect(await backend.getVariable('k')).toBe('v');
  });

  it("serves a Connection as Airflow's JSON form, which deserialises to the same fields", async () => {
    const backend = createMetastoreBackend({ metastore: reader() });
    const raw = await backend.getConnectionValue('c');
    const conn = Connection.deserialize('c', raw ?? '');
    expect(conn.toDict()).toEqual({
      conn_id: 'c',
      conn_type: 'postgres',
      description: 'd',
      host: 'h',
      login: 'u',
      password: 'p@ss',
      schema: 's',
      port: 5432,
      extra: { a: 1, n: 2 },
    });
    expect(conn.extra).toBe('{"a": "1", "n": 2}');
    expect(
      connectionJson({
        connType: 'http',
        description: null,
        host: null,
        login: null,
        password: null,
        schema: null,
        port: null,
        extra: null,
      }),
    ).toBe('{"conn_type":"http"}');
  });
});
