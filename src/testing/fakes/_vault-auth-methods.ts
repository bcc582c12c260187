/**
 * @module testing/fakes/_vault-auth-methods
 * The Vault double's auth methods' configuration API: `auth/<mount>/config`, roles, users and
 * groups, and AppRole's role ids and secret ids.
 */

import { randomUUID } from 'node:crypto';
import { FakeHttpError } from './_serve-fake.ts';
import {
  type AppRole,
  type AuthEntry,
  type AuthMount,
  type Ctx,
  envelope,
  noRoute,
  parseBool,
  parseDuration,
  parseList,
  unsupported,
} from './_vault-state.ts';
import { parseTokenParams, tokenParamsData } from './_vault-tokens.ts';

// ----- auth/<mount>/ (configuration) ------------------------------------------------------

export function authApi(
  ctx: Ctx,
  auth: AuthMount,
  rest: string,
): Record<string, unknown> | undefined {
  const { method, body } = ctx;
  if (rest === 'config' || (auth.type === 'aws' && rest === 'config/client')) {
    if (method === 'GET') {
      const { token_reviewer_jwt: _hidden, bindpass: _bindpass, ...visible } = auth.config;
      return envelope(visible);
    }
    if (method !== 'POST' && method !== 'PUT') throw unsupported();
    auth.config = { ...auth.config, ...body };
    return undefined;
  }
  const collection = /^(role|users|groups)(?:\/([^/]+))?(?:\/(.+))?$/.exec(rest);
  if (!collection) throw noRoute(`auth/${auth.path}${rest}`);
  const [, kindRaw, rawName, sub] = collection as unknown as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  const kind = kindRaw as 'role' | 'users' | 'groups';
  const allowed: Record<string, string[]> = {
    approle: ['role'],
    userpass: ['users'],
    ldap: ['users', 'groups'],
    radius: ['users'],
    kubernetes: ['role'],
    jwt: ['role'],
    oidc: ['role'],
    aws: ['role'],
    gcp: ['role'],
    azure: ['role'],
  };
  if (!allowed[auth.type]?.includes(kind)) throw noRoute(`auth/${auth.path}${rest}`);
  const table = (kind === 'role' ? auth.roles : kind === 'users' ? auth.users : auth.groups) as Map<
    string,
    AuthEntry
  >;
  if (rawName === undefined) {
    if (method !== 'LIST' && method !== 'GET') throw unsupported();
    if (table.size === 0) throw new FakeHttpError(404, '');
    return envelope({ keys: [...table.keys()].sort() });
  }
  const name = auth.type === 'approle' ? rawName : rawName.toLowerCase();
  const entry = table.get(name);
  if (sub !== undefined) {
    if (auth.type !== 'approle' || !entry)
      throw new FakeHttpError(400, `role "${name}" does not exist`);
    return appRoleSub(ctx, entry as AppRole, sub);
  }
  if (method === 'DELETE') {
    table.delete(name);
    return undefined;
  }
  if (method === 'GET') {
    if (!entry) throw new FakeHttpError(404, '');
    const data: Record<string, unknown> = { ...entry.raw, ...tokenParamsData(entry.params) };
    delete data.password;
    if (auth.type === 'approle') {
      const role = entry as AppRole;
      Object.assign(data, {
        bind_secret_id: role.bindSecretId,
        secret_id_ttl: role.secretIdTtl,
        secret_id_num_uses: role.secretIdNumUses,
        local_secret_ids: false,
        secret_id_bound_cidrs: null,
      });
    }
    return envelope(data);
  }
  if (method !== 'POST' && method !== 'PUT') throw unsupported();
  const params = parseTokenParams(body, entry?.params);
  const raw = { ...(entry?.raw ?? {}), ...body };
  if (auth.type === 'approle') {
    const previous = entry as AppRole | undefined;
    const role: AppRole = {
      name,
      params,
      raw,
      roleId: previous?.roleId ?? randomUUID(),
      bindSecretId: parseBool(body.bind_secret_id, previous?.bindSecretId ?? true),
      secretIdTtl: parseDuration(body.secret_id_ttl, 'secret_id_ttl') ?? previous?.secretIdTtl ?? 0,
      secretIdNumUses: Number(body.secret_id_num_uses ?? previous?.secretIdNumUses ?? 0),
      secretIds: previous?.secretIds ?? new Map(),
    };
    auth.roles.set(name, role);
    return undefined;
  }
  if (kind === 'users') {
    const previous = auth.users.get(name);
    const password = typeof body.password === 'string' ? body.password : previous?.password;
    if (auth.type === 'userpass' && password === undefined) {
      throw new FakeHttpError(400, 'missing password');
    }
    auth.users.set(name, {
      name,
      params,
      raw,
      ...(password === undefined ? {} : { password }),
      groups: body.groups === undefined ? (previous?.groups ?? []) : parseList(body.groups),
    });
    return undefined;
  }
  if (auth.type === 'jwt' || auth.type === 'oidc') {
    if (typeof raw.user_claim !== 'string' || raw.user_claim === '') {
      throw new FakeHttpError(400, 'a user claim must be defined on the role');
    }
  }
  table.set(name, { name, params, raw });
  return undefined;
}

export function appRoleSub(
  ctx: Ctx,
  role: AppRole,
  sub: string,
): Record<string, unknown> | undefined {
  const { method, body } = ctx;
  if (sub === 'role-id') {
    if (method === 'GET') return envelope({ role_id: role.roleId });
    if (typeof body.role_id !== 'string' || body.role_id === '') {
      throw new FakeHttpError(400, 'missing role_id');
    }
    role.roleId = body.role_id;
    return undefined;
  }
  if (sub === 'secret-id' || sub === 'custom-secret-id') {
    if (method === 'LIST' || method === 'GET') {
      if (role.secretIds.size === 0) throw new FakeHttpError(404, '');
      return envelope({ keys: [...role.secretIds.values()].map((s) => s.accessor).sort() });
    }
    const secretId = sub === 'custom-secret-id' ? String(body.secret_id ?? '') : randomUUID();
    if (secretId === '') throw new FakeHttpError(400, 'missing secret_id');
    const ttl = parseDuration(body.ttl, 'ttl') ?? role.secretIdTtl;
    const numUses = Number(body.num_uses ?? role.secretIdNumUses);
    const accessor = randomUUID();
    role.secretIds.set(secretId, {
      accessor,
      expires: ttl > 0 ? ctx.state.now() + ttl * 1000 : undefined,
      usesLeft: numUses,
    });
    return envelope({
      secret_id: secretId,
      secret_id_accessor: accessor,
      secret_id_ttl: ttl,
      secret_id_num_uses: numUses,
    });
  }
  if (sub === 'secret-id/destroy') {
    role.secretIds.delete(String(body.secret_id ?? ''));
    return undefined;
  }
  throw noRoute(sub);
}
