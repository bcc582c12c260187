import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AwsBackendDeps } from '../../src/backends/_aws.ts';
import {
  type AwsSecretsManagerBackendOptions,
  createAwsSecretsManagerBackend,
} from '../../src/backends/aws-secrets-manager.ts';
import type { SecretsBackend } from '../../src/backends/backend.ts';
import { ConfigError, isAirlockError } from '../../src/errors.ts';
import { Connection } from '../../src/model/connection.ts';
import { runBackendContract } from '../contract/backend-contract.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { deleteSecret, MOTO_CREDENTIALS, putSecret, useMoto } from '../helpers/moto.ts';
import { tempDir } from '../helpers/tmp.ts';

const moto = useMoto();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(moto.server().url);
});
afterAll(async () => {
  await proxy?.close();
});

const CANARY = 'CANARY-sm-7d41-not-for-logs';
/** Short backoff so that throttling tests take milliseconds. */
const FAST: AwsBackendDeps = { throttle: { baseMs: 5, capMs: 20, budgetMs: 1000 } };

const backends: SecretsBackend[] = [];
function make(
  options: AwsSecretsManagerBackendOptions = {},
  deps: AwsBackendDeps = FAST,
): SecretsBackend {
  const backend = createAwsSecretsManagerBackend(
    { ...MOTO_CREDENTIALS, endpoint_url: proxy.url, ...options },
    deps,
  );
  backends.push(backend);
  return backend;
}
afterAll(async () => {
  await Promise.all(backends.map((b) => b.dispose?.()));
});

const put = (name: string, value: string | { binary: Uint8Array }) =>
  putSecret(moto.server().url, name, value);

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
  name: 'aws-secrets-manager',
  capabilities: { prefixes: true, remote: true },
  skip: [
    {
      reason:
        'moto keeps no value for an empty SecretString (GetSecretValue answers ResourceNotFoundException)',
      tests: ['empty variable'],
    },
  ],
  setup: async () => {
    const base = { ...MOTO_CREDENTIALS, endpoint_url: proxy.url };
    return {
      backend: createAwsSecretsManagerBackend(base, FAST),
      seedVariable: (key, value) => put(`airflow/variables/${key}`, value),
      seedConnection: (connId, value) =>
        put(
          `airflow/connections/${connId}`,
          typeof value === 'string' ? value : JSON.stringify(value),
        ),
      withPrefixes: async ({ variables, connections }) => ({
        backend: createAwsSecretsManagerBackend(
          { ...base, variables_prefix: variables, connections_prefix: connections },
          FAST,
        ),
        seedVariable: (key, value) => put(`${variables}/${key}`, value),
      }),
      failNext: (status) => proxy.failNext(status),
      setLatency: (ms) => proxy.setLatency(ms),
      withTimeout: (timeoutMs) =>
        createAwsSecretsManagerBackend(
          { ...base, config_kwargs: { read_timeout: timeoutMs / 1000 } },
          FAST,
        ),
      teardown: async () => {},
    };
  },
});

