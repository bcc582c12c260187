import { request } from 'node:https';
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AZURE_TEST_TOKEN,
  type AzureKeyVaultBackendDeps,
  type AzureKeyVaultBackendOptions,
  buildAzureSecretName,
  createAzureKeyVaultBackend,
  isValidAzureSecretName,
  normalizeAzurePrefix,
} from '../../src/backends/azure-key-vault.ts';
import { type AirlockError, ConfigError, isAirlockError } from '../../src/errors.ts';
import {
  type AzureKeyVaultFake,
  FAKE_TENANT_ID,
  type FakeTlsMaterial,
  generateFakeTls,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import { runBackendContract } from '../contract/backend-contract.ts';

const CANARY = 'CANARY-5d1e-azure-not-for-logs';
/** What every Azure credential is built with: the policy that names an unreachable sign-in host. */
const SIGN_IN_POLICIES = {
  additionalPolicies: [
    {
      position: 'perRetry',
      policy: { name: 'airlockLoginReachability', sendRequest: expect.any(Function) },
    },
  ],
};
/** Retries in the contract's backends, and fast back-off so that retried tests take milliseconds. */
const RETRY_TOTAL = 2;
const FAST = { retry_total: RETRY_TOTAL, retry_backoff_factor: 0.005 } as const;

/** A token credential as a signed-in app would have; the fake accepts any token by default. */
const credential: TokenCredential = {
  getToken: async () => ({ token: 'token-of-a-test', expiresOnTimestamp: Date.now() + 3600_000 }),
};

let tlsMaterial: Promise<FakeTlsMaterial> | undefined;
/** One CA for every fake of this file (generation is quick, but once is quicker). */
function tls(): Promise<FakeTlsMaterial> {
  tlsMaterial ??= generateFakeTls();
  return tlsMaterial;
}

/** The official SDK, trusting the fake's CA: the tests seed through it as a user would. */
function sdk(fake: AzureKeyVaultFake): SecretClient {
  return new SecretClient(fake.url, credential, {
    ...fake.clientOptions(),
    retryOptions: { maxRetries: 0 },
  });
}

function backendFor(
  fake: AzureKeyVaultFake,
  options: AzureKeyVaultBackendOptions = {},
  deps: AzureKeyVaultBackendDeps = {},
) {
  return createAzureKeyVaultBackend(
    { vault_url: fake.url, ...FAST, ...options },
    { credential, clientOptions: fake.clientOptions(), env: {}, ...deps },
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

/** How many requests the SDK makes for one lookup that keeps failing with `status`. */
function attemptsFor(status: number): number {
  if (status === 401) return 2; // the challenge policy asks for a token once more, then gives up
  if (status >= 500 || status === 429) return RETRY_TOTAL + 1;
  return 1;
}

runBackendContract({
  name: 'azure-key-vault',
  capabilities: { prefixes: true, remote: true },
  async setup() {
    const fake = await startAzureKeyVaultFake({ tls: await tls() });
    const client = sdk(fake);
    const seedUnder = (prefix: string) => async (id: string, value: string) => {
      await client.setSecret(buildAzureSecretName(prefix, id, '-'), value);
    };
    return {
      backend: backendFor(fake),
      seedVariable: seedUnder('airflow-variables'),
      async seedConnection(connId, value) {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        await seedUnder('airflow-connections')(connId, text);
      },
      async withPrefixes(prefixes) {
        return {
          backend: backendFor(fake, {
            variables_prefix: prefixes.variables,
            connections_prefix: prefixes.connections,
          }),
          seedVariable: seedUnder(prefixes.variables),
        };
      },
      failNext: (status) => fake.failNext(status, attemptsFor(status)),
      setLatency: (ms) => fake.setLatency(ms),
      withTimeout: (ms) => backendFor(fake, { read_timeout: ms / 1000 }),
      teardown: () => fake.close(),
    };
  },
});

describe('azure-key-vault names', () => {
  it('builds secret names as Airflow build_path does', () => {
    const cases: [string, string, string, string][] = [
      ['airflow-connections', 'smtp_default', '-', 'airflow-connections-smtp-default'],
      ['airflow_variables', 'my_var', '-', 'airflow-variables-my-var'],
      ['', 'my_var', '-', 'my-var'],
      ['', 'my_var', '', 'myvar'],
      ['airflow-variables', 'my_var', '', 'airflow-variablesmyvar'],
      ['p', 'a_b', '--', 'p--a--b'],
      ['airflow-variables', 'Hello', '-', 'airflow-variables-Hello'],
    ];
    for (const [prefix, id, sep, name] of cases) {
      expect(buildAzureSecretName(prefix, id, sep)).toBe(name);
    }
  });

  it('strips trailing separator characters from a prefix, as Python rstrip(sep) does', () => {
    expect(normalizeAzurePrefix('airflow-variables-', '-')).toBe('airflow-variables');
    expect(normalizeAzurePrefix('abc---', '-')).toBe('abc');
    expect(normalizeAzurePrefix('x-y-yx', 'xy')).toBe('x-y-');
    expect(normalizeAzurePrefix('-', '-')).toBe('');
    expect(normalizeAzurePrefix('abc', '')).toBe('abc');
    expect(normalizeAzurePrefix('', '-')).toBe('');
    expect(normalizeAzurePrefix(null, '-')).toBeNull();
  });

  it('knows which names Key Vault can hold', () => {
    expect(isValidAzureSecretName('airflow-variables-a1')).toBe(true);
    expect(isValidAzureSecretName('a'.repeat(127))).toBe(true);
    for (const bad of ['', 'a'.repeat(128), 'my.key', 'a/b', 'a b', 'grüße', 'a_b']) {
      expect(isValidAzureSecretName(bad)).toBe(false);
    }
  });
});

describe('azure-key-vault backend', () => {
  let fake: AzureKeyVaultFake;
  let client: SecretClient;

  beforeAll(async () => {
    fake = await startAzureKeyVaultFake({ tls: await tls() });
    client = sdk(fake);
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  function requestsFor(name: string): number {
    return fake.requests.filter(
      (r) => r.method === 'GET' && r.path.toLowerCase().includes(name.toLowerCase()),
    ).length;
  }

  it('reads a key with underscores from the hyphenated name, ignoring case as Key Vault does', async () => {
    await client.setSecret('airflow-variables-my-var', 'from key vault');
    const kv = backendFor(fake);
    expect(kv.locate?.('variable', 'my_var')).toBe('airflow-variables-my-var');
    expect(await kv.getVariable('my_var')).toBe('from key vault');
    // Airflow's naming makes these the same secret.
    expect(await kv.getVariable('my-var')).toBe('from key vault');
    expect(await kv.getVariable('MY_VAR')).toBe('from key vault');
  });

  it('reads a connection under the connections prefix', async () => {
    await client.setSecret(
      'airflow-connections-smtp-default',
      'smtp://user:pass@mail.example.com:587',
    );
    const kv = backendFor(fake);
    expect(kv.locate?.('connection', 'smtp_default')).toBe('airflow-connections-smtp-default');
    expect(await kv.getConnectionValue('smtp_default')).toBe(
      'smtp://user:pass@mail.example.com:587',
    );
  });

  it('skips a kind whose prefix is null, without a request', async () => {
    const kv = backendFor(fake, { variables_prefix: null });
    expect(kv.locate?.('variable', 'x')).toBeUndefined();
    expect(await kv.getVariable('x')).toBeUndefined();
    expect(fake.requests).toHaveLength(0);
    expect(kv.locate?.('connection', 'x')).toBe('airflow-connections-x');
  });

  it('uses the bare id when the prefix is empty, and drops underscores when sep is empty', async () => {
    await client.setSecret('dbpassword', 'no prefix');
    await client.setSecret('db-password', 'hyphenated');
    const bare = backendFor(fake, { variables_prefix: '', sep: '' });
    expect(bare.locate?.('variable', 'db_password')).toBe('dbpassword');
    expect(await bare.getVariable('db_password')).toBe('no prefix');
    const hyphen = backendFor(fake, { variables_prefix: '' });
    expect(await hyphen.getVariable('db_password')).toBe('hyphenated');
    const trailing = backendFor(fake, { variables_prefix: 'team-vars--' });
    expect(trailing.locate?.('variable', 'db_password')).toBe('team-vars-db-password');
  });

  it('returns undefined for names Key Vault cannot hold, without a request', async () => {
    const kv = backendFor(fake);
    for (const key of ['my.key', 'a/b', 'with space', 'ü', 'k'.repeat(120)]) {
      expect(await kv.getVariable(key)).toBeUndefined();
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('retries a throttled read after the Retry-After the vault asks for', async () => {
    await client.setSecret('airflow-variables-busy', 'eventually');
    const kv = backendFor(fake);
    await kv.getVariable('warm_up'); // the challenge handshake, so that only reads are counted
    fake.throttleNext(1, 1);
    const started = Date.now();
    expect(await kv.getVariable('busy')).toBe('eventually');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(requestsFor('airflow-variables-busy')).toBe(2);
  });

  it('gives up at once when Retry-After exceeds retry_backoff_max', async () => {
    await client.setSecret('airflow-variables-busy', 'later');
    const kv = backendFor(fake, { retry_backoff_max: 5 });
    fake.throttleNext(1, 3600);
    const started = Date.now();
    const err = await caught(() => kv.getVariable('busy'));
    expect(Date.now() - started).toBeLessThan(900);
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
    expect(err.message).toContain('throttled');
    expect(err.details).toMatchObject({
      status: 429,
      retryAfterSeconds: 3600,
      secret: 'airflow-variables-busy',
    });
  });

  it('maps throttling that outlasts the retries to AIRLOCK_ERR_BACKEND_THROTTLED', async () => {
    await client.setSecret('airflow-variables-busy', 'never');
    const kv = backendFor(fake);
    await kv.getVariable('warm_up');
    fake.throttleNext(RETRY_TOTAL + 1, 0);
    const err = await caught(() => kv.getVariable('busy'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_THROTTLED');
    expect(err.details).toMatchObject({ status: 429, code: 'Throttled' });
    expect(requestsFor('airflow-variables-busy')).toBe(RETRY_TOTAL + 1);
  });

  it('recovers from one 503 through the SDK retry policy', async () => {
    await client.setSecret('airflow-variables-flaky', 'served');
    const kv = backendFor(fake);
    await kv.getVariable('warm_up');
    fake.failNext(503);
    expect(await kv.getVariable('flaky')).toBe('served');
  });

  it('reports a disabled secret as AIRLOCK_ERR_BACKEND_AUTH', async () => {
    fake.setSecret('airflow-variables-off', CANARY, { enabled: false });
    const err = await caught(() => backendFor(fake).getVariable('off'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
    expect(err.message).toContain('disabled');
    expect(errorText(err)).not.toContain(CANARY);
  });

  it('names the role a 403 needs', async () => {
    const kv = backendFor(fake);
    fake.failNext(403);
    const err = await caught(() => kv.getVariable('denied'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
    expect(err.message).toContain('Key Vault Secrets User');
    expect(err.details).toMatchObject({ status: 403, code: 'Forbidden' });
    expect(err.details?.requestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('maps a token the vault rejects to AIRLOCK_ERR_BACKEND_AUTH', async () => {
    const strict = await startAzureKeyVaultFake({ tls: await tls(), acceptedTokens: ['good'] });
    try {
      const err = await caught(() => backendFor(strict).getVariable('x'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err.details).toMatchObject({ status: 401, code: 'Unauthorized' });
    } finally {
      await strict.close();
    }
  });

  it('maps an unreachable vault to AIRLOCK_ERR_BACKEND_UNAVAILABLE', async () => {
    const gone = await startAzureKeyVaultFake({ tls: await tls() });
    const url = gone.url;
    await gone.close();
    const kv = createAzureKeyVaultBackend(
      { vault_url: url, retry_total: 0 },
      { credential, clientOptions: fake.clientOptions(), env: {} },
    );
    const err = await caught(() => kv.getVariable('x'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('says how to trust the certificate when the vault is not trusted', async () => {
    const kv = createAzureKeyVaultBackend({ vault_url: fake.url }, { credential, env: {} });
    const err = await caught(() => kv.getVariable('x'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toContain('NODE_EXTRA_CA_CERTS');
  });

  it('honours the caller’s abort signal', async () => {
    await client.setSecret('airflow-variables-slow', 'v');
    const kv = backendFor(fake);
    await kv.getVariable('warm_up');
    fake.setLatency(2000);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 50);
    await expect(kv.getVariable('slow', controller.signal)).rejects.toBe(reason);
  });

  it('sends the api_version it is given', async () => {
    const kv = backendFor(fake, { api_version: '7.4' });
    await kv.getVariable('x');
    expect(fake.requests.map((r) => r.apiVersion)).toContain('7.4');
    expect(new Set(fake.requests.map((r) => r.apiVersion))).toEqual(new Set(['7.4']));
  });

  it('refuses to send a token when verify_challenge_resource is on and the domain differs', async () => {
    const kv = backendFor(fake, { verify_challenge_resource: true });
    const err = await caught(() => kv.getVariable('x'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
    expect(err.message).toContain('verify_challenge_resource');
    expect(fake.requests.every((r) => r.token === null)).toBe(true);
  });

  it('maps a failing credential to AIRLOCK_ERR_BACKEND_AUTH without its message', async () => {
    const failing: TokenCredential = {
      getToken: async () => {
        const err = new Error(`sign-in failed for secret ${CANARY}`);
        err.name = 'CredentialUnavailableError';
        throw err;
      },
    };
    const err = await caught(() => backendFor(fake, {}, { credential: failing }).getVariable('x'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
    expect(err.message).toContain('CredentialUnavailableError');
    expect(errorText(err)).not.toContain(CANARY);
  });

  it('keeps the service error message out of its errors', async () => {
    const kv = backendFor(fake);
    fake.failNext(500, RETRY_TOTAL + 1);
    const err = await caught(() => kv.getVariable('x'));
    expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
    expect(err.cause).toBeUndefined();
    expect(errorText(err)).not.toContain('An internal error occurred');
  });
});

describe('azure-key-vault credentials', () => {
  let fake: AzureKeyVaultFake;

  beforeAll(async () => {
    fake = await startAzureKeyVaultFake({ tls: await tls() });
    fake.seed({ 'airflow-variables-who': 'me' });
  });
  afterAll(() => fake.close());

  /** `@azure/identity` doubles that record how they were built and hand out a named token. */
  function recordingIdentity() {
    const built: { kind: string; args: unknown[] }[] = [];
    const token = (value: string) => ({
      getToken: async () => ({ token: value, expiresOnTimestamp: Date.now() + 3600_000 }),
    });
    class ClientSecretCredential {
      getToken: TokenCredential['getToken'];
      constructor(...args: unknown[]) {
        built.push({ kind: 'ClientSecretCredential', args });
        this.getToken = token('client-secret-token').getToken;
      }
    }
    class DefaultAzureCredential {
      getToken: TokenCredential['getToken'];
      constructor(...args: unknown[]) {
        built.push({ kind: 'DefaultAzureCredential', args });
        this.getToken = token('default-token').getToken;
      }
    }
    const module = { ClientSecretCredential, DefaultAzureCredential } as unknown as Awaited<
      ReturnType<NonNullable<AzureKeyVaultBackendDeps['loadIdentity']>>
    >;
    return { built, loadIdentity: async () => module };
  }

  function withIdentity(options: AzureKeyVaultBackendOptions, loadIdentity: () => Promise<never>) {
    return createAzureKeyVaultBackend(
      { vault_url: fake.url, ...options },
      { clientOptions: fake.clientOptions(), env: {}, loadIdentity },
    );
  }

  it('signs in with ClientSecretCredential when tenant_id, client_id and client_secret are set', async () => {
    const identity = recordingIdentity();
    const kv = withIdentity(
      { tenant_id: 'tenant-1', client_id: 'app-1', client_secret: CANARY },
      identity.loadIdentity as () => Promise<never>,
    );
    expect(await kv.getVariable('who')).toBe('me');
    expect(identity.built).toEqual([
      { kind: 'ClientSecretCredential', args: ['tenant-1', 'app-1', CANARY, SIGN_IN_POLICIES] },
    ]);
    expect(fake.requests.at(-1)?.token).toBe('client-secret-token');
    await kv.getVariable('who');
    expect(identity.built).toHaveLength(1); // the client and its credential are memoised
    expect(JSON.stringify(kv.describe())).not.toContain(CANARY);
    expect(kv.describe()).toMatchObject({ client_secret: '***', tenant_id: 'tenant-1' });
  });

  it('signs in at a loopback AZURE_AUTHORITY_HOST without asking Microsoft about it first', async () => {
    const identity = recordingIdentity();
    const kv = createAzureKeyVaultBackend(
      {
        vault_url: fake.url,
        tenant_id: 'tenant-1',
        client_id: 'app-1',
        client_secret: CANARY,
      },
      {
        clientOptions: fake.clientOptions(),
        loadIdentity: identity.loadIdentity as () => Promise<never>,
        env: { AZURE_AUTHORITY_HOST: 'https://127.0.0.1:8443' },
      },
    );
    await kv.getVariable('who');
    expect(identity.built[0]?.args[3]).toEqual({
      ...SIGN_IN_POLICIES,
      authorityHost: 'https://127.0.0.1:8443',
      disableInstanceDiscovery: true,
    });
  });

  it('falls back to DefaultAzureCredential, with the managed and workload identity hints', async () => {
    const identity = recordingIdentity();
    const kv = withIdentity(
      {
        tenant_id: 'tenant-1',
        client_id: 'app-1',
        managed_identity_client_id: 'mi-1',
        workload_identity_tenant_id: 'tenant-2',
      },
      identity.loadIdentity as () => Promise<never>,
    );
    expect(await kv.getVariable('who')).toBe('me');
    expect(identity.built).toEqual([
      {
        kind: 'DefaultAzureCredential',
        args: [
          {
            ...SIGN_IN_POLICIES,
            managedIdentityClientId: 'mi-1',
            tenantId: 'tenant-2',
            additionallyAllowedTenants: ['tenant-2'],
          },
        ],
      },
    ]);
    expect(fake.requests.at(-1)?.token).toBe('default-token');
  });

  it('uses a plain DefaultAzureCredential when no sign-in kwarg is set', async () => {
    const identity = recordingIdentity();
    const kv = withIdentity({}, identity.loadIdentity as () => Promise<never>);
    await kv.getVariable('who');
    expect(identity.built).toEqual([{ kind: 'DefaultAzureCredential', args: [SIGN_IN_POLICIES] }]);
  });

  it('uses the static test token with AIRLOCK_TEST_CREDENTIALS=1 on a loopback endpoint', async () => {
    const strict = await startAzureKeyVaultFake({
      tls: await tls(),
      acceptedTokens: [AZURE_TEST_TOKEN],
      seed: { 'airflow-variables-who': 'tester' },
    });
    try {
      const kv = createAzureKeyVaultBackend(
        { vault_url: 'https://example.vault.azure.net/', endpoint_url: strict.url },
        {
          env: { AIRLOCK_TEST_CREDENTIALS: '1' },
          clientOptions: strict.clientOptions(),
          loadIdentity: () => Promise.reject(new Error('no Azure sign-in in test mode')),
        },
      );
      expect(await kv.getVariable('who')).toBe('tester');
    } finally {
      await strict.close();
    }
  });

  it('refuses test credentials for an endpoint that is not loopback', () => {
    const make = (options: AzureKeyVaultBackendOptions) => () =>
      createAzureKeyVaultBackend(options, { env: { AIRLOCK_TEST_CREDENTIALS: '1' } });
    for (const options of [
      { vault_url: 'https://example.vault.azure.net/' },
      { vault_url: 'https://127.0.0.1:1/', endpoint_url: 'https://kv.example.com/' },
    ]) {
      expect(make(options)).toThrow(
        expect.objectContaining({ code: 'AIRLOCK_ERR_CONFIG_INVALID' }) as unknown as Error,
      );
    }
  });
});

describe('azure-key-vault options', () => {
  function issues(options: Record<string, unknown>): string[] {
    try {
      createAzureKeyVaultBackend(options as AzureKeyVaultBackendOptions, { env: {} });
    } catch (err) {
      if (err instanceof ConfigError) return [...err.issues];
      throw err;
    }
    return [];
  }

  it('accepts Airflow’s documented kwargs', () => {
    expect(
      issues({
        connections_prefix: 'airflow-connections',
        variables_prefix: null,
        config_prefix: '',
        vault_url: 'https://example-akv-resource-name.vault.azure.net/',
        sep: '-',
        tenant_id: '',
        client_id: '',
        client_secret: '',
        managed_identity_client_id: null,
        workload_identity_tenant_id: null,
      }),
    ).toEqual([]);
  });

  it('checks every kwarg at creation and names each problem without its value', () => {
    const found = issues({
      vault_url: 'http://example.vault.azure.net/',
      sep: '/',
      variables_prefix: 'airflow/variables',
      retry_total: -1,
      colour: 'blue',
      client_secret: CANARY,
    });
    const text = found.join('\n');
    for (const key of ['vault_url', 'sep', 'variables_prefix', 'retry_total', 'colour']) {
      expect(text).toContain(key);
    }
    expect(text).toContain('https');
    expect(text).not.toContain(CANARY);
  });

  it('needs vault_url or endpoint_url', () => {
    expect(issues({}).join('\n')).toContain('vault_url');
    expect(issues({ endpoint_url: 'https://127.0.0.1:8443' })).toEqual([]);
  });
});

describe('azure-key-vault fake', () => {
  let fake: AzureKeyVaultFake;
  let client: SecretClient;

  beforeAll(async () => {
    fake = await startAzureKeyVaultFake({ tls: await tls() });
    client = sdk(fake);
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  function raw(path: string, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = request(`${fake.url}${path}`, { ca: fake.caCertificate, headers }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      },
    );
  }

  it('answers a request without a token with the bearer challenge', async () => {
    const res = await raw('/secrets/x?api-version=7.5');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${FAKE_TENANT_ID}", resource="https://vault.azure.net"`,
    );
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('answers Key Vault’s shapes: ids with versions, Unix-time attributes, coded errors', async () => {
    const res = await raw('/secrets/nope?api-version=7.5', { authorization: 'Bearer t' });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'SecretNotFound' } });
    const badVersion = await raw('/secrets/x?api-version=1999-01-01', {
      authorization: 'Bearer t',
    });
    expect(badVersion.status).toBe(400);
    expect(JSON.parse(badVersion.body)).toMatchObject({ error: { code: 'BadParameter' } });
    fake.seed({ 'shape-check': 'v' });
    const ok = JSON.parse(
      (await raw('/secrets/shape-check/?api-version=7.5', { authorization: 'Bearer t' })).body,
    );
    expect(ok.value).toBe('v');
    expect(ok.id).toMatch(new RegExp(`^${fake.url}/secrets/shape-check/[0-9a-f]{32}$`));
    expect(ok.attributes).toMatchObject({ enabled: true, recoveryLevel: 'Recoverable+Purgeable' });
    expect(Number.isInteger(ok.attributes.created)).toBe(true);
  });

  it('keeps versions and pages its lists as Key Vault does, through the SDK', async () => {
    const first = await client.setSecret('versioned', 'one', { tags: { team: 'data' } });
    await client.setSecret('versioned', 'two');
    expect((await client.getSecret('versioned')).value).toBe('two');
    expect(
      (await client.getSecret('versioned', { version: first.properties.version as string })).value,
    ).toBe('one');
    expect(first.properties.tags).toEqual({ team: 'data' });
    const versions: string[] = [];
    for await (const v of client.listPropertiesOfSecretVersions('versioned')) {
      versions.push(v.version as string);
    }
    expect(versions).toHaveLength(2);
    for (let i = 0; i < 30; i += 1) fake.setSecret(`many-${i}`, String(i));
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toHaveLength(31);
    expect(fake.requests.filter((r) => r.path === '/secrets').length).toBe(2);
  });

  it('soft-deletes, refuses the deleted name, recovers and purges, through the SDK', async () => {
    await client.setSecret('gone-soon', 'v1');
    await (await client.beginDeleteSecret('gone-soon')).pollUntilDone();
    await expect(client.getSecret('gone-soon')).rejects.toMatchObject({ statusCode: 404 });
    await expect(client.setSecret('gone-soon', 'v2')).rejects.toMatchObject({
      statusCode: 409,
      code: 'Conflict',
    });
    await (await client.beginRecoverDeletedSecret('gone-soon')).pollUntilDone();
    expect((await client.getSecret('gone-soon')).value).toBe('v1');
    await (await client.beginDeleteSecret('gone-soon')).pollUntilDone();
    await client.purgeDeletedSecret('gone-soon');
    await client.setSecret('gone-soon', 'v3');
    expect((await client.getSecret('GONE-SOON')).value).toBe('v3');
  });

  it('rejects names Key Vault rejects', async () => {
    await expect(client.setSecret('my.key', 'v')).rejects.toMatchObject({
      statusCode: 400,
      code: 'BadParameter',
    });
  });
});
