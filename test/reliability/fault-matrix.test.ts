/**
 * The fault matrix (issue 16): every backend, through its fake or moto, behind loopback proxies
 * that break the connection on purpose, under every fault a store can show. For each cell the
 * expected outcome is asserted: the code, a bounded time, no fall-through to the next link unless
 * `fallthrough_on_error`, and no value (nor token) in the error. The shared-cache Redis and the
 * PostgreSQL metastore are tried under the faults that apply to them.
 *
 * The table of expected outcomes is `docs/reliability.md`'s; `UPDATE_RELIABILITY_DOC=1` rewrites
 * it there, and a test checks that the committed page holds it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsSecretsManagerBackend } from '../../src/backends/aws-secrets-manager.ts';
import { createAwsSsmBackend } from '../../src/backends/aws-ssm.ts';
import {
  buildAzureSecretName,
  createAzureKeyVaultBackend,
} from '../../src/backends/azure-key-vault.ts';
import type { SecretsBackend } from '../../src/backends/backend.ts';
import { createEnvBackend } from '../../src/backends/env.ts';
import { createGcpSecretManagerBackend } from '../../src/backends/gcp-secret-manager.ts';
import { createLocalFileBackend } from '../../src/backends/local-file.ts';
import { createVaultBackend } from '../../src/backends/vault.ts';
import { isAirlockError } from '../../src/errors.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { Fernet, parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { SecretCache } from '../../src/resolver/cache.ts';
import { createResolver } from '../../src/resolver/resolver.ts';
import { createRedisSharedCache } from '../../src/resolver/shared-cache.ts';
import {
  type AzureKeyVaultFake,
  generateFakeTls,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import {
  type GcpSecretManagerFake,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { ROOT } from '../helpers/cli.ts';
import {
  type FaultProxy,
  refusedPort,
  startFaultProxy,
  startTcpFaultProxy,
  type TcpFault,
  type TcpFaultProxy,
} from '../helpers/fault-proxy.ts';
import { MOTO_CREDENTIALS, putParameter, putSecret, useMoto } from '../helpers/moto.ts';
import { tempDir } from '../helpers/tmp.ts';

/** The faults of the matrix, in the order of the table's columns. */
const FAULTS = [
  'refused',
  'blackhole',
  'slow',
  '5xx',
  'throttled',
  '401/403',
  'expired credentials',
  'truncated',
  'garbage',
  'reset',
] as const;
type Fault = (typeof FAULTS)[number];

/** What a cell expects: a code, what happens instead of an error, or why the fault cannot occur. */
type Outcome = { code: string } | { outcome: string } | { na: string };

const U = { code: 'AIRLOCK_ERR_BACKEND_UNAVAILABLE' };
const T = { code: 'AIRLOCK_ERR_BACKEND_TIMEOUT' };
const A = { code: 'AIRLOCK_ERR_BACKEND_AUTH' };
const TH = { code: 'AIRLOCK_ERR_BACKEND_THROTTLED' };

/** Every remote store maps each fault the same way: that is the point of one catalogue. */
const REMOTE: Record<Fault, Outcome> = {
  refused: U,
  blackhole: T,
  slow: T,
  '5xx': U,
  throttled: TH,
  '401/403': A,
  'expired credentials': A,
  truncated: U,
  garbage: U,
  reset: U,
};

