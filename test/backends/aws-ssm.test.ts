import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AwsBackendDeps } from '../../src/backends/_aws.ts';
import {
  type AwsSsmBackendOptions,
  createAwsSsmBackend,
  parameterName,
} from '../../src/backends/aws-ssm.ts';
import type { SecretsBackend } from '../../src/backends/backend.ts';
import { ConfigError, isAirlockError } from '../../src/errors.ts';
import { runBackendContract } from '../contract/backend-contract.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { MOTO_CREDENTIALS, putParameter, useMoto } from '../helpers/moto.ts';

const moto = useMoto();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(moto.server().url);
});
afterAll(async () => {
  await proxy?.close();
});

const CANARY = 'CANARY-ssm-52be-not-for-logs';
const FAST: AwsBackendDeps = { throttle: { baseMs: 5, capMs: 20, budgetMs: 1000 } };

const backends: SecretsBackend[] = [];
function make(options: AwsSsmBackendOptions = {}, deps: AwsBackendDeps = FAST): SecretsBackend {
  const backend = createAwsSsmBackend(
    { ...MOTO_CREDENTIALS, endpoint_url: proxy.url, ...options },
    deps,
  );
  backends.push(backend);
  return backend;
}
afterAll(async () => {
  await Promise.all(backends.map((b) => b.dispose?.()));
});

const put = (name: string, value: string, type?: 'String' | 'StringList' | 'SecureString') =>
  putParameter(moto.server().url, name, value, type);

