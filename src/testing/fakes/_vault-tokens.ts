/**
 * @module testing/fakes/_vault-tokens
 * The Vault double's tokens (issue, TTL, renewal, lookup), the ACL checks a request's token
 * must pass, and the `auth/token/` API.
 */
import { isRecord } from '../../util/json.ts';
import { FakeHttpError } from './_serve-fake.ts';
import { capabilitiesFor, type PolicyRule } from './_vault-acl.ts';
import {
  type Ctx,
  denied,
  envelope,
  isoTime,
  type Namespace,
  noRoute,
  parseBool,
  parseDuration,
  parseList,
  randomString,
  SYSTEM_MAX_TTL,
  type Token,
  type TokenParams,
  unsupported,
  type VaultState,
} from './_vault-state.ts';

// ----- tokens ----------------------------------------------------------------------------

export function tokenIsLive(s: VaultState, token: Token): boolean {
  return token.root || token.expires === undefined || s.now() < token.expires;
}

export function issueToken(
  s: VaultState,
  ns: Namespace,
  params: TokenParams,
  path: string,
  meta: Record<string, string> | null,
  displayName: string,
  orphan: boolean,
): Token {
  const t = s.now();
  const policies = [...new Set(params.policies.map((p) => p.toLowerCase()))];
  if (!params.noDefaultPolicy && !policies.includes('default') && !policies.includes('root')) {
    policies.push('default');
  }
  policies.sort();
  const root = policies.includes('root');
  const maxTtl = Math.min(params.maxTtl || SYSTEM_MAX_TTL, SYSTEM_MAX_TTL);
  let ttl = params.period ?? params.ttl ?? maxTtl;
  if (params.period === undefined) ttl = Math.min(ttl || maxTtl, maxTtl);
  if (params.explicitMaxTtl) ttl = Math.min(ttl, params.explicitMaxTtl);
  const maxExpires =
    params.explicitMaxTtl !== undefined && params.explicitMaxTtl > 0
      ? t + params.explicitMaxTtl * 1000
      : params.period === undefined
        ? t + maxTtl * 1000
        : undefined;
  const batch = params.type === 'batch';
  const token: Token = {
    id: `${batch ? 'hvb' : 'hvs'}.${randomString(batch ? 90 : 24)}`,
    accessor: batch ? '' : randomString(24),
    namespace: ns.name,
    policies,
    path,
    displayName,
    meta,
    created: t,
    issued: t,
    creationTtl: root && ttl === 0 ? 0 : ttl,
    expires: root && ttl === 0 ? undefined : t + ttl * 1000,
    maxExpires,
    period: params.period,
    renewable: !batch && !(root && ttl === 0),
    numUses: params.numUses,
    orphan,
    type: params.type,
    root,
  };
  s.tokens.set(token.id, token);
  return token;
}

export function authBlock(s: VaultState, token: Token): Record<string, unknown> {
  const remaining =
    token.expires === undefined ? 0 : Math.max(0, Math.round((token.expires - s.now()) / 1000));
  return {
    client_token: token.id,
    accessor: token.accessor,
    policies: token.policies,
    token_policies: token.policies,
    identity_policies: null,
    metadata: token.meta,
    lease_duration: remaining,
    renewable: token.renewable,
    entity_id: '',
    token_type: token.type,
    orphan: token.orphan,
    mfa_requirement: null,
    num_uses: token.numUses,
  };
}

export function lookupData(s: VaultState, token: Token): Record<string, unknown> {
  const ttl =
    token.expires === undefined ? 0 : Math.max(0, Math.round((token.expires - s.now()) / 1000));
  return {
    accessor: token.accessor,
    creation_time: Math.floor(token.created / 1000),
    creation_ttl: token.creationTtl,
    display_name: token.displayName,
    entity_id: '',
    expire_time: token.expires === undefined ? null : isoTime(token.expires),
    explicit_max_ttl: 0,
    id: token.id,
    issue_time: isoTime(token.issued),
    meta: token.meta,
    num_uses: token.numUses,
    orphan: token.orphan,
    path: token.path,
    policies: token.policies,
    renewable: token.renewable,
    ttl,
    type: token.type,
    ...(token.period === undefined ? {} : { period: token.period }),
  };
}

export function renewToken(
  s: VaultState,
  token: Token,
  increment: number | undefined,
): Record<string, unknown> {
  if (!token.renewable || token.expires === undefined) {
    throw new FakeHttpError(400, 'lease is not renewable');
  }
  const t = s.now();
  const wanted = token.period ?? increment ?? token.creationTtl;
  let expires = t + wanted * 1000;
  const warnings: string[] = [];
  if (token.maxExpires !== undefined && expires > token.maxExpires) {
    expires = token.maxExpires;
    warnings.push('TTL of the token was capped by its max TTL');
  }
  token.expires = expires;
  token.issued = t;
  return envelope(null, { auth: authBlock(s, token), warnings: warnings.length ? warnings : null });
}

export function parseTokenParams(
  body: Record<string, unknown>,
  existing?: TokenParams,
): TokenParams {
  const pick = (modern: string, legacy: string) =>
    body[modern] !== undefined ? body[modern] : body[legacy];
  const type = String(body.token_type ?? existing?.type ?? 'service');
  const policiesRaw = pick('token_policies', 'policies');
  return {
    policies: policiesRaw === undefined ? (existing?.policies ?? []) : parseList(policiesRaw),
    ttl: parseDuration(pick('token_ttl', 'ttl'), 'token_ttl') ?? existing?.ttl,
    maxTtl: parseDuration(pick('token_max_ttl', 'max_ttl'), 'token_max_ttl') ?? existing?.maxTtl,
    period: parseDuration(pick('token_period', 'period'), 'token_period') ?? existing?.period,
    explicitMaxTtl:
      parseDuration(body.token_explicit_max_ttl, 'token_explicit_max_ttl') ??
      existing?.explicitMaxTtl,
    numUses: Number(body.token_num_uses ?? existing?.numUses ?? 0),
    noDefaultPolicy: parseBool(body.token_no_default_policy, existing?.noDefaultPolicy ?? false),
    type: type === 'batch' ? 'batch' : 'service',
  };
}

