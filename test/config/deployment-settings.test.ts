/**
 * One deployment, one chain: the Airflow docs' last step puts the backend in the Deployment's
 * settings (the kwargs marked secret). Every airlock process that opens that metastore then uses
 * it — `variables get`, `connections get`, `secrets which`, `config show`, `dags test` and a task
 * run by `airlock worker` serve the same value from the same link — and the same holds with the
 * backend set only in the environment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFernetKeys } from '../../src/metastore/fernet.ts';
import { Metastore } from '../../src/metastore/metastore.ts';
import { ServerStore } from '../../src/server/store.ts';
import {
  generateFakeTlsCertificate,
  startVaultFake,
  type VaultFake,
} from '../../src/testing/fakes/vault-fake.ts';
import { BIN, cleanEnv, NODE, ROOT, runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { createTestApp } from '../server/_app.ts';

const FERNET_KEY = 'zJhyqb8xQzJ4bb8H3xU2dZ_HiVXoOk-mu2d-ZcNkU6U=';
const TOKEN = 'deployment-vault-token-7c1e';
const VAULT_BACKEND = 'airflow.providers.hashicorp.secrets.vault.VaultBackend';

let vault: VaultFake;
const children: ChildProcess[] = [];

beforeAll(async () => {
  vault = await startVaultFake({
    rootToken: TOKEN,
    seed: {
      kv: {
        'secret/variables/test-key': { value: 'from-vault' },
        'secret/connections/warehouse': { conn_uri: 'postgres://analyst:pw-9f2@db.example.com/dw' },
      },
    },
  });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await vault?.close();
});

function kwargs(): string {
  return JSON.stringify({
    url: vault.url,
    token: TOKEN,
    variables_path: 'variables',
    connections_path: 'connections',
    mount_point: 'secret',
  });
}

/** A deployment home with the docs' example DAG, a fast worker, and `extra` in its environment. */
function deployment(extra: Record<string, string> = {}): Record<string, string> {
  const home = tempDir('airlock-deployment-');
  mkdirSync(join(home, 'dags'));
  copyFileSync(
    join(ROOT, 'examples/dags/example_secrets_dags.ts'),
    join(home, 'dags', 'example_secrets_dags.ts'),
  );
  return {
    AIRLOCK_HOME: home,
    AIRLOCK__CORE__FERNET_KEY: FERNET_KEY,
    AIRLOCK__WORKER__POLL_INTERVAL_MS: '100',
    AIRLOCK__WORKER__HEARTBEAT_SECONDS: '0.2',
    ...extra,
  };
}

/** Saves deployment settings as the server's Deployment page does. */
async function saveSettings(
  env: Record<string, string>,
  settings: Array<[name: string, value: string, secret: boolean]>,
): Promise<void> {
  const metastore = await Metastore.open({
    url: `sqlite:///${join(env.AIRLOCK_HOME as string, 'airlock.db')}`,
    keys: parseFernetKeys(FERNET_KEY),
  });
  try {
    const store = new ServerStore(metastore);
    for (const [name, value, secret] of settings)
      await store.putSetting(name, value, secret, 'admin');
  } finally {
    await metastore.close();
  }
}

