import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertTestCredentialsAllowed,
  isLoopbackEndpoint,
} from '../../src/backends/_test-credentials.ts';
import {
  createGcpSecretManagerBackend,
  type GcpSecretManagerBackendOptions,
} from '../../src/backends/gcp-secret-manager.ts';
import { type AirlockError, ConfigError, isAirlockError } from '../../src/errors.ts';
import {
  type GcpSecretManagerFake,
  type GrpcStatusName,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';
import { runBackendContract } from '../contract/backend-contract.ts';
import { tempDir } from '../helpers/tmp.ts';

const PROJECT = 'airlock-test-project';
const TEST_ENV = { AIRLOCK_TEST_CREDENTIALS: '1' } as const;
const MAX_RETRIES = 3;
/** Retry jitter pinned low, so that retried tests take milliseconds. */
const FAST = { env: TEST_ENV, random: () => 0.05 };

/** The contract's HTTP statuses as the gRPC statuses Google answers with. */
const HTTP_TO_GRPC: Readonly<Record<number, GrpcStatusName>> = {
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};
const RETRIED = new Set<GrpcStatusName>(['UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED']);

type SdkClient = InstanceType<
  typeof import('@google-cloud/secret-manager').SecretManagerServiceClient
>;

/** The official SDK, pointed at the fake: the tests seed through it as a user would. */
async function sdkClient(fake: GcpSecretManagerFake): Promise<SdkClient> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  return new SecretManagerServiceClient({
    apiEndpoint: fake.host,
    port: fake.port,
    sslCreds: grpcCredentials.createInsecure(),
    universeDomain: 'googleapis.com',
  });
}

