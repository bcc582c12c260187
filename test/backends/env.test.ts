import { describe, expect, it } from 'vitest';
import { connectionEnvName, createEnvBackend, variableEnvName } from '../../src/backends/env.ts';
import { runBackendContract } from '../contract/backend-contract.ts';

runBackendContract({
  name: 'env',
  setup: async () => {
    const env: Record<string, string> = {};
    return {
      backend: createEnvBackend({ env }),
      seedVariable: async (key, value) => {
        env[variableEnvName(key)] = value;
      },
      seedConnection: async (connId, value) => {
        env[connectionEnvName(connId)] = typeof value === 'string' ? value : JSON.stringify(value);
      },
      teardown: async () => {},
    };
  },
});

describe('env backend', () => {
  it('upper-cases only the id, keeping dashes and dots', () => {
    expect(variableEnvName('my-key.v2')).toBe('AIRFLOW_VAR_MY-KEY.V2');
    expect(connectionEnvName('aws_default')).toBe('AIRFLOW_CONN_AWS_DEFAULT');
  });

  it('upper-cases Unicode the way Python str.upper does', () => {
    expect(variableEnvName('straße')).toBe('AIRFLOW_VAR_STRASSE');
  });

  it('never finds a lower-case env name, as on POSIX', async () => {
    const backend = createEnvBackend({ env: { AIRFLOW_VAR_my_key: 'x', AIRFLOW_VAR_MY_KEY: 'y' } });
    expect(await backend.getVariable('my_key')).toBe('y');
    const lowerOnly = createEnvBackend({ env: { AIRFLOW_VAR_my_key: 'x' } });
    expect(await lowerOnly.getVariable('my_key')).toBeUndefined();
  });

  it('keeps an empty variable as a value', async () => {
    const backend = createEnvBackend({ env: { AIRFLOW_VAR_EMPTY: '' } });
    expect(await backend.getVariable('empty')).toBe('');
  });

  it('reads process.env by default', async () => {
    process.env.AIRFLOW_VAR_AIRLOCK_ENV_DEFAULT_TEST = 'from process';
    try {
      expect(await createEnvBackend().getVariable('airlock_env_default_test')).toBe('from process');
    } finally {
      delete process.env.AIRFLOW_VAR_AIRLOCK_ENV_DEFAULT_TEST;
    }
  });

  it('locates each lookup at its env name', () => {
    const backend = createEnvBackend({ env: {} });
    expect(backend.locate?.('variable', 'a')).toBe('AIRFLOW_VAR_A');
    expect(backend.locate?.('connection', 'b')).toBe('AIRFLOW_CONN_B');
    expect(backend.describe()).toEqual({ type: 'env' });
  });
});
