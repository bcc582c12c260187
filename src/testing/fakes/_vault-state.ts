/**
 * @module testing/fakes/_vault-state
 * The Vault double's state (namespaces with their secret-engine and auth mounts, policies,
 * tokens, the clock) and what every part of it shares: parameter parsing, Vault's answer
 * envelope and error texts, mount lookup.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FakeHttpError } from './_serve-fake.ts';
import { DEFAULT_POLICY, type PolicyRule, parsePolicy } from './_vault-acl.ts';

/** One request the fake answered (never the token or the body). */
export interface VaultFakeRequest {
  method: string;
  /** The path after `/v1/`, without the query. */
  path: string;
  namespace: string;
  status: number;
}

/** Everything one running Vault double holds, shared by its request handlers. */
export interface VaultState {
  readonly rootToken: string;
  readonly awsCredentials: Readonly<Record<string, string>>;
  readonly gcpServiceAccountKeys: Readonly<Record<string, string>>;
  readonly azureTokenKeys: readonly string[];
  readonly namespaces: Map<string, Namespace>;
  readonly tokens: Map<string, Token>;
  readonly clusterId: string;
  /** Added to the wall clock (`advanceTime`). */
  clockOffset: number;
  now(): number;
}

export const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomString(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += BASE62[byte % 62];
  return out;
}

/** Vault's default and maximum lease TTL (768h), in seconds. */
export const SYSTEM_MAX_TTL = 768 * 3600;
/** KV v1 reads carry a `lease_duration` hint of 768h. */
export const KV1_TTL_HINT = 2_764_800;
export const DEFAULT_MAX_VERSIONS = 10;

/** Parses a Vault duration (`30`, `"30"`, `"30s"`, `"1h30m"`, `"768h"`) into seconds. */
export function parseDuration(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+$/.test(text)) return Number(text);
    const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
    let total = 0;
    let matched = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      total += Number(m[1]) * (units[m[2] as string] ?? 0);
      matched = re.lastIndex;
    }
    if (matched === text.length && matched > 0) return Math.floor(total);
  }
  throw new FakeHttpError(400, `error converting input for field "${name}": invalid duration`);
}

/** A list parameter: an array of strings or a comma-separated string (Vault accepts both). */
export function parseList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter((v) => v !== '');
  return String(value)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function parseBool(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  return ['true', '1', 't'].includes(String(value).toLowerCase());
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

export function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

export interface KvVersion {
  data: Record<string, unknown>;
  created: number;
  deletionTime: number | undefined;
  destroyed: boolean;
}

export interface KvV2Entry {
  versions: Map<number, KvVersion>;
  current: number;
  oldest: number;
  created: number;
  updated: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
}

export interface Mount {
  path: string;
  type: 'kv' | 'cubbyhole' | 'system' | 'identity';
  version: 1 | 2;
  accessor: string;
  uuid: string;
  description: string;
  v1: Map<string, Record<string, unknown>>;
  v2: Map<string, KvV2Entry>;
  config: { maxVersions: number; casRequired: boolean };
}

/** The token parameters every auth method's roles and users share. */
export interface TokenParams {
  policies: string[];
  ttl: number | undefined;
  maxTtl: number | undefined;
  period: number | undefined;
  explicitMaxTtl: number | undefined;
  numUses: number;
  noDefaultPolicy: boolean;
  type: 'service' | 'batch';
}

export interface AuthEntry {
  name: string;
  params: TokenParams;
  raw: Record<string, unknown>;
}

export interface AppRole extends AuthEntry {
  roleId: string;
  bindSecretId: boolean;
  secretIdTtl: number;
  secretIdNumUses: number;
  secretIds: Map<string, { accessor: string; expires: number | undefined; usesLeft: number }>;
}

export interface AuthMount {
  path: string;
  type: string;
  accessor: string;
  uuid: string;
  description: string;
  config: Record<string, unknown>;
  roles: Map<string, AuthEntry | AppRole>;
  users: Map<string, AuthEntry & { password?: string; groups: string[] }>;
  groups: Map<string, AuthEntry>;
}

export interface Namespace {
  name: string;
  mounts: Map<string, Mount>;
  auths: Map<string, AuthMount>;
  policies: Map<string, { text: string; rules: PolicyRule[] }>;
}

export interface Token {
  id: string;
  accessor: string;
  namespace: string;
  policies: string[];
  path: string;
  displayName: string;
  meta: Record<string, string> | null;
  created: number;
  issued: number;
  creationTtl: number;
  expires: number | undefined;
  maxExpires: number | undefined;
  period: number | undefined;
  renewable: boolean;
  numUses: number;
  orphan: boolean;
  type: 'service' | 'batch';
  root: boolean;
}

export interface Ctx {
  state: VaultState;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  ns: Namespace;
  token: Token | undefined;
  body: Record<string, unknown>;
}

/** Thrown by handlers to answer a Vault-shaped success or an empty 204. */
export function envelope(
  data: unknown,
  extra: Record<string, unknown> = {},
): Record<string, unknown> & { request_id: string } {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
    mount_type: '',
    ...extra,
  };
}

export const PERMISSION_DENIED = '1 error occurred:\n\t* permission denied\n\n';
export const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';

