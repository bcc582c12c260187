/**
 * The Airflow docs' Vault walkthrough, step by step, against the Vault fake. Every setup step
 * goes through Vault's HTTP API exactly as the Vault CLI (or hvac) sends it; the check is the
 * built `airlock` CLI, spawned as `npx airlock` runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultFake, type VaultFake } from '../../src/testing/fakes/vault-fake.ts';
import { runAirlock } from '../helpers/cli.ts';

const ROOT_TOKEN = 'walkthrough-root';
const POLICY = `path "secret/data/variables/*" {
  capabilities = ["read", "list"]
}

path "secret/data/connections/*" {
  capabilities = ["read", "list"]
}
`;
const VAULT_BACKEND = 'airflow.providers.hashicorp.secrets.vault.VaultBackend';

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

  /** `vault kv put <mount>/<path> k=v …`: the CLI's mount preflight, then the KV v2 write. */
  async function kvPut(logicalPath: string, data: Record<string, string>): Promise<void> {
    const preflight = await cli('GET', `sys/internal/ui/mounts/${logicalPath}`);
    expect(preflight.status).toBe(200);
    const mount = preflight.body.data as { path: string; options: { version: string } };
    expect(mount.options.version).toBe('2');
    const rest = logicalPath.slice(mount.path.length);
    const written = await cli('PUT', `${mount.path}data/${rest}`, { data, options: {} });
    expect(written.status).toBe(200);
    expect(written.body.data).toMatchObject({ version: 1, destroyed: false, deletion_time: '' });
  }

  function airflowEnv(kwargs: Record<string, unknown>): Record<string, string> {
    return {
      AIRFLOW__SECRETS__BACKEND: VAULT_BACKEND,
      AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify(kwargs),
    };
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

    // vault policy write airflow airflow.hcl
    expect((await cli('PUT', 'sys/policies/acl/airflow', { policy: POLICY })).status).toBe(204);
    // The same policy through hvac's `sys.create_or_update_policy` (the legacy endpoint).
    expect((await cli('PUT', 'sys/policy/airflow-hvac', { policy: POLICY })).status).toBe(204);
    const read = await cli('GET', 'sys/policies/acl/airflow');
    expect((read.body.data as { policy: string }).policy).toBe(POLICY);

    // vault auth enable approle
    expect(
      (await cli('POST', 'sys/auth/approle', { type: 'approle', description: '' })).status,
    ).toBe(204);
    // vault write auth/approle/role/airflow token_policies=airflow token_ttl=1h token_max_ttl=4h
    const role = await cli('PUT', 'auth/approle/role/airflow', {
      token_policies: 'airflow',
      token_ttl: '1h',
      token_max_ttl: '4h',
    });
    expect(role.status).toBe(204);
    // vault read auth/approle/role/airflow/role-id
    roleId = (
      (await cli('GET', 'auth/approle/role/airflow/role-id')).body.data as { role_id: string }
    ).role_id;
    // vault write -f auth/approle/role/airflow/secret-id
    const generated = await cli('PUT', 'auth/approle/role/airflow/secret-id');
    secretId = (generated.body.data as { secret_id: string }).secret_id;
    expect(roleId).toMatch(/^[0-9a-f-]{36}$/);
    expect(secretId).toMatch(/^[0-9a-f-]{36}$/);

    // vault kv put secret/variables/hello value=world
    await kvPut('secret/variables/hello', { value: 'world' });
    // vault kv put secret/connections/smtp_default conn_uri=smtps://user:host@relay.example.com:465
    await kvPut('secret/connections/smtp_default', {
      conn_uri: 'smtps://user:host@relay.example.com:465',
    });
    // vault kv put secret/connections/smtp_fields conn_type=smtps login=user password=host …
    await kvPut('secret/connections/smtp_fields', {
      conn_type: 'smtps',
      login: 'user',
      password: 'host',
      host: 'relay.example.com',
      port: '465',
    });
    // A secret the policy does not cover.
    await kvPut('secret/restricted/launch_codes', { value: 'not for airflow' });
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
    const env = airflowEnv(docsKwargs());
    const plain = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(plain).toMatchObject({ code: 0, stdout: 'world\n', stderr: '' });
    const json = await runAirlock(['variables', 'get', 'hello', '--output', 'json'], { env });
    expect(JSON.parse(json.stdout)).toEqual({ key: 'hello', value: 'world', source: 'vault' });
  });

  it('logs in with AppRole, reads with one request and revokes its token on exit', async () => {
    vault.clearRequests();
    await runAirlock(['variables', 'get', 'hello'], { env: airflowEnv(docsKwargs()) });
    // No lookup-self round trip before the read (Airflow makes one), and no token left behind.
    expect(vault.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST auth/approle/login 200',
      'GET secret/data/variables/hello 200',
      'POST auth/token/revoke-self 204',
    ]);
  });

  it('prints the connection stored as conn_uri and the one stored as fields alike', async () => {
    const env = airflowEnv(docsKwargs());
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
    const env = { ...airflowEnv(docsKwargs()), AIRFLOW_VAR_HELLO: 'shadowed' };
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
    const env = { ...airflowEnv(docsKwargs()), AIRFLOW_VAR_ONLY_IN_ENV: 'from env' };
    const r = await runAirlock(['variables', 'get', 'only_in_env', '--output', 'json'], { env });
    expect(JSON.parse(r.stdout)).toEqual({ key: 'only_in_env', value: 'from env', source: 'env' });
  });

  it('fails with the auth error for a key outside the policy, without the secret', async () => {
    const env = airflowEnv(docsKwargs({ variables_path: 'restricted' }));
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
    expect(
      (await cli('POST', 'sys/mounts/airflow', { type: 'kv', options: { version: '2' } })).status,
    ).toBe(204);
    await kvPut('airflow/variables/hello', { value: 'from the airflow mount' });
    const env = airflowEnv({
      connections_path: 'connections',
      variables_path: 'variables',
      mount_point: 'airflow',
      url: vault.url,
      token: ROOT_TOKEN,
    });
    const r = await runAirlock(['variables', 'get', 'hello'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'from the airflow mount\n' });
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