/** The expected outcome of every cell: the table `docs/reliability.md` publishes. */
const EXPECTED: Record<string, Record<Fault, Outcome>> = {
  vault: REMOTE,
  'aws-secrets-manager': REMOTE,
  'aws-ssm': REMOTE,
  'gcp-secret-manager': REMOTE,
  'azure-key-vault': REMOTE,
  'local-file': {
    refused: { na: 'no network' },
    blackhole: { na: 'no network' },
    slow: { na: 'no network' },
    '5xx': { na: 'no network' },
    throttled: { na: 'no network' },
    '401/403': { code: 'AIRLOCK_ERR_BACKEND_FILE_MISSING' },
    'expired credentials': { na: 'no credentials' },
    truncated: { code: 'AIRLOCK_ERR_BACKEND_FILE_PARSE' },
    garbage: { code: 'AIRLOCK_ERR_BACKEND_FILE_PARSE' },
    reset: { na: 'no network' },
  },
  'shared cache (Redis)': {
    refused: { outcome: 'bypassed' },
    blackhole: { outcome: 'bypassed' },
    slow: { outcome: 'bypassed' },
    '5xx': { na: 'no status codes' },
    throttled: { na: 'no status codes' },
    '401/403': { outcome: 'bypassed' },
    'expired credentials': { na: 'static password' },
    truncated: { outcome: 'bypassed' },
    garbage: { outcome: 'bypassed' },
    reset: { outcome: 'bypassed' },
  },
  'metastore (PostgreSQL)': {
    refused: { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
    blackhole: { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
    slow: { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
    '5xx': { na: 'no status codes' },
    throttled: { na: 'no status codes' },
    '401/403': { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
    'expired credentials': { na: 'static password' },
    truncated: { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
    garbage: { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
    reset: { code: 'AIRLOCK_ERR_STORE_UNAVAILABLE' },
  },
};

/** The Variable every store holds, and the value the environment holds under the same key. */
const KEY = 'matrix_key';
const CANARY = 'matrix-canary-value-4c1d';
const ENV_VALUE = 'env-value-under-the-same-key';
const TOKEN = 'matrix-root-token';
/** Each store's own timeout in the matrix (its Airflow kwarg), and the lookup deadline. */
const STORE_TIMEOUT_S = 0.25;
const LOOKUP_TIMEOUT_MS = 3_000;
/** "Bounded": a generous margin over the deadline, so a loaded machine does not fail a cell. */
const BOUND_MS = 10_000;
/** Latency of the `slow` fault: beyond every timeout above. */
const SLOW_MS = 1_000;

const TCP_FAULTS: Partial<Record<Fault, TcpFault>> = {
  blackhole: 'blackhole',
  truncated: 'truncate',
  garbage: 'garbage',
  reset: 'reset',
};

/** One backend under test: how to build it for a fault, after the fault is arranged. */
interface Subject {
  /** Arranges `fault` and returns the backend to look `KEY` up with. */
  arrange(fault: Fault): Promise<SecretsBackend>;
  /** Undoes what `arrange` set (latency, pending failures). */
  reset(): void;
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return [err.message, err.stack ?? '', JSON.stringify(err), errorText(err.cause ?? '')].join('\n');
}

/** Looks `KEY` up through `[backend, env]`, failing closed and then falling through. */
async function tryCell(backend: SecretsBackend, expected: { code: string }): Promise<void> {
  const env = createEnvBackend({ env: { [`AIRFLOW_VAR_${KEY.toUpperCase()}`]: ENV_VALUE } });
  const closed = createResolver({ backends: [backend, env], lookupTimeoutMs: LOOKUP_TIMEOUT_MS });
  const started = performance.now();
  const err = await closed.getVariable(KEY).then(
    (hit) => new Error(`expected ${expected.code}, got a value from ${hit?.source}`),
    (e: unknown) => e,
  );
  const elapsed = performance.now() - started;
  expect(isAirlockError(err) ? err.code : errorText(err)).toBe(expected.code);
  expect(elapsed).toBeLessThan(BOUND_MS);
  const text = errorText(err);
  expect(text).not.toContain(CANARY);
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(ENV_VALUE);
  // Airflow's behaviour, when asked for: the failure is passed over, and the trace shows it.
  const open = createResolver({
    backends: [backend, env],
    lookupTimeoutMs: LOOKUP_TIMEOUT_MS,
    fallthroughOnError: true,
  });
  const hit = await open.getVariable(KEY);
  expect(hit?.source).toBe('env');
  expect(hit?.trace[0]).toMatchObject({ outcome: 'error', errorCode: expected.code });
}

/** One test per cell of `name`'s row that expects a code. */
function runSubject(name: string, subject: () => Subject): void {
  for (const fault of FAULTS) {
    const expected = EXPECTED[name]?.[fault];
    if (!expected || !('code' in expected)) continue;
    it(`${fault} → ${expected.code}`, async () => {
      const s = subject();
      try {
        await tryCell(await s.arrange(fault), expected);
      } finally {
        s.reset();
      }
    });
  }
}

// ---- Vault (the in-process fake, HTTP) -----------------------------------------------------

describe('fault matrix', () => {
  /** A port nothing listens on: every connection to it is refused. */
  let refused: number;
  beforeAll(async () => {
    refused = await refusedPort();
  });

  describe('vault', () => {
    let vault: VaultFake;
    let vaultTcp: TcpFaultProxy;
    beforeAll(async () => {
      vault = await startVaultFake({ rootToken: TOKEN });
      vault.writeSecret(`secret/variables/${KEY}`, { value: CANARY });
      vaultTcp = await startTcpFaultProxy({ host: '127.0.0.1', port: vault.port });
    });
    afterAll(async () => {
      await vaultTcp?.close();
      await vault?.close();
    });

    runSubject('vault', () => ({
      async arrange(fault) {
        const make = (url: string, token = TOKEN) =>
          createVaultBackend(
            { url, token, timeout: STORE_TIMEOUT_S },
            { retry: { retries: 2, backoffMs: 1, statuses: [412, 429, 500, 502, 503] } },
          );
        const tcp = TCP_FAULTS[fault];
        if (tcp) {
          vaultTcp.setFault(tcp);
          return make(`http://127.0.0.1:${vaultTcp.port}`);
        }
        if (fault === 'refused') return make(`http://127.0.0.1:${refused}`);
        if (fault === 'slow') vault.setLatency(SLOW_MS);
        // Two lookups per cell (failing closed, then falling through); retried statuses fail
        // every attempt of each.
        if (fault === '5xx') vault.failNext(503, 2 * 3, 'secret/');
        if (fault === 'throttled') vault.failNext(429, 2 * 3, 'secret/');
        if (fault === '401/403') vault.failNext(403, 2 * 3, 'secret/');
        // A token Vault does not know (expired, revoked): 403 "permission denied".
        if (fault === 'expired credentials') return make(vault.url, 'expired-token');
        return make(vault.url);
      },
      reset() {
        vault.setLatency(0);
        vaultTcp.setFault('pass');
      },
    }));
  });

  // ---- AWS (moto, behind an AWS-shaped HTTP fault proxy and a TCP one) ----------------------

  describe('aws', () => {
    const moto = useMoto();
    let awsHttp: FaultProxy;
    let awsTcp: TcpFaultProxy;
    beforeAll(async () => {
      const url = moto.server().url;
      await putSecret(url, `airflow/variables/${KEY}`, CANARY);
      await putParameter(url, `/airflow/variables/${KEY}`, CANARY);
      awsHttp = await startFaultProxy(url);
      awsTcp = await startTcpFaultProxy({ host: '127.0.0.1', port: Number(new URL(url).port) });
    });
    afterAll(async () => {
      await awsHttp?.close();
      await awsTcp?.close();
    });

    for (const service of ['aws-secrets-manager', 'aws-ssm'] as const) {
      runSubject(service, () => ({
        async arrange(fault) {
          const make = (endpoint: string) => {
            const options = {
              ...MOTO_CREDENTIALS,
              endpoint_url: endpoint,
              config_kwargs: {
                connect_timeout: STORE_TIMEOUT_S,
                read_timeout: STORE_TIMEOUT_S,
                retries: { total_max_attempts: 2 },
              },
            };
            const deps = { throttle: { baseMs: 1, capMs: 5, budgetMs: 500, maxRetries: 1 } };
            return service === 'aws-ssm'
              ? createAwsSsmBackend(options, deps)
              : createAwsSecretsManagerBackend(options, deps);
          };
          const tcp = TCP_FAULTS[fault];
          if (tcp) {
            awsTcp.setFault(tcp);
            return make(`http://127.0.0.1:${awsTcp.port}`);
          }
          if (fault === 'refused') return make(`http://127.0.0.1:${refused}`);
          if (fault === 'slow') awsHttp.setLatency(SLOW_MS);
          if (fault === '5xx') awsHttp.failRequests(50, 503);
          if (fault === 'throttled') awsHttp.failRequests(50, 400, 'ThrottlingException');
          if (fault === '401/403') awsHttp.failRequests(50, 403, 'AccessDeniedException');
          if (fault === 'expired credentials') {
            awsHttp.failRequests(50, 400, 'ExpiredTokenException');
          }
          return make(awsHttp.url);
        },
        reset() {
          awsHttp.clear();
          awsHttp.setLatency(0);
          awsTcp.setFault('pass');
        },
      }));
    }
  });

  // ---- Google Secret Manager (the gRPC fake) ------------------------------------------------

  describe('gcp-secret-manager', () => {
    let gcp: GcpSecretManagerFake;
    let gcpTcp: TcpFaultProxy;
    const PROJECT = 'airlock-matrix';
    beforeAll(async () => {
      gcp = await startGcpSecretManagerFake();
      const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
      const client = new SecretManagerServiceClient({
        apiEndpoint: gcp.host,
        port: gcp.port,
        sslCreds: grpcCredentials.createInsecure(),
        universeDomain: 'googleapis.com',
      });
      const secretId = `airflow-variables-${KEY}`;
      await client.createSecret({
        parent: `projects/${PROJECT}`,
        secretId,
        secret: { replication: { automatic: {} } },
      });
      await client.addSecretVersion({
        parent: `projects/${PROJECT}/secrets/${secretId}`,
        payload: { data: Buffer.from(CANARY) },
      });
      await client.close();
      gcpTcp = await startTcpFaultProxy({ host: '127.0.0.1', port: gcp.port });
    });
    afterAll(async () => {
      await gcpTcp?.close();
      await gcp?.close();
    });

    runSubject('gcp-secret-manager', () => ({
      async arrange(fault) {
        const make = (endpoint: string) =>
          createGcpSecretManagerBackend(
            {
              project_id: PROJECT,
              endpoint_url: endpoint,
              timeout_ms: STORE_TIMEOUT_S * 1000,
              max_retries: 1,
            },
            { env: { AIRLOCK_TEST_CREDENTIALS: '1' }, random: () => 0.05 },
          );
        const tcp = TCP_FAULTS[fault];
        if (tcp) {
          gcpTcp.setFault(tcp);
          return make(`http://127.0.0.1:${gcpTcp.port}`);
        }
        if (fault === 'refused') return make(`http://127.0.0.1:${refused}`);
        if (fault === 'slow') gcp.setLatency(SLOW_MS);
        if (fault === '5xx') gcp.failNext('INTERNAL', 2);
        if (fault === 'throttled') gcp.failNext('RESOURCE_EXHAUSTED', 2 * 2);
        if (fault === '401/403') gcp.failNext('PERMISSION_DENIED', 2);
        if (fault === 'expired credentials') gcp.failNext('UNAUTHENTICATED', 2);
        return make(gcp.url);
      },
      reset() {
        gcp.setLatency(0);
        gcpTcp.setFault('pass');
      },
    }));
  });

  // ---- Azure Key Vault (the HTTPS fake, with the official SDK) ------------------------------

  describe('azure-key-vault', () => {
    let azure: AzureKeyVaultFake;
    let azureTcp: TcpFaultProxy;
    const credential: TokenCredential = {
      getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3600_000 }),
    };
    beforeAll(async () => {
      azure = await startAzureKeyVaultFake({ tls: await generateFakeTls() });
      const client = new SecretClient(azure.url, credential, {
        ...azure.clientOptions(),
        retryOptions: { maxRetries: 0 },
      });
      await client.setSecret(buildAzureSecretName('airflow-variables', KEY, '-'), CANARY);
      azureTcp = await startTcpFaultProxy({
        host: '127.0.0.1',
        port: Number(new URL(azure.url).port),
      });
    });
    afterAll(async () => {
      await azureTcp?.close();
      await azure?.close();
    });

    runSubject('azure-key-vault', () => ({
      async arrange(fault) {
        const make = (url: string, tokens: TokenCredential = credential) =>
          createAzureKeyVaultBackend(
            {
              vault_url: url,
              retry_total: 1,
              retry_backoff_factor: 0.005,
              read_timeout: STORE_TIMEOUT_S,
            },
            { credential: tokens, clientOptions: azure.clientOptions(), env: {} },
          );
        const tcp = TCP_FAULTS[fault];
        if (tcp) {
          azureTcp.setFault(tcp);
          return make(`https://127.0.0.1:${azureTcp.port}`);
        }
        if (fault === 'refused') return make(`https://127.0.0.1:${refused}`);
        if (fault === 'slow') azure.setLatency(SLOW_MS);
        if (fault === '5xx') azure.failNext(503, 2 * 2);
        if (fault === 'throttled') azure.throttleNext(2 * 2, 0);
        if (fault === '401/403') azure.failNext(403, 2);
        if (fault === 'expired credentials') {
          // The identity's token cannot be renewed (an expired client secret, a revoked login).
          const expired: TokenCredential = {
            getToken: async () => {
              const err = new Error('the refresh token has expired');
              err.name = 'AuthenticationRequiredError';
              throw err;
            },
          };
          return make(azure.url, expired);
        }
        return make(azure.url);
      },
      reset() {
        azure.setLatency(0);
        azureTcp.setFault('pass');
      },
    }));
  });

  // ---- local files --------------------------------------------------------------------------

  describe('local-file', () => {
    const dir = tempDir('airlock-matrix-');
    runSubject('local-file', () => ({
      async arrange(fault) {
        const path = join(dir, `${fault.replace(/\W+/g, '-')}.json`);
        const whole = JSON.stringify({ [KEY]: CANARY });
        if (fault === 'truncated') writeFileSync(path, whole.slice(0, whole.length - 8));
        else if (fault === 'garbage') writeFileSync(path, Buffer.from([0x00, 0xff, 0x7b, 0xfe]));
        // A path that cannot be read as a file (root, as in CI, reads a file without permissions).
        else if (fault === '401/403') mkdirSync(path, { recursive: true });
        return createLocalFileBackend({ variables_file_path: path });
      },
      reset() {},
    }));
  });

  // ---- the shared cache (Redis) -------------------------------------------------------------

  describe('shared cache (Redis)', () => {
    let redisTcp: TcpFaultProxy;
    beforeAll(async () => {
      redisTcp = await startTcpFaultProxy({ host: '127.0.0.1', port: 6379 });
    });
    afterAll(() => redisTcp?.close());

    for (const fault of FAULTS) {
      const expected = EXPECTED['shared cache (Redis)']?.[fault];
      if (!expected || 'na' in expected) continue;
      it(`${fault} → served by the stores, one warning`, async () => {
        const tcp = TCP_FAULTS[fault];
        redisTcp.setFault(tcp ?? 'pass');
        redisTcp.setLatency(fault === 'slow' ? SLOW_MS : 0);
        const port = fault === 'refused' ? refused : redisTcp.port;
        const auth = fault === '401/403' ? 'airlock_no_such_user:wrong-password@' : '';
        const warnings: string[] = [];
        const logger: Logger = {
          error() {},
          info() {},
          debug() {},
          warn: (_fields, message) => warnings.push(message),
        };
        const shared = createRedisSharedCache({
          url: `redis://${auth}127.0.0.1:${port}/0`,
          keys: parseFernetKeys(Fernet.generateKey()),
          subscribe: false,
          timeoutMs: 300,
        });
        const env = createEnvBackend({ env: { [`AIRFLOW_VAR_${KEY.toUpperCase()}`]: CANARY } });
        const resolver = createResolver({
          backends: [env],
          cache: new SecretCache({ ttlSeconds: { variable: 60, connection: 60 } }),
          sharedCache: shared,
          logger,
        });
        try {
          const started = performance.now();
          for (let i = 0; i < 5; i++) {
            expect((await resolver.getVariable(`${KEY}_${i}`))?.source ?? 'miss').toBe('miss');
          }
          expect((await resolver.getVariable(KEY))?.value).toBe(CANARY);
          await resolver.invalidate('variable', KEY);
          expect(performance.now() - started).toBeLessThan(BOUND_MS);
          expect(warnings).toHaveLength(1);
          expect(warnings.join()).not.toContain(CANARY);
        } finally {
          await resolver.dispose();
          redisTcp.setFault('pass');
          redisTcp.setLatency(0);
        }
      });
    }
  });

  // ---- the metastore (PostgreSQL) -----------------------------------------------------------

  describe('metastore (PostgreSQL)', () => {
    let pgTcp: TcpFaultProxy;
    beforeAll(async () => {
      pgTcp = await startTcpFaultProxy({ host: '127.0.0.1', port: 5432 });
    });
    afterAll(() => pgTcp?.close());

    for (const fault of FAULTS) {
      const expected = EXPECTED['metastore (PostgreSQL)']?.[fault];
      if (!expected || !('code' in expected)) continue;
      it(`${fault} → ${expected.code}`, async () => {
        pgTcp.setFault(TCP_FAULTS[fault] ?? 'pass');
        pgTcp.setLatency(fault === 'slow' ? SLOW_MS : 0);
        const port = fault === 'refused' ? refused : pgTcp.port;
        const user = fault === '401/403' ? 'airlock_no_such_role' : 'postgres';
        const url = `postgresql://${user}:db-secret-pw@127.0.0.1:${port}/test?connect_timeout=1&query_timeout=500`;
        const started = performance.now();
        const err = await Metastore.open({ url, keys: parseFernetKeys(Fernet.generateKey()) })
          .then(async (store) => {
            try {
              await store.getVariable(KEY);
              return new Error('expected the metastore to fail');
            } finally {
              await store.close();
            }
          })
          .catch((e: unknown) => e);
        try {
          expect(isAirlockError(err) ? err.code : errorText(err)).toBe(expected.code);
          expect(performance.now() - started).toBeLessThan(BOUND_MS);
          expect(errorText(err)).not.toContain('db-secret-pw');
        } finally {
          pgTcp.setFault('pass');
          pgTcp.setLatency(0);
        }
      });
    }
  });
});

// ---- the published table ----------------------------------------------------------------------

function cellText(outcome: Outcome): string {
  if ('code' in outcome) return `\`${outcome.code.replace(/^AIRLOCK_ERR_/, '')}\``;
  if ('outcome' in outcome) return outcome.outcome;
  return `n/a (${outcome.na})`;
}

/** The matrix as the Markdown table `docs/reliability.md` holds. */
function renderMatrix(): string {
  const head = `| Store | ${FAULTS.join(' | ')} |`;
  const rule = `| --- | ${FAULTS.map(() => '---').join(' | ')} |`;
  const rows = Object.entries(EXPECTED).map(
    ([name, cells]) => `| ${name} | ${FAULTS.map((f) => cellText(cells[f])).join(' | ')} |`,
  );
  return [head, rule, ...rows].join('\n');
}

const BEGIN = '<!-- fault-matrix:begin (generated by test/reliability/fault-matrix.test.ts) -->';
const END = '<!-- fault-matrix:end -->';

describe('docs/reliability.md', () => {
  it('publishes the fault matrix the tests assert', () => {
    const path = join(ROOT, 'docs/reliability.md');
    const page = readFileSync(path, 'utf8');
    const block = `${BEGIN}\n${renderMatrix()}\n${END}`;
    const start = page.indexOf(BEGIN);
    const end = page.indexOf(END);
    if (process.env.UPDATE_RELIABILITY_DOC === '1') {
      const next =
        start >= 0 && end > start
          ? page.slice(0, start) + block + page.slice(end + END.length)
          : `${page.trimEnd()}\n\n${block}\n`;
      writeFileSync(path, next);
      return;
    }
    expect(start, 'run with UPDATE_RELIABILITY_DOC=1 to write the table').toBeGreaterThanOrEqual(0);
    expect(page.slice(start, end + END.length)).toBe(block);
  });
});
