import { describe, expect, it } from 'vitest';
import { createEnvBackend } from '../../src/backends/env.ts';
import { Connection as IndexConnection, Variable as IndexVariable } from '../../src/index.ts';
import { SecretsMasker } from '../../src/masking/masker.ts';
import { Connection as ModelConnection } from '../../src/model/connection.ts';
import { Connection, setTaskRuntime, Variable } from '../../src/pipelines/context.ts';
import { chain, dag, isDag, takeRegisteredDags, task } from '../../src/pipelines/dag.ts';
import { createResolver } from '../../src/resolver/resolver.ts';

describe('dag', () => {
  it('collects the tasks declared in its build callback, with dependencies and settings', () => {
    takeRegisteredDags();
    const d = dag('etl', { schedule: null, defaultArgs: { retries: 2 } }, () => {
      const a = task('extract', () => {});
      const b = task('transform', () => {}, { dependsOn: [a], retries: 0 });
      const c = task('load', () => {}, { timeoutSeconds: 5 });
      b.before(c);
    });
    expect(isDag(d)).toBe(true);
    expect(d.topologicalOrder()).toEqual(['extract', 'transform', 'load']);
    expect(d.getTask('extract')?.downstream).toEqual(['transform']);
    expect(d.getTask('extract')?.settings).toEqual({
      retries: 2,
      retryDelaySeconds: 300,
      timeoutSeconds: null,
      retryExponentialBackoff: false,
      maxRetryDelaySeconds: null,
      triggerRule: 'all_success',
    });
    expect(d.getTask('transform')?.settings.retries).toBe(0);
    expect(d.getTask('load')?.settings.timeoutSeconds).toBe(5);
    expect(takeRegisteredDags()).toEqual([d]);
  });

  it('chains tasks and groups side by side', () => {
    const d = dag('fan', { schedule: null }, () => {
      chain(
        task('a', () => {}),
        [task('b', () => {}), task('c', () => {})],
        task('d', () => {}),
      );
    });
    expect(d.getTask('d')?.upstream).toEqual(['b', 'c']);
    expect(d.getTask('a')?.downstream).toEqual(['b', 'c']);
    takeRegisteredDags();
  });

  it('rejects cycles, duplicate ids, unknown upstream ids, bad ids and bad schedules', () => {
    const code = { code: 'AIRLOCK_ERR_DAG_INVALID' };
    expect(() =>
      dag('cyc', { schedule: null }, () => {
        const a = task('a', () => {});
        const b = task('b', () => {}, { dependsOn: [a] });
        a.dependsOn(b);
      }),
    ).toThrow(expect.objectContaining({ ...code, message: expect.stringMatching(/cycle/) }));
    expect(() =>
      dag('dup', { schedule: null }, () => {
        task('a', () => {});
        task('a', () => {});
      }),
    ).toThrow(expect.objectContaining(code));
    expect(() =>
      dag('unknown', { schedule: null }, () => {
        task('a', () => {}, { dependsOn: ['nope'] });
      }),
    ).toThrow(expect.objectContaining(code));
    expect(() => dag('bad id!', { schedule: null })).toThrow(expect.objectContaining(code));
    expect(() => dag('cron', { schedule: '@daily' })).toThrow(
      expect.objectContaining({ ...code, message: 'DAG `cron`: a schedule needs a startDate' }),
    );
    const start = '2026-01-01T00:00:00Z';
    for (const [options, message] of [
      [{ schedule: '0 0 * *', startDate: start }, /not a 5-field cron expression/],
      [{ schedule: '@daily', startDate: 'soon' }, /startDate must be a Date or an ISO-8601/],
      [{ schedule: '@daily', startDate: start, timezone: 'Nowhere/City' }, /unknown timezone/],
      [{ schedule: '@continuous', startDate: start, maxActiveRuns: 2 }, /maxActiveRuns 1/],
      [
        { schedule: '@daily', startDate: start, endDate: '2025-01-01T00:00:00Z' },
        /before startDate/,
      ],
    ] as const) {
      expect(() => dag('sched', options)).toThrow(
        expect.objectContaining({ ...code, message: expect.stringMatching(message) }),
      );
    }
    const ok = dag('sched_ok', {
      schedule: '30 6 * * 1-5',
      startDate: new Date(start),
      timezone: 'Europe/Paris',
    });
    expect(ok).toMatchObject({
      schedule: '30 6 * * 1-5',
      catchup: false,
      maxActiveRuns: 16,
      timezone: 'Europe/Paris',
      startDate: Date.parse(start),
    });
    expect(() => task('orphan', () => {})).toThrow(expect.objectContaining(code));
    expect(() =>
      dag('rule', { schedule: null }, () => {
        task('a', () => {}, { triggerRule: 'sometimes' as 'always' });
      }),
    ).toThrow(
      expect.objectContaining({
        ...code,
        message: expect.stringMatching(/triggerRule must be one of all_success/),
      }),
    );
    expect(() =>
      dag('neg', { schedule: null }, () => {
        task('a', () => {}, { retries: -1 });
      }),
    ).toThrow(expect.objectContaining(code));
    takeRegisteredDags();
  });
});

describe('Variable and Connection', () => {
  it('resolve through the installed runtime and register sensitive values with its masker', async () => {
    const masker = new SecretsMasker();
    const env = {
      AIRFLOW_VAR_GREETING: 'hello',
      AIRFLOW_VAR_API_TOKEN: 'tok-123456',
      AIRFLOW_CONN_WAREHOUSE: 'postgres://u:pa55word@db:5432/x',
    };
    const resolver = createResolver({ backends: [createEnvBackend({ env })], masker });
    const previous = setTaskRuntime({ resolver, masker });
    try {
      expect(await Variable.get('greeting')).toBe('hello');
      expect(await Variable.get('missing', { default: 'd' })).toBe('d');
      await expect(Variable.get('missing')).rejects.toMatchObject({
        code: 'AIRLOCK_ERR_VAR_NOT_FOUND',
      });
      await Variable.get('api_token');
      const conn = await Connection.get('warehouse');
      expect(conn).toBeInstanceOf(ModelConnection);
      expect(conn).toBeInstanceOf(Connection);
      expect(conn.host).toBe('db');
      expect(masker.redact('hello tok-123456 pa55word')).toBe('hello *** ***');
      expect(Connection.fromUri('mysql://h').connType).toBe('mysql');
      expect(IndexConnection).toBe(Connection);
      expect(IndexVariable).toBe(Variable);
    } finally {
      setTaskRuntime(previous);
    }
  });
});
