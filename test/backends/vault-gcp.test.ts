/**
 * Vault's `gcp` auth method (`iam` roles), as Airflow's `auth_type: gcp` uses it: hvac sets it up
 * and logs in with a JWT signed by the service account against the Vault double, which checks the
 * signature with the account's public key; then the built `airlock` logs in the same way with the
 * docs' `gcp_key_path`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runPython } from '../helpers/tools.ts';
import { requestLines, vaultEnv } from '../helpers/vault.ts';

const ROOT_TOKEN = 'gcp-root';
const EMAIL = 'airflow@airlock-test.iam.gserviceaccount.com';

/** A service-account key file as Google issues it (a fresh RSA key, never a real account). */
function serviceAccountKey(dir: string, name: string): { path: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const path = join(dir, name);
  writeFileSync(
    path,
    JSON.stringify({
      type: 'service_account',
      project_id: 'airlock-test',
      private_key_id: 'a1b2c3d4e5',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: EMAIL,
      client_id: '100000000000000000001',
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
  );
  return { path, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

describe('vault auth_type gcp', () => {
  const dir = tempDir('airlock-vault-gcp-');
  const key = serviceAccountKey(dir, 'sa.json');
  // The same account name with another key: Vault (and the double) refuse its signature.
  const otherKey = serviceAccountKey(dir, 'other.json');
  let vault: VaultFake;

  beforeAll(async () => {
    vault = await startVaultFake({
      rootToken: ROOT_TOKEN,
      gcpServiceAccountKeys: { [EMAIL]: key.publicKey },
    });
  });
  afterAll(async () => {
    await vault?.close();
  });

  function env(kwargs: Record<string, unknown>): Record<string, string> {
    return vaultEnv({
      url: vault.url,
      auth_type: 'gcp',
      role_id: 'airflow-gcp',
      ...kwargs,
    });
  }

  it('serves hvac: a signed JWT logs in, one for another role is refused', async () => {
    const r = await runPython(
      'hvac, cryptography',
      'python3-hvac python3-cryptography',
      join(import.meta.dirname, 'hvac_gcp.py'),
      [vault.url, ROOT_TOKEN, key.path],
    );
    if (r.code !== 0) throw new Error(`hvac_gcp.py failed:\n${r.stdout}${r.stderr}`);
    expect(JSON.parse(r.stdout)).toEqual({
      policies: ['airflow', 'default'],
      service_account: EMAIL,
      value: 'read after a GCP login',
      wrong_audience: 'InvalidRequest',
    });
  });

  it('logs airlock in with gcp_key_path and reads the variable', async () => {
    vault.clearRequests();
    const r = await runAirlock(['variables', 'get', 'from_gcp'], {
      env: env({ gcp_key_path: key.path }),
    });
    expect(r).toMatchObject({ code: 0, stdout: 'read after a GCP login\n', stderr: '' });
    expect(requestLines(vault)).toEqual([
      'POST auth/gcp/login 200',
      'GET secret/data/variables/from_gcp 200',
      'POST auth/token/revoke-self 204',
    ]);
  });

  it('fails with AIRLOCK_ERR_BACKEND_AUTH for a key Vault cannot verify', async () => {
    const r = await runAirlock(['variables', 'get', 'from_gcp'], {
      env: env({ gcp_key_path: otherKey.path }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'airlock: error AIRLOCK_ERR_BACKEND_AUTH: vault: could not log in with gcp at auth/gcp (HTTP 400, Vault did not accept the signed JWT)\n',
    );
    expect(r.stderr).not.toContain('PRIVATE KEY');
  });

  it('needs role_id and a key, at start-up', async () => {
    const r = await runAirlock(['variables', 'get', 'from_gcp'], {
      env: {
        ...vaultEnv({ url: vault.url, auth_type: 'gcp' }),
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('auth_type `gcp` needs `role_id` (the Vault role)');
    expect(r.stderr).toContain('auth_type `gcp` needs `gcp_key_path` or `gcp_keyfile_dict`');
  });
});
