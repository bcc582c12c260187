import { describe, expect, it } from 'vitest';
import { createEnvBackend } from '../../src/backends/env.ts';
import { AirlockError, NotFoundError } from '../../src/errors.ts';
import { getConnection } from '../../src/model/connection-lookup.ts';
import { getVariable } from '../../src/model/variable.ts';
import { createResolver } from '../../src/resolver/resolver.ts';
import { scriptedBackend } from '../helpers/scripted-backend.ts';

const unavailable = () =>
  new AirlockError(
    'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    'vault: could not read variable `k` (HTTP 503)',
  );

describe('resolver', () => {
  it('walks the chain in order and reports the first link that holds the value', async () => {
    const vault = scriptedBackend('vault', { shared: 'from vault' });
    const env = createEnvBackend({
      env: { AIRFLOW_VAR_SHARED: 'from env', AIRFLOW_VAR_ONLY_ENV: 'e' },
    });
    const resolver = createResolver({ backends: [vault, env] });
    expect(await resolver.getVariable('shared')).toMatchObject({
      value: 'from vault',
      source: 'vault',
    });
    const onlyEnv = await resolver.getVariable('only_env');
    expect(onlyEnv).toMatchObject({ value: 'e', source: 'env' });
    expect(onlyEnv?.trace.map((t) => [t.backend, t.outcome])).toEqual([
      ['vault', 'miss'],
      ['env', 'hit'],
    ]);
    expect(await resolver.getVariable('nowhere')).toBeUndefined();
  });

  it('stops at the first hit: later links are not asked', async () => {
    const first = scriptedBackend('vault', { k: 'v' });
    const second = scriptedBackend('env', { k: 'other' });
    await createResolver({ backends: [first, second] }).getVariable('k');
    expect(second.calls).toEqual([]);
  });

  it('treats an empty variable as a value, but an empty connection as a miss', async () => {
    const first = scriptedBackend('vault', { empty: '' }, { empty_conn: '' });
    const second = scriptedBackend('env', {}, { empty_conn: 'postgres://h' });
    const resolver = createResolver({ backends: [first, second] });
    expect(await resolver.getVariable('empty')).toMatchObject({ value: '', source: 'vault' });
    expect(await resolver.getConnection('empty_conn')).toMatchObject({ source: 'env' });
  });

  it('fails closed by default: a failing link stops the lookup with its coded error', async () => {
    const vault = scriptedBackend('vault', { k: unavailable() });
    const env = scriptedBackend('env', { k: 'fallback' });
    const resolver = createResolver({ backends: [vault, env] });
    await expect(resolver.getVariable('k')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    });
    expect(env.calls).toEqual([]);
  });

  it('falls through on error with fallthroughOnError, as Airflow does, keeping the error in the trace', async () => {
    const vault = scriptedBackend('vault', { k: unavailable() });
    const env = scriptedBackend('env', { k: 'fallback' });
    const resolver = createResolver({ backends: [vault, env], fallthroughOnError: true });
    const hit = await resolver.getVariable('k');
    expect(hit).toMatchObject({ value: 'fallback', source: 'env' });
    expect(hit?.trace[0]).toMatchObject({
      backend: 'vault',
      outcome: 'error',
      errorCode: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    });
  });

  it('wraps a foreign error without forwarding its message', async () => {
    const vault = scriptedBackend('vault', { k: new TypeError('socket said s3cret-value') });
    const resolver = createResolver({ backends: [vault] });
    const err = await resolver.getVariable('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
    expect((err as AirlockError).message).toBe('vault: could not read variable `k` (TypeError)');
    expect(JSON.stringify(err)).not.toContain('s3cret');
    expect((err as Error).cause).toBeUndefined();
  });

  it('bounds each link with linkTimeoutMs even when the backend ignores its signal', async () => {
    const slow = scriptedBackend('vault', { k: 'late' });
    slow.delayMs = 500;
    const resolver = createResolver({ backends: [slow], linkTimeoutMs: 50 });
    await expect(resolver.getVariable('k')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_TIMEOUT',
    });
  });

  it('fails the whole lookup at lookupTimeoutMs, naming the link it waited on, with fallthrough on too', async () => {
    const first = scriptedBackend('aws-ssm', {});
    first.delayMs = 30;
    const hung = scriptedBackend('vault', { k: 'late-value' });
    hung.delayMs = 5_000;
    const env = scriptedBackend('env', { k: 'env-value' });
    const resolver = createResolver({
      backends: [first, hung, env],
      lookupTimeoutMs: 100,
      fallthroughOnError: true,
    });
    const err = await resolver.getVariable('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirlockError);
    expect(err).toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_TIMEOUT',
      details: { backend: 'vault', id: 'k', timeoutMs: 100 },
    });
    expect(env.calls).toEqual([]);
    await expect(resolver.getVariables(['k', 'j'])).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_TIMEOUT',
    });
  });

  it('parses connections (URI or JSON) and names the backend when one does not parse', async () => {
    const vault = scriptedBackend(
      'vault',
      {},
      {
        uri: 'postgres://u:p@h:5432/db',
        json: '{"conn_type": "mysql", "host": "h", "port": "3306"}',
        bad: 'postgres://u:pw@h:notaport/db',
      },
    );
    const resolver = createResolver({ backends: [vault] });
    const uri = await resolver.getConnection('uri');
    expect(uri?.value.toDict()).toMatchObject({
      conn_type: 'postgres',
      host: 'h',
      port: 5432,
      password: 'p',
    });
    const json = await resolver.getConnection('json');
    expect(json?.value.toDict()).toMatchObject({ conn_type: 'mysql', port: 3306 });
    const err = await resolver.getConnection('bad').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AIRLOCK_ERR_CONN_PORT_INVALID' });
    expect((err as Error).message).toMatch(/^vault: /);
    expect((err as Error).message).not.toContain('pw');
  });

  it('skips links whose lookups of that kind are disabled', async () => {
    const disabled = scriptedBackend('vault', { k: 'never read' });
    disabled.locate = (kind) => (kind === 'variable' ? undefined : 'somewhere');
    const env = scriptedBackend('env', { k: 'env value' });
    const hit = await createResolver({ backends: [disabled, env] }).getVariable('k');
    expect(hit?.source).toBe('env');
    expect(disabled.calls).toEqual([]);
    expect(hit?.trace[0]).toMatchObject({ outcome: 'skipped' });
    expect(hit?.trace[0]?.reason).toMatch(/^not looked up here \(variable lookups disabled/);
  });

  it('reports every link in which(), with later links skipped or, with all, asked too', async () => {
    const vault = scriptedBackend('vault', { k: 'v' });
    vault.locate = (_kind, id) => `secret/data/variables/${id}`;
    const env = scriptedBackend('env', { k: 'shadowed' });
    const resolver = createResolver({ backends: [vault, env] });
    const report = await resolver.which('variable', 'k');
    expect(report.source).toBe('vault');
    expect(report.trace).toEqual([
      expect.objectContaining({
        backend: 'vault',
        outcome: 'hit',
        location: 'secret/data/variables/k',
      }),
      expect.objectContaining({ backend: 'env', outcome: 'skipped', reason: 'served by vault' }),
    ]);
    const all = await resolver.which('variable', 'k', { all: true });
    expect(all.trace.map((t) => t.outcome)).toEqual(['hit', 'hit']);
    expect(JSON.stringify(all)).not.toContain('shadowed');
  });

  it('reports a failing link in which() instead of throwing', async () => {
    const resolver = createResolver({
      backends: [
        scriptedBackend('vault', { k: unavailable() }),
        scriptedBackend('env', { k: 'x' }),
      ],
    });
    const report = await resolver.which('variable', 'k');
    expect(report.source).toBeNull();
    expect(report.trace.map((t) => t.outcome)).toEqual(['error', 'skipped']);
    expect(report.trace[0]?.errorCode).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
  });

  it('disposes every backend', async () => {
    const a = scriptedBackend('vault');
    const b = scriptedBackend('env');
    await createResolver({ backends: [a, b] }).dispose();
    expect([a.disposed, b.disposed]).toEqual([true, true]);
  });
});

