import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/backends/_http.ts';
import { createVaultBackend, type VaultBackendOptions } from '../../src/backends/vault.ts';
import { ConfigError } from '../../src/errors.ts';
import { Connection } from '../../src/model/connection.ts';
import {
  generateFakeTlsCertificate,
  startVaultFake,
  type VaultFake,
} from '../../src/testing/fakes/vault-fake.ts';
import { runBackendContract } from '../contract/backend-contract.ts';
import { refusedPort } from '../helpers/fault-proxy.ts';

const ROOT = 'root';
/** Airflow's retry count, without the waits, so failure tests stay fast. */
const FAST_RETRY: RetryPolicy = { retries: 3, backoffMs: 1, statuses: [412, 500, 502, 503] };
const RETRIED = new Set(FAST_RETRY.statuses);

runBackendContract({
  name: 'vault',
  capabilities: { prefixes: true, remote: true },
  setup: async () => {
    const fake = await startVaultFake({ rootToken: ROOT });
    const make = (extra: VaultBackendOptions = {}) =>
      createVaultBackend({ url: fake.url, token: ROOT, ...extra }, { retry: FAST_RETRY });
    const seedUnder = (prefix: string) => async (key: string, value: string) =>
      fake.writeSecret(`secret/${prefix}/${key}`, { value });
    return {
      backend: make(),
      seedVariable: seedUnder('variables'),
      seedConnection: async (connId, value) =>
        fake.writeSecret(
          `secret/connections/${connId}`,
          typeof value === 'string' ? { conn_uri: value } : value,
        ),
      withPrefixes: async ({ variables, connections }) => ({
        backend: make({ variables_path: variables, connections_path: connections }),
        seedVariable: seedUnder(variables),
      }),
      // A retried status must fail every attempt (Airflow's session retries 3 times).
      failNext: (status) => fake.failNext(status, RETRIED.has(status) ? FAST_RETRY.retries + 1 : 1),
      setLatency: (ms) => fake.setLatency(ms),
      withTimeout: (ms) => make({ timeout: ms / 1000 }),
      teardown: () => fake.close(),
    };
  },
});

// ---------------------------------------------------------------------------------------------

async function caught(run: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await run();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return [err.message, err.stack ?? '', JSON.stringify(err), errorText(err.cause ?? '')].join('\n');
}

