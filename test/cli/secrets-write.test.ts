/**
 * `airlock secrets put|delete` through the built CLI, on every store: what `put` writes,
 * `variables get` / `connections get` read back, and a client we did not write (hvac, the AWS
 * CLI, gcloud, the Azure SDK for Python) finds it at the name Airflow reads, in the shape the
 * docs write it. Nothing written is ever printed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURE_TEST_TOKEN } from '../../src/backends/azure-key-vault.ts';
import {
  type AzureKeyVaultFake,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import {
  type GcpSecretManagerFake,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { expectOneLineError, runAirlock } from '../helpers/cli.ts';
import { awsCli, useMoto } from '../helpers/moto.ts';
import { awsEnv, azureEnv, gcpEnv } from '../helpers/stores.ts';
import { tempDir } from '../helpers/tmp.ts';
import { gcloudFor, runPython } from '../helpers/tools.ts';
import { vaultEnv } from '../helpers/vault.ts';

const HVAC_READ = join(import.meta.dirname, 'hvac_read.py');
const AZURE_GET = join(import.meta.dirname, 'azure_get_secrets.py');
const SMTP_URI = 'smtps://mailer:p%40ss-put@relay.example.com:465';
const WAREHOUSE = {
  conn_type: 'postgres',
  host: 'db.example.com',
  login: 'analyst',
  password: 'pw-from-put',
  schema: 'analytics',
  port: 5432,
};

/** `airlock secrets put …`; asserts success and that the value is not in the output. */
async function put(
  args: string[],
  env: Record<string, string>,
  secret: string,
  input?: string,
): Promise<string> {
  const r = await runAirlock(['secrets', 'put', ...args], {
    env,
    ...(input === undefined ? {} : { input }),
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).not.toContain(secret);
  return r.stdout;
}

async function getVariable(key: string, env: Record<string, string>) {
  const r = await runAirlock(['variables', 'get', key, '-o', 'json'], { env });
  return { code: r.code, stderr: r.stderr, json: r.code === 0 ? JSON.parse(r.stdout) : undefined };
}

async function getConnection(id: string, env: Record<string, string>) {
  const r = await runAirlock(['connections', 'get', id, '-o', 'json'], { env });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('airlock secrets put|delete: vault', () => {
  let vault: VaultFake;
  const env = (extra: Record<string, unknown> = {}) =>
    vaultEnv({ url: vault.url, token: 'root', ...extra });

  beforeAll(async () => {
    vault = await startVaultFake({ rootToken: 'root', seed: { mounts: { kv1: 1 } } });
  });
  afterAll(() => vault?.close());

  async function hvacRead(paths: [1 | 2, string, string][]): Promise<unknown[]> {
    const r = await runPython('hvac', 'python3-hvac', HVAC_READ, [vault.url, 'root'], {
      input: JSON.stringify(paths),
    });
    if (r.code !== 0) throw new Error(`hvac_read.py failed:\n${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  it('writes value / conn_uri / the fields at the docs’ KV v2 paths; the CLI and hvac read them back', async () => {
    const out = await put(
      ['variable', 'greeting', '-', '--backend', 'vault'],
      env(),
      'hello from put',
      'hello from put\n',
    );
    expect(out).toBe('put variable `greeting` in vault at secret/data/variables/greeting\n');
    await put(
      ['connection', 'smtp_default', '--conn-uri', SMTP_URI, '--backend', 'vault'],
      env(),
      'p%40ss-put',
    );
    await put(
      ['connection', 'warehouse', '--conn-json', JSON.stringify(WAREHOUSE), '--backend', 'vault'],
      env(),
      'pw-from-put',
    );

    expect((await getVariable('greeting', env())).json).toEqual({
      key: 'greeting',
      value: 'hello from put',
      source: 'vault',
    });
    expect(await getConnection('smtp_default', env())).toMatchObject({
      conn_type: 'smtps',
      login: 'mailer',
      password: 'p@ss-put',
      source: 'vault',
    });
    expect(await getConnection('warehouse', env())).toMatchObject({
      ...WAREHOUSE,
      source: 'vault',
    });
    expect(
      await hvacRead([
        [2, 'secret', 'variables/greeting'],
        [2, 'secret', 'connections/smtp_default'],
        [2, 'secret', 'connections/warehouse'],
      ]),
    ).toEqual([
      { data: { value: 'hello from put' } },
      { data: { conn_uri: SMTP_URI } },
      { data: WAREHOUSE },
    ]);
  });

  it('writes KV v1 with kv_engine_version 1, and delete makes the next read a miss', async () => {
    const v1 = env({ mount_point: 'kv1', kv_engine_version: 1 });
    await put(['variable', 'region', 'eu-west-1', '--backend', 'vault'], v1, 'eu-west-1');
    expect((await getVariable('region', v1)).json).toMatchObject({ value: 'eu-west-1' });
    expect(await hvacRead([[1, 'kv1', 'variables/region']])).toEqual([
      { data: { value: 'eu-west-1' } },
    ]);

    const deleted = await runAirlock(
      ['secrets', 'delete', 'variable', 'region', '--backend', 'vault'],
      {
        env: v1,
      },
    );
    expect(deleted).toMatchObject({
      code: 0,
      stdout: 'deleted variable `region` from vault at kv1/variables/region\n',
    });
    const miss = await getVariable('region', v1);
    expect(miss.code).toBe(1);
    expectOneLineError(miss.stderr, 'AIRLOCK_ERR_VAR_NOT_FOUND');
    expect(await hvacRead([[1, 'kv1', 'variables/region']])).toEqual([{ missing: true }]);
  });

  it('refuses, coded and without the value, a name that would leave the path, a bad connection and a read-only link', async () => {
    const leaving = await runAirlock(
      ['secrets', 'put', 'variable', '../escape', 'not-printed-1', '--backend', 'vault'],
      { env: env() },
    );
    expect(leaving.code).toBe(1);
    expectOneLineError(leaving.stderr, 'AIRLOCK_ERR_BACKEND_NAME_INVALID');
    expect(leaving.stderr).not.toContain('not-printed-1');

    const noScheme = await runAirlock(
      [
        'secrets',
        'put',
        'connection',
        'c1',
        '--conn-uri',
        '//not-printed-2@host',
        '--backend',
        'vault',
      ],
      { env: env() },
    );
    expectOneLineError(noScheme.stderr, 'AIRLOCK_ERR_CONN_URI_INVALID');
    expect(noScheme.stderr).not.toContain('not-printed-2');

    const readOnly = await runAirlock(
      ['secrets', 'put', 'variable', 'x', 'not-printed-3', '--backend', 'env'],
      { env: env() },
    );
    expectOneLineError(readOnly.stderr, 'AIRLOCK_ERR_BACKEND_READ_ONLY');
    expect(readOnly.stderr).toContain('stores airlock can write here: vault');

    const denied = await runAirlock(
      ['secrets', 'put', 'variable', 'x', 'not-printed-4', '--backend', 'vault'],
      { env: vaultEnv({ url: vault.url, token: 'not-a-token' }) },
    );
    expectOneLineError(denied.stderr, 'AIRLOCK_ERR_BACKEND_AUTH');
    expect(denied.stderr).not.toContain('not-printed-4');
  });
});

describe('airlock secrets put|delete: AWS Secrets Manager and SSM (moto)', () => {
  const moto = useMoto();
  const home = tempDir('airlock-secrets-put-aws-');
  const aws = (args: string[]) => awsCli(moto.server().url, home, args);
  const smEnv = () => awsEnv('secrets-manager', moto.server().url, home);
  const ssmEnv = () => awsEnv('ssm', moto.server().url, home);

  it('Secrets Manager: creates, updates, deletes and puts again at airflow/variables/<key>', async () => {
    const backend = ['--backend', 'aws-secrets-manager'];
    const out = await put(
      ['variable', 'greeting', 'first value', ...backend],
      smEnv(),
      'first value',
    );
    expect(out).toBe(
      'put variable `greeting` in aws-secrets-manager at airflow/variables/greeting\n',
    );
    await put(['variable', 'greeting', 'second value', ...backend], smEnv(), 'second value');
    expect((await getVariable('greeting', smEnv())).json).toEqual({
      key: 'greeting',
      value: 'second value',
      source: 'aws-secrets-manager',
    });
    expect(
      await aws([
        'secretsmanager',
        'get-secret-value',
        '--secret-id',
        'airflow/variables/greeting',
      ]),
    ).toMatchObject({ Name: 'airflow/variables/greeting', SecretString: 'second value' });

    await put(
      ['connection', 'smtp_default', '--conn-uri', '-', ...backend],
      smEnv(),
      'p%40ss-put',
      SMTP_URI,
    );
    expect(
      await aws([
        'secretsmanager',
        'get-secret-value',
        '--secret-id',
        'airflow/connections/smtp_default',
      ]),
    ).toMatchObject({ SecretString: SMTP_URI });

    const del = await runAirlock(['secrets', 'delete', 'variable', 'greeting', ...backend], {
      env: smEnv(),
    });
    expect(del.code).toBe(0);
    expect((await getVariable('greeting', smEnv())).code).toBe(1);
    // Scheduled for deletion: a put restores the name and writes the new value.
    await put(['variable', 'greeting', 'third value', ...backend], smEnv(), 'third value');
    const third = await getVariable('greeting', smEnv());
    expect(third.stderr).toBe('');
    expect(third.json).toMatchObject({ value: 'third value' });
  });

  it('SSM: a SecureString at /airflow/variables/<key>, overwritten, refused for a name SSM cannot hold', async () => {
    const backend = ['--backend', 'aws-ssm'];
    const out = await put(
      ['variable', 'db_host', 'db-1.internal', ...backend],
      ssmEnv(),
      'db-1.internal',
    );
    expect(out).toBe('put variable `db_host` in aws-ssm at /airflow/variables/db_host\n');
    await put(['variable', 'db_host', 'db-2.internal', ...backend], ssmEnv(), 'db-2.internal');
    expect((await getVariable('db_host', ssmEnv())).json).toMatchObject({
      value: 'db-2.internal',
      source: 'aws-ssm',
    });
    const parameter = (await aws([
      'ssm',
      'get-parameter',
      '--name',
      '/airflow/variables/db_host',
      '--with-decryption',
    ])) as { Parameter: Record<string, unknown> };
    expect(parameter.Parameter).toMatchObject({
      Type: 'SecureString',
      Value: 'db-2.internal',
      Version: 2,
    });

    const bad = await runAirlock(['secrets', 'put', 'variable', 'has space', 'v', ...backend], {
      env: ssmEnv(),
    });
    expectOneLineError(bad.stderr, 'AIRLOCK_ERR_BACKEND_NAME_INVALID');
  });
});

describe('airlock secrets put|delete: Google Secret Manager', () => {
  let fake: GcpSecretManagerFake;
  const project = 'put-project';
  const env = () => gcpEnv(fake.url, project);

  beforeAll(async () => {
    fake = await startGcpSecretManagerFake({ projectId: project });
  });
  afterAll(() => fake?.close());

  it('creates the secret, adds a version per put, and gcloud reads the latest', async () => {
    const backend = ['--backend', 'gcp-secret-manager'];
    const out = await put(
      ['variable', 'greeting', 'version one', ...backend],
      env(),
      'version one',
    );
    expect(out).toBe(
      `put variable \`greeting\` in gcp-secret-manager at projects/${project}/secrets/airflow-variables-greeting/versions/latest\n`,
    );
    await put(['variable', 'greeting', 'version two', ...backend], env(), 'version two');
    expect((await getVariable('greeting', env())).json).toEqual({
      key: 'greeting',
      value: 'version two',
      source: 'gcp-secret-manager',
    });
    const gcloud = await gcloudFor(fake.url, project);
    const latest = await gcloud([
      'secrets',
      'versions',
      'access',
      'latest',
      '--secret',
      'airflow-variables-greeting',
    ]);
    expect(latest.stdout).toBe('version two');
    const versions = await gcloud([
      'secrets',
      'versions',
      'list',
      'airflow-variables-greeting',
      '--format=value(name)',
    ]);
    expect(versions.stdout.trim().split('\n').sort()).toEqual(['1', '2']);

    const del = await runAirlock(['secrets', 'delete', 'variable', 'greeting', ...backend], {
      env: env(),
    });
    expect(del.code).toBe(0);
    expect((await getVariable('greeting', env())).code).toBe(1);

    const bad = await runAirlock(['secrets', 'put', 'variable', 'a.b', 'v', ...backend], {
      env: env(),
    });
    expectOneLineError(bad.stderr, 'AIRLOCK_ERR_BACKEND_NAME_INVALID');
  });
});

describe('airlock secrets put|delete: Azure Key Vault', () => {
  let fake: AzureKeyVaultFake;
  let caFile: string;
  const env = () => azureEnv(fake.url, caFile);

  beforeAll(async () => {
    fake = await startAzureKeyVaultFake({ acceptedTokens: [AZURE_TEST_TOKEN, 'reader-token'] });
    caFile = join(tempDir('airlock-secrets-put-azure-'), 'ca.pem');
    writeFileSync(caFile, fake.caCertificate);
  });
  afterAll(() => fake?.close());

  async function sdkRead(names: string[]): Promise<Record<string, string | null>> {
    const r = await runPython(
      'azure.keyvault.secrets',
      'python3-azure',
      AZURE_GET,
      [fake.url, caFile, 'reader-token'],
      { input: JSON.stringify(names) },
    );
    if (r.code !== 0) throw new Error(`azure_get_secrets.py failed:\n${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  it('writes under the sep rules, the SDK reads it, delete then put recovers the name', async () => {
    const backend = ['--backend', 'azure-key-vault'];
    const out = await put(
      ['variable', 'first_variable', 'from put', ...backend],
      env(),
      'from put',
    );
    expect(out).toBe(
      'put variable `first_variable` in azure-key-vault at airflow-variables-first-variable\n',
    );
    await put(
      ['connection', 'smtp_default', '--conn-uri', SMTP_URI, ...backend],
      env(),
      'p%40ss-put',
    );
    expect((await getVariable('first_variable', env())).json).toEqual({
      key: 'first_variable',
      value: 'from put',
      source: 'azure-key-vault',
    });
    expect(
      await sdkRead(['airflow-variables-first-variable', 'airflow-connections-smtp-default']),
    ).toEqual({
      'airflow-variables-first-variable': 'from put',
      'airflow-connections-smtp-default': SMTP_URI,
    });

    const del = await runAirlock(['secrets', 'delete', 'variable', 'first_variable', ...backend], {
      env: env(),
    });
    expect(del.code).toBe(0);
    expect(await sdkRead(['airflow-variables-first-variable'])).toEqual({
      'airflow-variables-first-variable': null,
    });
    await put(['variable', 'first_variable', 'after delete', ...backend], env(), 'after delete');
    expect((await getVariable('first_variable', env())).json).toMatchObject({
      value: 'after delete',
    });

    const bad = await runAirlock(['secrets', 'put', 'variable', 'a.b', 'v', ...backend], {
      env: env(),
    });
    expectOneLineError(bad.stderr, 'AIRLOCK_ERR_BACKEND_NAME_INVALID');
  });
});