describe('getVariable', () => {
  const resolver = createResolver({
    backends: [
      createEnvBackend({
        env: { AIRFLOW_VAR_JSON: '{"a": [1, 2]}', AIRFLOW_VAR_TEXT: 'not json' },
      }),
    ],
  });

  it('throws NotFoundError without a default, and returns the default as given', async () => {
    await expect(getVariable(resolver, 'missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(getVariable(resolver, 'missing')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_VAR_NOT_FOUND',
      message: 'Variable `missing` does not exist',
    });
    expect(await getVariable(resolver, 'missing', { default: '{"x": 1}', json: true })).toBe(
      '{"x": 1}',
    );
    expect(await getVariable(resolver, 'missing', { default: undefined })).toBeUndefined();
  });

  it('deserialises JSON on request, with a coded error naming only the key', async () => {
    expect(await getVariable(resolver, 'json', { json: true })).toEqual({ a: [1, 2] });
    expect(await getVariable(resolver, 'json')).toBe('{"a": [1, 2]}');
    const err = await getVariable(resolver, 'text', { json: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AIRLOCK_ERR_VAR_JSON_INVALID' });
    expect((err as Error).message).not.toContain('not json');
  });
});

describe('getConnection', () => {
  it("throws Airflow's not-found error naming the conn_id", async () => {
    const resolver = createResolver({ backends: [createEnvBackend({ env: {} })] });
    await expect(getConnection(resolver, 'nope')).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_CONN_NOT_FOUND',
      message: "The conn_id `nope` isn't defined",
    });
  });
});