export function denied(): FakeHttpError {
  return new FakeHttpError(403, PERMISSION_DENIED);
}

export function newMount(
  path: string,
  type: Mount['type'],
  version: 1 | 2,
  description = '',
): Mount {
  return {
    path,
    type,
    version,
    accessor: `${type === 'system' ? 'system' : type}_${randomString(8).toLowerCase()}`,
    uuid: randomUUID(),
    description,
    v1: new Map(),
    v2: new Map(),
    config: { maxVersions: 0, casRequired: false },
  };
}

export function newAuthMount(path: string, type: string, description = ''): AuthMount {
  return {
    path,
    type,
    accessor: `auth_${type}_${randomString(8).toLowerCase()}`,
    uuid: randomUUID(),
    description,
    config: {},
    roles: new Map(),
    users: new Map(),
    groups: new Map(),
  };
}

export function createNamespace(s: VaultState, name: string): Namespace {
  const ns: Namespace = { name, mounts: new Map(), auths: new Map(), policies: new Map() };
  ns.mounts.set(
    'cubbyhole/',
    newMount('cubbyhole/', 'cubbyhole', 1, 'per-token private secret storage'),
  );
  ns.mounts.set('identity/', newMount('identity/', 'identity', 1, 'identity store'));
  ns.mounts.set('sys/', newMount('sys/', 'system', 1, 'system endpoints'));
  ns.auths.set('token/', newAuthMount('token/', 'token', 'token based credentials'));
  ns.policies.set('default', { text: DEFAULT_POLICY.trim(), rules: parsePolicy(DEFAULT_POLICY) });
  s.namespaces.set(name, ns);
  return ns;
}

// ----- namespaces, mounts, KV storage -------------------------------------------------------

export function namespaceFor(s: VaultState, name: string | undefined): Namespace {
  const clean = trimSlashes(name ?? '');
  const ns = s.namespaces.get(clean);
  if (!ns) throw denied();
  return ns;
}

/** The mount that holds `path` (longest prefix), and the path inside it. */
export function findMount(ns: Namespace, path: string): { mount: Mount; rest: string } | undefined {
  let best: Mount | undefined;
  for (const mount of ns.mounts.values()) {
    if (
      (`${path}/`.startsWith(mount.path) || path === mount.path) &&
      mount.path.length > (best?.path.length ?? 0)
    ) {
      best = mount;
    }
  }
  if (!best) return undefined;
  return { mount: best, rest: trimSlashes(path.slice(best.path.length)) };
}

export function findAuthMount(
  ns: Namespace,
  path: string,
): { auth: AuthMount; rest: string } | undefined {
  let best: AuthMount | undefined;
  for (const auth of ns.auths.values()) {
    if (`${path}/`.startsWith(auth.path) && auth.path.length > (best?.path.length ?? 0))
      best = auth;
  }
  if (!best) return undefined;
  return { auth: best, rest: trimSlashes(path.slice(best.path.length)) };
}
export function unsupported(): FakeHttpError {
  return new FakeHttpError(405, '1 error occurred:\n\t* unsupported operation\n\n');
}

export function noRoute(path: string): FakeHttpError {
  return new FakeHttpError(404, `no handler for route "${path}". route entry not found.`);
}

export function mountInfo(mount: Mount | AuthMount): Record<string, unknown> {
  const kv = 'version' in mount && mount.type === 'kv';
  return {
    accessor: mount.accessor,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
    description: mount.description,
    external_entropy_access: false,
    local: false,
    options: kv ? { version: String(mount.version) } : null,
    plugin_version: '',
    running_plugin_version: '',
    running_sha256: '',
    seal_wrap: false,
    type: mount.type,
    uuid: mount.uuid,
  };
}

/**
 * A fresh double's state: the root namespace with Vault dev server's mounts (KV v2 at
 * `secret/`) and the root token.
 */
export function createVaultState(options: {
  rootToken: string;
  awsCredentials?: Readonly<Record<string, string>> | undefined;
  gcpServiceAccountKeys?: Readonly<Record<string, string>> | undefined;
  azureTokenKeys?: readonly string[] | undefined;
}): VaultState {
  const s: VaultState = {
    rootToken: options.rootToken,
    awsCredentials: options.awsCredentials ?? {},
    gcpServiceAccountKeys: options.gcpServiceAccountKeys ?? {},
    azureTokenKeys: options.azureTokenKeys ?? [],
    namespaces: new Map(),
    tokens: new Map(),
    clusterId: randomUUID(),
    clockOffset: 0,
    now: () => Date.now() + s.clockOffset,
  };
  const rootNs = createNamespace(s, '');
  rootNs.mounts.set('secret/', newMount('secret/', 'kv', 2, 'key/value secret storage'));
  const now0 = s.now();
  s.tokens.set(options.rootToken, {
    id: options.rootToken,
    accessor: randomString(24),
    namespace: '',
    policies: ['root'],
    path: 'auth/token/root',
    displayName: 'root',
    meta: null,
    created: now0,
    issued: now0,
    creationTtl: 0,
    expires: undefined,
    maxExpires: undefined,
    period: undefined,
    renewable: false,
    numUses: 0,
    orphan: true,
    type: 'service',
    root: true,
  });
  return s;
}
