/**
 * The Airflow docs' Azure Key Vault walkthrough, run against the fake through the built CLI:
 * configure the backend with Airflow's class path and kwargs, set the secrets with Debian's Azure
 * SDK for Python (`python3-azure`: a client we did not write), read them with
 * `airlock variables get`, trusting the fake's CA through NODE_EXTRA_CA_CERTS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURE_TEST_TOKEN } from '../../src/backends/azure-key-vault.ts';
import {
  type AzureKeyVaultFake,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import { BIN, cleanEnv, NODE, ROOT, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runPython } from '../helpers/tools.ts';

const CLASS_PATH = 'airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend';

const SET_SECRETS = join(import.meta.dirname, 'azure_set_secrets.py');

function envFor(caFile: string, kwargs: Record<string, unknown>): Record<string, string> {
  return {
    AIRFLOW__SECRETS__BACKEND: CLASS_PATH,
    AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify(kwargs),
    AIRLOCK_TEST_CREDENTIALS: '1',
    NODE_EXTRA_CA_CERTS: caFile,
  };
}

describe('azure-key-vault walkthrough', () => {
  let fake: AzureKeyVaultFake;
  let caFile: string;
  let docsKwargs: Record<string, unknown>;

  beforeAll(async () => {
    // The CLI may present only the static test token; the SDK client of the test any other.
    fake = await startAzureKeyVaultFake({
      acceptedTokens: [AZURE_TEST_TOKEN, 'walkthrough-token'],
    });
    caFile = join(tempDir('airlock-azure-walkthrough-'), 'ca.pem');
    writeFileSync(caFile, fake.caCertificate);
    // `SecretClient.set_secret` from python3-azure, as an operator would set them.
    const secrets = {
      'airflow-variables-first-variable': 'value from Key Vault',
      'airflow-connections-smtp-default': 'smtp://mailer:p%40ss@mail.example.com:587',
      dbpassword: 'no prefix, no separator',
      'airflow-variables-denied': 'denied-value-abc',
    };
    const r = await runPython(
      'azure.keyvault.secrets',
      'python3-azure',
      SET_SECRETS,
      [fake.url, caFile, 'walkthrough-token'],
      { input: JSON.stringify(secrets) },
    );
    if (r.code !== 0) throw new Error(`azure_set_secrets.py failed:\n${r.stderr}`);
    const set = JSON.parse(r.stdout) as Record<string, { version: string; read_back: boolean }>;
    expect(Object.keys(set)).toEqual(Object.keys(secrets));
    // The SDK's own challenge handshake: a first request without a token, then the bearer.
    expect(fake.requests[0]?.token).toBeNull();
    expect(
      fake.requests.filter((q) => q.method === 'PUT' && q.token === 'walkthrough-token'),
    ).toHaveLength(4);
    for (const outcome of Object.values(set)) {
      expect(outcome).toEqual({
        version: expect.stringMatching(/^[0-9a-f]{32}$/),
        read_back: true,
      });
    }
    // The Airflow docs' kwargs, with the fake as the vault.
    docsKwargs = {
      connections_prefix: 'airflow-connections',
      variables_prefix: 'airflow-variables',
      vault_url: fake.url,
    };
  });
  afterAll(() => fake?.close());

  it('serves a Variable set with the Python SDK under its hyphenated name, with source azure-key-vault', async () => {
    const r = await runAirlock(['variables', 'get', 'first_variable', '-o', 'json'], {
      env: envFor(caFile, docsKwargs),
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'first_variable',
      value: 'value from Key Vault',
      source: 'azure-key-vault',
    });
  });

  it('serves a Connection stored as a URI under airflow-connections-<conn-id>', async () => {
    const r = await runAirlock(['connections', 'get', 'smtp_default', '-o', 'json'], {
      env: envFor(caFile, docsKwargs),
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      conn_id: 'smtp_default',
      conn_type: 'smtp',
      host: 'mail.example.com',
      login: 'mailer',
      password: 'p@ss',
      port: 587,
      source: 'azure-key-vault',
    });
  });

  it('reads the bare key without underscores when the prefix and sep are empty', async () => {
    const r = await runAirlock(['variables', 'get', 'db_password', '-o', 'json'], {
      env: envFor(caFile, {
        variables_prefix: '',
        sep: '',
        vault_url: 'https://example-akv-resource-name.vault.azure.net/',
        endpoint_url: fake.url,
      }),
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'db_password',
      value: 'no prefix, no separator',
      source: 'azure-key-vault',
    });
  });

  it('shows the secret name it looked up, and falls through to the environment on a miss', async () => {
    const which = await runAirlock(['secrets', 'which', 'variable', 'only_in_env', '-o', 'json'], {
      env: { ...envFor(caFile, docsKwargs), AIRFLOW_VAR_ONLY_IN_ENV: 'from env' },
    });
    expect(which.code).toBe(0);
    const report = JSON.parse(which.stdout) as { source: string; trace: Record<string, unknown>[] };
    expect(report.source).toBe('env');
    expect(report.trace[0]).toMatchObject({
      backend: 'azure-key-vault',
      outcome: 'miss',
      location: 'airflow-variables-only-in-env',
    });
  });

  it('fails closed with AIRLOCK_ERR_BACKEND_AUTH on a 403, without the value', async () => {
    fake.failNext(403);
    const r = await runAirlock(['variables', 'get', 'denied'], {
      env: { ...envFor(caFile, docsKwargs), AIRFLOW_VAR_DENIED: 'stale copy' },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^airlock: error AIRLOCK_ERR_BACKEND_AUTH: azure-key-vault/);
    expect(r.stderr).not.toContain('denied-value-abc');
  });

  it('names the sign-in host it cannot reach, without waiting out the retries', async () => {
    const kwargs = {
      ...docsKwargs,
      // The tenant the vault's sign-in challenge names (the SDK refuses any other).
      tenant_id: fake.tenantId,
      client_id: '00000000-0000-4000-8000-0000000000bb',
      client_secret: 'sp-secret-value-xyz',
    };
    // A service principal signs in at AZURE_AUTHORITY_HOST: here a loopback port nobody serves.
    const started = performance.now();
    const r = await runAirlock(['variables', 'get', 'first_variable'], {
      env: {
        AIRFLOW__SECRETS__BACKEND: CLASS_PATH,
        AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify(kwargs),
        NODE_EXTRA_CA_CERTS: caFile,
        AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9',
      },
    });
    const elapsedMs = performance.now() - started;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^airlock: error AIRLOCK_ERR_BACKEND_AUTH: azure-key-vault: could not get an Azure token to read variable `first_variable` \(\w+Error\): the sign-in host 127\.0\.0\.1:9 \(ECONNREFUSED\) could not be reached; check the network, the tenant and AZURE_AUTHORITY_HOST\n$/,
    );
    expect(r.stderr).not.toContain('sp-secret-value-xyz');
    // The SDK alone retries an unreachable sign-in host for ~6 s before it gives up.
    expect(elapsedMs).toBeLessThan(5000);
  });

  describe('a service principal under test credentials', () => {
    const principal = () => ({
      tenant_id: fake.tenantId,
      client_id: '11111111-2222-4333-8444-555555555555',
      client_secret: 'sp-walkthrough-secret',
    });

    it("signs in at the double's Entra ID token endpoint (AZURE_AUTHORITY_HOST), from the kwargs", async () => {
      const signInsBefore = fake.signIns.length;
      const requestsBefore = fake.requests.length;
      const r = await runAirlock(['variables', 'get', 'first_variable'], {
        env: {
          ...envFor(caFile, { ...docsKwargs, ...principal() }),
          AZURE_AUTHORITY_HOST: fake.authorityHost,
        },
      });
      expect(r).toMatchObject({ code: 0, stdout: 'value from Key Vault\n', stderr: '' });
      expect(fake.signIns.slice(signInsBefore)).toEqual([
        {
          tenant: fake.tenantId,
          clientId: '11111111-2222-4333-8444-555555555555',
          scope: 'https://vault.azure.net/.default',
          outcome: 'issued',
        },
      ]);
      const used = fake.requests.slice(requestsBefore).map((q) => q.token);
      expect(used.at(-1)).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/); // an RS256 JWT
      expect(used).not.toContain(AZURE_TEST_TOKEN);
    });

    it('signs in from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET too', async () => {
      const signInsBefore = fake.signIns.length;
      const { tenant_id, client_id, client_secret } = principal();
      const r = await runAirlock(['variables', 'get', 'first_variable'], {
        env: {
          ...envFor(caFile, docsKwargs),
          AZURE_AUTHORITY_HOST: fake.authorityHost,
          AZURE_TENANT_ID: tenant_id,
          AZURE_CLIENT_ID: client_id,
          AZURE_CLIENT_SECRET: client_secret,
        },
      });
      expect(r).toMatchObject({ code: 0, stdout: 'value from Key Vault\n' });
      expect(fake.signIns.slice(signInsBefore).map((x) => x.outcome)).toEqual(['issued']);
    });

    it('refuses a service principal whose sign-in would not be a loopback one', async () => {
      const r = await runAirlock(['variables', 'get', 'first_variable'], {
        env: envFor(caFile, { ...docsKwargs, ...principal() }),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^airlock: error AIRLOCK_ERR_CONFIG_INVALID: azure-key-vault: AIRLOCK_TEST_CREDENTIALS=1 with a service principal \(tenant_id, client_id, client_secret\) signs it in at AZURE_AUTHORITY_HOST, which must then be a loopback https URL .*; it is unset\n$/,
      );
      expect(r.stderr).not.toContain('sp-walkthrough-secret');
    });

    it('fails with AIRLOCK_ERR_BACKEND_AUTH when the double refuses the client secret', async () => {
      const strict = await startAzureKeyVaultFake({
        servicePrincipals: { '11111111-2222-4333-8444-555555555555': 'the-right-secret' },
        seed: { 'airflow-variables-first-variable': 'unreachable without a token' },
      });
      try {
        const strictCa = join(tempDir('airlock-azure-sp-'), 'ca.pem');
        writeFileSync(strictCa, strict.caCertificate);
        const r = await runAirlock(['variables', 'get', 'first_variable'], {
          env: {
            ...envFor(strictCa, { vault_url: strict.url, ...principal() }),
            AZURE_AUTHORITY_HOST: strict.authorityHost,
          },
        });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /^airlock: error AIRLOCK_ERR_BACKEND_AUTH: azure-key-vault: could not get an Azure token to read variable `first_variable` \(\w+\)/,
        );
        expect(r.stderr).not.toContain('sp-walkthrough-secret');
        expect(strict.signIns.map((x) => x.outcome)).toEqual(['invalid_client']);
      } finally {
        await strict.close();
      }
    });
  });

  it('refuses test credentials for a vault that is not loopback', async () => {
    const r = await runAirlock(['variables', 'get', 'first_variable'], {
      env: envFor(caFile, { vault_url: 'https://example-akv-resource-name.vault.azure.net/' }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^airlock: error AIRLOCK_ERR_CONFIG_INVALID: azure-key-vault: .*AIRLOCK_TEST_CREDENTIALS/,
    );
  });
});

describe('airlock fake azure-key-vault', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  /** Starts the CLI fake and resolves once it printed its URL and its CA file. */
  function startCliFake(args: string[]): Promise<{
    child: ChildProcess;
    url: string;
    caFile: string;
    output: () => string;
  }> {
    const child = spawn(NODE, [BIN, 'fake', 'azure-key-vault', ...args], {
      cwd: ROOT,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`fake did not start: ${out}${err}`)), 15_000);
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const url = /^listening on (\S+)$/m.exec(out)?.[1];
        const caFile = /^ca certificate: (.+)$/m.exec(out)?.[1];
        if (url && caFile) {
          clearTimeout(timer);
          resolve({ child, url, caFile, output: () => out });
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fake exited with ${code}: ${out}${err}`));
      });
    });
  }

  it('serves a seed file over HTTPS, writes its CA, and stops on SIGTERM', async () => {
    const dir = tempDir('airlock-azure-seed-');
    const seed = join(dir, 'seed.json');
    writeFileSync(
      seed,
      JSON.stringify({ secrets: { 'airflow-variables-seeded-key': 'from the seed file' } }),
    );
    const { child, url, caFile, output } = await startCliFake(['--port', '0', '--seed', seed]);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(caFile, 'utf8')).toContain('BEGIN CERTIFICATE');
    const r = await runAirlock(['variables', 'get', 'seeded_key', '-o', 'json'], {
      env: envFor(caFile, {
        vault_url: 'https://example.vault.azure.net/',
        endpoint_url: url,
      }),
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      key: 'seeded_key',
      value: 'from the seed file',
      source: 'azure-key-vault',
    });
    expect(output()).toContain('test double');
    expect(output()).toContain('(1 secrets seeded)');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(caFile)).toBe(false);
  });

  it('refuses a seed file with an invalid secret name, without printing values', async () => {
    const dir = tempDir('airlock-azure-seed-');
    const seed = join(dir, 'bad.json');
    writeFileSync(seed, JSON.stringify({ secrets: { airflow_variables_x: 'seed-secret-value' } }));
    const r = await runAirlock(['fake', 'azure-key-vault', '--seed', seed]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /AIRLOCK_ERR_CLI_USAGE: .*`airflow_variables_x` is not a valid Key Vault secret name/,
    );
    expect(r.stderr).not.toContain('seed-secret-value');
  });
});