describe('resolver batch lookups', () => {
  function batchBackend(name: 'vault' | 'aws-ssm', values: Record<string, string>) {
    const backend = scriptedBackend(name, values, values);
    const batches: string[][] = [];
    backend.getVariables = async (keys) => {
      batches.push([...keys]);
      return new Map(keys.filter((k) => k in values).map((k) => [k, values[k] as string]));
    };
    backend.getConnectionValues = async (ids) => {
      batches.push([...ids]);
      return new Map(ids.filter((k) => k in values).map((k) => [k, values[k] as string]));
    };
    return { backend, batches };
  }

  it('asks each link once for all the keys still missing, with its batch call', async () => {
    const { backend: ssm, batches } = batchBackend('aws-ssm', { a: '1', b: '2' });
    const env = scriptedBackend('env', { c: '3', a: 'shadowed' });
    const resolver = createResolver({ backends: [ssm, env] });
    const found = await resolver.getVariables(['a', 'b', 'c', 'd', 'a']);
    expect(batches).toEqual([['a', 'b', 'c', 'd']]);
    expect(ssm.calls).toEqual([]);
    expect(env.calls.sort()).toEqual(['variable:c', 'variable:d']);
    expect([...found].map(([k, r]) => [k, r.value, r.source])).toEqual([
      ['a', '1', 'aws-ssm'],
      ['b', '2', 'aws-ssm'],
      ['c', '3', 'env'],
    ]);
    expect(found.get('a')?.trace.map((t) => t.outcome)).toEqual(['hit', 'skipped']);
    expect(found.get('c')?.trace.map((t) => t.outcome)).toEqual(['miss', 'hit']);
  });

  it('parses connections from a batch and skips ids a link does not look up', async () => {
    const { backend, batches } = batchBackend('vault', {
      one: 'postgres://u:p@h:5432/db',
      two: '{"conn_type": "http", "host": "x"}',
    });
    backend.locate = (_kind, id) => (id === 'three' ? undefined : `secret/${id}`);
    const resolver = createResolver({ backends: [backend] });
    const found = await resolver.getConnections(['one', 'two', 'three']);
    expect(batches).toEqual([['one', 'two']]);
    expect(found.get('one')?.value.port).toBe(5432);
    expect(found.get('two')?.value.connType).toBe('http');
    expect(found.has('three')).toBe(false);
  });

  it('fails closed when a batch call fails, and falls through with fallthroughOnError', async () => {
    const { backend } = batchBackend('aws-ssm', {});
    backend.getVariables = async () => {
      throw unavailable();
    };
    const env = scriptedBackend('env', { a: 'from env' });
    await expect(
      createResolver({ backends: [backend, env] }).getVariables(['a', 'b']),
    ).rejects.toMatchObject({
      code: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    });
    const lenient = createResolver({ backends: [backend, env], fallthroughOnError: true });
    const found = await lenient.getVariables(['a', 'b']);
    expect(found.get('a')?.value).toBe('from env');
    expect(found.get('a')?.trace[0]?.outcome).toBe('error');
  });

  it('falls back to parallel single reads for a link without a batch call', async () => {
    const env = scriptedBackend('env', { a: '1', b: '2' });
    env.delayMs = 20;
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const found = await createResolver({ backends: [env] }).getVariables(['a', 'b', ...keys]);
    // Reads overlap, eight at a time at most.
    expect(env.maxInFlight).toBe(8);
    expect(found.size).toBe(2);
    expect(env.calls).toHaveLength(22);
  });
});