/** Every command of the check, each asserting the same value from the same link. */
async function expectOneChain(
  env: Record<string, string>,
  from: 'environment' | 'deployment setting',
) {
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const r = await runAirlock(args, { env, timeoutMs: 60_000 });
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  const variable = await run(['variables', 'get', 'test-key', '-o', 'json']);
  expect(variable.stderr).toBe('');
  expect(JSON.parse(variable.stdout)).toEqual({
    key: 'test-key',
    value: 'from-vault',
    source: 'vault',
  });

  const conn = await run(['connections', 'get', 'warehouse', '-o', 'json']);
  expect(JSON.parse(conn.stdout)).toMatchObject({ host: 'db.example.com', source: 'vault' });

  const which = await run(['secrets', 'which', 'variable', 'test-key', '-o', 'json']);
  const report = JSON.parse(which.stdout);
  expect(report).toMatchObject({
    source: 'vault',
    chain_configured_by: 'AIRFLOW__SECRETS__BACKEND',
    chain_configured_from: from,
  });
  expect(report.trace.map((t: { backend: string }) => t.backend)).toEqual([
    'vault',
    'env',
    'metastore',
  ]);
  const whichPlain = await run(['secrets', 'which', 'variable', 'test-key']);
  expect(whichPlain.stdout).toContain(
    `chain: vault, env, metastore (AIRFLOW__SECRETS__BACKEND from the ${from === 'environment' ? 'environment' : 'deployment settings'})`,
  );

  const shown = await run(['config', 'show', '-o', 'json']);
  const config = JSON.parse(shown.stdout);
  expect(config.chain).toEqual(['vault', 'env', 'metastore']);
  expect(config.secrets.configured_from).toBe(from);
  expect(config.secrets.backends[0].kwargs.token).toBe('***');
  expect(config.sources).toMatchObject({
    AIRFLOW__SECRETS__BACKEND: from,
    AIRFLOW__SECRETS__BACKEND_KWARGS: from,
    AIRLOCK__CORE__FERNET_KEY: 'environment',
  });

  const test = await run(['dags', 'test', 'example_secrets_dags']);
  expect(test.code, test.stderr).toBe(0);
  expect(test.stdout).toContain('My variable is: from-vault');

  const trigger = await run(['dags', 'trigger', 'example_secrets_dags', '-r', 'by-worker']);
  expect(trigger.code, trigger.stderr).toBe(0);
  const worker = spawn(NODE, [BIN, 'worker'], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(worker);
  worker.stdout?.on('data', (d: Buffer) => outputs.push(d.toString()));
  worker.stderr?.on('data', (d: Buffer) => outputs.push(d.toString()));
  await waitFor(async () => {
    const r = await runAirlock(
      ['tasks', 'states-for-dag-run', 'example_secrets_dags', 'by-worker', '-o', 'json'],
      { env },
    );
    const rows = JSON.parse(r.stdout || '[]') as { state: string | null }[];
    return rows.length > 0 && rows.every((x) => x.state === 'success') ? true : undefined;
  });
  worker.kill('SIGTERM');
  const logs = join(env.AIRLOCK_HOME as string, 'logs', 'example_secrets_dags', 'by-worker');
  const log = readFileSync(join(logs, readdirSync(logs)[0] as string, '1.log'), 'utf8');
  expect(log).toContain('My variable is: from-vault');
  outputs.push(log);

  // The backend's token (a secret setting, or the environment's kwargs) is in no output.
  for (const text of outputs) expect(text).not.toContain(TOKEN);
}

describe('one deployment, one chain', () => {
  it('applies the backend saved as deployment settings to every command and to tasks', async () => {
    const env = deployment();
    await saveSettings(env, [
      ['AIRFLOW__SECRETS__BACKEND', VAULT_BACKEND, false],
      ['AIRFLOW__SECRETS__BACKEND_KWARGS', kwargs(), true],
    ]);
    await expectOneChain(env, 'deployment setting');
  }, 120_000);

  it('serves the same from the same link with the backend set only in the environment', async () => {
    const env = deployment({
      AIRFLOW__SECRETS__BACKEND: VAULT_BACKEND,
      AIRFLOW__SECRETS__BACKEND_KWARGS: kwargs(),
    });
    await expectOneChain(env, 'environment');
  }, 120_000);

  it('lets a deployment setting win over the process environment, and says which', async () => {
    const env = deployment({ AIRFLOW_VAR_PROBE: 'from-process' });
    await saveSettings(env, [['AIRFLOW_VAR_PROBE', 'from-setting', false]]);
    const r = await runAirlock(['variables', 'get', 'probe'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'from-setting\n' });
  });

  it('still works from the environment when the metastore cannot be read, and says so', async () => {
    const env = deployment({ AIRFLOW_VAR_PROBE: 'from-process' });
    await saveSettings(env, [['AIRFLOW_VAR_OTHER', 'x', true]]);
    // Another deployment's key: the settings cannot be decrypted.
    const r = await runAirlock(['variables', 'get', 'probe'], {
      env: { ...env, AIRLOCK__CORE__FERNET_KEY: 'Ud3FBsSVE1wqs2MNaGv1ae_t3xSDJXRDOnTTVBhnvGw=' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('from-process\n');
    expect(r.stderr).toMatch(/could not read the deployment settings.*using the environment only/);
  });
});

describe('settings Node reads at start, saved as deployment settings', () => {
  let tlsVault: VaultFake;
  let caFile: string;

  beforeAll(async () => {
    const cert = await generateFakeTlsCertificate();
    tlsVault = await startVaultFake({
      rootToken: TOKEN,
      tls: cert,
      seed: { kv: { 'secret/variables/tls-key': { value: 'over-tls' } } },
    });
    caFile = join(tempDir('airlock-ca-'), 'vault-ca.pem');
    writeFileSync(caFile, cert.cert);
  });
  afterAll(async () => {
    await tlsVault?.close();
  });

  const tlsSettings = (): Array<[string, string, boolean]> => [
    ['NODE_EXTRA_CA_CERTS', caFile, false],
    ['AIRFLOW__SECRETS__BACKEND', VAULT_BACKEND, false],
    [
      'AIRFLOW__SECRETS__BACKEND_KWARGS',
      JSON.stringify({ url: tlsVault.url, token: TOKEN, mount_point: 'secret' }),
      true,
    ],
  ];

  it('a CLI command trusts the store through NODE_EXTRA_CA_CERTS saved as a setting', async () => {
    const env = deployment();
    await saveSettings(env, tlsSettings());
    const r = await runAirlock(['variables', 'get', 'tls-key', '-o', 'json'], { env });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ value: 'over-tls', source: 'vault' });
  });

  it('the running server trusts it as soon as the setting is saved, without a restart', async () => {
    const t = await createTestApp();
    try {
      const which = async () =>
        (await (await t.as('viewer', '/api/v1/secrets/which?kind=variable&id=tls-key')).json()) as {
          source: string | null;
          trace: Array<{ errorCode?: string }>;
        };
      for (const [name, value, secret] of tlsSettings().slice(1)) {
        const res = await t.as('admin', `/api/v1/settings/${name}`, {
          method: 'PUT',
          body: JSON.stringify({ value, secret }),
        });
        expect(res.status, name).toBe(201);
      }
      // Not trusted yet: the certificate is the fake's own.
      const before = await which();
      expect(before.source).toBeNull();
      expect(before.trace[0]?.errorCode).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      const [name, value] = tlsSettings()[0] as [string, string, boolean];
      const res = await t.as('admin', `/api/v1/settings/${name}`, {
        method: 'PUT',
        body: JSON.stringify({ value, secret: false }),
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ name, restart_required: false });
      expect((await which()).source).toBe('vault');
      // A variable Node reads only at start, and that Node cannot take on later, says so.
      const tz = await t.as('admin', '/api/v1/settings/TZ', {
        method: 'PUT',
        body: JSON.stringify({ value: 'Europe/Paris' }),
      });
      expect(await tz.json()).toMatchObject({ name: 'TZ', restart_required: true });
    } finally {
      await t.close();
    }
  });
});
