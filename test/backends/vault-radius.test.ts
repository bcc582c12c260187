/**
 * Vault's `radius` auth method: hvac sets it up and logs in against the Vault double (whose user
 * passwords stand in for a RADIUS server), then the built `airlock` logs in with
 * `auth_type: radius`, `username` and `password`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { runPython } from '../helpers/tools.ts';
import { requestLines, vaultEnv } from '../helpers/vault.ts';

const ROOT_TOKEN = 'radius-root';

describe('vault auth_type radius', () => {
  let vault: VaultFake;

  beforeAll(async () => {
    vault = await startVaultFake({ rootToken: ROOT_TOKEN });
    const r = await runPython('hvac', 'python3-hvac', join(import.meta.dirname, 'hvac_radius.py'), [
      vault.url,
      ROOT_TOKEN,
    ]);
    if (r.code !== 0) throw new Error(`hvac_radius.py failed:\n${r.stdout}${r.stderr}`);
    expect(JSON.parse(r.stdout)).toEqual({
      config_host: 'radius.example.com',
      policies: ['airflow', 'default'],
      value: 'read after a RADIUS login',
      wrong_password: 'InvalidRequest',
    });
  });
  afterAll(async () => {
    await vault?.close();
  });

  function env(kwargs: Record<string, unknown>): Record<string, string> {
    return vaultEnv({
      url: vault.url,
      auth_type: 'radius',
      ...kwargs,
    });
  }

  it('logs airlock in at auth/radius/login/<username> and reads the variable', async () => {
    vault.clearRequests();
    const r = await runAirlock(['variables', 'get', 'from_radius'], {
      env: env({ username: 'analyst', password: 'radius-pa55' }),
    });
    expect(r).toMatchObject({ code: 0, stdout: 'read after a RADIUS login\n', stderr: '' });
    expect(requestLines(vault)).toEqual([
      'POST auth/radius/login/analyst 200',
      'GET secret/data/variables/from_radius 200',
      'POST auth/token/revoke-self 204',
    ]);
  });

  it('fails with AIRLOCK_ERR_BACKEND_AUTH for a wrong password, without it', async () => {
    const r = await runAirlock(['variables', 'get', 'from_radius'], {
      env: env({ username: 'analyst', password: 'not-the-radius-password' }),
    });
    expect(r.stderr).toBe(
      'airlock: error AIRLOCK_ERR_BACKEND_AUTH: vault: could not log in with radius at auth/radius (HTTP 400, invalid credentials)\n',
    );
  });
});
