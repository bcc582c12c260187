/**
 * Vault's `aws` auth method (IAM), as Airflow's `auth_type: aws_iam` uses it: hvac sets it up and
 * logs in against the Vault double, which checks the SigV4 signature and replays the signed
 * `sts:GetCallerIdentity` to moto's STS; then the built `airlock` logs in the same way.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { useMoto } from '../helpers/moto.ts';
import { runPython } from '../helpers/tools.ts';
import { requestLines, vaultEnv } from '../helpers/vault.ts';

const ROOT_TOKEN = 'iam-root';
const ACCESS_KEY = 'AKIAAIRLOCKIAMTEST01';
const SECRET_KEY = 'airlock-iam-secret-key-value';
const moto = useMoto();

describe('vault auth_type aws_iam', () => {
  let vault: VaultFake;

  beforeAll(async () => {
    vault = await startVaultFake({
      rootToken: ROOT_TOKEN,
      awsCredentials: { [ACCESS_KEY]: SECRET_KEY },
    });
  });
  afterAll(async () => {
    await vault?.close();
  });

  function env(kwargs: Record<string, unknown>): Record<string, string> {
    return vaultEnv({
      url: vault.url,
      auth_type: 'aws_iam',
      role_id: 'airflow-iam',
      ...kwargs,
    });
  }

  it('serves hvac: iam_login is verified and replayed to STS, a wrong secret key is refused', async () => {
    const r = await runPython(
      'hvac',
      'python3-hvac',
      join(import.meta.dirname, 'hvac_aws_iam.py'),
      [vault.url, ROOT_TOKEN, moto.server().url, ACCESS_KEY, SECRET_KEY],
    );
    if (r.code !== 0) throw new Error(`hvac_aws_iam.py failed:\n${r.stdout}${r.stderr}`);
    expect(JSON.parse(r.stdout)).toEqual({
      policies: ['airflow', 'default'],
      metadata_auth_type: 'iam',
      value: 'read after an IAM login',
      wrong_secret: 'InvalidRequest',
    });
  });

  it('logs airlock in with key_id and secret_id, and reads the variable', async () => {
    vault.clearRequests();
    const r = await runAirlock(['variables', 'get', 'from_iam'], {
      env: env({ key_id: ACCESS_KEY, secret_id: SECRET_KEY }),
    });
    expect(r).toMatchObject({ code: 0, stdout: 'read after an IAM login\n', stderr: '' });
    expect(requestLines(vault)).toEqual([
      'POST auth/aws/login 200',
      'GET secret/data/variables/from_iam 200',
      'POST auth/token/revoke-self 204',
    ]);
  });

  it('fails with AIRLOCK_ERR_BACKEND_AUTH when STS would refuse the signature, without the key', async () => {
    const r = await runAirlock(['variables', 'get', 'from_iam'], {
      env: env({ key_id: ACCESS_KEY, secret_id: 'a-wrong-secret-key' }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'airlock: error AIRLOCK_ERR_BACKEND_AUTH: vault: could not log in with aws_iam at auth/aws (HTTP 400, STS did not accept the signed GetCallerIdentity request)\n',
    );
    expect(r.stderr).not.toContain('a-wrong-secret-key');
  });
});