/** Creates the secret if needed and adds a version, as `gcloud secrets versions add` does. */
async function putSecret(
  client: SdkClient,
  secretId: string,
  value: string | Uint8Array,
  project = PROJECT,
): Promise<string> {
  try {
    await client.createSecret({
      parent: `projects/${project}`,
      secretId,
      secret: { replication: { automatic: {} } },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 6) throw err; // ALREADY_EXISTS
  }
  const [version] = await client.addSecretVersion({
    parent: `projects/${project}/secrets/${secretId}`,
    payload: { data: typeof value === 'string' ? Buffer.from(value, 'utf8') : value },
  });
  return version.name as string;
}

function gcp(fake: GcpSecretManagerFake, extra: GcpSecretManagerBackendOptions = {}) {
  return createGcpSecretManagerBackend(
    { project_id: PROJECT, endpoint_url: fake.url, max_retries: MAX_RETRIES, ...extra },
    FAST,
  );
}

async function caught(run: () => Promise<unknown>): Promise<AirlockError> {
  try {
    await run();
  } catch (err) {
    if (isAirlockError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to throw');
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return [err.message, err.stack ?? '', JSON.stringify(err), errorText(err.cause ?? '')].join('\n');
}

runBackendContract({
  name: 'gcp-secret-manager',
  capabilities: { prefixes: true, remote: true },
  async setup() {
    const fake = await startGcpSecretManagerFake();
    const client = await sdkClient(fake);
    const backend = gcp(fake);
    return {
      backend,
      seedVariable: async (key, value) => {
        await putSecret(client, `airflow-variables-${key}`, value);
      },
      seedConnection: async (connId, value) => {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        await putSecret(client, `airflow-connections-${connId}`, text);
      },
      async withPrefixes(prefixes) {
        return {
          backend: gcp(fake, {
            variables_prefix: prefixes.variables,
            connections_prefix: prefixes.connections,
          }),
          seedVariable: async (key, value) => {
            await putSecret(client, `${prefixes.variables}-${key}`, value);
          },
        };
      },
      failNext(status) {
        const code = HTTP_TO_GRPC[status];
        if (!code) throw new Error(`no gRPC status for HTTP ${status}`);
        // A retried status must fail every attempt to reach the caller.
        fake.failNext(code, RETRIED.has(code) ? MAX_RETRIES + 1 : 1, 'AccessSecretVersion');
      },
      setLatency: (ms) => fake.setLatency(ms),
      withTimeout: (timeoutMs) => gcp(fake, { timeout_ms: timeoutMs }),
      async corruptVariable(key, secret) {
        await putSecret(client, `airflow-variables-${key}`, secret);
        fake.corruptNextChecksum(MAX_RETRIES + 1);
      },
      async teardown() {
        await client.close();
        await fake.close();
      },
    };
  },
});

describe('gcp-secret-manager', () => {
  let fake: GcpSecretManagerFake;
  let client: SdkClient;

  beforeAll(async () => {
    fake = await startGcpSecretManagerFake();
    client = await sdkClient(fake);
  });
  afterAll(async () => {
    await client?.close();
    await fake?.close();
  });

  const accessCalls = () => fake.calls.filter((c) => c.method === 'AccessSecretVersion');

  describe('names', () => {
    it('reads {prefix}{sep}{id} at version latest, without changing underscores', async () => {
      await putSecret(client, 'airflow-connections-smtp_default', 'smtp://mail.example.com:25');
      await putSecret(client, 'airflow-variables-my_var', 'underscored');
      const backend = gcp(fake);
      fake.resetFaults();
      expect(await backend.getConnectionValue('smtp_default')).toBe('smtp://mail.example.com:25');
      expect(await backend.getVariable('my_var')).toBe('underscored');
      expect(await backend.getVariable('my-var')).toBeUndefined();
      expect(accessCalls().map((c) => c.resource)).toEqual([
        `projects/${PROJECT}/secrets/airflow-connections-smtp_default/versions/latest`,
        `projects/${PROJECT}/secrets/airflow-variables-my_var/versions/latest`,
        `projects/${PROJECT}/secrets/airflow-variables-my-var/versions/latest`,
      ]);
      expect(backend.locate?.('connection', 'smtp_default')).toBe(
        `projects/${PROJECT}/secrets/airflow-connections-smtp_default/versions/latest`,
      );
      await backend.dispose?.();
    });

    it('keeps the separator after an empty prefix, as Airflow does', async () => {
      await putSecret(client, '-bare_key', 'under an empty prefix');
      const backend = gcp(fake, { variables_prefix: '' });
      expect(await backend.getVariable('bare_key')).toBe('under an empty prefix');
      await backend.dispose?.();
    });

    it('honours a custom separator', async () => {
      await putSecret(client, 'vars__sep_key', 'double underscore');
      const backend = gcp(fake, { variables_prefix: 'vars', sep: '__' });
      expect(await backend.getVariable('sep_key')).toBe('double underscore');
      await backend.dispose?.();
    });

    it('answers "not here" without a call for a kind whose prefix is null', async () => {
      const backend = gcp(fake, { variables_prefix: null });
      fake.resetFaults();
      expect(await backend.getVariable('anything')).toBeUndefined();
      expect(backend.locate?.('variable', 'anything')).toBeUndefined();
      expect(fake.calls).toEqual([]);
      await backend.dispose?.();
    });

    it('answers "not here" without a call for an id Google would refuse', async () => {
      const backend = gcp(fake);
      fake.resetFaults();
      for (const id of ['dotted.key', 'with/slash', 'with space', 'ünï', 'x'.repeat(240)]) {
        expect(await backend.getVariable(id)).toBeUndefined();
      }
      expect(await backend.getVariable('x'.repeat(255 - 'airflow-variables-'.length))).toBe(
        undefined,
      );
      expect(accessCalls()).toHaveLength(1); // only the 255-character name was valid
      await backend.dispose?.();
    });

    it('refuses at creation a prefix or sep that cannot make a valid secret id', () => {
      for (const opts of [
        { variables_prefix: 'airflow.variables' },
        { connections_prefix: 'airflow/connections' },
        { sep: '/' },
        { config_prefix: 'a'.repeat(255) },
      ] satisfies GcpSecretManagerBackendOptions[]) {
        expect(() => createGcpSecretManagerBackend({ project_id: PROJECT, ...opts })).toThrow(
          ConfigError,
        );
      }
      const err = (() => {
        try {
          createGcpSecretManagerBackend({ project_id: PROJECT, sep: '.' });
        } catch (e) {
          return e as ConfigError;
        }
        return undefined;
      })();
      expect(err?.issues.join('\n')).toMatch(/connections_prefix.*sep/);
    });
  });

  describe('versions', () => {
    it('serves the newest version', async () => {
      await putSecret(client, 'airflow-variables-rotated', 'old');
      await putSecret(client, 'airflow-variables-rotated', 'new');
      const backend = gcp(fake);
      expect(await backend.getVariable('rotated')).toBe('new');
      await backend.dispose?.();
    });

    it('fails with AIRLOCK_ERR_BACKEND_VERSION_DISABLED when the newest version is disabled or destroyed', async () => {
      await putSecret(client, 'airflow-variables-revoked', 'still enabled');
      const newest = await putSecret(client, 'airflow-variables-revoked', 'leaked-value-xyz');
      await client.disableSecretVersion({ name: newest });
      const backend = gcp(fake);
      let err = await caught(() => backend.getVariable('revoked'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_VERSION_DISABLED');
      expect(errorText(err)).not.toContain('leaked-value-xyz');
      await client.destroySecretVersion({ name: newest });
      err = await caught(() => backend.getVariable('revoked'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_VERSION_DISABLED');
      await backend.dispose?.();
    });

    it('returns undefined for a secret that has no version yet', async () => {
      await client.createSecret({
        parent: `projects/${PROJECT}`,
        secretId: 'airflow-variables-empty_secret',
        secret: { replication: { automatic: {} } },
      });
      const backend = gcp(fake);
      expect(await backend.getVariable('empty_secret')).toBeUndefined();
      await backend.dispose?.();
    });

    it('looks in its own project only', async () => {
      await putSecret(client, 'airflow-variables-elsewhere', 'other project', 'other-project');
      const backend = gcp(fake);
      expect(await backend.getVariable('elsewhere')).toBeUndefined();
      const other = gcp(fake, { project_id: 'other-project' });
      expect(await other.getVariable('elsewhere')).toBe('other project');
      await backend.dispose?.();
      await other.dispose?.();
    });
  });

  describe('failures', () => {
    it('maps PERMISSION_DENIED and UNAUTHENTICATED to AIRLOCK_ERR_BACKEND_AUTH without retrying', async () => {
      await putSecret(client, 'airflow-variables-guarded', 'guarded');
      const backend = gcp(fake);
      for (const code of ['PERMISSION_DENIED', 'UNAUTHENTICATED'] as const) {
        fake.resetFaults();
        fake.failNext(code, 5, 'AccessSecretVersion');
        const err = await caught(() => backend.getVariable('guarded'));
        expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
        expect(err.details).toMatchObject({
          grpcStatus: code,
          secret: 'airflow-variables-guarded',
        });
        expect(accessCalls()).toHaveLength(1);
      }
      fake.resetFaults();
      await backend.dispose?.();
    });

    it('retries UNAVAILABLE and succeeds when the service recovers', async () => {
      await putSecret(client, 'airflow-variables-flaky', 'eventually');
      const backend = gcp(fake);
      fake.resetFaults();
      fake.failNext('UNAVAILABLE', 2, 'AccessSecretVersion');
      expect(await backend.getVariable('flaky')).toBe('eventually');
      expect(accessCalls()).toHaveLength(3);
      await backend.dispose?.();
    });

    it('gives up after max_retries and reports the last status', async () => {
      await putSecret(client, 'airflow-variables-down', 'value');
      const backend = gcp(fake, { max_retries: 2 });
      fake.resetFaults();
      fake.failNext('UNAVAILABLE', 10, 'AccessSecretVersion');
      const err = await caught(() => backend.getVariable('down'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(accessCalls()).toHaveLength(3);
      fake.resetFaults();
      await backend.dispose?.();
    });

    it('does not retry INTERNAL, and max_retries 0 turns retries off', async () => {
      await putSecret(client, 'airflow-variables-broken', 'value');
      const backend = gcp(fake);
      fake.resetFaults();
      fake.failNext('INTERNAL', 1, 'AccessSecretVersion');
      expect((await caught(() => backend.getVariable('broken'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      );
      expect(accessCalls()).toHaveLength(1);
      const once = gcp(fake, { max_retries: 0 });
      fake.resetFaults();
      fake.failNext('UNAVAILABLE', 1, 'AccessSecretVersion');
      expect((await caught(() => once.getVariable('broken'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      );
      expect(accessCalls()).toHaveLength(1);
      await backend.dispose?.();
      await once.dispose?.();
    });

    it('backs off under throttling and reports AIRLOCK_ERR_BACKEND_THROTTLED if it persists', async () => {
      await putSecret(client, 'airflow-variables-hot', 'popular');
      const backend = gcp(fake);
      fake.resetFaults();
      fake.failNext('RESOURCE_EXHAUSTED', 1, 'AccessSecretVersion');
      expect(await backend.getVariable('hot')).toBe('popular');
      fake.resetFaults();
      fake.setThrottle(0);
      const err = await caught(() => backend.getVariable('hot'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
      expect(accessCalls()).toHaveLength(MAX_RETRIES + 1);
      fake.resetFaults();
      await backend.dispose?.();
    });

    it('maps a missed deadline to AIRLOCK_ERR_BACKEND_TIMEOUT within timeout_ms', async () => {
      await putSecret(client, 'airflow-variables-slow', 'value');
      const backend = gcp(fake, { timeout_ms: 150 });
      fake.setLatency(1000);
      const started = Date.now();
      try {
        const err = await caught(() => backend.getVariable('slow'));
        expect(err.code).toBe('AIRLOCK_ERR_BACKEND_TIMEOUT');
        expect(Date.now() - started).toBeLessThan(900);
      } finally {
        fake.setLatency(0);
        await backend.dispose?.();
      }
    });

    it('stops at once when the caller aborts', async () => {
      await putSecret(client, 'airflow-variables-aborted', 'value');
      const backend = gcp(fake);
      fake.setLatency(1000);
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(new Error('caller gave up')), 50);
      try {
        await expect(backend.getVariable('aborted', controller.signal)).rejects.toThrow(
          'caller gave up',
        );
        expect(Date.now() - started).toBeLessThan(900);
      } finally {
        fake.setLatency(0);
        await backend.dispose?.();
      }
    });
  });

  describe('payload checks', () => {
    it('retries a payload whose CRC32C does not match, then fails with AIRLOCK_ERR_BACKEND_CHECKSUM_MISMATCH', async () => {
      await putSecret(client, 'airflow-variables-checked', 'crc-guarded-value');
      const backend = gcp(fake);
      fake.resetFaults();
      fake.corruptNextChecksum(1);
      expect(await backend.getVariable('checked')).toBe('crc-guarded-value');
      expect(accessCalls()).toHaveLength(2);
      fake.resetFaults();
      fake.corruptNextChecksum(MAX_RETRIES + 1);
      const err = await caught(() => backend.getVariable('checked'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_CHECKSUM_MISMATCH');
      expect(errorText(err)).not.toContain('crc-guarded-value');
      fake.resetFaults();
      await backend.dispose?.();
    });

    it('refuses a payload that is not UTF-8 text, without quoting it', async () => {
      await putSecret(
        client,
        'airflow-variables-binary',
        Uint8Array.from([0x73, 0x33, 0xff, 0xfe]),
      );
      const backend = gcp(fake);
      const err = await caught(() => backend.getVariable('binary'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_VALUE_INVALID');
      expect(err.message).not.toMatch(/s3/);
      await backend.dispose?.();
    });
  });

  describe('client', () => {
    it('is the official SDK, built once per backend and closed by dispose()', async () => {
      await putSecret(client, 'airflow-variables-memo', 'memo');
      const backend = gcp(fake);
      fake.resetFaults();
      await backend.getVariable('memo');
      await backend.getVariable('memo');
      await backend.getConnectionValue('memo');
      const calls = accessCalls();
      expect(calls).toHaveLength(3);
      expect(calls[0]?.apiClient).toMatch(/gax\/\S+ gapic\/\S+/);
      expect(new Set(calls.map((c) => c.peer)).size).toBe(1);
      await backend.dispose?.();
      const err = await caught(() => backend.getVariable('memo'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
    });

    it('lists the keys of the Variables under its prefix', async () => {
      await putSecret(client, 'airflow-variables-listed_a', 'a', 'list-project');
      await putSecret(client, 'airflow-variables-listed_b', 'b', 'list-project');
      await putSecret(client, 'airflow-connections-not_a_var', 'c', 'list-project');
      const backend = gcp(fake, { project_id: 'list-project' });
      expect(await backend.listVariableKeys?.()).toEqual(['listed_a', 'listed_b']);
      await backend.dispose?.();
    });
  });

  describe('test credentials', () => {
    it('refuses AIRLOCK_TEST_CREDENTIALS=1 with an endpoint that is not loopback', () => {
      for (const endpoint_url of ['secretmanager.googleapis.com', 'https://10.0.0.8:443', null]) {
        let err: unknown;
        try {
          createGcpSecretManagerBackend({ project_id: PROJECT, endpoint_url }, { env: TEST_ENV });
        } catch (e) {
          err = e;
        }
        expect(isAirlockError(err) && err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
      }
    });

    it('needs project_id with test credentials', () => {
      expect(() =>
        createGcpSecretManagerBackend({ endpoint_url: fake.url }, { env: TEST_ENV }),
      ).toThrow(/project_id/);
    });

    it('accepts the fake address as host:port, http:// or localhost', async () => {
      await putSecret(client, 'airflow-variables-addressed', 'reached');
      for (const endpoint_url of [
        `127.0.0.1:${fake.port}`,
        fake.url,
        `grpc://127.0.0.1:${fake.port}`,
      ]) {
        const backend = gcp(fake, { endpoint_url });
        expect(await backend.getVariable('addressed')).toBe('reached');
        await backend.dispose?.();
      }
    });

    it('does not use test credentials unless AIRLOCK_TEST_CREDENTIALS is 1', () => {
      const backend = createGcpSecretManagerBackend(
        { project_id: PROJECT, endpoint_url: fake.url },
        { env: { AIRLOCK_TEST_CREDENTIALS: 'true' } },
      );
      expect(backend.describe()).toMatchObject({ test_credentials: false });
    });
  });

  describe('credentials', () => {
    const dir = tempDir('airlock-gcp-');

    it('refuses more than one credential source at creation', () => {
      expect(() =>
        createGcpSecretManagerBackend({
          project_id: PROJECT,
          gcp_key_path: '/k.json',
          gcp_keyfile_dict: { type: 'service_account' },
        }),
      ).toThrow(/mutually exclusive/);
    });

    it('reports a keyfile that is not JSON, or not a service-account key, without quoting it', async () => {
      const secret = 'PRIVATE-KEY-MATERIAL-123';
      const bad = createGcpSecretManagerBackend(
        { project_id: PROJECT, gcp_keyfile_dict: `{"private_key": ${secret}}` },
        { env: {} },
      );
      let err = await caught(() => bad.getVariable('x'));
      expect(err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
      expect(err.message).toMatch(/gcp_keyfile_dict is not valid JSON/);
      expect(errorText(err)).not.toContain(secret);
      const user = createGcpSecretManagerBackend(
        {
          project_id: PROJECT,
          gcp_keyfile_dict: { type: 'authorized_user', refresh_token: secret },
        },
        { env: {} },
      );
      err = await caught(() => user.getVariable('x'));
      expect(err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
      expect(err.message).toMatch(/not a service-account key/);
      expect(errorText(err)).not.toContain(secret);
    });

    it('reports a key file that is missing, not JSON or a P12 file', async () => {
      const notJson = join(dir, 'key.json');
      writeFileSync(notJson, 'private_key = PRIVATE-KEY-MATERIAL-456');
      const cases: [string, RegExp][] = [
        [join(dir, 'missing.json'), /cannot read .*ENOENT/],
        [notJson, /is not valid JSON/],
        [join(dir, 'legacy.p12'), /P12/],
      ];
      for (const [path, message] of cases) {
        const backend = createGcpSecretManagerBackend(
          { project_id: PROJECT, gcp_key_path: path },
          { env: {} },
        );
        const err = await caught(() => backend.getVariable('x'));
        expect(err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
        expect(err.message).toMatch(message);
        expect(errorText(err)).not.toContain('PRIVATE-KEY-MATERIAL-456');
      }
    });

    it('accepts a credential configuration as a path or as JSON, and refuses unknown types', async () => {
      const file = join(dir, 'impersonated.json');
      const config = { type: 'impersonated_service_account', source_credentials: 'TOKEN-123' };
      writeFileSync(file, JSON.stringify(config));
      for (const value of [file, JSON.stringify(config)]) {
        const backend = createGcpSecretManagerBackend(
          { project_id: PROJECT, gcp_credential_config_file: value },
          { env: {} },
        );
        const err = await caught(() => backend.getVariable('x'));
        expect(err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
        expect(err.message).toMatch(/unsupported credential type.*impersonation_chain/);
        expect(errorText(err)).not.toContain('TOKEN-123');
      }
    });

    it('redacts inline credentials in describe()', () => {
      const backend = createGcpSecretManagerBackend(
        {
          project_id: PROJECT,
          gcp_keyfile_dict: { type: 'service_account', private_key: 'PRIVATE-KEY-MATERIAL-789' },
          impersonation_chain: ['a@p.iam.gserviceaccount.com', 'b@p.iam.gserviceaccount.com'],
          gcp_scopes: 'https://www.googleapis.com/auth/cloud-platform, email',
        },
        { env: {} },
      );
      const described = backend.describe();
      expect(JSON.stringify(described)).not.toContain('PRIVATE-KEY-MATERIAL-789');
      expect(described).toMatchObject({
        gcp_keyfile_dict: '***',
        gcp_scopes: 'https://www.googleapis.com/auth/cloud-platform,email',
        impersonation_chain: ['a@p.iam.gserviceaccount.com', 'b@p.iam.gserviceaccount.com'],
      });
    });

    it('refuses an endpoint_url that is not host[:port] or an http(s) origin', () => {
      for (const endpoint_url of ['', 'ftp://host', 'https://host/path', 'https://u:p@host']) {
        expect(() =>
          createGcpSecretManagerBackend({ project_id: PROJECT, endpoint_url }, { env: {} }),
        ).toThrow(ConfigError);
      }
    });
  });
});

describe('isLoopbackEndpoint', () => {
  it('accepts localhost, 127.0.0.0/8 and ::1 as URLs, host:port pairs or bare hosts', () => {
    for (const url of [
      'http://127.0.0.1:8080',
      'https://localhost',
      'grpc://127.1.2.3:9',
      '127.0.0.1:443',
      'localhost:9000',
      'LOCALHOST',
      'api.localhost:1',
      '[::1]:8443',
      '::1',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]:1',
    ]) {
      expect(isLoopbackEndpoint(url), url).toBe(true);
    }
  });

  it('refuses other hosts and look-alikes', () => {
    for (const url of [
      '',
      'secretmanager.googleapis.com',
      'https://myvault.vault.azure.net',
      '10.0.0.1:443',
      '0.0.0.0:80',
      '127.0.0.1.nip.io',
      'localhost.example.com',
      'http://127.0.0.1@evil.example',
      'http://user:pw@127.0.0.1',
      '127.1',
      '128.0.0.1',
      '[::2]:1',
      'not a url',
    ]) {
      expect(isLoopbackEndpoint(url), url).toBe(false);
    }
  });
});

describe('assertTestCredentialsAllowed', () => {
  it('is false when AIRLOCK_TEST_CREDENTIALS is not 1, whatever the endpoint', () => {
    for (const value of [undefined, '', '0', 'true', 'yes']) {
      const env = { AIRLOCK_TEST_CREDENTIALS: value };
      expect(assertTestCredentialsAllowed('x', 'https://example.com', env)).toBe(false);
      expect(assertTestCredentialsAllowed('x', undefined, env)).toBe(false);
    }
  });

  it('is true for a loopback endpoint when AIRLOCK_TEST_CREDENTIALS=1', () => {
    expect(assertTestCredentialsAllowed('x', 'http://127.0.0.1:1234', TEST_ENV)).toBe(true);
  });

  it('throws AIRLOCK_ERR_CONFIG_INVALID for a missing or remote endpoint, without its path or user-info', () => {
    for (const endpoint of [undefined, null, ' ', 'https://user:tok3n@example.com/p?key=tok3n']) {
      let err: unknown;
      try {
        assertTestCredentialsAllowed('some-backend', endpoint, TEST_ENV);
      } catch (e) {
        err = e;
      }
      expect(isAirlockError(err) && err.code).toBe('AIRLOCK_ERR_CONFIG_INVALID');
      expect((err as Error).message).toMatch(/^some-backend: AIRLOCK_TEST_CREDENTIALS=1/);
      expect((err as Error).message).not.toContain('tok3n');
    }
  });
});
