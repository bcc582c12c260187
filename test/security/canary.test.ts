/**
 * The canary test: a secret planted in every backend of one chain (Vault, Secrets Manager,
 * Parameter Store, Google Secret Manager, Azure Key Vault, a local file, the environment, the
 * metastore), the whole CLI surface and its error paths run against it at debug log level, and
 * every byte written searched for every canary in every encoding. Values asked for explicitly
 * (`variables get`, `connections get`) may appear on stdout of that command only.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureKeyVaultFake,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import {
  type GcpSecretManagerFake,
  startGcpSecretManagerFake,
} from '../../src/testing/fakes/gcp-secret-manager-fake.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { type CliResult, NODE, runAirlock } from '../helpers/cli.ts';
import {
  MOTO_CREDENTIALS,
  type MotoServer,
  putParameter,
  putSecret,
  startMoto,
} from '../helpers/moto.ts';
import { tempDir } from '../helpers/tmp.ts';

/** One canary per backend, each a distinct string that must never leak. */
const CANARY = {
  vaultVar: 'cnry-vault-var-5b1e',
  vaultPw: 'cnry-vault-pw-77aa',
  smVar: 'cnry-sm-var-0c42',
  smPw: 'cnry-sm-pw-91f3',
  ssmVar: 'cnry-ssm-var-2d7e',
  gcpVar: 'cnry-gcp-var-6a08',
  azureVar: 'cnry-azure-var-3f5c',
  fileVar: 'cnry-file-var-8e21',
  filePw: 'cnry-file-pw-4c9d',
  envToken: 'cnry-env-token-1b6f',
  envPw: 'cnry-env-pw-7d30',
  msSecret: 'cnry-ms-secret-9a4b',
  msPw: 'cnry-ms-pw-5e12',
  vaultToken: 'cnry-vault-root-token-0f8c',
} as const;

const ALL = Object.values(CANARY);

/** Every form a canary could leak in. */
function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(`${secret}/`).slice(0, -3),
    Buffer.from(secret).toString('base64').slice(0, 16),
    JSON.stringify(secret).slice(1, -1),
  ];
}

function leaks(text: string, allowed: readonly string[] = []): string[] {
  const found: string[] = [];
  for (const secret of ALL) {
    if (allowed.includes(secret)) continue;
    for (const form of forms(secret)) if (text.includes(form)) found.push(`${secret} (as ${form})`);
  }
  return found;
}