/** An unsigned JWT (the fake decodes claims without checking signatures). */
function jwt(claims: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

describe('vault backend', () => {
  let fake: VaultFake;
  let dir: string;
  let roleId: string;
  const secretIds: string[] = [];

  /** Calls the fake's HTTP API as the Vault CLI would, with the root token. */
  async function api(
    method: string,
    path: string,
    body?: unknown,
    options: { token?: string; namespace?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { 'x-vault-token': options.token ?? ROOT };
    if (options.namespace) headers['x-vault-namespace'] = options.namespace;
    const res = await fetch(`${fake.url}/v1/${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : JSON.parse(text) };
  }

  async function newSecretId(role = 'airflow'): Promise<string> {
    const res = await api('POST', `auth/approle/role/${role}/secret-id`, {});
    const id = (res.body.data as { secret_id: string }).secret_id;
    secretIds.push(id);
    return id;
  }

  /** The requests made since `mark`, as `METHOD path status`. */
  function since(mark: number): string[] {
    return fake.requests.slice(mark).map((r) => `${r.method} ${r.path} ${r.status}`);
  }

  const fast = { retry: FAST_RETRY };

  beforeAll(async () => {
    fake = await startVaultFake({ rootToken: ROOT });
    dir = mkdtempSync(join(tmpdir(), 'airlock-vault-test-'));
    const policy = [
      'path "secret/data/variables/*" { capabilities = ["read", "list"] }',
      'path "secret/data/connections/*" { capabilities = ["read", "list"] }',
      'path "kv1/*" { capabilities = ["read"] }',
    ].join('\n');
    expect((await api('PUT', 'sys/policies/acl/airflow', { policy })).status).toBe(204);
    for (const type of ['approle', 'userpass', 'ldap', 'kubernetes', 'jwt']) {
      expect((await api('POST', `sys/auth/${type}`, { type })).status).toBe(204);
    }
    await api('POST', 'sys/auth/approle-airflow', { type: 'approle' });
    await api('POST', 'auth/approle/role/airflow', { token_policies: 'airflow', token_ttl: '1h' });
    await api('POST', 'auth/approle-airflow/role/airflow', { token_policies: ['airflow'] });
    await api('POST', 'auth/approle/role/short', {
      token_policies: 'airflow',
      token_ttl: 60,
      token_max_ttl: '1h',
    });
    await api('POST', 'auth/approle/role/capped', {
      token_policies: 'airflow',
      token_ttl: '60s',
      token_max_ttl: '60s',
    });
    roleId = (
      (await api('GET', 'auth/approle/role/airflow/role-id')).body.data as { role_id: string }
    ).role_id;
    await api('POST', 'auth/userpass/users/analyst', {
      password: 'pa55',
      token_policies: 'airflow',
    });
    await api('POST', 'auth/ldap/groups/data', { policies: 'airflow' });
    await api('POST', 'auth/ldap/users/jdoe', { groups: 'data', password: 'ldap-pa55' });
    await api('POST', 'auth/kubernetes/config', { kubernetes_host: 'https://kubernetes.default' });
    await api('POST', 'auth/kubernetes/role/airflow', {
      bound_service_account_names: 'airflow-worker',
      bound_service_account_namespaces: 'airflow',
      token_policies: 'airflow',
    });
    await api('POST', 'auth/jwt/role/ci', {
      role_type: 'jwt',
      user_claim: 'sub',
      bound_audiences: 'vault',
      token_policies: 'airflow',
    });
    await api('POST', 'sys/mounts/kv1', { type: 'kv', options: { version: '1' } });
    fake.writeSecret('secret/variables/hello', { value: 'world' });
    fake.writeSecret('secret/variables/number', { value: 42 });
    fake.writeSecret('secret/variables/no_value', { other: 'x' });
    fake.writeSecret('secret/variables/null_value', { value: null });
    fake.writeSecret('secret/hello_at_root', { value: 'at the mount root' });
    fake.writeSecret('secret/other/hidden', { value: 'outside the policy' });
    fake.writeSecret('secret/connections/smtp_default', {
      conn_uri: 'smtps://user:host@relay.example.com:465',
    });
    fake.writeSecret('secret/connections/smtp_fields', {
      conn_type: 'smtps',
      login: 'user',
      password: 'host',
      host: 'relay.example.com',
      port: '465',
    });
    fake.writeSecret('secret/connections/empty_uri', { conn_uri: '', conn_type: 'http' });
    fake.writeSecret('kv1/variables/legacy', { value: 'from kv v1' });
  });

  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    fake.setLatency(0);
  });

  describe('reads', () => {
    it('reads KV v2 at <mount>/data/<path> and returns the value key', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT });
      const mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual(['GET secret/data/variables/hello 200']);
      expect(vault.locate?.('variable', 'hello')).toBe('secret/data/variables/hello');
      expect(vault.locate?.('connection', 'x')).toBe('secret/data/connections/x');
    });

    it('reads KV v1 at <mount>/<path> with kv_engine_version 1', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        token: ROOT,
        mount_point: 'kv1',
        kv_engine_version: 1,
      });
      const mark = fake.requests.length;
      expect(await vault.getVariable('legacy')).toBe('from kv v1');
      expect(await vault.getVariable('absent')).toBeUndefined();
      expect(since(mark)).toEqual([
        'GET kv1/variables/legacy 200',
        // A configured token's lifetime is looked up once, at its second use.
        'GET auth/token/lookup-self 200',
        'GET kv1/variables/absent 404',
        // After the first miss on a mount, its KV version is asked once (for the miss note).
        'GET sys/internal/ui/mounts/kv1 200',
      ]);
      expect(await vault.getVariable('absent_too')).toBeUndefined();
      expect(since(mark).at(-1)).toBe('GET kv1/variables/absent_too 404');
      expect(vault.missNote?.('variable', 'absent')).toBeUndefined();
      expect(vault.locate?.('variable', 'legacy')).toBe('kv1/variables/legacy');
    });

    it('finds nothing when a KV v2 mount is read as KV v1 (Vault answers 404)', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT, kv_engine_version: 1 });
      expect(await vault.getVariable('hello')).toBeUndefined();
    });

    it('takes the mount from the id when mount_point is null', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT, mount_point: null });
      expect(await vault.getVariable('secret/hello')).toBe('world');
      expect(vault.locate?.('variable', 'secret/hello')).toBe('secret/data/variables/hello');
      const mark = fake.requests.length;
      expect(vault.locate?.('variable', 'hello')).toBeUndefined();
      expect(await vault.getVariable('hello')).toBeUndefined();
      expect(since(mark)).toEqual([]);
    });

    it('skips a kind whose path is null, without asking Vault', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        token: ROOT,
        variables_path: null,
        connections_path: null,
        config_path: null,
      });
      const mark = fake.requests.length;
      expect(vault.locate?.('variable', 'hello')).toBeUndefined();
      expect(vault.locate?.('connection', 'smtp_default')).toBeUndefined();
      expect(await vault.getVariable('hello')).toBeUndefined();
      expect(await vault.getConnectionValue('smtp_default')).toBeUndefined();
      expect(since(mark)).toEqual([]);
    });

    it('reads at the mount root for an empty path, and strips trailing slashes', async () => {
      const root = createVaultBackend({ url: fake.url, token: ROOT, variables_path: '' });
      expect(await root.getVariable('hello_at_root')).toBe('at the mount root');
      expect(root.locate?.('variable', 'x')).toBe('secret/data/x');
      const slashed = createVaultBackend({
        url: fake.url,
        token: ROOT,
        variables_path: 'variables/',
      });
      expect(await slashed.getVariable('hello')).toBe('world');
    });

    it('serves conn_uri when it is set, and the JSON of the fields otherwise (Airflow 3.x)', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT });
      expect(await vault.getConnectionValue('smtp_default')).toBe(
        'smtps://user:host@relay.example.com:465',
      );
      const json = (await vault.getConnectionValue('smtp_fields')) as string;
      expect(JSON.parse(json)).toEqual({
        conn_type: 'smtps',
        login: 'user',
        password: 'host',
        host: 'relay.example.com',
        port: '465',
      });
      const fields = Connection.deserialize('smtp', json).toDict();
      expect(fields).toMatchObject({
        conn_type: 'smtps',
        host: 'relay.example.com',
        login: 'user',
        password: 'host',
        port: 465,
      });
      // An empty conn_uri is not a URI: the whole secret is the JSON, as in Airflow.
      expect(JSON.parse((await vault.getConnectionValue('empty_uri')) as string)).toEqual({
        conn_uri: '',
        conn_type: 'http',
      });
    });

    it('returns undefined for a variable secret without a value, and JSON text for non-strings', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT });
      expect(await vault.getVariable('no_value')).toBeUndefined();
      expect(await vault.getVariable('null_value')).toBeUndefined();
      expect(await vault.getVariable('number')).toBe('42');
    });

    it('finds nothing once the latest KV v2 version is soft-deleted', async () => {
      fake.writeSecret('secret/variables/to_delete', { value: 'soon gone' });
      const vault = createVaultBackend({ url: fake.url, token: ROOT });
      expect(await vault.getVariable('to_delete')).toBe('soon gone');
      fake.deleteSecret('secret/variables/to_delete');
      expect(await vault.getVariable('to_delete')).toBeUndefined();
    });

    it('sends X-Vault-Namespace and reads that namespace', async () => {
      fake.seed({
        namespaces: {
          'team-a': {
            mounts: { secret: 2 },
            kv: { 'secret/variables/hello': { value: 'team a' } },
          },
        },
      });
      const scoped = createVaultBackend({ url: fake.url, token: ROOT, namespace: 'team-a' });
      const mark = fake.requests.length;
      expect(await scoped.getVariable('hello')).toBe('team a');
      expect(fake.requests[mark]).toMatchObject({ namespace: 'team-a', status: 200 });
      const unknown = createVaultBackend({ url: fake.url, token: ROOT, namespace: 'team-z' });
      expect((await caught(() => unknown.getVariable('hello'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_AUTH',
      );
    });

    it('logs in inside the namespace with an auth method mounted there', async () => {
      await api('POST', 'sys/auth/approle', { type: 'approle' }, { namespace: 'team-a' });
      await api(
        'PUT',
        'sys/policy/reader',
        { policy: 'path "secret/*" { capabilities = ["read"] }' },
        { namespace: 'team-a' },
      );
      await api(
        'POST',
        'auth/approle/role/r',
        { token_policies: 'reader', bind_secret_id: false },
        { namespace: 'team-a' },
      );
      const id = (
        await api('GET', 'auth/approle/role/r/role-id', undefined, { namespace: 'team-a' })
      ).body.data as { role_id: string };
      const vault = createVaultBackend({
        url: fake.url,
        namespace: 'team-a',
        auth_type: 'approle',
        role_id: id.role_id,
      });
      expect(await vault.getVariable('hello')).toBe('team a');
      await vault.dispose?.();
    });
  });

  describe('errors', () => {
    it('maps a policy denial to AIRLOCK_ERR_BACKEND_AUTH with the path, without a new login', async () => {
      const outside = createVaultBackend(
        {
          url: fake.url,
          auth_type: 'approle',
          role_id: roleId,
          secret_id: await newSecretId(),
          variables_path: 'other',
        },
        fast,
      );
      expect(await outside.getConnectionValue('absent')).toBeUndefined();
      const mark = fake.requests.length;
      const denied = await caught(() => outside.getVariable('hidden'));
      expect(denied.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(denied.message).toBe(
        "vault: permission denied reading variable `hidden` at secret/data/other/hidden (HTTP 403); the token's policy needs `read` on this path",
      );
      expect(errorText(denied)).not.toContain('outside the policy');
      // The token is fine (lookup-self says so): the policy is at fault, no new login.
      expect(since(mark)).toEqual([
        'GET secret/data/other/hidden 403',
        'GET auth/token/lookup-self 200',
      ]);
      await outside.dispose?.();
    });

    it('retries 5xx answers of reads as Airflow does, then reports AIRLOCK_ERR_BACKEND_UNAVAILABLE', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT }, fast);
      const mark = fake.requests.length;
      fake.failNext(503, 2, 'secret/');
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'GET secret/data/variables/hello 503',
        'GET secret/data/variables/hello 503',
        'GET secret/data/variables/hello 200',
      ]);
      fake.failNext(502, 4, 'secret/');
      const err = await caught(() => vault.getVariable('hello'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toBe(
        'vault: could not read variable `hello` at secret/data/variables/hello (HTTP 502)',
      );
    });

    it('does not retry a login, and reports its failure', async () => {
      const vault = createVaultBackend(
        { url: fake.url, auth_type: 'approle', role_id: roleId, secret_id: await newSecretId() },
        fast,
      );
      fake.failNext(500, 1, 'auth/approle/login');
      const mark = fake.requests.length;
      expect((await caught(() => vault.getVariable('hello'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
      );
      expect(since(mark)).toEqual(['POST auth/approle/login 500']);
      expect(await vault.getVariable('hello')).toBe('world');
      await vault.dispose?.();
    });

    it('reports refused credentials as AIRLOCK_ERR_BACKEND_AUTH without quoting them', async () => {
      const canary = 'CANARY-secret-id-4e1f';
      const approle = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        role_id: roleId,
        secret_id: canary,
      });
      const err = await caught(() => approle.getVariable('hello'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err.message).toBe(
        'vault: could not log in with approle at auth/approle (HTTP 400, invalid credentials)',
      );
      const userpass = createVaultBackend({
        url: fake.url,
        auth_type: 'userpass',
        username: 'analyst',
        password: canary,
      });
      const err2 = await caught(() => userpass.getVariable('hello'));
      expect(err2.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      const badToken = createVaultBackend({ url: fake.url, token: canary });
      const err3 = await caught(() => badToken.getVariable('hello'));
      expect(err3.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err3.message).toContain('invalid or expired token');
      for (const e of [err, err2, err3]) expect(errorText(e)).not.toContain(canary);
      for (const b of [approle, userpass, badToken]) {
        expect(JSON.stringify(b.describe())).not.toContain(canary);
      }
    });

    it('times out each request after `timeout` seconds', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT, timeout: 0.1 }, fast);
      // The store answers after 3 s; the 100 ms deadline must end the wait long before that,
      // with room for a loaded machine.
      fake.setLatency(3_000);
      const started = performance.now();
      const err = await caught(() => vault.getVariable('hello'));
      fake.setLatency(0);
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_TIMEOUT');
      expect(err.message).toBe('vault: read variable `hello` took longer than 100 ms');
      expect(performance.now() - started).toBeLessThan(2_000);
    });

    it('reports an unreachable Vault as AIRLOCK_ERR_BACKEND_UNAVAILABLE', async () => {
      const port = await refusedPort();
      const vault = createVaultBackend({ url: `http://127.0.0.1:${port}`, token: ROOT }, fast);
      const err = await caught(() => vault.getVariable('hello'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toContain(`http://127.0.0.1:${port} is unreachable (ECONNREFUSED)`);
    });

    it('passes the caller’s abort through', async () => {
      const vault = createVaultBackend({ url: fake.url, token: ROOT });
      fake.setLatency(300);
      const controller = new AbortController();
      const pending = vault.getVariable('hello', controller.signal);
      controller.abort(new Error('stop'));
      await expect(pending).rejects.toThrow('stop');
      fake.setLatency(0);
    });
  });

  describe('auth methods', () => {
    it('logs in with AppRole once, then reads with one request per lookup', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        role_id: roleId,
        secret_id: await newSecretId(),
      });
      const mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(await vault.getConnectionValue('smtp_default')).toContain('smtps://');
      expect(await vault.getVariable('absent')).toBeUndefined();
      // Airflow would add a lookup-self round trip before each of these reads.
      expect(since(mark)).toEqual([
        'POST auth/approle/login 200',
        'GET secret/data/variables/hello 200',
        'GET secret/data/connections/smtp_default 200',
        'GET secret/data/variables/absent 404',
        'GET sys/internal/ui/mounts/secret 200',
      ]);
      await vault.dispose?.();
    });

    it('logs in with AppRole at a custom auth_mount_point', async () => {
      const id = (
        (await api('GET', 'auth/approle-airflow/role/airflow/role-id')).body.data as {
          role_id: string;
        }
      ).role_id;
      const secret = (
        (await api('POST', 'auth/approle-airflow/role/airflow/secret-id', {})).body.data as {
          secret_id: string;
        }
      ).secret_id;
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        auth_mount_point: 'approle-airflow',
        role_id: id,
        secret_id: secret,
      });
      const mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)[0]).toBe('POST auth/approle-airflow/login 200');
      await vault.dispose?.();
    });

    it('logs in with userpass and with ldap', async () => {
      const userpass = createVaultBackend({
        url: fake.url,
        auth_type: 'userpass',
        username: 'analyst',
        password: 'pa55',
      });
      expect(await userpass.getVariable('hello')).toBe('world');
      const ldap = createVaultBackend({
        url: fake.url,
        auth_type: 'ldap',
        username: 'jdoe',
        password: 'ldap-pa55',
      });
      const mark = fake.requests.length;
      expect(await ldap.getVariable('hello')).toBe('world');
      expect(since(mark)[0]).toBe('POST auth/ldap/login/jdoe 200');
      await userpass.dispose?.();
      await ldap.dispose?.();
    });

    it('logs in with kubernetes, reading the service-account token file at each login', async () => {
      const path = join(dir, 'sa-token');
      writeFileSync(
        path,
        `${jwt({
          iss: 'kubernetes/serviceaccount',
          'kubernetes.io/serviceaccount/namespace': 'airflow',
          'kubernetes.io/serviceaccount/service-account.name': 'airflow-worker',
          sub: 'system:serviceaccount:airflow:airflow-worker',
        })}\n`,
      );
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'kubernetes',
        kubernetes_role: 'airflow',
        kubernetes_jwt_path: path,
      });
      expect(await vault.getVariable('hello')).toBe('world');
      // A projected token for another service account is refused at the next login.
      writeFileSync(
        path,
        jwt({ 'kubernetes.io': { namespace: 'airflow', serviceaccount: { name: 'intruder' } } }),
      );
      fake.expireTokens();
      const err = await caught(() => vault.getVariable('hello'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      const missing = createVaultBackend({
        url: fake.url,
        auth_type: 'kubernetes',
        kubernetes_role: 'airflow',
        kubernetes_jwt_path: join(dir, 'no-such-token'),
      });
      const err2 = await caught(() => missing.getVariable('hello'));
      expect(err2.code).toBe('AIRLOCK_ERR_BACKEND_AUTH');
      expect(err2.message).toContain('cannot read kubernetes_jwt_path');
    });

    it('logs in with jwt, from jwt_token or jwt_token_path', async () => {
      const token = jwt({
        sub: 'pipeline-7',
        aud: 'vault',
        exp: Math.floor(Date.now() / 1000) + 600,
      });
      const inline = createVaultBackend({
        url: fake.url,
        auth_type: 'jwt',
        jwt_role: 'ci',
        jwt_token: token,
      });
      expect(await inline.getVariable('hello')).toBe('world');
      const path = join(dir, 'jwt');
      writeFileSync(path, token);
      const fromFile = createVaultBackend({
        url: fake.url,
        auth_type: 'jwt',
        jwt_role: 'ci',
        jwt_token_path: path,
      });
      expect(await fromFile.getVariable('hello')).toBe('world');
      const wrongAudience = createVaultBackend({
        url: fake.url,
        auth_type: 'jwt',
        jwt_role: 'ci',
        jwt_token: jwt({ sub: 'x', aud: 'elsewhere' }),
      });
      expect((await caught(() => wrongAudience.getVariable('hello'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_AUTH',
      );
      await inline.dispose?.();
      await fromFile.dispose?.();
    });

    it('logs in with github by posting the token to auth/<mount>/login', async () => {
      const calls: { url: string; body: unknown; token: string | null }[] = [];
      const stub: typeof fetch = async (input, init = {}) => {
        const url = String(input);
        const headers = new Headers(init.headers);
        calls.push({
          url,
          body: init.body === undefined ? undefined : JSON.parse(String(init.body)),
          token: headers.get('x-vault-token'),
        });
        if (url.endsWith('/v1/auth/gh/login')) {
          return Response.json({
            auth: { client_token: 's.gh', lease_duration: 3600, renewable: true },
          });
        }
        return Response.json({ data: { data: { value: 'via github' }, metadata: {} } });
      };
      const vault = createVaultBackend(
        {
          url: 'https://vault.example.com/',
          auth_type: 'github',
          auth_mount_point: 'gh',
          token: 'ghp_example',
        },
        { fetch: stub },
      );
      expect(await vault.getVariable('hello')).toBe('via github');
      expect(calls).toEqual([
        {
          url: 'https://vault.example.com/v1/auth/gh/login',
          body: { token: 'ghp_example' },
          token: null,
        },
        {
          url: 'https://vault.example.com/v1/secret/data/variables/hello',
          body: undefined,
          token: 's.gh',
        },
      ]);
    });

    it('uses a token from token_path, VAULT_TOKEN and VAULT_ADDR as hvac does', async () => {
      const path = join(dir, 'token');
      writeFileSync(path, `${ROOT}\n`);
      const fromFile = createVaultBackend({ url: fake.url, token_path: path });
      expect(await fromFile.getVariable('hello')).toBe('world');
      const fromEnv = createVaultBackend({}, { env: { VAULT_ADDR: fake.url, VAULT_TOKEN: ROOT } });
      expect(await fromEnv.getVariable('hello')).toBe('world');
      expect(fromEnv.describe()).toMatchObject({ url: fake.url, auth_type: 'token' });
    });

    it('refuses incomplete auth kwargs at creation, as Airflow does, listing every problem', () => {
      const err = (() => {
        try {
          createVaultBackend(
            { auth_type: 'jwt', proxies: { https: 'http://proxy:3128' } },
            { env: {} },
          );
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues).toEqual([
        'vault kwargs: auth_type `jwt` needs `jwt_role`',
        'vault kwargs: auth_type `jwt` needs `jwt_token` or `jwt_token_path`',
        'vault kwargs.proxies: not supported by airlock; set HTTPS_PROXY with NODE_USE_ENV_PROXY=1 instead',
      ]);
      expect(() => createVaultBackend({}, { env: {} })).toThrow(
        'auth_type `token` needs `token`, `token_path` or $VAULT_TOKEN',
      );
      expect(() => createVaultBackend({ auth_type: 'approle' }, { env: {} })).toThrow('`role_id`');
      expect(() =>
        createVaultBackend({ auth_type: 'userpass', username: 'u' }, { env: {} }),
      ).toThrow('`password`');
      expect(() => createVaultBackend({ auth_type: 'kubernetes' }, { env: {} })).toThrow(
        '`kubernetes_role`',
      );
      expect(() => createVaultBackend({ url: 'ftp://vault', token: 't' })).toThrow(
        'vault kwargs.url: must be an http:// or https:// URL',
      );
      const withPassword = () =>
        createVaultBackend({ url: 'https://ops:url-s3cret@vault.example.com', token: 't' });
      expect(withPassword).toThrow('vault kwargs.url: must not contain a user name or password');
      expect(withPassword).not.toThrow(/s3cret/);
      expect(() =>
        createVaultBackend({ kv_engine_version: 3 } as unknown as VaultBackendOptions),
      ).toThrow(ConfigError);
    });
  });

  describe('token lifecycle', () => {
    it('logs in again, once, when the token has expired', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        role_id: roleId,
        secret_id: await newSecretId(),
      });
      expect(await vault.getVariable('hello')).toBe('world');
      fake.expireTokens();
      const mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'GET secret/data/variables/hello 403',
        'POST auth/approle/login 200',
        'GET secret/data/variables/hello 200',
      ]);
      await vault.dispose?.();
    });

    it('asks lookup-self when Vault only says "permission denied", and logs in again if the token is dead', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'userpass',
        username: 'analyst',
        password: 'pa55',
      });
      expect(await vault.getVariable('hello')).toBe('world');
      // A plain 403 while the token is alive: a policy problem, reported as such.
      fake.failNext(403, 1, 'secret/');
      let mark = fake.requests.length;
      expect((await caught(() => vault.getVariable('hello'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_AUTH',
      );
      expect(since(mark)).toEqual([
        'GET secret/data/variables/hello 403',
        'GET auth/token/lookup-self 200',
      ]);
      // A plain 403 with a revoked token: one new login, one retry.
      fake.expireTokens();
      fake.failNext(403, 1, 'secret/');
      mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'GET secret/data/variables/hello 403',
        'GET auth/token/lookup-self 403',
        'POST auth/userpass/login/analyst 200',
        'GET secret/data/variables/hello 200',
      ]);
      await vault.dispose?.();
    });

    it('does not loop when the new token is refused too', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        role_id: roleId,
        secret_id: await newSecretId(),
      });
      expect(await vault.getVariable('hello')).toBe('world');
      fake.expireTokens();
      fake.failNext(403, 2, 'secret/');
      const mark = fake.requests.length;
      expect((await caught(() => vault.getVariable('hello'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_AUTH',
      );
      expect(since(mark).filter((r) => r.includes('login'))).toHaveLength(1);
      expect(since(mark)).toHaveLength(4);
      await vault.dispose?.();
    });

    it('renews a renewable token once a third of its lease is left', async () => {
      const id = (
        (await api('GET', 'auth/approle/role/short/role-id')).body.data as { role_id: string }
      ).role_id;
      const vault = createVaultBackend(
        { url: fake.url, auth_type: 'approle', role_id: id, secret_id: await newSecretId('short') },
        { now: () => fake.now() },
      );
      expect(await vault.getVariable('hello')).toBe('world');
      fake.advanceTime(30_000);
      let mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual(['GET secret/data/variables/hello 200']);
      fake.advanceTime(15_000);
      mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'POST auth/token/renew-self 200',
        'GET secret/data/variables/hello 200',
      ]);
      // Renewed for another 60 s: well past the original end, the same token still works.
      fake.advanceTime(30_000);
      mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual(['GET secret/data/variables/hello 200']);
      await vault.dispose?.();
    });

    it('logs in again near the end when the max TTL stops renewals', async () => {
      const id = (
        (await api('GET', 'auth/approle/role/capped/role-id')).body.data as { role_id: string }
      ).role_id;
      const vault = createVaultBackend(
        {
          url: fake.url,
          auth_type: 'approle',
          role_id: id,
          secret_id: await newSecretId('capped'),
        },
        { now: () => fake.now() },
      );
      expect(await vault.getVariable('hello')).toBe('world');
      fake.advanceTime(45_000);
      let mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'POST auth/token/renew-self 200',
        'GET secret/data/variables/hello 200',
      ]);
      fake.advanceTime(10_000);
      mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'POST auth/approle/login 200',
        'GET secret/data/variables/hello 200',
      ]);
      await vault.dispose?.();
    });

    it('learns a configured token’s lifetime at its second use and renews a periodic token', async () => {
      const created = await api('POST', 'auth/token/create', {
        policies: ['airflow'],
        period: '60s',
      });
      const token = (created.body.auth as { client_token: string }).client_token;
      const vault = createVaultBackend({ url: fake.url, token }, { now: () => fake.now() });
      let mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'GET secret/data/variables/hello 200',
        'GET auth/token/lookup-self 200',
        'GET secret/data/variables/hello 200',
      ]);
      fake.advanceTime(45_000);
      mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'POST auth/token/renew-self 200',
        'GET secret/data/variables/hello 200',
      ]);
      fake.advanceTime(45_000);
      expect(await vault.getVariable('hello')).toBe('world');
      await vault.dispose?.();
      // A configured token is the user's: dispose leaves it valid.
      expect((await api('GET', 'auth/token/lookup-self', undefined, { token })).status).toBe(200);
    });

    it('re-reads token_path when Vault rejects the token (a rotated Vault Agent sink)', async () => {
      const mint = async () =>
        (
          (await api('POST', 'auth/token/create', { policies: 'airflow' })).body.auth as {
            client_token: string;
          }
        ).client_token;
      const path = join(dir, 'agent-sink');
      const first = await mint();
      writeFileSync(path, first);
      const vault = createVaultBackend({ url: fake.url, token_path: path });
      expect(await vault.getVariable('hello')).toBe('world');
      expect(await vault.getVariable('hello')).toBe('world');
      fake.revokeToken(first);
      writeFileSync(path, await mint());
      let mark = fake.requests.length;
      expect(await vault.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'GET secret/data/variables/hello 403',
        'GET secret/data/variables/hello 200',
      ]);
      // Rotated before its lifetime was looked up: lookup-self finds it dead, the file is read.
      const second = createVaultBackend({ url: fake.url, token_path: path });
      expect(await second.getVariable('hello')).toBe('world');
      fake.expireTokens();
      writeFileSync(path, await mint());
      mark = fake.requests.length;
      expect(await second.getVariable('hello')).toBe('world');
      expect(since(mark)).toEqual([
        'GET auth/token/lookup-self 403',
        'GET secret/data/variables/hello 200',
      ]);
      // Same (dead) token in the file: one error, no loop.
      fake.expireTokens();
      expect((await caught(() => vault.getVariable('hello'))).code).toBe(
        'AIRLOCK_ERR_BACKEND_AUTH',
      );
    });

    it('shares one login between concurrent reads', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        role_id: roleId,
        secret_id: await newSecretId(),
      });
      const mark = fake.requests.length;
      const values = await Promise.all(
        ['hello', 'hello', 'number'].map((k) => vault.getVariable(k)),
      );
      expect(values).toEqual(['world', 'world', '42']);
      expect(since(mark).filter((r) => r.includes('login'))).toHaveLength(1);
      await vault.dispose?.();
    });

    it('revokes its login token on dispose', async () => {
      const vault = createVaultBackend({
        url: fake.url,
        auth_type: 'approle',
        role_id: roleId,
        secret_id: await newSecretId(),
      });
      expect(await vault.getVariable('hello')).toBe('world');
      const mark = fake.requests.length;
      await vault.dispose?.();
      expect(since(mark)).toEqual(['POST auth/token/revoke-self 204']);
    });
  });

  describe('tls', () => {
    let tlsFake: VaultFake;
    let caFile: string;

    beforeAll(async () => {
      const tls = await generateFakeTlsCertificate();
      tlsFake = await startVaultFake({ tls });
      tlsFake.writeSecret('secret/variables/hello', { value: 'over https' });
      caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, tls.cert);
    });

    afterAll(async () => {
      await tlsFake.close();
    });

    it('verifies the server with a CA bundle given as verify or $VAULT_CACERT', async () => {
      expect(tlsFake.url).toMatch(/^https:/);
      const withKwarg = createVaultBackend({ url: tlsFake.url, token: ROOT, verify: caFile });
      expect(await withKwarg.getVariable('hello')).toBe('over https');
      const withEnv = createVaultBackend(
        { url: tlsFake.url },
        { env: { VAULT_TOKEN: ROOT, VAULT_CACERT: caFile } },
      );
      expect(await withEnv.getVariable('hello')).toBe('over https');
      await withKwarg.dispose?.();
      await withEnv.dispose?.();
    });

    it('verifies with a folder of PEM files given as $VAULT_CAPATH', async () => {
      const folder = mkdtempSync(join(dir, 'capath-'));
      writeFileSync(join(folder, 'vault-ca.pem'), readFileSync(caFile));
      writeFileSync(join(folder, 'README'), 'not a certificate');
      const vault = createVaultBackend(
        { url: tlsFake.url },
        { env: { VAULT_TOKEN: ROOT, VAULT_CAPATH: folder } },
      );
      expect(await vault.getVariable('hello')).toBe('over https');
      await vault.dispose?.();
    });

    it('skips verification with verify false', async () => {
      const vault = createVaultBackend({ url: tlsFake.url, token: ROOT, verify: false });
      expect(await vault.getVariable('hello')).toBe('over https');
      await vault.dispose?.();
    });

    it('refuses an unknown certificate by default, with a hint about verify', async () => {
      const vault = createVaultBackend(
        { url: tlsFake.url, token: ROOT },
        { env: {}, retry: FAST_RETRY },
      );
      const err = await caught(() => vault.getVariable('hello'));
      expect(err.code).toBe('AIRLOCK_ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toContain('set `verify` to the CA bundle');
    });

    it('reports a CA bundle or client certificate that cannot be read as a configuration error', async () => {
      const vault = createVaultBackend({
        url: tlsFake.url,
        token: ROOT,
        verify: join(dir, 'none.pem'),
      });
      const err = await caught(() => vault.getVariable('hello'));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain('vault kwargs.verify: cannot read');
      const cert = createVaultBackend({
        url: tlsFake.url,
        token: ROOT,
        cert: [join(dir, 'client.pem'), join(dir, 'client.key')],
      });
      expect((await caught(() => cert.getVariable('hello'))).message).toContain(
        'vault kwargs.cert: cannot read',
      );
    });
  });

  describe('describe', () => {
    it('shows the options with every credential redacted', () => {
      const vault = createVaultBackend({
        url: 'https://vault.example.com:8200',
        auth_type: 'approle',
        role_id: 'role-id-value',
        secret_id: 'secret-id-value',
        namespace: 'team-a',
      });
      const shown = vault.describe();
      expect(shown).toMatchObject({
        type: 'vault',
        url: 'https://vault.example.com:8200',
        auth_type: 'approle',
        mount_point: 'secret',
        kv_engine_version: 2,
        variables_path: 'variables',
        role_id: '***',
        secret_id: '***',
        namespace: 'team-a',
      });
      expect(JSON.stringify(shown)).not.toMatch(/role-id-value|secret-id-value/);
    });
  });
});
