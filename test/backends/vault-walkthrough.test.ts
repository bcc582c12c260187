/**
 * The Airflow docs' Vault walkthrough, step by step, against the Vault fake. The operator's setup
 * (policy, AppRole, KV v2 and v1 secrets) is done with hvac (`python3-hvac`: a client we did not
 * write); the check is the built `airlock` CLI, spawned as `npx airlock` runs it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';
import { runPython } from '../helpers/tools.ts';
import { requestLines, VAULT_BACKEND, vaultEnv } from '../helpers/vault.ts';

const ROOT_TOKEN = 'walkthrough-root';
const POLICY = `path "secret/data/variables/*" {
  capabilities = ["read", "list"]
}

path "secret/data/connections/*" {
  capabilities = ["read", "list"]
}
`;

describe('the Airflow docs Vault walkthrough', () => {
  let vault: VaultFake;
  let roleId: string;
  let secretId: string;

  /** One request as the Vault CLI sends it (`X-Vault-Request`, the token, a JSON body). */
  async function cli(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${vault.url}/v1/${path}`, {
      method,
      headers: { 'x-vault-token': ROOT_TOKEN, 'x-vault-request': 'true' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : JSON.parse(text) };
  }

  function docsKwargs(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      connections_path: 'connections',
      variables_path: 'variables',
      config_path: null,
      url: vault.url,
      auth_type: 'approle',
      role_id: roleId,
      secret_id: secretId,
      ...extra,
    };
  }

  beforeAll(async () => {
    vault = await startVaultFake({ rootToken: ROOT_TOKEN });
    const plan = {
      policy: { name: 'airflow', rules: POLICY },
      approle: 'airflow',
      kv2: {
        secret: {
          // vault kv put secret/variables/hello value=world
          'variables/hello': { value: 'world' },
          // vault kv put secret/connections/smtp_default conn_uri=smtps://user:host@relay…
          'connections/smtp_default': { conn_uri: 'smtps://user:host@relay.example.com:465' },
          // vault kv put secret/connections/smtp_fields conn_type=smtps login=user …
          'connections/smtp_fields': {
            conn_type: 'smtps',
            login: 'user',
            password: 'host',
            host: 'relay.example.com',
            port: '465',
          },
          // A secret the policy does not cover.
          'restricted/launch_codes': { value: 'not for airflow' },
        },
        // vault secrets enable -path=airflow -version=2 kv
        airflow: { 'variables/hello': { value: 'from the airflow mount' } },
      },
      // vault secrets enable -path=legacy -version=1 kv
      kv1: {
        legacy: {
          'variables/hello': { value: 'from a KV v1 mount' },
          'connections/smtp_default': { conn_uri: 'smtps://old:pw@relay.example.com:465' },
        },
      },
    };
    const r = await runPython(
      'hvac',
      'python3-hvac',
      join(import.meta.dirname, 'hvac_walkthrough.py'),
      [vault.url, ROOT_TOKEN],
      { input: JSON.stringify(plan) },
    );
    if (r.code !== 0) throw new Error(`hvac_walkthrough.py failed:\n${r.stdout}${r.stderr}`);
    const done = JSON.parse(r.stdout) as {
      role_id: string;
      secret_id: string;
      kv2_versions: Record<string, number>;
      kv1_read: Record<string, boolean>;
    };
    roleId = done.role_id;
    secretId = done.secret_id;
    expect(roleId).toMatch(/^[0-9a-f-]{36}$/);
    expect(secretId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.values(done.kv2_versions)).toEqual([1, 1, 1, 1, 1]);
    expect(done.kv1_read).toEqual({
      'legacy/variables/hello': true,
      'legacy/connections/smtp_default': true,
    });
    // What hvac set up is what the fake holds.
    const read = await cli('GET', 'sys/policies/acl/airflow');
    expect((read.body.data as { policy: string }).policy).toBe(POLICY);
  });

  afterAll(async () => {
    await vault.close();
  });

  it('reads back what `vault kv get` shows', async () => {
    const got = await cli('GET', 'secret/data/variables/hello');
    expect(got.status).toBe(200);
    const data = got.body.data as { data: unknown; metadata: Record<string, unknown> };
    expect(data.data).toEqual({ value: 'world' });
    expect(data.metadata).toMatchObject({ version: 1, destroyed: false, deletion_time: '' });
    expect(data.metadata.created_time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('prints the variable with `airlock variables get`, served by vault', async () => {
    const env = vaultEnv(docsKwargs());
    const plain = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(plain).toMatchObject({ code: 0, stdout: 'world\n', stderr: '' });
    const json = await runAirlock(['variables', 'get', 'hello', '--output', 'json'], { env });
    expect(JSON.parse(json.stdout)).toEqual({ key: 'hello', value: 'world', source: 'vault' });
  });

  it('logs in with AppRole, reads with one request and revokes its token on exit', async () => {
    vault.clearRequests();
    await runAirlock(['variables', 'get', 'hello'], { env: vaultEnv(docsKwargs()) });
    // No lookup-self round trip before the read (Airflow makes one), and no token left behind.
    expect(requestLines(vault)).toEqual([
      'POST auth/approle/login 200',
      'GET secret/data/variables/hello 200',
      'POST auth/token/revoke-self 204',
    ]);
  });

  it('prints the connection stored as conn_uri and the one stored as fields alike', async () => {
    const env = vaultEnv(docsKwargs());
    const uri = await runAirlock(['connections', 'get', 'smtp_default', '--output', 'json'], {
      env,
    });
    expect(uri.code).toBe(0);
    const fromUri = JSON.parse(uri.stdout);
    expect(fromUri).toMatchObject({
      conn_id: 'smtp_default',
      conn_type: 'smtps',
      host: 'relay.example.com',
      login: 'user',
      password: 'host',
      port: 465,
      source: 'vault',
    });
    const fields = await runAirlock(['connections', 'get', 'smtp_fields', '--output', 'json'], {
      env,
    });
    expect(fields.code).toBe(0);
    expect(JSON.parse(fields.stdout)).toMatchObject({
      conn_type: 'smtps',
      host: 'relay.example.com',
      login: 'user',
      password: 'host',
      port: 465,
      source: 'vault',
    });
  });

  it('shows where it looked with `airlock secrets which`', async () => {
    const env = { ...vaultEnv(docsKwargs()), AIRFLOW_VAR_HELLO: 'shadowed' };
    const which = await runAirlock(['secrets', 'which', 'variable', 'hello', '--output', 'json'], {
      env,
    });
    expect(which.code).toBe(0);
    const report = JSON.parse(which.stdout);
    expect(report.source).toBe('vault');
    expect(report.trace[0]).toMatchObject({
      backend: 'vault',
      outcome: 'hit',
      location: 'secret/data/variables/hello',
    });
    expect(which.stdout).not.toContain('world');
  });

  it('falls through to the environment for a key Vault does not hold', async () => {
    const env = { ...vaultEnv(docsKwargs()), AIRFLOW_VAR_ONLY_IN_ENV: 'from env' };
    const r = await runAirlock(['variables', 'get', 'only_in_env', '--output', 'json'], { env });
    expect(JSON.parse(r.stdout)).toEqual({ key: 'only_in_env', value: 'from env', source: 'env' });
  });

  it('fails with the auth error for a key outside the policy, without the secret', async () => {
    const env = vaultEnv(docsKwargs({ variables_path: 'restricted' }));
    const r = await runAirlock(['variables', 'get', 'launch_codes'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "airlock: error AIRLOCK_ERR_BACKEND_AUTH: vault: permission denied reading variable `launch_codes` at secret/data/restricted/launch_codes (HTTP 403); the token's policy needs `read` on this path\n",
    );
    expect(r.stderr).not.toContain('not for airflow');
    expect(r.stderr).not.toContain(secretId);
  });

  it('follows the docs with their own mount: `vault secrets enable -path=airflow -version=2 kv`', async () => {
    const env = vaultEnv({
      connections_path: 'connections',
      variables_path: 'variables',
      mount_point: 'airflow',
      url: vault.url,
      token: ROOT_TOKEN,
    });
    const r = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'from the airflow mount\n' });
  });

  it('reads a KV v1 mount with kv_engine_version 1', async () => {
    const env = vaultEnv({
      connections_path: 'connections',
      variables_path: 'variables',
      mount_point: 'legacy',
      kv_engine_version: 1,
      url: vault.url,
      token: ROOT_TOKEN,
    });
    const variable = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(variable).toMatchObject({ code: 0, stdout: 'from a KV v1 mount\n', stderr: '' });
    const conn = await runAirlock(['connections', 'get', 'smtp_default', '-o', 'json'], { env });
    expect(JSON.parse(conn.stdout)).toMatchObject({ login: 'old', source: 'vault' });
  });

  it('names a kv_engine_version that does not match the mount, in the not-found message and `secrets which`', async () => {
    // The docs' warning: the default kv_engine_version 2 on a KV v1 mount finds nothing.
    const env = vaultEnv({
      connections_path: 'connections',
      variables_path: 'variables',
      mount_point: 'legacy',
      url: vault.url,
      token: ROOT_TOKEN,
    });
    const note =
      'vault: legacy/ is a KV version 1 mount, but kv_engine_version is 2: set "kv_engine_version": 1';
    const get = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(get).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `airlock: error AIRLOCK_ERR_VAR_NOT_FOUND: Variable \`hello\` does not exist (${note})\n`,
    });
    const conn = await runAirlock(['connections', 'get', 'smtp_default'], { env });
    expect(conn.stderr).toBe(
      `airlock: error AIRLOCK_ERR_CONN_NOT_FOUND: The conn_id \`smtp_default\` isn't defined (${note})\n`,
    );
    const which = await runAirlock(['secrets', 'which', 'variable', 'hello'], { env });
    expect(which.code).toBe(0);
    expect(which.stdout).toContain(
      'legacy/data/variables/hello  (legacy/ is a KV version 1 mount, but kv_engine_version is 2: set "kv_engine_version": 1)',
    );
    const json = await runAirlock(['secrets', 'which', 'variable', 'hello', '-o', 'json'], { env });
    expect(JSON.parse(json.stdout).trace[0]).toMatchObject({
      backend: 'vault',
      outcome: 'miss',
      reason:
        'legacy/ is a KV version 1 mount, but kv_engine_version is 2: set "kv_engine_version": 1',
    });
    expect(`${get.stderr}${which.stdout}`).not.toContain('from a KV v1 mount');
    // And the reverse: kv_engine_version 1 on the docs' KV v2 mount.
    const reverse = await runAirlock(['variables', 'get', 'hello'], {
      env: vaultEnv({
        connections_path: 'connections',
        variables_path: 'variables',
        kv_engine_version: 1,
        url: vault.url,
        token: ROOT_TOKEN,
      }),
    });
    expect(reverse.stderr).toBe(
      'airlock: error AIRLOCK_ERR_VAR_NOT_FOUND: Variable `hello` does not exist (vault: secret/ is a KV version 2 mount, but kv_engine_version is 1: set "kv_engine_version": 2)\n',
    );
  });

  it('takes VAULT_ADDR and VAULT_TOKEN from the environment, as hvac does', async () => {
    const env = {
      AIRFLOW__SECRETS__BACKEND: VAULT_BACKEND,
      AIRFLOW__SECRETS__BACKEND_KWARGS:
        '{"connections_path": "connections", "variables_path": "variables"}',
      VAULT_ADDR: vault.url,
      VAULT_TOKEN: ROOT_TOKEN,
    };
    const r = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'world\n' });
  });
});
