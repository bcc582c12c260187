/**
 * Vault's `azure` auth method: the login carries an Entra ID access token. The Key Vault double
 * plays Entra ID (its token endpoint issues signed JWTs), the Vault double checks them with that
 * key; hvac sets the method up and logs in, then the built `airlock` logs in with
 * `auth_type: azure` and a service principal signing in at `AZURE_AUTHORITY_HOST`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureKeyVaultFake,
  startAzureKeyVaultFake,
} from '../../src/testing/fakes/azure-key-vault-fake.ts';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runPython } from '../helpers/tools.ts';
import { requestLines, vaultEnv } from '../helpers/vault.ts';

const ROOT_TOKEN = 'azure-root';
const CLIENT_ID = '22222222-3333-4444-8555-666666666666';

describe('vault auth_type azure', () => {
  let entra: AzureKeyVaultFake;
  let vault: VaultFake;
  let caFile: string;

  beforeAll(async () => {
    entra = await startAzureKeyVaultFake();
    vault = await startVaultFake({
      rootToken: ROOT_TOKEN,
      azureTokenKeys: [entra.signingPublicKey],
    });
    caFile = join(tempDir('airlock-vault-azure-'), 'ca.pem');
    writeFileSync(caFile, entra.caCertificate);
    const r = await runPython(
      'hvac, requests',
      'python3-hvac',
      join(import.meta.dirname, 'hvac_azure.py'),
      [
        vault.url,
        ROOT_TOKEN,
        entra.authorityHost,
        entra.tenantId,
        CLIENT_ID,
        entra.principalObjectId(CLIENT_ID),
        caFile,
      ],
    );
    if (r.code !== 0) throw new Error(`hvac_azure.py failed:\n${r.stdout}${r.stderr}`);
    expect(JSON.parse(r.stdout)).toEqual({
      policies: ['airflow', 'default'],
      value: 'read after an Azure login',
      other_resource: 'InvalidRequest',
    });
  });
  afterAll(async () => {
    await vault?.close();
    await entra?.close();
  });

  function env(kwargs: Record<string, unknown>): Record<string, string> {
    return vaultEnv(
      {
        url: vault.url,
        auth_type: 'azure',
        role_id: 'airflow-azure',
        azure_tenant_id: entra.tenantId,
        key_id: CLIENT_ID,
        ...kwargs,
      },
      {
        AZURE_AUTHORITY_HOST: entra.authorityHost,
        NODE_EXTRA_CA_CERTS: caFile,
      },
    );
  }

  it('logs airlock in with a service principal token and reads the variable', async () => {
    vault.clearRequests();
    const r = await runAirlock(['variables', 'get', 'from_azure'], {
      env: env({ secret_id: 'airlock-client-secret' }),
    });
    expect(r).toMatchObject({ code: 0, stdout: 'read after an Azure login\n', stderr: '' });
    expect(requestLines(vault)).toEqual([
      'POST auth/azure/login 200',
      'GET secret/data/variables/from_azure 200',
      'POST auth/token/revoke-self 204',
    ]);
    expect(entra.signIns.at(-1)).toMatchObject({
      clientId: CLIENT_ID,
      scope: 'https://management.azure.com/.default',
      outcome: 'issued',
    });
  });

  it('fails with AIRLOCK_ERR_BACKEND_AUTH for a token of another resource, without the secret', async () => {
    const r = await runAirlock(['variables', 'get', 'from_azure'], {
      env: env({ secret_id: 'airlock-client-secret', azure_resource: 'https://vault.azure.net' }),
    });
    expect(r.stderr).toBe(
      'airlock: error AIRLOCK_ERR_BACKEND_AUTH: vault: could not log in with azure at auth/azure (HTTP 400, Vault did not accept the Azure token)\n',
    );
    expect(r.stderr).not.toContain('airlock-client-secret');
  });
});