describe('canary: no secret leaks through any CLI output', () => {
  let vault: VaultFake;
  let moto: MotoServer;
  let gcp: GcpSecretManagerFake;
  let azure: AzureKeyVaultFake;
  let env: Record<string, string>;
  const outputs: { what: string; result: CliResult; allowed: readonly string[] }[] = [];

  async function cli(
    args: string[],
    allowed: readonly string[] = [],
    extra: Record<string, string> = {},
  ) {
    const result = await runAirlock(args, { env: { ...env, ...extra }, timeoutMs: 60_000 });
    outputs.push({ what: args.join(' '), result, allowed });
    return result;
  }

  beforeAll(async () => {
    const home = tempDir();
    [vault, moto, gcp, azure] = await Promise.all([
      startVaultFake({ rootToken: CANARY.vaultToken }),
      startMoto(),
      startGcpSecretManagerFake(),
      startAzureKeyVaultFake(),
    ]);
    vault.seed({
      kv: {
        'secret/variables/vault_var': { value: CANARY.vaultVar },
        'secret/connections/vault_conn': {
          conn_uri: `postgres://vault-user:${CANARY.vaultPw}@db.example.com:5432/analytics`,
        },
      },
    });
    await putSecret(moto.url, 'airflow/variables/sm_var', CANARY.smVar);
    await putSecret(
      moto.url,
      'airflow/connections/sm_conn',
      JSON.stringify({ conn_type: 'mysql', host: 'h', user: 'sm-user', password: CANARY.smPw }),
    );
    await putParameter(moto.url, '/airflow/variables/ssm_var', CANARY.ssmVar, 'SecureString');
    gcp.seed({ 'airflow-variables-gcp_var': CANARY.gcpVar });
    azure.seed({ 'airflow-variables-azure-var': CANARY.azureVar });
    const caFile = join(home, 'azure-ca.pem');
    writeFileSync(caFile, azure.caCertificate);
    const varsFile = join(home, 'variables.json');
    writeFileSync(varsFile, JSON.stringify({ file_var: CANARY.fileVar }));
    const connsFile = join(home, 'connections.json');
    writeFileSync(
      connsFile,
      JSON.stringify({
        file_conn: `mysql://file-user:${CANARY.filePw}@h/db`,
        broken_conn: `mysql://file-user:${CANARY.filePw}@h:notaport/db`,
      }),
    );
    const aws = { endpoint_url: moto.url, ...MOTO_CREDENTIALS };
    env = {
      AIRLOCK_HOME: home,
      AIRLOCK_TEST_CREDENTIALS: '1',
      NODE_EXTRA_CA_CERTS: caFile,
      AIRLOCK__LOGGING__LEVEL: 'debug',
      AIRLOCK__SECRETS__BACKENDS: JSON.stringify([
        { type: 'vault', kwargs: { url: vault.url, token: CANARY.vaultToken, config_path: null } },
        { type: 'aws-secrets-manager', kwargs: aws },
        { type: 'aws-ssm', kwargs: aws },
        {
          type: 'gcp-secret-manager',
          kwargs: { project_id: gcp.projectId, endpoint_url: gcp.url },
        },
        { type: 'azure-key-vault', kwargs: { vault_url: azure.url } },
        {
          type: 'local-file',
          kwargs: { variables_file_path: varsFile, connections_file_path: connsFile },
        },
      ]),
      AIRFLOW_VAR_ENV_TOKEN: CANARY.envToken,
      AIRFLOW_CONN_ENV_CONN: `postgres://env-user:${CANARY.envPw}@h/db`,
    };
    // The metastore's canaries go in through the CLI, as a user would put them there.
    const migrate = await runAirlock(['db', 'migrate'], { env });
    expect(migrate.code, migrate.stderr).toBe(0);
    const set = await runAirlock(['variables', 'set', 'ms_secret', CANARY.msSecret], { env });
    expect(set.code, set.stderr).toBe(0);
    const add = await runAirlock(
      ['connections', 'add', 'ms_conn', '--conn-uri', `postgres://ms-user:${CANARY.msPw}@h/db`],
      { env },
    );
    expect(add.code, add.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([vault?.close(), moto?.stop(), gcp?.close(), azure?.close()]);
  });

  it('serves each canary only to the command that asks for it', async () => {
    const variables: [string, string][] = [
      ['vault_var', CANARY.vaultVar],
      ['sm_var', CANARY.smVar],
      ['ssm_var', CANARY.ssmVar],
      ['gcp_var', CANARY.gcpVar],
      ['azure_var', CANARY.azureVar],
      ['file_var', CANARY.fileVar],
      ['env_token', CANARY.envToken],
      ['ms_secret', CANARY.msSecret],
    ];
    for (const [key, value] of variables) {
      const r = await cli(['variables', 'get', key, '-o', 'json'], [value]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).value).toBe(value);
    }
    const many = await cli(
      ['variables', 'get', ...variables.map(([k]) => k)],
      variables.map(([, v]) => v),
    );
    expect(many.code, many.stderr).toBe(0);
    const connections: [string, string][] = [
      ['vault_conn', CANARY.vaultPw],
      ['sm_conn', CANARY.smPw],
      ['file_conn', CANARY.filePw],
      ['env_conn', CANARY.envPw],
      ['ms_conn', CANARY.msPw],
    ];
    for (const [connId, password] of connections) {
      const r = await cli(['connections', 'get', connId, '-o', 'json'], [password]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).password).toBe(password);
    }
  });

  it('never prints a value in provenance, configuration and listings', async () => {
    for (const key of [
      'vault_var',
      'sm_var',
      'ssm_var',
      'gcp_var',
      'azure_var',
      'file_var',
      'env_token',
      'ms_secret',
    ]) {
      const r = await cli(['secrets', 'which', 'variable', key, '--all', '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const connId of ['vault_conn', 'sm_conn', 'env_conn', 'ms_conn']) {
      await cli(['secrets', 'which', 'connection', connId]);
    }
    await cli(['config', 'show']);
    await cli(['config', 'show', '-o', 'json']);
    for (const output of ['table', 'json', 'yaml', 'plain']) {
      await cli(['variables', 'list', '-o', output]);
      await cli(['connections', 'list', '-o', output]);
    }
  });

  it('masks what airlock run injects in the command output', async () => {
    const r = await cli([
      'run',
      '--var',
      'vault_var',
      '--var',
      'env_token',
      '--var',
      'ms_secret',
      '--conn',
      'sm_conn',
      '--conn-fields',
      '--',
      NODE,
      '-e',
      'for (const [k, v] of Object.entries(process.env)) if (/^(AIRFLOW_VAR_(VAULT_VAR|ENV_TOKEN|MS_SECRET)|AIRFLOW_CONN_SM_CONN|SM_CONN_)/.test(k)) console.log(k, v, encodeURIComponent(v), Buffer.from(v).toString("base64"))',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('AIRFLOW_VAR_VAULT_VAR ***');
    expect(r.stdout).toContain('SM_CONN_PASSWORD ***');
  });

  it('keeps canaries out of every error path', async () => {
    const missing = await cli(['variables', 'get', 'not_anywhere']);
    expect(missing.code).toBe(1);
    const notJson = await cli(['variables', 'get', 'vault_var', '--json']);
    expect(notJson.stderr).toMatch(/AIRLOCK_ERR_VAR_JSON_INVALID/);
    const broken = await cli(['connections', 'get', 'broken_conn']);
    expect(broken.stderr).toMatch(/AIRLOCK_ERR_CONN_PORT_INVALID/);
    for (const status of [500, 403, 401]) {
      // Enough failures to outlast the backend's retries (Airflow's: 3 for 5xx).
      vault.failNext(status, 10, 'secret/data/variables/vault_var');
      const r = await cli(['variables', 'get', 'vault_var']);
      expect(r.code, `vault ${status}`).toBe(1);
      // Spend what the retries left, so that later commands see a healthy Vault.
      for (let i = 0; i < 12; i++) {
        if ((await runAirlock(['variables', 'get', 'vault_var'], { env })).code === 0) break;
      }
    }
    gcp.failNext('PERMISSION_DENIED', 1, 'AccessSecretVersion');
    const gcpDenied = await cli(['variables', 'get', 'gcp_var']);
    expect(gcpDenied.stderr).toMatch(/AIRLOCK_ERR_BACKEND_AUTH/);
    azure.failNext(403, 5);
    const azureDenied = await cli(['variables', 'get', 'azure_var']);
    expect(azureDenied.stderr).toMatch(/AIRLOCK_ERR_BACKEND_AUTH/);
    azure.reset();
    azure.seed({ 'airflow-variables-azure-var': CANARY.azureVar });
    const wrongKey = await cli(['variables', 'get', 'ms_secret'], [], {
      AIRLOCK__CORE__FERNET_KEY: 'x1oSWe6XPvK9cK0JO0gCmRlr8y8m1NpYHqkQyXL9rT0=',
    });
    expect(wrongKey.stderr).toMatch(/AIRLOCK_ERR_CRYPTO/);
    const badKwargs = await cli(['variables', 'get', 'x'], [], {
      AIRLOCK__SECRETS__BACKENDS: JSON.stringify([
        { type: 'vault', kwargs: { url: vault.url, tokn: CANARY.vaultToken } },
      ]),
    });
    expect(badKwargs.stderr).toMatch(/AIRLOCK_ERR_CONFIG_INVALID/);
  });

  it('leaves no canary in any output nobody asked for', () => {
    expect(outputs.length).toBeGreaterThan(30);
    const found: string[] = [];
    for (const { what, result, allowed } of outputs) {
      for (const leak of leaks(result.stdout, allowed))
        found.push(`stdout of \`${what}\`: ${leak}`);
      for (const leak of leaks(result.stderr)) found.push(`stderr of \`${what}\`: ${leak}`);
    }
    expect(found).toEqual([]);
  });
});