describe('aws-secrets-manager backend', () => {
  afterEach(() => {
    proxy.clear();
  });

  describe('JSON connection secrets', () => {
    it("re-keys Airflow's aliases, keeps all 7 fields and drops description and unknown keys", async () => {
      await put(
        'airflow/connections/aliases',
        JSON.stringify({
          user: 'analyst',
          pass: 's3cr@t',
          server: 'db.example.com',
          port: 5432,
          database: 'analytics',
          engine: 'postgres',
          extra: { sslmode: 'require' },
          description: 'dropped, as in Airflow',
          unrelated: 'dropped too',
        }),
      );
      const raw = await make().getConnectionValue('aliases');
      expect(raw).toBe(
        '{"login": "analyst", "password": "s3cr@t", "host": "db.example.com", "port": 5432, ' +
          '"schema": "analytics", "conn_type": "postgres", "extra": {"sslmode": "require"}}',
      );
      const conn = Connection.deserialize('aliases', raw as string).toDict();
      expect(conn).toMatchObject({
        conn_type: 'postgres',
        login: 'analyst',
        password: 's3cr@t',
        host: 'db.example.com',
        port: 5432,
        schema: 'analytics',
        description: null,
        extra: { sslmode: 'require' },
      });
    });

    it('maps an RDS-managed secret, with dbname added through extra_conn_words', async () => {
      await put(
        'airflow/connections/rds',
        JSON.stringify({
          username: 'admin',
          password: 'pw',
          engine: 'mysql',
          host: 'rds.example.com',
          port: 3306,
          dbname: 'shop',
          dbInstanceIdentifier: 'shop-db',
        }),
      );
      const backend = make({ extra_conn_words: { schema: ['dbname'] } });
      const conn = Connection.deserialize(
        'rds',
        (await backend.getConnectionValue('rds')) as string,
      );
      expect(conn.toDict()).toMatchObject({
        conn_type: 'mysql',
        login: 'admin',
        password: 'pw',
        host: 'rds.example.com',
        port: 3306,
        schema: 'shop',
      });
    });

    it('fills missing fields with null', async () => {
      await put('airflow/connections/sparse', '{"conn_type": "http"}');
      expect(await make().getConnectionValue('sparse')).toBe(
        '{"login": null, "password": null, "host": null, "port": null, "schema": null, "conn_type": "http", "extra": null}',
      );
    });

    it("takes the first matching key in the secret's own order", async () => {
      await put(
        'airflow/connections/order',
        '{"username": "first", "login": "second", "key": "pw-1", "password": "pw-2", "conn_id": "mysql"}',
      );
      const conn = JSON.parse((await make().getConnectionValue('order')) as string);
      expect(conn).toMatchObject({ login: 'first', password: 'pw-1', conn_type: 'mysql' });
    });

    it('appends extra_conn_words to the alias lists (`user` meaning login)', async () => {
      await put(
        'airflow/connections/words',
        '{"usr": "u", "pwd": "p", "address": "h", "kind": "postgres"}',
      );
      const backend = make({
        extra_conn_words: {
          user: ['usr'],
          password: ['pwd'],
          host: ['address'],
          conn_type: ['kind'],
        },
      });
      const conn = JSON.parse((await backend.getConnectionValue('words')) as string);
      expect(conn).toMatchObject({ login: 'u', password: 'p', host: 'h', conn_type: 'postgres' });
      expect(backend.describe().extra_conn_words).toEqual({
        user: ['usr'],
        password: ['pwd'],
        host: ['address'],
        conn_type: ['kind'],
      });
    });

    it('refuses an extra_conn_words field that is not a Connection field at creation', () => {
      expect(() => make({ extra_conn_words: { passwd: ['pw'] } })).toThrow(ConfigError);
      expect(() => make({ extra_conn_words: { passwd: ['pw'] } })).toThrow(
        /extra_conn_words\.passwd/,
      );
    });

    it('unquotes string fields but not a dict extra with are_secret_values_urlencoded', async () => {
      await put(
        'airflow/connections/encoded',
        '{"conn_type": "postgres", "login": "us%40er", "password": "p%2Fw%3Ard", "port": 5432, "extra": {"q": "a%20b"}}',
      );
      const plain = JSON.parse((await make().getConnectionValue('encoded')) as string);
      expect(plain.login).toBe('us%40er');
      const decoded = JSON.parse(
        (await make({ are_secret_values_urlencoded: true }).getConnectionValue(
          'encoded',
        )) as string,
      );
      expect(decoded).toMatchObject({
        login: 'us@er',
        password: 'p/w:rd',
        port: 5432,
        extra: { q: 'a%20b' },
      });
    });

    it('serves a URI secret verbatim, leading whitespace included, and accepts full_url_mode', async () => {
      await put('airflow/connections/uri', '  mysql://u:p%40ss@h:3306/s');
      expect(await make({ full_url_mode: false }).getConnectionValue('uri')).toBe(
        '  mysql://u:p%40ss@h:3306/s',
      );
    });

    it('rejects a secret that starts with "{" but is not JSON, without quoting it', async () => {
      await put('airflow/connections/broken', `{"login": "x", "password": "${CANARY}"`);
      const err = await caught(() => make().getConnectionValue('broken'));
      expect(err.code).toBe('AIRLOCK_ERR_CONN_JSON_INVALID');
      expect(err.message).toContain('airflow/connections/broken');
      expect(errorText(err)).not.toContain(CANARY);
    });
  });

  describe('names: prefixes, separators and lookup patterns', () => {
    it('strips trailing separators from prefixes, as Python rstrip(sep) does', async () => {
      await put('vars/slash', 'one');
      await put('vars__under', 'two');
      expect(await make({ variables_prefix: 'vars///' }).getVariable('slash')).toBe('one');
      // rstrip strips any of the separator's characters, not the separator as a suffix.
      const underscored = make({ variables_prefix: 'vars_', sep: '__' });
      expect(underscored.locate?.('variable', 'under')).toBe('vars__under');
      expect(await underscored.getVariable('under')).toBe('two');
    });

    it('uses a custom separator between prefix and id', async () => {
      await put('team-a-db_host', 'db.internal');
      const backend = make({ variables_prefix: 'team-a', connections_prefix: 'team-c', sep: '-' });
      expect(backend.locate?.('variable', 'db_host')).toBe('team-a-db_host');
      expect(backend.locate?.('connection', 'db')).toBe('team-c-db');
      expect(await backend.getVariable('db_host')).toBe('db.internal');
    });

    it('reads the bare id when the prefix is empty', async () => {
      await put('bare_key', 'bare value');
      const backend = make({ variables_prefix: '' });
      expect(backend.locate?.('variable', 'bare_key')).toBe('bare_key');
      expect(await backend.getVariable('bare_key')).toBe('bare value');
    });

    it('skips a kind whose prefix is null without calling AWS', async () => {
      await put('airflow/variables/disabled', 'never read');
      const backend = make({ variables_prefix: null });
      expect(backend.locate?.('variable', 'disabled')).toBeUndefined();
      expect(await backend.getVariable('disabled')).toBeUndefined();
      expect(await backend.getVariables?.(['disabled'])).toEqual(new Map());
      expect(proxy.targets).toEqual([]);
      expect(backend.locate?.('connection', 'x')).toBe('airflow/connections/x');
    });

    it('applies lookup patterns as Python re.match (start-anchored, case-insensitive)', async () => {
      await put('airflow/variables/DB_url', 'matched');
      await put('airflow/variables/my_db', 'not matched');
      const backend = make({ variables_lookup_pattern: 'db_', connections_lookup_pattern: '^pg' });
      expect(await backend.getVariable('DB_url')).toBe('matched');
      expect(proxy.targets).toEqual(['secretsmanager.GetSecretValue']);
      proxy.clear();
      expect(backend.locate?.('variable', 'my_db')).toBeUndefined();
      expect(await backend.getVariable('my_db')).toBeUndefined();
      expect(await backend.getConnectionValue('mysql_main')).toBeUndefined();
      expect(proxy.targets).toEqual([]);
      expect(backend.locate?.('connection', 'PG_main')).toBe('airflow/connections/PG_main');
    });

    it('refuses an invalid lookup pattern at creation', () => {
      expect(() => make({ variables_lookup_pattern: '(' })).toThrow(ConfigError);
    });
  });

  describe('missing, denied, throttled', () => {
    it('returns undefined for a secret scheduled for deletion (InvalidRequestException)', async () => {
      await put('airflow/variables/deleted', 'gone');
      await deleteSecret(moto.server().url, 'airflow/variables/deleted');
      expect(await make().getVariable('deleted')).toBeUndefined();
      expect(await make().getVariables?.(['deleted'])).toEqual(new Map());
    });

    it('maps AccessDeniedException to AIRLOCK_ERR_BACKEND_AUTH, never to a miss', async () => {
      await put('airflow/variables/denied', CANARY);
      proxy.failNext(400, 'AccessDeniedException');
      const err = await caught(() => make().getVariable('denied'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err.message).toMatch(
        /AccessDeniedException.*airflow\/variables\/denied|airflow\/variables\/denied.*AccessDeniedException/,
      );
      expect(err.details).toMatchObject({ error: 'AccessDeniedException', status: 400 });
      expect(err.cause).toBeUndefined();
      expect(errorText(err)).not.toContain(CANARY);
    });

    it('fails closed on DecryptionFailure (auth) and InternalServiceError (unavailable)', async () => {
      await put('airflow/variables/kms', 'value');
      proxy.failNext(400, 'DecryptionFailure');
      const kms = await caught(() => make().getVariable('kms'));
      expect(kms.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(kms.message).toContain('kms:Decrypt');
      proxy.failNext(500, 'InternalServiceError');
      const internal = await caught(() => make().getVariable('kms'));
      expect(internal.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
    });

    it("recovers from one throttled attempt with the SDK's own retries", async () => {
      await put('airflow/variables/busy', 'eventually');
      proxy.failRequests(1, 400, 'ThrottlingException');
      expect(await make().getVariable('busy')).toBe('eventually');
      expect(proxy.targets).toHaveLength(2);
    });

    it('keeps backing off while AWS throttles, then serves the value', async () => {
      await put('airflow/variables/busier', 'eventually');
      // No SDK retries: each throttled request is one of airlock's own rounds.
      proxy.failRequests(3, 400, 'ThrottlingException');
      const random = vi.fn(() => 0.5);
      const backend = make(
        { config_kwargs: { retries: { total_max_attempts: 1 } } },
        { ...FAST, random },
      );
      expect(await backend.getVariable('busier')).toBe('eventually');
      expect(proxy.targets).toHaveLength(4);
      expect(random).toHaveBeenCalledTimes(3);
    });

    it('gives up with AIRLOCK_ERR_BACKEND_THROTTLED after its bounded rounds', async () => {
      await put('airflow/variables/swamped', CANARY);
      proxy.failRequests(50, 400, 'ThrottlingException');
      const backend = make(
        { config_kwargs: { retries: { total_max_attempts: 1 } } },
        {
          throttle: { baseMs: 1, capMs: 5, budgetMs: 1000, maxRetries: 3 },
        },
      );
      const err = await caught(() => backend.getVariable('swamped'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
      expect(err.details).toMatchObject({ rounds: 4, error: 'ThrottlingException' });
      expect(proxy.targets).toHaveLength(4);
      expect(errorText(err)).not.toContain(CANARY);
    });

    it('makes 5 rounds in all with the default policy', async () => {
      proxy.failRequests(50, 400, 'ThrottlingException');
      // Zero waits: the default round count, without the default waits.
      const backend = make(
        { config_kwargs: { retries: { total_max_attempts: 1 } } },
        {
          random: () => 0,
        },
      );
      const err = await caught(() => backend.getVariable('default_rounds'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
      expect(proxy.targets).toHaveLength(5);
    });

    it('stops backing off when the next wait would exceed the time budget', async () => {
      await put('airflow/variables/budget', 'value');
      proxy.failRequests(50, 400, 'ThrottlingException');
      const backend = make(
        { config_kwargs: { retries: { total_max_attempts: 1 } } },
        {
          throttle: { baseMs: 5000, capMs: 5000, budgetMs: 100, maxRetries: 10 },
          random: () => 0.99,
        },
      );
      const started = Date.now();
      const err = await caught(() => backend.getVariable('budget'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(proxy.targets).toHaveLength(1);
    });

    it('rejects a binary secret with AIRLOCK_ERR_BACKEND_VALUE_INVALID', async () => {
      await put('airflow/variables/binary', { binary: new TextEncoder().encode(CANARY) });
      const err = await caught(() => make().getVariable('binary'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_VALUE_INVALID');
      expect(errorText(err)).not.toContain(CANARY);
    });

    it('maps an unreachable endpoint to AIRLOCK_ERR_BACKEND_UNAVAILABLE', async () => {
      const backend = make({
        endpoint_url: 'http://127.0.0.1:9',
        config_kwargs: { retries: { total_max_attempts: 1 } },
      });
      const err = await caught(() => backend.getVariable('anything'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toContain('ECONNREFUSED');
    });

    it('passes the caller’s abort signal to the SDK', async () => {
      await put('airflow/variables/aborted', 'value');
      proxy.setLatency(1000);
      try {
        const controller = new AbortController();
        const pending = make().getVariable('aborted', controller.signal);
        setTimeout(() => controller.abort(new Error('caller gave up')), 50);
        await expect(pending).rejects.toThrow('caller gave up');
      } finally {
        proxy.setLatency(0);
      }
    });
  });

  describe('batch reads', () => {
    it('reads up to 20 secrets per BatchGetSecretValue call; the map holds the found ones', async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `batch_${i}`);
      for (const key of keys.filter((_, i) => i % 2 === 0)) {
        await put(`airflow/variables/${key}`, `value of ${key}`);
      }
      const found = await make().getVariables?.(keys);
      expect(found).toEqual(
        new Map(keys.filter((_, i) => i % 2 === 0).map((k) => [k, `value of ${k}`])),
      );
      expect(proxy.targets).toEqual([
        'secretsmanager.BatchGetSecretValue',
        'secretsmanager.BatchGetSecretValue',
      ]);
    });

    it('re-keys JSON connections and skips ids outside the lookup pattern', async () => {
      await put('airflow/connections/pg_batch', '{"user": "u", "engine": "postgres"}');
      await put('airflow/connections/pg_uri', 'postgres://h/db');
      const backend = make({ connections_lookup_pattern: 'pg_' });
      const found = await backend.getConnectionValues?.(['pg_batch', 'pg_uri', 'pg_none', 'other']);
      expect(found?.get('pg_uri')).toBe('postgres://h/db');
      expect(JSON.parse(found?.get('pg_batch') as string)).toMatchObject({
        login: 'u',
        conn_type: 'postgres',
      });
      expect([...(found?.keys() ?? [])].sort()).toEqual(['pg_batch', 'pg_uri']);
      expect(proxy.targets).toEqual(['secretsmanager.BatchGetSecretValue']);
    });

    it('falls back to bounded parallel GetSecretValue when the batch call is denied, and remembers', async () => {
      await put('airflow/variables/fb_1', 'one');
      await put('airflow/variables/fb_2', 'two');
      const backend = make();
      proxy.failNext(400, 'AccessDeniedException');
      expect(await backend.getVariables?.(['fb_1', 'fb_2', 'fb_3'])).toEqual(
        new Map([
          ['fb_1', 'one'],
          ['fb_2', 'two'],
        ]),
      );
      expect(proxy.targets.filter((t) => t === 'secretsmanager.GetSecretValue')).toHaveLength(3);
      expect(proxy.targets[0]).toBe('secretsmanager.BatchGetSecretValue');
      proxy.clear();
      await backend.getVariables?.(['fb_1']);
      expect(proxy.targets).toEqual(['secretsmanager.GetSecretValue']);
    });

    it('maps a throttled or failing batch to a coded error', async () => {
      proxy.failNext(503);
      const err = await caught(() => make().getVariables?.(['x', 'y']) ?? Promise.resolve());
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toContain('2 variables');
    });
  });

  describe('credentials, region and lifecycle', () => {
    it('takes the region and keys from an injected environment', async () => {
      await put('airflow/variables/from_env', 'env creds');
      const backend = createAwsSecretsManagerBackend(
        { endpoint_url: proxy.url },
        {
          env: {
            AWS_DEFAULT_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
          },
        },
      );
      backends.push(backend);
      expect(await backend.getVariable('from_env')).toBe('env creds');
    });

    it('reads credentials from profile_name in the shared files, and fails with AUTH for an unknown profile', async () => {
      const dir = tempDir();
      mkdirSync(join(dir, '.aws'));
      const credentials = join(dir, '.aws', 'credentials');
      const config = join(dir, '.aws', 'config');
      writeFileSync(
        credentials,
        '[moto]\naws_access_key_id = testing\naws_secret_access_key = testing\n',
      );
      writeFileSync(config, '[profile moto]\nregion = us-east-1\n');
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', credentials);
      vi.stubEnv('AWS_CONFIG_FILE', config);
      try {
        await put('airflow/variables/profiled', 'via profile');
        const ok = createAwsSecretsManagerBackend({
          endpoint_url: proxy.url,
          profile_name: 'moto',
        });
        backends.push(ok);
        expect(await ok.getVariable('profiled')).toBe('via profile');
        const missing = createAwsSecretsManagerBackend({
          endpoint_url: proxy.url,
          profile_name: 'no-such-profile',
          region_name: 'us-east-1',
        });
        backends.push(missing);
        const err = await caught(() => missing.getVariable('profiled'));
        expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      } finally {
        vi.unstubAllEnvs();
      }
    });

    it('assumes role_arn through STS (service_config.sts.endpoint_url) before reading', async () => {
      await put('airflow/variables/assumed', 'as the role');
      const backend = make({
        role_arn: 'arn:aws:iam::123456789012:role/airflow-secrets',
        assume_role_kwargs: { DurationSeconds: 900, ExternalId: 'ext-1' },
        service_config: { sts: { endpoint_url: proxy.url } },
      });
      expect(await backend.getVariable('assumed')).toBe('as the role');
      expect(proxy.targets).toEqual(['AssumeRole', 'secretsmanager.GetSecretValue']);
    });

    it('refuses half a static key pair at creation', () => {
      expect(() =>
        createAwsSecretsManagerBackend({ aws_access_key_id: 'AKIA', region_name: 'us-east-1' }),
      ).toThrow(/aws_secret_access_key/);
    });

    it('refuses unknown kwargs at creation, naming them', () => {
      expect(() =>
        createAwsSecretsManagerBackend({
          varaibles_prefix: 'x',
        } as AwsSecretsManagerBackendOptions),
      ).toThrow(/varaibles_prefix/);
    });

    it('redacts credentials and endpoint user info in describe()', () => {
      const backend = make({
        aws_access_key_id: 'AKIAEXAMPLE',
        aws_secret_access_key: CANARY,
        aws_session_token: CANARY,
        endpoint_url: `http://user:${CANARY}@127.0.0.1:1`,
        assume_role_kwargs: { WebIdentityToken: CANARY, DurationSeconds: 900 },
      });
      const described = backend.describe();
      expect(JSON.stringify(described)).not.toContain(CANARY);
      expect(described).toMatchObject({
        type: 'aws-secrets-manager',
        aws_secret_access_key: '***',
        aws_session_token: '***',
        variables_prefix: 'airflow/variables',
        sep: '/',
        assume_role_kwargs: { WebIdentityToken: '***', DurationSeconds: 900 },
      });
    });

    it('memoises its client, and builds a new one after dispose()', async () => {
      await put('airflow/variables/lifecycle', 'alive');
      const backend = make();
      expect(await backend.getVariable('lifecycle')).toBe('alive');
      expect(await backend.getVariable('lifecycle')).toBe('alive');
      await backend.dispose?.();
      expect(await backend.getVariable('lifecycle')).toBe('alive');
    });

    it('reports an unreadable CA bundle (verify) as a configuration error', async () => {
      const backend = make({ verify: '/nonexistent/ca.pem' });
      const err = await caught(() => backend.getVariable('x'));
      expect(err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
      expect(err.message).toContain('/nonexistent/ca.pem');
    });
  });
});
