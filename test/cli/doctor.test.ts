/**
 * `airlock doctor` through the built CLI: a healthy deployment passes (exit 0) without printing
 * a value, and each failure the issue lists is found and explained with its fix (exit 1): an
 * unreachable store, an untrusted certificate, wrong credentials, a policy without read, a KV
 * version mismatch, a wrong Fernet key, an undecryptable row, a hung shared cache, a DAG import
 * error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURE_TEST_TOKEN } from '../../src/backends/azure-key-vault.ts';
import { Fernet } from '../../src/metastore/fernet.ts';
import {
  type AzureKeyVaultFake,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import {
  generateFakeTlsCertificate,
  startVaultFake,
  type VaultFake,
} from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { useMoto } from '../helpers/moto.ts';
import { awsEnv, azureEnv } from '../helpers/stores.ts';
import { tempDir } from '../helpers/tmp.ts';
import { vaultEnv } from '../helpers/vault.ts';

const SECRET = 'doctor-s3cret-value-91f2';

interface Check {
  check: string;
  status: 'ok' | 'warning' | 'failure';
  detail: string;
  fix?: string;
}

async function doctor(env: Record<string, string>, args: string[] = []) {
  const r = await runAirlock(['doctor', '-o', 'json', ...args], { env, timeoutMs: 60_000 });
  expect(r.stdout).not.toContain(SECRET);
  expect(r.stderr).not.toContain(SECRET);
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  return { code: r.code, report, failures: report.checks.filter((c) => c.status === 'failure') };
}

describe('airlock doctor', () => {
  let vault: VaultFake;
  const home = () => ({ AIRLOCK_HOME: tempDir('airlock-doctor-') });

  beforeAll(async () => {
    vault = await startVaultFake({
      rootToken: 'root',
      seed: {
        kv: { 'secret/variables/greeting': { value: SECRET } },
        policies: { 'list-only': 'path "secret/data/variables/*" { capabilities = ["list"] }' },
      },
    });
  });
  afterAll(() => vault?.close());

  it('passes a healthy deployment, with the token, the probe and where each setting came from, never a value', async () => {
    const r = await doctor({ ...home(), ...vaultEnv({ url: vault.url, token: 'root' }) }, [
      '--probe-variable',
      'greeting',
    ]);
    expect(r.failures).toEqual([]);
    expect(r.code).toBe(0);
    const details = r.report.checks.map((c) => `${c.check}: ${c.detail}`);
    expect(details).toContainEqual(
      expect.stringMatching(
        /^configuration: chain: vault, env, metastore; settings: .*AIRFLOW__SECRETS__BACKEND \(environment\)/,
      ),
    );
    expect(details).toContainEqual(
      expect.stringMatching(
        /^store vault: variables: reachable, TLS trusted, authenticated, read allowed/,
      ),
    );
    expect(details).toContainEqual('store vault: token: no expiry; policies: root');
    expect(details).toContainEqual(
      expect.stringMatching(/^probe variable greeting: served by vault/),
    );
  });

  describe('on AWS (moto)', () => {
    const moto = useMoto();
    it('names the caller identity and compares the clock', async () => {
      const r = await doctor({
        ...home(),
        ...awsEnv('ssm', moto.server().url, tempDir('airlock-doctor-aws-')),
      });
      expect(r.failures).toEqual([]);
      const details = r.report.checks
        .filter((c) => c.check === 'store aws-ssm')
        .map((c) => c.detail);
      expect(details).toContainEqual(
        expect.stringMatching(/^caller identity: arn:aws:[a-z]+::\d{12}:/),
      );
      expect(details).toContainEqual(expect.stringMatching(/^clock: within \d+ s of AWS$/));
    });
  });

  describe('Key Vault', () => {
    let fake: AzureKeyVaultFake;
    let caFile: string;
    beforeAll(async () => {
      fake = await startAzureKeyVaultFake({ acceptedTokens: [AZURE_TEST_TOKEN] });
      caFile = join(tempDir('airlock-doctor-azure-'), 'ca.pem');
      writeFileSync(caFile, fake.caCertificate);
    });
    afterAll(() => fake?.close());

    it("compares the clock with the vault's (tokens are dated by the sign-in service)", async () => {
      const r = await doctor({ ...home(), ...azureEnv(fake.url, caFile) });
      const details = r.report.checks
        .filter((c) => c.check === 'store azure-key-vault')
        .map((c) => c.detail);
      expect(details).toContainEqual(expect.stringMatching(/^clock: within \d+ s of Key Vault$/));
    });

    it('fails when this machine is more than five minutes off the vault', async () => {
      // A vault an hour ahead: every answer (here a 401 challenge) carries its Date.
      const tls = await generateFakeTlsCertificate();
      const skewedCa = join(tempDir('airlock-doctor-skew-'), 'ca.pem');
      writeFileSync(skewedCa, tls.cert);
      const skewed = createHttpsServer(tls, (_req, res) => {
        res.writeHead(401, { date: new Date(Date.now() + 3_600_000).toUTCString() });
        res.end();
      });
      await new Promise<void>((resolve) => skewed.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = skewed.address() as AddressInfo;
        const r = await doctor({ ...home(), ...azureEnv(`https://127.0.0.1:${port}`, skewedCa) });
        expect(r.code).toBe(1);
        expect(r.failures).toContainEqual(
          expect.objectContaining({
            check: 'store azure-key-vault',
            detail: expect.stringMatching(/^clock: 3[56]\d\d s apart from Key Vault/),
            fix: 'sync this machine clock (NTP)',
          }),
        );
      } finally {
        skewed.close();
      }
    });
  });

  it('finds an unreachable store', async () => {
    // A port nothing listens on any more.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await doctor({
      ...home(),
      ...vaultEnv({ url: `http://127.0.0.1:${port}`, token: 'root' }),
    });
    expect(r.code).toBe(1);
    expect(r.failures[0]).toMatchObject({
      check: 'store vault',
      detail: expect.stringMatching(
        /AIRLOCK_ERR_BACKEND_UNAVAILABLE: .*unreachable \(ECONNREFUSED\)/,
      ),
      fix: expect.stringContaining('check the store URL'),
    });
  });

  it('finds an untrusted certificate', async () => {
    const tls = await generateFakeTlsCertificate();
    const https = await startVaultFake({ rootToken: 'root', tls });
    try {
      const r = await doctor({ ...home(), ...vaultEnv({ url: https.url, token: 'root' }) });
      expect(r.code).toBe(1);
      expect(r.failures[0]).toMatchObject({
        check: 'store vault',
        detail: expect.stringContaining('TLS verification failed'),
        fix: expect.stringContaining('NODE_EXTRA_CA_CERTS'),
      });
    } finally {
      await https.close();
    }
  });

  it('finds wrong credentials', async () => {
    const r = await doctor({ ...home(), ...vaultEnv({ url: vault.url, token: 'not-a-token' }) });
    expect(r.code).toBe(1);
    expect(r.failures[0]).toMatchObject({
      check: 'store vault',
      detail: expect.stringContaining('AIRLOCK_ERR_BACKEND_AUTH'),
      fix: expect.stringContaining('check the credentials'),
    });
  });

  it('finds a policy without read', async () => {
    const res = await fetch(`${vault.url}/v1/auth/token/create`, {
      method: 'POST',
      headers: { 'x-vault-token': 'root' },
      body: JSON.stringify({ policies: ['list-only'] }),
    });
    const token = ((await res.json()) as { auth: { client_token: string } }).auth.client_token;
    const r = await doctor({ ...home(), ...vaultEnv({ url: vault.url, token }) });
    expect(r.code).toBe(1);
    expect(r.failures[0]).toMatchObject({
      check: 'store vault',
      detail: expect.stringContaining("the token's policy needs `read`"),
      fix: expect.stringContaining('grant the identity read on secret/data/variables/'),
    });
  });

  it('finds a KV version mismatch', async () => {
    const r = await doctor({
      ...home(),
      ...vaultEnv({ url: vault.url, token: 'root', kv_engine_version: 1 }),
    });
    expect(r.code).toBe(1);
    expect(r.failures[0]).toMatchObject({
      check: 'store vault',
      detail: expect.stringContaining(
        'secret/ is a KV version 2 mount, but kv_engine_version is 1',
      ),
      fix: 'set "kv_engine_version": 2',
    });
  });

  it('finds a wrong Fernet key and an undecryptable row', async () => {
    const env = home();
    const keyA = Fernet.generateKey();
    const keyB = Fernet.generateKey();
    const set = async (key: string, fernet: string) => {
      const r = await runAirlock(['variables', 'set', key, SECRET], {
        env: { ...env, AIRFLOW__CORE__FERNET_KEY: fernet },
      });
      expect(r.code).toBe(0);
    };
    await set('written_with_a', keyA);
    // The metastore refuses writes with a key that is not its own (its key check), so the row
    // that key A cannot read is made the way it happens: a value encrypted with another key
    // (a restore from another deployment, a botched manual edit).
    await set('written_with_b', keyA);
    const db = new DatabaseSync(join(env.AIRLOCK_HOME, 'airlock.db'));
    try {
      db.prepare('update variable set val = ? where key = ?').run(
        new Fernet(keyB).encrypt(SECRET),
        'written_with_b',
      );
    } finally {
      db.close();
    }
    // Key A reads the first row, not the second: one undecryptable row.
    const one = await doctor({ ...env, AIRFLOW__CORE__FERNET_KEY: keyA });
    expect(one.code).toBe(1);
    expect(one.failures).toEqual([
      expect.objectContaining({
        check: 'metastore',
        detail: expect.stringMatching(/AIRLOCK_ERR_CRYPTO_TOKEN_INVALID: .*written_with_b/),
        fix: expect.stringContaining('AIRLOCK__CORE__FERNET_KEY'),
      }),
    ]);
    // A key that wrote nothing here: the first row already fails.
    const wrong = await doctor({ ...env, AIRFLOW__CORE__FERNET_KEY: Fernet.generateKey() });
    expect(wrong.code).toBe(1);
    expect(wrong.failures[0]).toMatchObject({
      check: 'metastore',
      detail: expect.stringMatching(/AIRLOCK_ERR_CRYPTO_TOKEN_INVALID: .*written_with_a/),
    });
  });

  describe('a hung shared cache', () => {
    let hung: Server;
    let port: number;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      // Accepts connections and never answers: a Redis that hangs.
      hung = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
      });
      await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
      port = (hung.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    });

    it('is reported within its bound', async () => {
      const started = Date.now();
      const r = await doctor({
        ...home(),
        AIRLOCK__SECRETS__SHARED_CACHE_URL: `redis://127.0.0.1:${port}`,
      });
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(r.code).toBe(1);
      expect(r.failures).toEqual([
        expect.objectContaining({
          check: 'shared cache',
          detail: `127.0.0.1:${port}: no answer within 2 s`,
          fix: expect.stringContaining('AIRLOCK__SECRETS__SHARED_CACHE_URL'),
        }),
      ]);
    });
  });

  it('finds a DAG import error', async () => {
    const env = home();
    const dags = join(env.AIRLOCK_HOME, 'dags');
    mkdirSync(dags, { recursive: true });
    writeFileSync(
      join(dags, 'broken_dag.ts'),
      "import { dag } from 'airlock';\nthrow new Error('broken on purpose');\n",
    );
    const r = await doctor(env);
    expect(r.code).toBe(1);
    expect(r.failures).toEqual([
      expect.objectContaining({
        check: 'dags',
        detail: 'broken_dag.ts: does not import',
        fix: expect.stringContaining('airlock dags list-import-errors'),
      }),
    ]);
  });
});