export function tokenParamsData(params: TokenParams): Record<string, unknown> {
  return {
    token_policies: params.policies,
    policies: params.policies,
    token_ttl: params.ttl ?? 0,
    token_max_ttl: params.maxTtl ?? 0,
    token_period: params.period ?? 0,
    token_explicit_max_ttl: params.explicitMaxTtl ?? 0,
    token_num_uses: params.numUses,
    token_no_default_policy: params.noDefaultPolicy,
    token_type: params.type === 'batch' ? 'batch' : 'default',
    token_bound_cidrs: [],
  };
}

/** The rules of the token's policies in `ns` (root: undefined, meaning everything). */
export function rulesOf(token: Token, ns: Namespace): PolicyRule[] | undefined {
  if (token.root) return undefined;
  return token.policies.flatMap((name) => ns.policies.get(name)?.rules ?? []);
}

export function can(ctx: Ctx, path: string, capability: string): boolean {
  if (!ctx.token) return false;
  const rules = rulesOf(ctx.token, ctx.ns);
  if (rules === undefined) return true;
  const caps = capabilitiesFor(rules, path);
  return !caps.has('deny') && caps.has(capability);
}

export function capabilityList(ctx: Ctx, path: string): string[] {
  if (!ctx.token) return ['deny'];
  const rules = rulesOf(ctx.token, ctx.ns);
  if (rules === undefined) return ['root'];
  const caps = [...capabilitiesFor(rules, path)].sort();
  return caps.length === 0 ? ['deny'] : caps;
}
// ----- routing ---------------------------------------------------------------------------

/** The capability an HTTP operation needs (`create` vs `update` by existence, as Vault). */
export function operation(method: string, exists: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'read';
    case 'LIST':
      return 'list';
    case 'DELETE':
      return 'delete';
    case 'PATCH':
      return 'patch';
    default:
      return exists ? 'update' : 'create';
  }
}

export function authorize(ctx: Ctx, path: string, exists = true): void {
  // Vault's list requests are for "folders": their ACL path ends with a slash.
  const aclPath = ctx.method === 'LIST' && !path.endsWith('/') ? `${path}/` : path;
  if (!can(ctx, aclPath, operation(ctx.method, exists))) throw denied();
}
// ----- auth/token/ ------------------------------------------------------------------------

export function tokenApi(ctx: Ctx, rest: string): Record<string, unknown> | undefined {
  const token = ctx.token as Token;
  const full = `auth/token/${rest}`;
  const { body, method } = ctx;
  switch (rest) {
    case 'lookup-self':
      if (method !== 'GET' && method !== 'POST' && method !== 'PUT') throw unsupported();
      if (!can(ctx, full, 'read')) throw denied();
      return envelope(lookupData(ctx.state, token));
    case 'renew-self':
      authorize(ctx, full);
      return renewToken(ctx.state, token, parseDuration(body.increment, 'increment'));
    case 'revoke-self':
      authorize(ctx, full);
      ctx.state.tokens.delete(token.id);
      return undefined;
    case 'lookup':
    case 'renew':
    case 'revoke': {
      authorize(ctx, full);
      const target = ctx.state.tokens.get(String(body.token ?? ''));
      if (!target || !tokenIsLive(ctx.state, target)) throw new FakeHttpError(400, 'bad token');
      if (rest === 'lookup') return envelope(lookupData(ctx.state, target));
      if (rest === 'renew')
        return renewToken(ctx.state, target, parseDuration(body.increment, 'increment'));
      ctx.state.tokens.delete(target.id);
      return undefined;
    }
    case 'create':
    case 'create-orphan': {
      authorize(ctx, full);
      const requested = parseList(body.policies);
      const parentPolicies = token.policies;
      const policies =
        requested.length === 0 ? parentPolicies.filter((p) => p !== 'default') : requested;
      if (!token.root && !policies.every((p) => parentPolicies.includes(p.toLowerCase()))) {
        throw new FakeHttpError(400, 'child policies must be subset of parent');
      }
      const params: TokenParams = {
        policies,
        ttl: parseDuration(body.ttl, 'ttl'),
        maxTtl: undefined,
        period: parseDuration(body.period, 'period'),
        explicitMaxTtl: parseDuration(body.explicit_max_ttl, 'explicit_max_ttl'),
        numUses: Number(body.num_uses ?? 0),
        noDefaultPolicy: parseBool(body.no_default_policy, false),
        type: body.type === 'batch' ? 'batch' : 'service',
      };
      const meta = isRecord(body.meta) ? (body.meta as Record<string, string>) : null;
      const created = issueToken(
        ctx.state,
        ctx.ns,
        params,
        'auth/token/create',
        meta,
        `token${typeof body.display_name === 'string' ? `-${body.display_name}` : ''}`,
        rest === 'create-orphan' || parseBool(body.no_parent, false),
      );
      if (typeof body.id === 'string' && body.id !== '') {
        if (!token.root)
          throw new FakeHttpError(400, 'root or sudo privileges required to specify token id');
        ctx.state.tokens.delete(created.id);
        created.id = body.id;
        ctx.state.tokens.set(created.id, created);
      }
      if (body.renewable === false || body.renewable === 'false') created.renewable = false;
      return envelope(null, { auth: authBlock(ctx.state, created) });
    }
    default:
      authorize(ctx, full);
      throw noRoute(full);
  }
}
