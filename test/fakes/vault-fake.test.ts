import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateFakeTlsCertificate,
  parseVaultFakeSeed,
  startVaultFake,
  type VaultFake,
} from '../../src/testing/fakes/vault-fake.ts';
import { BIN, cleanEnv, NODE, runAirlock } from '../helpers/cli.ts';

const ROOT = 'fake-root';
const PYTHON = '/usr/bin/python3';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function makeApi(fake: () => VaultFake) {
  return async function api(
    method: string,
    path: string,
    body?: unknown,
    options: { token?: string | null; namespace?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    const token = options.token === undefined ? ROOT : options.token;
    if (token !== null) headers['x-vault-token'] = token;
    if (options.namespace) headers['x-vault-namespace'] = options.namespace;
    const res = await fetch(`${fake().url}/v1/${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : JSON.parse(text) };
  };
}

function data<T = Record<string, unknown>>(answer: Answer): T {
  return answer.body.data as T;
}

function jwt(claims: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part(claims)}.c2ln`;
}

describe('vault fake', () => {
  let fake: VaultFake;
  const api = makeApi(() => fake);

  beforeAll(async () => {
    fake = await startVaultFake({ rootToken: ROOT });
  });

  afterAll(async () => {
    await fake.close();
  });

  describe('the independent client', () => {
    it('serves hvac: policy, AppRole and userpass setup, login, KV v1 and v2 reads, denials', async () => {
      const probe = spawnSync(PYTHON, ['-c', 'import hvac'], { encoding: 'utf8' });
      if (probe.status !== 0) {
        throw new Error(
          'hvac is not importable by /usr/bin/python3: run `apt-get install -y python3-hvac` (.ci/run does)',
        );
      }
      const own = await startVaultFake({ rootToken: 'hvac-root' });
      try {
        const stdout = await new Promise<string>((resolve, reject) => {
          execFile(
            PYTHON,
            [join(import.meta.dirname, 'hvac_check.py'), own.url, 'hvac-root'],
            { timeout: 20_000 },
            (err, out, stderr) =>
              err ? reject(new Error(`${err.message}\n${out}${stderr}`)) : resolve(out),
          );
        });
        const seen = JSON.parse(stdout);
        expect(seen).toEqual({
          admin_authenticated: true,
          health: { initialized: true, sealed: false },
          policy_listed: true,
          policy_text_kept: true,
          auth_methods: ['approle/', 'token/', 'userpass/'],
          mounts: ['cubbyhole/', 'identity/', 'kv1/', 'secret/', 'sys/'],
          approle_login: {
            has_token: true,
            policies: ['airflow', 'default'],
            lease_duration: 3600,
            renewable: true,
          },
          app_authenticated: true,
          kv2_value: 'world, v2',
          kv2_version: 2,
          kv2_version1_value: 'world',
          kv2_list: ['hello'],
          kv1_value: 'v1 value',
          missing: 'InvalidPath',
          outside_policy: 'Forbidden',
          write_denied: 'Forbidden',
          renewed_lease: 3600,
          lookup_policies: ['airflow', 'default'],
          after_revoke_authenticated: false,
          userpass_value: 'world, v2',
          userpass_bad_password: 'InvalidRequest',
          deleted_latest: 'InvalidPath',
        });
        // hvac sends Vault's LIST method on the wire; the fake took it as LIST.
        expect(own.requests.some((r) => r.method === 'LIST' && r.status === 200)).toBe(true);
      } finally {
        await own.close();
      }
    });
  });

  describe('system endpoints', () => {
    it('answers sys/health without a token, as an unsealed active node', async () => {
      const res = await api('GET', 'sys/health', undefined, { token: null });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ initialized: true, sealed: false, standby: false });
      const seal = await api('GET', 'sys/seal-status', undefined, { token: null });
      expect(seal.body).toMatchObject({ sealed: false, type: 'shamir' });
    });

    it('answers 403 without a token, and 403 "invalid token" for an unknown one', async () => {
      const none = await api('GET', 'secret/data/x', undefined, { token: null });
      expect(none).toEqual({
        status: 403,
        body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] },
      });
      const bad = await api('GET', 'secret/data/x', undefined, { token: 'hvs.nope' });
      expect(bad).toEqual({
        status: 403,
        body: { errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] },
      });
    });

    it('answers 404 "no handler" for a path no mount serves', async () => {
      const res = await api('GET', 'nowhere/x');
      expect(res).toEqual({
        status: 404,
        body: { errors: ['no handler for route "nowhere/x". route entry not found.'] },
      });
    });

    it('lists mounts with KV v2 at secret/, and mounts KV v1 and v2 engines', async () => {
      expect(
        (await api('POST', 'sys/mounts/sys-test-v1', { type: 'kv', options: { version: '1' } }))
          .status,
      ).toBe(204);
      expect((await api('POST', 'sys/mounts/sys-test-v2', { type: 'kv-v2' })).status).toBe(204);
      const mounts = data<Record<string, { type: string; options: { version: string } | null }>>(
        await api('GET', 'sys/mounts'),
      );
      expect(mounts['secret/']).toMatchObject({ type: 'kv', options: { version: '2' } });
      expect(mounts['sys-test-v1/']).toMatchObject({ type: 'kv', options: { version: '1' } });
      expect(mounts['sys-test-v2/']).toMatchObject({ type: 'kv', options: { version: '2' } });
      const again = await api('POST', 'sys/mounts/sys-test-v1', { type: 'kv' });
      expect(again.status).toBe(400);
      expect((await api('POST', 'sys/mounts/pki', { type: 'pki' })).status).toBe(400);
      expect((await api('DELETE', 'sys/mounts/sys-test-v2')).status).toBe(204);
      expect(data(await api('GET', 'sys/mounts'))['sys-test-v2/']).toBeUndefined();
    });

    it('answers the CLI mount preflight (sys/internal/ui/mounts) only where policies reach', async () => {
      const res = await api('GET', 'sys/internal/ui/mounts/secret/variables/hello');
      expect(res.status).toBe(200);
      expect(data(res)).toMatchObject({ path: 'secret/', type: 'kv', options: { version: '2' } });
      fake.writePolicy('preflight', 'path "secret/data/team/*" { capabilities = ["read"] }');
      const token = await childToken(['preflight']);
      expect(
        (await api('GET', 'sys/internal/ui/mounts/secret/team/x', undefined, { token })).status,
      ).toBe(200);
      expect(
        (await api('GET', 'sys/internal/ui/mounts/cubbyhole/x', undefined, { token })).status,
      ).toBe(200);
      fake.writePolicy('nothing', 'path "other/*" { capabilities = ["read"] }');
      const other = await childToken(['nothing']);
      expect(
        (await api('GET', 'sys/internal/ui/mounts/secret/team/x', undefined, { token: other }))
          .status,
      ).toBe(403);
    });
  });

  async function childToken(
    policies: string[],
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    const res = await api('POST', 'auth/token/create', { policies, ...extra });
    expect(res.status).toBe(200);
    return (res.body.auth as { client_token: string }).client_token;
  }

  describe('KV v2', () => {
    it('keeps versions, reads one with ?version=, and answers a write with its metadata', async () => {
      const first = await api('POST', 'secret/data/kv2/versions', { data: { value: 'one' } });
      expect(first.status).toBe(200);
      expect(data(first)).toMatchObject({
        version: 1,
        destroyed: false,
        deletion_time: '',
        custom_metadata: null,
      });
      await api('PUT', 'secret/data/kv2/versions', { data: { value: 'two' }, options: {} });
      const latest = await api('GET', 'secret/data/kv2/versions');
      expect(latest.body).toMatchObject({
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        wrap_info: null,
        warnings: null,
        auth: null,
        mount_type: 'kv',
        data: { data: { value: 'two' }, metadata: { version: 2 } },
      });
      expect(latest.body.request_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(data(await api('GET', 'secret/data/kv2/versions?version=1'))).toMatchObject({
        data: { value: 'one' },
      });
      const metadata = data<Record<string, unknown>>(
        await api('GET', 'secret/metadata/kv2/versions'),
      );
      expect(metadata).toMatchObject({ current_version: 2, oldest_version: 1 });
      expect(Object.keys(metadata.versions as object)).toEqual(['1', '2']);
    });

    it('answers a soft-deleted latest version with 404 and its metadata; undelete and destroy work', async () => {
      await api('POST', 'secret/data/kv2/deleted', { data: { value: 'v1' } });
      expect((await api('DELETE', 'secret/data/kv2/deleted')).status).toBe(204);
      const gone = await api('GET', 'secret/data/kv2/deleted');
      expect(gone.status).toBe(404);
      const meta = gone.body.data as { data: unknown; metadata: Record<string, unknown> };
      expect(meta.data).toBeNull();
      expect(meta.metadata.deletion_time).not.toBe('');
      await api('POST', 'secret/undelete/kv2/deleted', { versions: [1] });
      expect((await api('GET', 'secret/data/kv2/deleted')).status).toBe(200);
      await api('POST', 'secret/destroy/kv2/deleted', { versions: [1] });
      const destroyed = await api('GET', 'secret/data/kv2/deleted');
      expect(destroyed.status).toBe(404);
      expect((destroyed.body.data as { metadata: { destroyed: boolean } }).metadata.destroyed).toBe(
        true,
      );
      expect((await api('DELETE', 'secret/metadata/kv2/deleted')).status).toBe(204);
      expect(await api('GET', 'secret/data/kv2/deleted')).toEqual({
        status: 404,
        body: { errors: [] },
      });
    });

    it('lists keys with LIST and with ?list=true, folders with a trailing slash', async () => {
      await api('POST', 'secret/data/kv2/list/a', { data: { v: 1 } });
      await api('POST', 'secret/data/kv2/list/b/c', { data: { v: 1 } });
      const listed = await api('LIST', 'secret/metadata/kv2/list');
      expect(data(listed)).toEqual({ keys: ['a', 'b/'] });
      expect(data(await api('GET', 'secret/metadata/kv2/list/?list=true'))).toEqual({
        keys: ['a', 'b/'],
      });
      expect(await api('LIST', 'secret/metadata/kv2/nothing-here')).toEqual({
        status: 404,
        body: { errors: [] },
      });
    });

    it('enforces check-and-set and applies merge patches', async () => {
      await api('POST', 'secret/data/kv2/cas', { data: { a: '1', b: '2' } });
      const wrong = await api('POST', 'secret/data/kv2/cas', {
        data: { a: 'x' },
        options: { cas: 0 },
      });
      expect(wrong).toEqual({
        status: 400,
        body: { errors: ['check-and-set parameter did not match the current version'] },
      });
      expect(
        (await api('POST', 'secret/data/kv2/cas', { data: { a: 'x' }, options: { cas: 1 } }))
          .status,
      ).toBe(200);
      expect(
        (await api('PATCH', 'secret/data/kv2/cas', { data: { a: null, c: '3' } })).status,
      ).toBe(200);
      expect(data(await api('GET', 'secret/data/kv2/cas'))).toMatchObject({ data: { c: '3' } });
      expect((await api('PATCH', 'secret/data/kv2/absent', { data: { a: '1' } })).status).toBe(404);
    });

    it('answers a KV v1-style path on a v2 mount with 404 and Vault’s warning', async () => {
      const res = await api('GET', 'secret/kv2/versions');
      expect(res.status).toBe(404);
      expect(res.body.warnings).toEqual([
        expect.stringContaining('Invalid path for a versioned K/V secrets engine'),
      ]);
    });
  });

  describe('KV v1', () => {
    it('writes, reads with a lease hint, lists and deletes', async () => {
      fake.enableKv('legacy', 1);
      expect((await api('PUT', 'legacy/app/db', { password: 'p' })).status).toBe(204);
      const read = await api('GET', 'legacy/app/db');
      expect(read.body).toMatchObject({ data: { password: 'p' }, lease_duration: 2_764_800 });
      expect(data(await api('LIST', 'legacy/app'))).toEqual({ keys: ['db'] });
      expect((await api('DELETE', 'legacy/app/db')).status).toBe(204);
      expect((await api('GET', 'legacy/app/db')).status).toBe(404);
    });
  });

  describe('policies', () => {
    it('stores policies under sys/policy and sys/policies/acl, lower-cased', async () => {
      const text = 'path "secret/data/p/*" {\n  capabilities = ["read"]\n}\n';
      expect((await api('PUT', 'sys/policy/Mixed-Case', { policy: text })).status).toBe(204);
      expect(data(await api('GET', 'sys/policies/acl/mixed-case'))).toEqual({
        name: 'mixed-case',
        policy: text,
      });
      expect(data(await api('GET', 'sys/policy/mixed-case'))).toEqual({
        name: 'mixed-case',
        rules: text,
      });
      expect(data<{ keys: string[] }>(await api('LIST', 'sys/policies/acl')).keys).toContain(
        'mixed-case',
      );
      expect(data<{ policies: string[] }>(await api('GET', 'sys/policy')).policies).toEqual(
        expect.arrayContaining(['default', 'mixed-case', 'root']),
      );
      expect((await api('PUT', 'sys/policy/root', { policy: text })).status).toBe(400);
      expect((await api('DELETE', 'sys/policy/default')).status).toBe(400);
      expect((await api('DELETE', 'sys/policies/acl/mixed-case')).status).toBe(204);
      expect((await api('GET', 'sys/policies/acl/mixed-case')).status).toBe(404);
    });

    it('refuses a policy that does not parse, or with an unknown capability', async () => {
      const broken = await api('PUT', 'sys/policy/broken', {
        policy: 'path "x" { capabilities = ["read"',
      });
      expect(broken.status).toBe(400);
      expect(String((broken.body.errors as string[])[0])).toMatch(/^failed to parse policy/);
      const unknown = await api('PUT', 'sys/policy/broken', {
        policy: 'path "x" { capabilities = ["fly"] }',
      });
      expect(unknown.status).toBe(400);
    });

    it('matches * globs, + segments, deny and Vault’s priority rules across policies', async () => {
      fake.writePolicy(
        'acl-a',
        `# comments and // both styles
        path "secret/data/acl/*" { capabilities = ["read", "list"] }
        path "secret/data/acl/+/config" { capabilities = ["read"] }
        /* a denied corner */
        path "secret/data/acl/private/*" { capabilities = ["deny"] }
        path "secret/data/acl/exact" { capabilities = ["update"] }`,
      );
      fake.writePolicy(
        'acl-b',
        '{"path": {"secret/data/acl/private/*": {"capabilities": ["read"]}, "secret/data/acl/legacy": {"policy": "read"}}}',
      );
      const token = await childToken(['acl-a', 'acl-b']);
      for (const path of ['acl/x', 'acl/private/y', 'acl/team/config', 'acl/exact', 'acl/legacy']) {
        fake.writeSecret(`secret/${path}`, { value: path });
      }
      const status = async (path: string) =>
        (await api('GET', `secret/data/${path}`, undefined, { token })).status;
      expect(await status('acl/x')).toBe(200);
      expect(await status('acl/team/config')).toBe(200);
      expect(await status('acl/private/y')).toBe(403); // deny wins over acl-b's read on the same path
      expect(await status('acl/exact')).toBe(403); // the exact path wins over the glob: no read
      expect(await status('acl/legacy')).toBe(200);
      expect(await status('other')).toBe(403);
      const caps = await api(
        'POST',
        'sys/capabilities-self',
        {
          paths: ['secret/data/acl/x', 'secret/data/acl/private/y', 'secret/data/acl/exact'],
        },
        { token },
      );
      expect(data(caps)).toMatchObject({
        'secret/data/acl/x': ['list', 'read'],
        'secret/data/acl/private/y': ['deny'],
        'secret/data/acl/exact': ['update'],
      });
    });

    it('needs create on a new KV key and update on an existing one', async () => {
      fake.writePolicy('creator', 'path "secret/data/cu/*" { capabilities = ["create"] }');
      const token = await childToken(['creator']);
      expect((await api('POST', 'secret/data/cu/new', { data: { v: 1 } }, { token })).status).toBe(
        200,
      );
      expect((await api('POST', 'secret/data/cu/new', { data: { v: 2 } }, { token })).status).toBe(
        403,
      );
    });
  });

  describe('tokens', () => {
    it('creates tokens with a TTL, looks them up, renews them, and expires them on the clock', async () => {
      fake.writePolicy('tok', 'path "secret/data/tok/*" { capabilities = ["read"] }');
      fake.writeSecret('secret/tok/a', { value: 'a' });
      const created = await api('POST', 'auth/token/create', {
        policies: 'tok',
        ttl: '60s',
        explicit_max_ttl: '90s',
      });
      const auth = created.body.auth as Record<string, unknown>;
      expect(auth).toMatchObject({
        policies: ['default', 'tok'],
        lease_duration: 60,
        renewable: true,
        token_type: 'service',
      });
      const token = auth.client_token as string;
      expect(token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);
      const looked = data<Record<string, unknown>>(
        await api('GET', 'auth/token/lookup-self', undefined, { token }),
      );
      expect(looked).toMatchObject({
        id: token,
        ttl: 60,
        creation_ttl: 60,
        renewable: true,
        policies: ['default', 'tok'],
      });
      fake.advanceTime(50_000);
      const renewed = await api('POST', 'auth/token/renew-self', { increment: '1h' }, { token });
      // Capped by the explicit max TTL: 90 s from creation, 40 s from now.
      expect((renewed.body.auth as { lease_duration: number }).lease_duration).toBe(40);
      fake.advanceTime(41_000);
      expect((await api('GET', 'secret/data/tok/a', undefined, { token })).body).toEqual({
        errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'],
      });
    });

    it('revokes with revoke-self, counts uses, and keeps child policies within the parent’s', async () => {
      const token = await childToken(['tok']);
      expect((await api('POST', 'auth/token/revoke-self', {}, { token })).status).toBe(204);
      expect((await api('GET', 'auth/token/lookup-self', undefined, { token })).status).toBe(403);
      const once = await childToken(['tok'], { num_uses: 1 });
      expect((await api('GET', 'secret/data/tok/a', undefined, { token: once })).status).toBe(200);
      expect((await api('GET', 'secret/data/tok/a', undefined, { token: once })).status).toBe(403);
      const parent = await childToken(['tok']);
      const escalate = await api(
        'POST',
        'auth/token/create',
        { policies: ['root'] },
        { token: parent },
      );
      expect(escalate.status).toBe(403); // the default policy does not grant auth/token/create
      const root = await api('POST', 'auth/token/renew-self', {});
      expect(root).toEqual({ status: 400, body: { errors: ['lease is not renewable'] } });
    });

    it('expires every token but the root token on expireTokens()', async () => {
      const token = await childToken(['tok']);
      fake.expireTokens();
      expect((await api('GET', 'auth/token/lookup-self', undefined, { token })).status).toBe(403);
      expect((await api('GET', 'auth/token/lookup-self')).status).toBe(200);
    });
  });

  describe('auth methods', () => {
    beforeAll(async () => {
      fake.writePolicy('app', 'path "secret/data/app/*" { capabilities = ["read"] }');
      fake.writeSecret('secret/app/x', { value: 'x' });
      for (const type of ['approle', 'userpass', 'ldap', 'kubernetes', 'jwt']) {
        expect((await api('POST', `sys/auth/${type}`, { type })).status).toBe(204);
      }
    });

    async function canRead(res: Answer): Promise<boolean> {
      const token = (res.body.auth as { client_token: string } | undefined)?.client_token;
      if (!token) return false;
      return (await api('GET', 'secret/data/app/x', undefined, { token })).status === 200;
    }

    it('AppRole: role-id, secret-id with uses and TTL, bind_secret_id false, wrong credentials', async () => {
      await api('POST', 'auth/approle/role/app', {
        token_policies: ['app'],
        secret_id_num_uses: 1,
        secret_id_ttl: '10m',
      });
      const roleId = data<{ role_id: string }>(
        await api('GET', 'auth/approle/role/app/role-id'),
      ).role_id;
      const generated = data<Record<string, unknown>>(
        await api('POST', 'auth/approle/role/app/secret-id'),
      );
      expect(generated).toMatchObject({ secret_id_ttl: 600, secret_id_num_uses: 1 });
      const login = (secretId: unknown) =>
        api(
          'POST',
          'auth/approle/login',
          { role_id: roleId, secret_id: secretId },
          { token: null },
        );
      const ok = await login(generated.secret_id);
      expect(ok.body.auth).toMatchObject({ metadata: { role_name: 'app' }, orphan: true });
      expect(await canRead(ok)).toBe(true);
      expect(await login(generated.secret_id)).toEqual({
        status: 400,
        body: { errors: ['invalid role or secret ID'] },
      });
      const custom = await api('POST', 'auth/approle/role/app/custom-secret-id', {
        secret_id: 'my-secret',
      });
      expect(data(custom)).toMatchObject({ secret_id: 'my-secret' });
      const expiring = data<{ secret_id: string }>(
        await api('POST', 'auth/approle/role/app/secret-id'),
      );
      fake.advanceTime(11 * 60_000);
      expect((await login(expiring.secret_id)).status).toBe(400);
      expect((await login('my-secret')).status).toBe(400); // 10 minutes passed for it too
      await api('POST', 'auth/approle/role/open', { token_policies: 'app', bind_secret_id: false });
      const openId = data<{ role_id: string }>(
        await api('GET', 'auth/approle/role/open/role-id'),
      ).role_id;
      expect(
        await canRead(
          await api('POST', 'auth/approle/login', { role_id: openId }, { token: null }),
        ),
      ).toBe(true);
      expect(data<{ keys: string[] }>(await api('LIST', 'auth/approle/role')).keys).toEqual([
        'app',
        'open',
      ]);
    });

    it('userpass and the ldap stand-in (a fake-only password, group policies)', async () => {
      await api('POST', 'auth/userpass/users/Ana', { password: 'pw', token_policies: 'app' });
      expect(
        await canRead(
          await api('POST', 'auth/userpass/login/ana', { password: 'pw' }, { token: null }),
        ),
      ).toBe(true);
      expect(
        await api('POST', 'auth/userpass/login/ana', { password: 'no' }, { token: null }),
      ).toEqual({
        status: 400,
        body: { errors: ['invalid username or password'] },
      });
      await api('POST', 'auth/ldap/config', { url: 'ldap://ldap.example.com', binddn: 'cn=vault' });
      await api('POST', 'auth/ldap/groups/readers', { policies: 'app' });
      await api('POST', 'auth/ldap/users/bob', { groups: 'readers', password: 'ldap-pw' });
      expect(
        await canRead(
          await api('POST', 'auth/ldap/login/bob', { password: 'ldap-pw' }, { token: null }),
        ),
      ).toBe(true);
      expect(
        (await api('POST', 'auth/ldap/login/bob', { password: 'x' }, { token: null })).status,
      ).toBe(400);
      expect(data(await api('GET', 'auth/ldap/users/bob'))).not.toHaveProperty('password');
    });

    it('the kubernetes stand-in checks bound service accounts and namespaces, not signatures', async () => {
      await api('POST', 'auth/kubernetes/role/worker', {
        bound_service_account_names: ['airflow-worker'],
        bound_service_account_namespaces: '*',
        token_policies: 'app',
      });
      const legacy = jwt({
        'kubernetes.io/serviceaccount/namespace': 'data',
        'kubernetes.io/serviceaccount/service-account.name': 'airflow-worker',
      });
      const ok = await api(
        'POST',
        'auth/kubernetes/login',
        { role: 'worker', jwt: legacy },
        { token: null },
      );
      expect(ok.body.auth).toMatchObject({
        metadata: { service_account_name: 'airflow-worker', service_account_namespace: 'data' },
      });
      expect(await canRead(ok)).toBe(true);
      const other = jwt({
        'kubernetes.io': { namespace: 'data', serviceaccount: { name: 'web' } },
      });
      expect(
        (
          await api(
            'POST',
            'auth/kubernetes/login',
            { role: 'worker', jwt: other },
            { token: null },
          )
        ).status,
      ).toBe(403);
      const expired = jwt({
        'kubernetes.io': { namespace: 'data', serviceaccount: { name: 'airflow-worker' } },
        exp: Math.floor(fake.now() / 1000) - 10,
      });
      expect(
        (
          await api(
            'POST',
            'auth/kubernetes/login',
            { role: 'worker', jwt: expired },
            { token: null },
          )
        ).status,
      ).toBe(403);
      expect(
        (await api('POST', 'auth/kubernetes/login', { role: 'nope', jwt: legacy }, { token: null }))
          .status,
      ).toBe(400);
    });

    it('the jwt stand-in checks audience, subject, bound claims and expiry', async () => {
      await api('POST', 'auth/jwt/role/ci', {
        role_type: 'jwt',
        user_claim: 'sub',
        bound_audiences: ['vault'],
        bound_subject: 'repo:acme/etl',
        bound_claims: { ref: ['refs/heads/main'] },
        token_policies: 'app',
      });
      const login = (claims: Record<string, unknown>) =>
        api('POST', 'auth/jwt/login', { role: 'ci', jwt: jwt(claims) }, { token: null });
      const good = { sub: 'repo:acme/etl', aud: 'vault', ref: 'refs/heads/main' };
      expect(await canRead(await login(good))).toBe(true);
      expect((await login({ ...good, aud: 'other' })).status).toBe(400);
      expect((await login({ ...good, sub: 'repo:acme/web' })).status).toBe(400);
      expect((await login({ ...good, ref: 'refs/heads/dev' })).status).toBe(400);
      expect((await login({ ...good, exp: Math.floor(fake.now() / 1000) - 1 })).status).toBe(400);
      expect((await api('POST', 'auth/jwt/role/bad', { role_type: 'jwt' })).status).toBe(400);
    });
  });

  describe('namespaces', () => {
    it('keeps each namespace’s mounts, policies and tokens apart', async () => {
      expect((await api('POST', 'sys/namespaces/team-a')).status).toBe(200);
      expect(data(await api('LIST', 'sys/namespaces'))).toEqual({ keys: ['team-a/'] });
      const a = { namespace: 'team-a' };
      await api('POST', 'sys/mounts/secret', { type: 'kv', options: { version: 2 } }, a);
      await api('POST', 'secret/data/shared', { data: { value: 'in team-a' } }, a);
      fake.writeSecret('secret/shared', { value: 'in root' });
      expect(data(await api('GET', 'secret/data/shared', undefined, a))).toMatchObject({
        data: { value: 'in team-a' },
      });
      expect(data(await api('GET', 'secret/data/shared'))).toMatchObject({
        data: { value: 'in root' },
      });
      await api(
        'PUT',
        'sys/policy/reader',
        { policy: 'path "secret/data/*" { capabilities = ["read"] }' },
        a,
      );
      const created = await api('POST', 'auth/token/create', { policies: 'reader' }, a);
      const token = (created.body.auth as { client_token: string }).client_token;
      expect((await api('GET', 'secret/data/shared', undefined, { ...a, token })).status).toBe(200);
      expect((await api('GET', 'secret/data/shared', undefined, { token })).status).toBe(403);
      expect(
        (await api('GET', 'secret/data/shared', undefined, { namespace: 'team-z' })).status,
      ).toBe(403);
    });
  });

  describe('fault injection', () => {
    it('fails the next requests under a path prefix, adds latency, and logs requests without tokens', async () => {
      fake.writeSecret('secret/faults/x', { value: 'x' });
      fake.clearRequests();
      fake.failNext(503, 2, 'secret/data/faults/');
      expect((await api('GET', 'sys/health')).status).toBe(200);
      expect(await api('GET', 'secret/data/faults/x')).toEqual({
        status: 503,
        body: { errors: ['airlock fake: injected failure (HTTP 503)'] },
      });
      expect((await api('GET', 'secret/data/faults/x')).status).toBe(503);
      expect((await api('GET', 'secret/data/faults/x')).status).toBe(200);
      fake.setLatency(120);
      const started = performance.now();
      await api('GET', 'sys/health');
      expect(performance.now() - started).toBeGreaterThanOrEqual(100);
      fake.setLatency(0);
      expect(fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'GET sys/health 200',
        'GET secret/data/faults/x 503',
        'GET secret/data/faults/x 503',
        'GET secret/data/faults/x 200',
        'GET sys/health 200',
      ]);
      expect(JSON.stringify(fake.requests)).not.toContain(ROOT);
    });
  });

  describe('seeds', () => {
    it('loads mounts, policies, secrets and namespaces, and reports a bad seed by path', async () => {
      const seeded = await startVaultFake({
        seed: {
          mounts: { kv1: 1 },
          policies: { reader: 'path "secret/*" { capabilities = ["read"] }' },
          kv: { 'secret/variables/hello': { value: 'world' }, 'kv1/a': { b: 'c' } },
          namespaces: { 'team-a': { mounts: { secret: 2 }, kv: { 'secret/x': { y: 'z' } } } },
        },
      });
      try {
        const get = async (path: string, namespace?: string) => {
          const res = await fetch(`${seeded.url}/v1/${path}`, {
            headers: {
              'x-vault-token': 'root',
              ...(namespace ? { 'x-vault-namespace': namespace } : {}),
            },
          });
          return (await res.json()) as { data: Record<string, unknown> };
        };
        expect((await get('secret/data/variables/hello')).data.data).toEqual({ value: 'world' });
        expect((await get('kv1/a')).data).toEqual({ b: 'c' });
        expect((await get('secret/data/x', 'team-a')).data.data).toEqual({ y: 'z' });
      } finally {
        await seeded.close();
      }
      expect(() => parseVaultFakeSeed({ kv: { 'secret/x': 'not an object' }, extra: 1 })).toThrow(
        /kv\.secret\/x: .*; \(root\): /,
      );
      await expect(startVaultFake({ seed: { kv: { 'nomount/x': { a: 1 } } } })).rejects.toThrow(
        'no KV mount holds `nomount/x`',
      );
    });
  });

  describe('tls', () => {
    it('serves HTTPS, LIST included, with a certificate clients can trust', async () => {
      const tls = await generateFakeTlsCertificate();
      const secure = await startVaultFake({ tls, seed: { kv: { 'secret/a/b': { v: '1' } } } });
      const dir = mkdtempSync(join(tmpdir(), 'airlock-fake-tls-'));
      try {
        expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        writeFileSync(join(dir, 'ca.pem'), tls.cert);
        // curl-like check through Node's https with the CA: LIST after the TLS handshake.
        const { request } = await import('node:https');
        const body = await new Promise<string>((resolve, reject) => {
          const req = request(
            `${secure.url}/v1/secret/metadata/a`,
            { method: 'LIST', headers: { 'x-vault-token': 'root' }, ca: tls.cert },
            (res) => {
              let text = '';
              res.setEncoding('utf8').on('data', (d: string) => {
                text += d;
              });
              res.on('end', () => resolve(text));
            },
          );
          req.on('error', reject);
          req.end();
        });
        expect(JSON.parse(body).data).toEqual({ keys: ['b'] });
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await secure.close();
      }
    });
  });

  describe('airlock fake vault', () => {
    let child: ChildProcess | undefined;
    let dir: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'airlock-fake-cli-'));
    });

    afterAll(() => {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    it('prints `listening on <url>` with its root token, serves the seed, and stops on SIGTERM', async () => {
      const seed = join(dir, 'seed.json');
      writeFileSync(
        seed,
        JSON.stringify({ kv: { 'secret/variables/hello': { value: 'from the seed' } } }),
      );
      child = spawn(
        NODE,
        [BIN, 'fake', 'vault', '--port', '0', '--root-token', 'cli-root', '--seed', seed],
        {
          env: cleanEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const proc = child;
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "listening on" line: ${stdout}`)),
          15_000,
        );
        proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout);
          if (m?.[1] && stdout.includes('test double')) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        proc.on('exit', (code) => reject(new Error(`exited with ${code}: ${stdout}`)));
      });
      expect(stdout).toContain('root token: cli-root');
      const r = await runAirlock(['variables', 'get', 'hello', '--output', 'json'], {
        env: {
          AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
          VAULT_ADDR: url,
          VAULT_TOKEN: 'cli-root',
        },
      });
      expect(JSON.parse(r.stdout)).toEqual({
        key: 'hello',
        value: 'from the seed',
        source: 'vault',
      });
      const exited = new Promise<number | null>((resolve) =>
        proc.on('exit', (code) => resolve(code)),
      );
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
    });

    it('serves HTTPS with --tls and prints the CA file airlock can verify with', async () => {
      const seed = join(dir, 'tls-seed.json');
      writeFileSync(
        seed,
        JSON.stringify({ kv: { 'secret/variables/hello': { value: 'over tls' } } }),
      );
      const tlsChild = spawn(NODE, [BIN, 'fake', 'vault', '--port', '0', '--tls', '--seed', seed], {
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        let stdout = '';
        const [url, ca] = await new Promise<[string, string]>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no CA line: ${stdout}`)), 15_000);
          tlsChild.stdout.setEncoding('utf8').on('data', (d: string) => {
            stdout += d;
            const u = /^listening on (https:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout);
            const c = /^ca certificate: (.+)$/m.exec(stdout);
            if (u?.[1] && c?.[1]) {
              clearTimeout(timer);
              resolve([u[1], c[1]]);
            }
          });
          tlsChild.on('exit', (code) => reject(new Error(`exited with ${code}: ${stdout}`)));
        });
        const kwargs = { url, token: 'root', verify: ca, connections_path: null };
        const r = await runAirlock(['variables', 'get', 'hello'], {
          env: {
            AIRFLOW__SECRETS__BACKEND: 'airflow.providers.hashicorp.secrets.vault.VaultBackend',
            AIRFLOW__SECRETS__BACKEND_KWARGS: JSON.stringify(kwargs),
          },
        });
        expect(r).toMatchObject({ code: 0, stdout: 'over tls\n' });
      } finally {
        if (tlsChild.exitCode === null && tlsChild.signalCode === null) {
          const exited = new Promise((resolve) => tlsChild.on('exit', resolve));
          tlsChild.kill('SIGTERM');
          await exited;
        }
      }
    });

    it('documents the seed format in --help and refuses a bad seed as a usage error', async () => {
      const help = await runAirlock(['fake', 'vault', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--root-token <token>');
      expect(help.stdout).toContain('"kv":');
      expect(help.stdout).toContain('test double');
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"kv": {"nomount/x": {"a": 1}}}');
      const refused = await runAirlock(['fake', 'vault', '--port', '0', '--seed', bad]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(
        'airlock: error AIRLOCK_ERR_CLI_USAGE: --seed: no KV mount holds `nomount/x`\n',
      );
      const notJson = join(dir, 'not.json');
      writeFileSync(notJson, '{"kv": ');
      expect((await runAirlock(['fake', 'vault', '--seed', notJson])).stderr).toMatch(
        /--seed: `.*not\.json` is not valid JSON \(line 1, column \d+\)/,
      );
    });
  });
});