async function caught(run: () => Promise<unknown>) {
  try {
    await run();
  } catch (err) {
    if (isAirlockError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to throw');
}

function errorText(err: Error): string {
  return [err.message, err.stack ?? '', JSON.stringify(err), String(err.cause ?? '')].join('\n');
}

runBackendContract({
  name: 'aws-ssm',
  capabilities: { prefixes: true, remote: true },
  skip: [
    {
      reason: 'Parameter Store refuses an empty Value (at least 1 character)',
      tests: ['empty variable'],
    },
  ],
  setup: async () => {
    const base = { ...MOTO_CREDENTIALS, endpoint_url: proxy.url };
    return {
      backend: createAwsSsmBackend(base, FAST),
      seedVariable: (key, value) => put(`/airflow/variables/${key}`, value, 'SecureString'),
      seedConnection: (connId, value) =>
        put(
          `/airflow/connections/${connId}`,
          typeof value === 'string' ? value : JSON.stringify(value),
          'SecureString',
        ),
      withPrefixes: async ({ variables, connections }) => ({
        backend: createAwsSsmBackend(
          { ...base, variables_prefix: variables, connections_prefix: connections },
          FAST,
        ),
        seedVariable: (key, value) => put(parameterName(variables, key), value),
      }),
      failNext: (status) => proxy.failNext(status),
      setLatency: (ms) => proxy.setLatency(ms),
      withTimeout: (timeoutMs) =>
        createAwsSsmBackend({ ...base, config_kwargs: { read_timeout: timeoutMs / 1000 } }, FAST),
      teardown: async () => {},
    };
  },
});

describe('aws-ssm backend', () => {
  afterEach(() => {
    proxy.clear();
  });

  describe('parameter names', () => {
    it('adds a leading slash and strips trailing slashes from prefixes, as Airflow does', async () => {
      await put('/team/vars/key_a', 'a');
      const backend = make({ variables_prefix: 'team/vars//' });
      expect(backend.locate?.('variable', 'key_a')).toBe('/team/vars/key_a');
      expect(await backend.getVariable('key_a')).toBe('a');
    });

    it('reads /<id> when the prefix is empty', async () => {
      await put('/top_level', 'top');
      const backend = make({ variables_prefix: '' });
      expect(backend.locate?.('variable', 'top_level')).toBe('/top_level');
      expect(await backend.getVariable('top_level')).toBe('top');
    });

    it('uses the default prefixes', () => {
      const backend = make();
      expect(backend.locate?.('variable', 'k')).toBe('/airflow/variables/k');
      expect(backend.locate?.('connection', 'c')).toBe('/airflow/connections/c');
    });

    it('skips a kind whose prefix is null without calling AWS', async () => {
      const backend = make({ connections_prefix: null });
      expect(backend.locate?.('connection', 'c')).toBeUndefined();
      expect(await backend.getConnectionValue('c')).toBeUndefined();
      expect(await backend.getConnectionValues?.(['c', 'd'])).toEqual(new Map());
      expect(proxy.targets).toEqual([]);
    });

    it('applies lookup patterns as Python re.match (start-anchored, case-insensitive)', async () => {
      await put('/airflow/variables/APP_name', 'matched');
      const backend = make({ variables_lookup_pattern: 'app_' });
      expect(await backend.getVariable('APP_name')).toBe('matched');
      expect(backend.locate?.('variable', 'my_app_name')).toBeUndefined();
      expect(await backend.getVariable('my_app_name')).toBeUndefined();
      expect(proxy.targets).toEqual(['AmazonSSM.GetParameter']);
    });

    it('has no sep kwarg', () => {
      expect(() => make({ sep: '-' } as AwsSsmBackendOptions)).toThrow(ConfigError);
    });
  });

  describe('values', () => {
    it('decrypts SecureString parameters and serves StringList comma-joined', async () => {
      await put('/airflow/variables/secure', 's3cr3t', 'SecureString');
      await put('/airflow/variables/list', 'a,b,c', 'StringList');
      const backend = make();
      expect(await backend.getVariable('secure')).toBe('s3cr3t');
      expect(await backend.getVariable('list')).toBe('a,b,c');
    });

    it('passes a name:version selector through, as Airflow does; a missing version is a miss', async () => {
      await put('/airflow/variables/versioned', 'first');
      await put('/airflow/variables/versioned', 'second');
      const backend = make();
      expect(await backend.getVariable('versioned')).toBe('second');
      expect(await backend.getVariable('versioned:1')).toBe('first');
      expect(await backend.getVariable('versioned:9')).toBeUndefined();
    });

    it('serves a connection value verbatim (no alias re-keying)', async () => {
      await put('/airflow/connections/json_conn', '{"conn_type": "http", "user": "kept as is"}');
      expect(await make().getConnectionValue('json_conn')).toBe(
        '{"conn_type": "http", "user": "kept as is"}',
      );
    });
  });

  describe('missing, denied, throttled', () => {
    it('returns undefined for a missing parameter (ParameterNotFound)', async () => {
      expect(await make().getVariable('not_there')).toBeUndefined();
    });

    it('maps AccessDeniedException to AIRLOCK_ERR_BACKEND_AUTH, never to a miss', async () => {
      await put('/airflow/variables/denied', CANARY);
      proxy.failNext(400, 'AccessDeniedException');
      const err = await caught(() => make().getVariable('denied'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err.message).toContain('/airflow/variables/denied');
      expect(err.details).toMatchObject({ parameter: '/airflow/variables/denied' });
      expect(errorText(err)).not.toContain(CANARY);
    });

    it('maps other client errors (ValidationException) to AIRLOCK_ERR_BACKEND_UNAVAILABLE', async () => {
      proxy.failNext(400, 'ValidationException');
      const err = await caught(() => make().getVariable('bad'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toContain('ValidationException');
    });

    it('backs off on ThrottlingException and TooManyUpdates, then serves the value', async () => {
      await put('/airflow/variables/busy', 'eventually');
      proxy.failRequests(1, 400, 'ThrottlingException');
      proxy.failRequests(1, 400, 'TooManyUpdates');
      const backend = make({ config_kwargs: { retries: { max_attempts: 0 } } });
      expect(await backend.getVariable('busy')).toBe('eventually');
      expect(proxy.targets).toHaveLength(3);
    });

    it('gives up with AIRLOCK_ERR_BACKEND_THROTTLED after its bounded rounds', async () => {
      await put('/airflow/variables/swamped', CANARY);
      proxy.failRequests(50, 400, 'ThrottlingException');
      const backend = make(
        { config_kwargs: { retries: { total_max_attempts: 1 } } },
        { throttle: { baseMs: 1, capMs: 5, budgetMs: 1000, maxRetries: 2 } },
      );
      const err = await caught(() => backend.getVariable('swamped'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
      expect(err.details).toMatchObject({ rounds: 3 });
      expect(proxy.targets).toHaveLength(3);
      expect(errorText(err)).not.toContain(CANARY);
    });
  });

  describe('batch reads', () => {
    it('uses GetParameters with 10 names per call; InvalidParameters are misses', async () => {
      const keys = Array.from({ length: 23 }, (_, i) => `many_${i}`);
      const present = keys.filter((_, i) => i % 3 !== 0);
      for (const key of present) await put(`/airflow/variables/${key}`, `v-${key}`, 'SecureString');
      const found = await make().getVariables?.(keys);
      expect(found).toEqual(new Map(present.map((k) => [k, `v-${k}`])));
      expect(proxy.targets).toEqual([
        'AmazonSSM.GetParameters',
        'AmazonSSM.GetParameters',
        'AmazonSSM.GetParameters',
      ]);
    });

    it('reads selector ids one by one, skips ids outside the pattern and repeats', async () => {
      await put('/airflow/connections/pg_a', 'postgres://a');
      await put('/airflow/connections/pg_b', 'postgres://b1');
      await put('/airflow/connections/pg_b', 'postgres://b2');
      const backend = make({ connections_lookup_pattern: 'pg_' });
      const found = await backend.getConnectionValues?.(['pg_a', 'pg_a', 'pg_b:1', 'mysql_x']);
      expect(found).toEqual(
        new Map([
          ['pg_a', 'postgres://a'],
          ['pg_b:1', 'postgres://b1'],
        ]),
      );
      expect([...proxy.targets].sort()).toEqual([
        'AmazonSSM.GetParameter',
        'AmazonSSM.GetParameters',
      ]);
    });

    it('maps a denied batch to AIRLOCK_ERR_BACKEND_AUTH', async () => {
      proxy.failNext(400, 'AccessDeniedException');
      const err = await caught(() => make().getVariables?.(['a', 'b']) ?? Promise.resolve());
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err.message).toContain('GetParameters');
    });
  });

  describe('describe and lifecycle', () => {
    it('redacts credentials in describe()', () => {
      const described = make({
        aws_secret_access_key: CANARY,
        aws_access_key_id: 'AKIA',
      }).describe();
      expect(JSON.stringify(described)).not.toContain(CANARY);
      expect(described).toMatchObject({
        type: 'aws-ssm',
        variables_prefix: '/airflow/variables',
        aws_secret_access_key: '***',
      });
    });

    it('takes the region from $AWS_REGION of an injected environment', async () => {
      await put('/airflow/variables/regional', 'here');
      const backend = createAwsSsmBackend(
        { endpoint_url: proxy.url, aws_access_key_id: 'testing', aws_secret_access_key: 'testing' },
        { env: { AWS_REGION: 'us-east-1' } },
      );
      backends.push(backend);
      expect(await backend.getVariable('regional')).toBe('here');
    });
  });
});
