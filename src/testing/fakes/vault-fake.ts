/**
 * @module testing/fakes/vault-fake
 * A **test double** of HashiCorp Vault's HTTP API, in memory, on loopback. It follows Vault's
 * documented API where airlock's backend, the Vault CLI and `hvac` touch it: KV v1 and v2 mounts,
 * ACL policies (HCL or JSON, `*` and `+` globs, `deny`, Vault's priority rules), tokens with TTL,
 * renewal and revocation, the AppRole and userpass auth methods, the aws auth method's IAM login
 * (the signed `sts:GetCallerIdentity` replayed to a configured STS, such as moto), the gcp auth
 * method's iam login (an RS256 JWT checked against given service-account keys), the azure auth
 * method's login (an Entra ID access token checked against given keys), LDAP /
 * Kubernetes / JWT stand-ins, namespaces, `LIST`, and fault injection (latency, failing answers,
 * token expiry).
 *
 * It is not Vault and not secure: no seal, no storage, no audit, no real LDAP bind, and JWTs
 * (Kubernetes service-account tokens included) are decoded **without checking the signature**.
 * LDAP and RADIUS users log in with a password set on the fake itself (`auth/<mount>/users/<name>` takes a
 * fake-only `password` field). The root token is valid in every namespace; other tokens only in
 * the namespace that issued them. An unknown `X-Vault-Namespace` answers 403. `sudo` is
 * accepted in policies but never required.
 *
 * @example
 * ```ts
 * const vault = await startVaultFake({ rootToken: 'root' });
 * vault.writeSecret('secret/variables/hello', { value: 'world' });
 * // GET `${vault.url}/v1/secret/data/variables/hello` with `X-Vault-Token: root`
 * await vault.close();
 * ```
 */
import { randomBytes, randomUUID, verify as verifySignature } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { sigV4Signature } from '../../backends/_sigv4.ts';
import {
  FakeHttpError,
  type FaultInjection,
  FaultInjector,
  readJsonBody,
  requestMethod,
  sendJson,
  serveFake,
} from './_serve-fake.ts';
import {
  capabilitiesFor,
  DEFAULT_POLICY,
  type PolicyRule,
  parsePolicy,
  trimSlashesStart,
} from './_vault-acl.ts';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/** What a seed (the `--seed` file of `airlock fake vault`) may hold, for one namespace. */
export interface VaultFakeNamespaceSeed {
  /** Extra KV mounts: path → KV version (`1` or `2`). */
  mounts?: Record<string, 1 | 2>;
  /** ACL policies: name → HCL (or JSON) text. */
  policies?: Record<string, string>;
  /** Secrets by logical path (`<mount>/<path>`, as `vault kv put` takes it) → key/value data. */
  kv?: Record<string, Record<string, unknown>>;
}

/** A seed: the root namespace's content, plus child namespaces (created if missing). */
export interface VaultFakeSeed extends VaultFakeNamespaceSeed {
  namespaces?: Record<string, VaultFakeNamespaceSeed>;
}

/** Options of {@link startVaultFake}. */
export interface VaultFakeOptions {
  /** @default 0 (a free port) */
  port?: number;
  /** The root token, valid everywhere and forever. @default 'root' */
  rootToken?: string;
  /** Initial content. */
  seed?: VaultFakeSeed;
  /** Serve HTTPS with this key and certificate (PEM). See {@link generateFakeTlsCertificate}. */
  tls?: { key: string; cert: string };
  /**
   * AWS access keys (id → secret) whose SigV4 signatures the `aws` auth method checks itself
   * before it replays a login's `sts:GetCallerIdentity` to STS (which an emulator such as moto
   * does not check). A login signed with another key id is only replayed.
   * @default {}
   */
  awsCredentials?: Readonly<Record<string, string>>;
  /**
   * The public keys (PEM) of Google service accounts, by email: what Vault's `gcp` auth method
   * would fetch from Google to check a login JWT's signature. A JWT of a service account not
   * listed is refused.
   * @default {}
   */
  gcpServiceAccountKeys?: Readonly<Record<string, string>>;
  /**
   * Public keys (PEM) whose RS256 signatures the `azure` auth method trusts on Entra ID access
   * tokens: what Vault fetches from the tenant's OpenID configuration (JWKS). The Key Vault
   * double's `signingPublicKey` signs the tokens its sign-in endpoint issues.
   * @default []
   */
  azureTokenKeys?: readonly string[];
}

/** One request the fake answered (never the token or the body). */
export interface VaultFakeRequest {
  method: string;
  /** The path after `/v1/`, without the query. */
  path: string;
  namespace: string;
  status: number;
}

/** A running Vault fake. */
export interface VaultFake extends FaultInjection {
  /** `http://127.0.0.1:<port>` (`https://` with TLS). */
  readonly url: string;
  readonly port: number;
  readonly rootToken: string;
  /** Every request answered so far, oldest first. */
  readonly requests: readonly VaultFakeRequest[];
  /** Writes a secret by logical path (`secret/variables/hello`), as `vault kv put` does. */
  writeSecret(path: string, data: Record<string, unknown>, namespace?: string): void;
  /** Deletes a secret: KV v2 soft-deletes its latest version; KV v1 removes it. */
  deleteSecret(path: string, namespace?: string): void;
  /** Mounts a KV engine (`path` without a trailing slash). */
  enableKv(path: string, version: 1 | 2, namespace?: string): void;
  /** Creates or replaces an ACL policy. */
  writePolicy(name: string, text: string, namespace?: string): void;
  /** Applies a seed (see {@link VaultFakeSeed}). */
  seed(seed: VaultFakeSeed): void;
  /** Makes every token except the root token expire now (their next use answers 403). */
  expireTokens(): void;
  /** Revokes one token. */
  revokeToken(token: string): void;
  /** Moves the fake's clock forward, for TTL tests. */
  advanceTime(ms: number): void;
  /** The fake's clock, in milliseconds since the epoch. */
  now(): number;
  /** Forgets the request log. */
  clearRequests(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Small helpers: ids, durations, parameters
// ---------------------------------------------------------------------------------------------

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomString(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += BASE62[byte % 62];
  return out;
}

/** Vault's default and maximum lease TTL (768h), in seconds. */
const SYSTEM_MAX_TTL = 768 * 3600;
/** KV v1 reads carry a `lease_duration` hint of 768h. */
const KV1_TTL_HINT = 2_764_800;
const DEFAULT_MAX_VERSIONS = 10;

/** Parses a Vault duration (`30`, `"30"`, `"30s"`, `"1h30m"`, `"768h"`) into seconds. */
function parseDuration(value: unknown, name: string): number | undefined {
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
function parseList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter((v) => v !== '');
  return String(value)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function parseBool(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  return ['true', '1', 't'].includes(String(value).toLowerCase());
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

interface KvVersion {
  data: Record<string, unknown>;
  created: number;
  deletionTime: number | undefined;
  destroyed: boolean;
}

interface KvV2Entry {
  versions: Map<number, KvVersion>;
  current: number;
  oldest: number;
  created: number;
  updated: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
}

interface Mount {
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
interface TokenParams {
  policies: string[];
  ttl: number | undefined;
  maxTtl: number | undefined;
  period: number | undefined;
  explicitMaxTtl: number | undefined;
  numUses: number;
  noDefaultPolicy: boolean;
  type: 'service' | 'batch';
}

interface AuthEntry {
  name: string;
  params: TokenParams;
  raw: Record<string, unknown>;
}

interface AppRole extends AuthEntry {
  roleId: string;
  bindSecretId: boolean;
  secretIdTtl: number;
  secretIdNumUses: number;
  secretIds: Map<string, { accessor: string; expires: number | undefined; usesLeft: number }>;
}

interface AuthMount {
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

interface Namespace {
  name: string;
  mounts: Map<string, Mount>;
  auths: Map<string, AuthMount>;
  policies: Map<string, { text: string; rules: PolicyRule[] }>;
}

interface Token {
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

interface Ctx {
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
function envelope(
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

const PERMISSION_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';

function denied(): FakeHttpError {
  return new FakeHttpError(403, PERMISSION_DENIED);
}

const seedSchema = (() => {
  const nsSeed = z.strictObject({
    mounts: z.record(z.string(), z.union([z.literal(1), z.literal(2)])).optional(),
    policies: z.record(z.string(), z.string()).optional(),
    kv: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  });
  return nsSeed.extend({ namespaces: z.record(z.string(), nsSeed).optional() });
})();

/**
 * Checks a seed (such as a parsed `--seed` file) and returns it typed; the error lists every
 * problem by path.
 *
 * @example
 * ```ts
 * const seed = parseVaultFakeSeed(JSON.parse(readFileSync('seed.json', 'utf8')));
 * ```
 */
export function parseVaultFakeSeed(value: unknown): VaultFakeSeed {
  const parsed = seedSchema.safeParse(value);
  if (parsed.success) return parsed.data as VaultFakeSeed;
  const issues = parsed.error.issues.map(
    (i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`,
  );
  throw new Error(`invalid Vault fake seed: ${issues.join('; ')}`);
}

/**
 * A self-signed certificate for `127.0.0.1` and `localhost`, for {@link VaultFakeOptions.tls}.
 * The certificate is its own CA: pass `cert` as the client's CA bundle.
 *
 * @example
 * ```ts
 * const tls = await generateFakeTlsCertificate();
 * const vault = await startVaultFake({ tls });
 * ```
 */
export async function generateFakeTlsCertificate(): Promise<{ key: string; cert: string }> {
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/**
 * Starts the Vault fake on `127.0.0.1`, with KV v2 mounted at `secret/` as Vault's dev server.
 *
 * @example
 * ```ts
 * const vault = await startVaultFake({ seed: { kv: { 'secret/variables/hello': { value: 'world' } } } });
 * ```
 */
export async function startVaultFake(options: VaultFakeOptions = {}): Promise<VaultFake> {
  const rootToken = options.rootToken ?? 'root';
  const awsCredentials = options.awsCredentials ?? {};
  const gcpServiceAccountKeys = options.gcpServiceAccountKeys ?? {};
  const azureTokenKeys = options.azureTokenKeys ?? [];
  const faults = new FaultInjector();
  const requests: VaultFakeRequest[] = [];
  const namespaces = new Map<string, Namespace>();
  const tokens = new Map<string, Token>();
  let clockOffset = 0;
  const now = () => Date.now() + clockOffset;
  const clusterId = randomUUID();

  function newMount(path: string, type: Mount['type'], version: 1 | 2, description = ''): Mount {
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

  function newAuthMount(path: string, type: string, description = ''): AuthMount {
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

  function createNamespace(name: string): Namespace {
    const ns: Namespace = { name, mounts: new Map(), auths: new Map(), policies: new Map() };
    ns.mounts.set(
      'cubbyhole/',
      newMount('cubbyhole/', 'cubbyhole', 1, 'per-token private secret storage'),
    );
    ns.mounts.set('identity/', newMount('identity/', 'identity', 1, 'identity store'));
    ns.mounts.set('sys/', newMount('sys/', 'system', 1, 'system endpoints'));
    ns.auths.set('token/', newAuthMount('token/', 'token', 'token based credentials'));
    ns.policies.set('default', { text: DEFAULT_POLICY.trim(), rules: parsePolicy(DEFAULT_POLICY) });
    namespaces.set(name, ns);
    return ns;
  }

  const rootNs = createNamespace('');
  rootNs.mounts.set('secret/', newMount('secret/', 'kv', 2, 'key/value secret storage'));
  const now0 = now();
  tokens.set(rootToken, {
    id: rootToken,
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

  // ----- namespaces, mounts, KV storage -------------------------------------------------------

  function namespaceFor(name: string | undefined): Namespace {
    const clean = trimSlashes(name ?? '');
    const ns = namespaces.get(clean);
    if (!ns) throw denied();
    return ns;
  }

  /** The mount that holds `path` (longest prefix), and the path inside it. */
  function findMount(ns: Namespace, path: string): { mount: Mount; rest: string } | undefined {
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

  function findAuthMount(
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

  function enableKv(ns: Namespace, path: string, version: 1 | 2, description = ''): void {
    const key = `${trimSlashes(path)}/`;
    if (key === '/') throw new FakeHttpError(400, 'mount path cannot be empty');
    for (const existing of ns.mounts.keys()) {
      if (existing.startsWith(key) || key.startsWith(existing)) {
        throw new FakeHttpError(400, `path is already in use at ${existing}`);
      }
    }
    ns.mounts.set(key, newMount(key, 'kv', version, description));
  }

  function maxVersionsOf(mount: Mount, entry: KvV2Entry): number {
    return entry.maxVersions || mount.config.maxVersions || DEFAULT_MAX_VERSIONS;
  }

  function kvWriteV2(
    mount: Mount,
    path: string,
    data: Record<string, unknown>,
    cas?: number,
  ): KvVersion & { version: number } {
    let entry = mount.v2.get(path);
    const casRequired = mount.config.casRequired || (entry?.casRequired ?? false);
    if (casRequired && cas === undefined) {
      throw new FakeHttpError(400, 'check-and-set parameter required for this call');
    }
    if (cas !== undefined && cas !== (entry?.current ?? 0)) {
      throw new FakeHttpError(400, 'check-and-set parameter did not match the current version');
    }
    const t = now();
    if (!entry) {
      entry = {
        versions: new Map(),
        current: 0,
        oldest: 1,
        created: t,
        updated: t,
        maxVersions: 0,
        casRequired: false,
        customMetadata: null,
      };
      mount.v2.set(path, entry);
    }
    entry.current += 1;
    entry.updated = t;
    const version: KvVersion = {
      data: { ...data },
      created: t,
      deletionTime: undefined,
      destroyed: false,
    };
    entry.versions.set(entry.current, version);
    const max = maxVersionsOf(mount, entry);
    for (const v of [...entry.versions.keys()].sort((a, b) => a - b)) {
      if (entry.versions.size <= max) break;
      entry.versions.delete(v);
    }
    entry.oldest = Math.min(...entry.versions.keys());
    return { ...version, version: entry.current };
  }

  function versionMetadata(entry: KvV2Entry, n: number, v: KvVersion): Record<string, unknown> {
    return {
      created_time: isoTime(v.created),
      custom_metadata: entry.customMetadata,
      deletion_time: v.deletionTime === undefined ? '' : isoTime(v.deletionTime),
      destroyed: v.destroyed,
      version: n,
    };
  }

  function writeSecretAt(ns: Namespace, logicalPath: string, data: Record<string, unknown>): void {
    const found = findMount(ns, trimSlashes(logicalPath));
    if (found?.mount.type !== 'kv' || found.rest === '') {
      throw new Error(`no KV mount holds \`${logicalPath}\``);
    }
    if (found.mount.version === 1) found.mount.v1.set(found.rest, { ...data });
    else kvWriteV2(found.mount, found.rest, data);
  }

  function listKeys(paths: Iterable<string>, prefix: string): string[] {
    const base = prefix === '' ? '' : `${trimSlashes(prefix)}/`;
    const keys = new Set<string>();
    for (const path of paths) {
      if (!path.startsWith(base)) continue;
      const rest = path.slice(base.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return [...keys].filter((k) => k !== '').sort();
  }

  function writePolicy(ns: Namespace, rawName: string, text: string): void {
    const name = rawName.toLowerCase();
    if (name === 'root') throw new FakeHttpError(400, 'cannot update "root" policy');
    if (name === '') throw new FakeHttpError(400, 'policy name must be provided');
    ns.policies.set(name, { text, rules: parsePolicy(text) });
  }

  function applySeed(ns: Namespace, seed: VaultFakeNamespaceSeed): void {
    for (const [path, version] of Object.entries(seed.mounts ?? {})) enableKv(ns, path, version);
    for (const [name, text] of Object.entries(seed.policies ?? {})) writePolicy(ns, name, text);
    for (const [path, data] of Object.entries(seed.kv ?? {})) writeSecretAt(ns, path, data);
  }

  // ----- tokens ----------------------------------------------------------------------------

  function tokenIsLive(token: Token): boolean {
    return token.root || token.expires === undefined || now() < token.expires;
  }

  function issueToken(
    ns: Namespace,
    params: TokenParams,
    path: string,
    meta: Record<string, string> | null,
    displayName: string,
    orphan: boolean,
  ): Token {
    const t = now();
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
    tokens.set(token.id, token);
    return token;
  }

  function authBlock(token: Token): Record<string, unknown> {
    const remaining =
      token.expires === undefined ? 0 : Math.max(0, Math.round((token.expires - now()) / 1000));
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

  function lookupData(token: Token): Record<string, unknown> {
    const ttl =
      token.expires === undefined ? 0 : Math.max(0, Math.round((token.expires - now()) / 1000));
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

  function renewToken(token: Token, increment: number | undefined): Record<string, unknown> {
    if (!token.renewable || token.expires === undefined) {
      throw new FakeHttpError(400, 'lease is not renewable');
    }
    const t = now();
    const wanted = token.period ?? increment ?? token.creationTtl;
    let expires = t + wanted * 1000;
    const warnings: string[] = [];
    if (token.maxExpires !== undefined && expires > token.maxExpires) {
      expires = token.maxExpires;
      warnings.push('TTL of the token was capped by its max TTL');
    }
    token.expires = expires;
    token.issued = t;
    return envelope(null, { auth: authBlock(token), warnings: warnings.length ? warnings : null });
  }

  function parseTokenParams(body: Record<string, unknown>, existing?: TokenParams): TokenParams {
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

  function tokenParamsData(params: TokenParams): Record<string, unknown> {
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
  function rulesOf(token: Token, ns: Namespace): PolicyRule[] | undefined {
    if (token.root) return undefined;
    return token.policies.flatMap((name) => ns.policies.get(name)?.rules ?? []);
  }

  function can(ctx: Ctx, path: string, capability: string): boolean {
    if (!ctx.token) return false;
    const rules = rulesOf(ctx.token, ctx.ns);
    if (rules === undefined) return true;
    const caps = capabilitiesFor(rules, path);
    return !caps.has('deny') && caps.has(capability);
  }

  function capabilityList(ctx: Ctx, path: string): string[] {
    if (!ctx.token) return ['deny'];
    const rules = rulesOf(ctx.token, ctx.ns);
    if (rules === undefined) return ['root'];
    const caps = [...capabilitiesFor(rules, path)].sort();
    return caps.length === 0 ? ['deny'] : caps;
  }

  // ----- routing ---------------------------------------------------------------------------

  /** The capability an HTTP operation needs (`create` vs `update` by existence, as Vault). */
  function operation(method: string, exists: boolean): string {
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

  function authorize(ctx: Ctx, path: string, exists = true): void {
    // Vault's list requests are for "folders": their ACL path ends with a slash.
    const aclPath = ctx.method === 'LIST' && !path.endsWith('/') ? `${path}/` : path;
    if (!can(ctx, aclPath, operation(ctx.method, exists))) throw denied();
  }

  function unsupported(): FakeHttpError {
    return new FakeHttpError(405, '1 error occurred:\n\t* unsupported operation\n\n');
  }

  function noRoute(path: string): FakeHttpError {
    return new FakeHttpError(404, `no handler for route "${path}". route entry not found.`);
  }

  function mountInfo(mount: Mount | AuthMount): Record<string, unknown> {
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

  async function route(ctx: Ctx): Promise<Record<string, unknown> | undefined> {
    const { path, method } = ctx;
    if (path === 'sys/health' || path === 'sys/seal-status') return health(ctx);

    // Logins (and other unauthenticated auth paths) need no token.
    if (path.startsWith('auth/') && !path.startsWith('auth/token/')) {
      const found = findAuthMount(ctx.ns, path.slice('auth/'.length));
      if (found && (found.rest === 'login' || found.rest.startsWith('login/'))) {
        if (method !== 'POST' && method !== 'PUT') throw unsupported();
        return login(ctx, found.auth, found.rest);
      }
    }

    const raw = ctx.req.headers['x-vault-token'];
    const id = typeof raw === 'string' ? raw : undefined;
    const token = id === undefined ? undefined : tokens.get(id);
    if (!token) throw new FakeHttpError(403, id === undefined ? PERMISSION_DENIED : INVALID_TOKEN);
    if (!tokenIsLive(token)) {
      tokens.delete(token.id);
      throw new FakeHttpError(403, INVALID_TOKEN);
    }
    if (!token.root && token.namespace !== ctx.ns.name) throw new FakeHttpError(403, INVALID_TOKEN);
    if (token.numUses > 0) {
      token.numUses -= 1;
      if (token.numUses === 0) tokens.delete(token.id);
    }
    ctx.token = token;

    if (path.startsWith('sys/')) return sys(ctx, path.slice(4));
    if (path.startsWith('auth/token/')) return tokenApi(ctx, path.slice('auth/token/'.length));
    if (path.startsWith('auth/')) {
      const found = findAuthMount(ctx.ns, path.slice('auth/'.length));
      authorize(ctx, path);
      if (!found) throw noRoute(path);
      return authApi(ctx, found.auth, found.rest);
    }
    const found = findMount(ctx.ns, path);
    if (found?.mount.type !== 'kv') {
      authorize(ctx, path);
      throw noRoute(path);
    }
    return found.mount.version === 1
      ? kv1(ctx, found.mount, found.rest)
      : kv2(ctx, found.mount, found.rest);
  }

  function health(ctx: Ctx): Record<string, unknown> {
    if (ctx.path === 'sys/seal-status') {
      return {
        type: 'shamir',
        initialized: true,
        sealed: false,
        t: 1,
        n: 1,
        progress: 0,
        nonce: '',
        version: VERSION,
        build_date: '2024-01-01T00:00:00Z',
        migration: false,
        cluster_name: 'vault-cluster-airlock-fake',
        cluster_id: clusterId,
        recovery_seal: false,
        storage_type: 'inmem',
      };
    }
    return {
      initialized: true,
      sealed: false,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(now() / 1000),
      version: VERSION,
      enterprise: false,
      cluster_name: 'vault-cluster-airlock-fake',
      cluster_id: clusterId,
      echo_duration_ms: 0,
      clock_skew_ms: 0,
    };
  }

  // ----- sys/ ------------------------------------------------------------------------------

  function sys(ctx: Ctx, rest: string): Record<string, unknown> | undefined {
    const { method, ns, body } = ctx;
    const full = `sys/${rest}`;

    if (rest.startsWith('internal/ui/mounts')) {
      const target = trimSlashes(rest.slice('internal/ui/mounts'.length));
      if (target === '') {
        const secret = Object.fromEntries([...ns.mounts].map(([p, m]) => [p, mountInfo(m)]));
        const auth = Object.fromEntries([...ns.auths].map(([p, a]) => [p, mountInfo(a)]));
        return envelope({ secret, auth });
      }
      const found = findMount(ns, target);
      const rules = ctx.token ? rulesOf(ctx.token, ns) : [];
      const visible =
        found !== undefined &&
        (rules === undefined ||
          rules.some(
            (r) =>
              !r.capabilities.has('deny') &&
              r.capabilities.size > 0 &&
              (r.pattern.startsWith(found.mount.path) ||
                found.mount.path.startsWith(r.pattern.replace(/\*$/, ''))),
          ));
      if (!found || !visible) {
        throw new FakeHttpError(
          403,
          'preflight capability check returned 403, please ensure client\'s policies grant access to path "' +
            `${target}/"`,
        );
      }
      return envelope({ ...mountInfo(found.mount), path: found.mount.path });
    }

    if (rest === 'capabilities-self') {
      authorize(ctx, full, true);
      const paths = parseList(body.paths ?? body.path);
      const result: Record<string, string[]> = {};
      for (const p of paths) result[p] = capabilityList(ctx, trimSlashesStart(p));
      const first = paths[0];
      const caps = first === undefined ? [] : (result[first] ?? []);
      return envelope({ ...result, capabilities: caps }, { ...result, capabilities: caps });
    }

    if (rest === 'mounts' || rest === 'auth') {
      if (method !== 'GET') throw unsupported();
      authorize(ctx, full);
      const table = rest === 'mounts' ? ns.mounts : ns.auths;
      const data = Object.fromEntries([...table].map(([p, m]) => [p, mountInfo(m)]));
      return envelope(data, data);
    }

    const mountMatch = /^(mounts|auth)\/(.+)$/.exec(rest);
    if (mountMatch) {
      const [, kind, rawPath] = mountMatch as unknown as [string, string, string];
      if (rawPath.endsWith('/tune')) {
        authorize(ctx, full);
        const target = `${trimSlashes(rawPath.slice(0, -'/tune'.length))}/`;
        const mount = ns.mounts.get(target);
        if (
          kind === 'mounts' &&
          mount &&
          isRecord(body.options) &&
          body.options.version !== undefined
        ) {
          const version = Number(body.options.version);
          if (mount.type === 'kv' && version === 2 && mount.version === 1) {
            for (const [p, data] of mount.v1) kvWriteV2(mount, p, data);
            mount.v1.clear();
            mount.version = 2;
          }
        }
        if (method === 'GET') {
          return envelope({ default_lease_ttl: SYSTEM_MAX_TTL, max_lease_ttl: SYSTEM_MAX_TTL });
        }
        return undefined;
      }
      const key = `${trimSlashes(rawPath)}/`;
      authorize(ctx, full);
      if (method === 'DELETE') {
        if (kind === 'mounts') ns.mounts.delete(key);
        else if (key !== 'token/') ns.auths.delete(key);
        return undefined;
      }
      if (method === 'GET') {
        const m = kind === 'mounts' ? ns.mounts.get(key) : ns.auths.get(key);
        if (!m) throw new FakeHttpError(400, `No secret engine mount at ${key}`);
        return envelope(mountInfo(m));
      }
      if (method !== 'POST' && method !== 'PUT') throw unsupported();
      const type = String(body.type ?? '');
      const description = typeof body.description === 'string' ? body.description : '';
      if (kind === 'mounts') {
        if (type !== 'kv' && type !== 'kv-v2' && type !== 'generic') {
          throw new FakeHttpError(400, `plugin not found in the catalog: ${type}`);
        }
        const options = isRecord(body.options) ? body.options : {};
        const version = type === 'kv-v2' || String(options.version ?? '1') === '2' ? 2 : 1;
        enableKv(ns, key, version, description);
        return undefined;
      }
      if (
        ![
          'approle',
          'userpass',
          'ldap',
          'radius',
          'kubernetes',
          'jwt',
          'oidc',
          'aws',
          'gcp',
          'azure',
        ].includes(type)
      ) {
        throw new FakeHttpError(400, `plugin not found in the catalog: ${type}`);
      }
      if (ns.auths.has(key)) throw new FakeHttpError(400, `path is already in use at ${key}`);
      ns.auths.set(key, newAuthMount(key, type, description));
      return undefined;
    }

    const policyMatch = /^(policy|policies\/acl)(?:\/(.+))?$/.exec(rest);
    if (policyMatch) {
      authorize(
        ctx,
        full,
        ctx.method === 'GET' || ns.policies.has(String(policyMatch[2] ?? '').toLowerCase()),
      );
      const legacy = policyMatch[1] === 'policy';
      const name = policyMatch[2]?.toLowerCase();
      const names = ['root', ...[...ns.policies.keys()].filter((n) => n !== 'root')].sort();
      if (name === undefined) {
        if (method !== 'GET' && method !== 'LIST') throw unsupported();
        const keys = legacy ? names : names.filter((n) => n !== 'root');
        return legacy
          ? envelope({ keys, policies: keys }, { keys, policies: keys })
          : envelope({ keys });
      }
      if (method === 'GET') {
        if (name === 'root')
          return legacy
            ? envelope({ name, rules: '' }, { name, rules: '' })
            : envelope({ name, policy: '' });
        const p = ns.policies.get(name);
        if (!p) throw new FakeHttpError(404, '');
        return legacy
          ? envelope({ name, rules: p.text }, { name, rules: p.text })
          : envelope({ name, policy: p.text });
      }
      if (method === 'DELETE') {
        if (name === 'default' || name === 'root') {
          throw new FakeHttpError(400, `cannot delete "${name}" policy`);
        }
        ns.policies.delete(name);
        return undefined;
      }
      if (method !== 'POST' && method !== 'PUT') throw unsupported();
      const text = body.policy ?? body.rules;
      if (typeof text !== 'string')
        throw new FakeHttpError(400, "'policy' parameter not supplied or empty");
      writePolicy(ns, name, text);
      return undefined;
    }

    const nsMatch = /^namespaces(?:\/(.+))?$/.exec(rest);
    if (nsMatch) {
      authorize(ctx, full, ctx.method === 'GET');
      const prefix = ns.name === '' ? '' : `${ns.name}/`;
      const children = [...namespaces.keys()]
        .filter((n) => n !== '' && n.startsWith(prefix) && !n.slice(prefix.length).includes('/'))
        .map((n) => `${n.slice(prefix.length)}/`);
      if (nsMatch[1] === undefined) {
        if (method !== 'LIST' && method !== 'GET') throw unsupported();
        if (children.length === 0) throw new FakeHttpError(404, '');
        return envelope({ keys: children.sort() });
      }
      const child = `${prefix}${trimSlashes(nsMatch[1])}`;
      const info = (n: Namespace) => ({
        id: n.name.replaceAll('/', '_'),
        path: `${n.name}/`,
        custom_metadata: {},
      });
      if (method === 'GET') {
        const found = namespaces.get(child);
        if (!found) throw new FakeHttpError(404, '');
        return envelope(info(found));
      }
      if (method === 'DELETE') {
        namespaces.delete(child);
        return undefined;
      }
      if (method !== 'POST' && method !== 'PUT') throw unsupported();
      return envelope(info(namespaces.get(child) ?? createNamespace(child)));
    }

    authorize(ctx, full);
    throw noRoute(full);
  }

  // ----- auth/token/ ------------------------------------------------------------------------

  function tokenApi(ctx: Ctx, rest: string): Record<string, unknown> | undefined {
    const token = ctx.token as Token;
    const full = `auth/token/${rest}`;
    const { body, method } = ctx;
    switch (rest) {
      case 'lookup-self':
        if (method !== 'GET' && method !== 'POST' && method !== 'PUT') throw unsupported();
        if (!can(ctx, full, 'read')) throw denied();
        return envelope(lookupData(token));
      case 'renew-self':
        authorize(ctx, full);
        return renewToken(token, parseDuration(body.increment, 'increment'));
      case 'revoke-self':
        authorize(ctx, full);
        tokens.delete(token.id);
        return undefined;
      case 'lookup':
      case 'renew':
      case 'revoke': {
        authorize(ctx, full);
        const target = tokens.get(String(body.token ?? ''));
        if (!target || !tokenIsLive(target)) throw new FakeHttpError(400, 'bad token');
        if (rest === 'lookup') return envelope(lookupData(target));
        if (rest === 'renew') return renewToken(target, parseDuration(body.increment, 'increment'));
        tokens.delete(target.id);
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
          tokens.delete(created.id);
          created.id = body.id;
          tokens.set(created.id, created);
        }
        if (body.renewable === false || body.renewable === 'false') created.renewable = false;
        return envelope(null, { auth: authBlock(created) });
      }
      default:
        authorize(ctx, full);
        throw noRoute(full);
    }
  }

  // ----- auth/<mount>/ (configuration) ------------------------------------------------------

  function authApi(ctx: Ctx, auth: AuthMount, rest: string): Record<string, unknown> | undefined {
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
    const table = (
      kind === 'role' ? auth.roles : kind === 'users' ? auth.users : auth.groups
    ) as Map<string, AuthEntry>;
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
        secretIdTtl:
          parseDuration(body.secret_id_ttl, 'secret_id_ttl') ?? previous?.secretIdTtl ?? 0,
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

  function appRoleSub(ctx: Ctx, role: AppRole, sub: string): Record<string, unknown> | undefined {
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
        expires: ttl > 0 ? now() + ttl * 1000 : undefined,
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

  // ----- logins ------------------------------------------------------------------------------

  function decodeJwt(jwt: unknown): Record<string, unknown> {
    const parts = typeof jwt === 'string' ? jwt.split('.') : [];
    if (parts.length !== 3)
      throw new FakeHttpError(400, 'error validating token: invalid JWT format');
    try {
      const claims: unknown = JSON.parse(
        Buffer.from(parts[1] as string, 'base64url').toString('utf8'),
      );
      if (isRecord(claims)) return claims;
    } catch {
      // fall through
    }
    throw new FakeHttpError(400, 'error validating token: malformed claims');
  }

  /**
   * Vault's `gcp` auth method, `iam` roles: the login JWT is signed by the service account (with
   * IAM's `signJwt` or its own key), names it in `sub`, has `aud` `vault/<role>` and expires
   * within `max_jwt_exp` (15 minutes). Vault checks the signature with the account's public keys
   * from Google; the fake with those it was given. Returns the account's email.
   */
  function gcpIamCaller(jwt: unknown, roleName: string, raw: Record<string, unknown>): string {
    const parts = typeof jwt === 'string' ? jwt.split('.') : [];
    if (parts.length !== 3) throw new FakeHttpError(400, 'unable to parse signed JWT');
    const [head, payload, signature] = parts as [string, string, string];
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
    } catch {
      throw new FakeHttpError(400, 'unable to parse signed JWT');
    }
    if (!isRecord(header) || header.alg !== 'RS256') {
      throw new FakeHttpError(400, 'unable to parse signed JWT: expected an RS256 signature');
    }
    const claims = decodeJwt(jwt);
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    const publicKey = gcpServiceAccountKeys[sub];
    if (publicKey === undefined) {
      throw new FakeHttpError(400, `service account ${sub || '<no sub>'} not found`);
    }
    const valid = verifySignature(
      'RSA-SHA256',
      Buffer.from(`${head}.${payload}`),
      publicKey,
      Buffer.from(signature, 'base64url'),
    );
    if (!valid)
      throw new FakeHttpError(400, 'unable to verify signed JWT: crypto/rsa: verification error');
    if (claims.aud !== `vault/${roleName}`) {
      throw new FakeHttpError(400, `invalid audience (aud) claim: expected vault/${roleName}`);
    }
    const t = now() / 1000;
    if (typeof claims.exp !== 'number') throw new FakeHttpError(400, 'JWT has no exp claim');
    if (claims.exp < t) throw new FakeHttpError(400, 'JWT is expired');
    const maxExp = parseDuration(raw.max_jwt_exp, 'max_jwt_exp') ?? 900;
    if (claims.exp > t + maxExp + 60) {
      throw new FakeHttpError(400, 'JWT expires too far in the future (more than max_jwt_exp)');
    }
    const bound = parseList(raw.bound_service_accounts);
    if (!bound.includes('*') && !bound.includes(sub)) {
      throw new FakeHttpError(
        403,
        `service account ${sub} is not authorized for role "${roleName}"`,
      );
    }
    return sub;
  }

  /**
   * Vault's `azure` auth method: the login `jwt` is an Entra ID access token (a managed
   * identity's or a service principal's) for the configured `resource`, from the configured
   * tenant, signed by a key of the tenant's JWKS (here: one given in `azureTokenKeys`).
   */
  function azureTokenClaims(auth: AuthMount, jwt: unknown): Record<string, unknown> {
    const parts = typeof jwt === 'string' ? jwt.split('.') : [];
    if (parts.length !== 3)
      throw new FakeHttpError(400, 'unable to parse the token: malformed JWT');
    const [head, payload, signature] = parts as [string, string, string];
    const signed = Buffer.from(`${head}.${payload}`);
    const sig = Buffer.from(signature, 'base64url');
    if (!azureTokenKeys.some((key) => verifySignature('RSA-SHA256', signed, key, sig))) {
      throw new FakeHttpError(
        400,
        'unable to verify the token: failed to verify id token signature',
      );
    }
    const claims = decodeJwt(jwt);
    checkTimes(claims, 400);
    const strip = (v: unknown) => String(v ?? '').replace(/\/+$/, '');
    const resource = strip(auth.config.resource);
    if (resource === '' || strip(claims.aud) !== resource) {
      throw new FakeHttpError(
        400,
        'unable to verify the token: audience claim does not match the configured resource',
      );
    }
    const tenant = String(auth.config.tenant_id ?? '');
    if (tenant !== '' && claims.tid !== tenant) {
      throw new FakeHttpError(
        400,
        'unable to verify the token: the token was issued by another tenant',
      );
    }
    return claims;
  }

  function checkTimes(claims: Record<string, unknown>, status: number): void {
    const t = now() / 1000;
    if (typeof claims.exp === 'number' && claims.exp < t) {
      throw new FakeHttpError(status, 'error validating claims: token is expired (exp)');
    }
    if (typeof claims.nbf === 'number' && claims.nbf > t) {
      throw new FakeHttpError(status, 'error validating claims: token not valid yet (nbf)');
    }
  }

  /**
   * Vault's `aws` auth, IAM method: the login carries a signed `sts:GetCallerIdentity` request
   * (method, URL, headers and body, base64), which Vault checks for shape and replays to STS
   * (`sts_endpoint` of `auth/aws/config/client`); STS's answer names the caller.
   */
  async function awsIamCaller(
    auth: AuthMount,
    body: Record<string, unknown>,
  ): Promise<{
    arn: string;
    canonicalArn: string;
    account: string;
    userId: string;
    friendlyName: string;
  }> {
    const b64 = (field: string) => {
      const value = body[field];
      if (typeof value !== 'string' || value === '') {
        throw new FakeHttpError(400, `missing ${field}`);
      }
      return Buffer.from(value, 'base64').toString('utf8');
    };
    const method = String(body.iam_http_request_method ?? '');
    if (method !== 'POST') {
      throw new FakeHttpError(
        400,
        "invalid iam_http_request_method; currently only 'POST' is supported",
      );
    }
    const url = b64('iam_request_url');
    const requestBody = b64('iam_request_body');
    let parsedHeaders: unknown;
    try {
      parsedHeaders = JSON.parse(b64('iam_request_headers'));
    } catch {
      throw new FakeHttpError(400, 'error parsing iam_request_headers');
    }
    if (!isRecord(parsedHeaders)) throw new FakeHttpError(400, 'error parsing iam_request_headers');
    // The Vault CLI and hvac send each header as a list of values.
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(parsedHeaders)) {
      headers[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
    }
    const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const form = new URLSearchParams(requestBody);
    if (form.get('Action') !== 'GetCallerIdentity' || !form.get('Version')) {
      throw new FakeHttpError(400, 'error parsing iam_request_body: invalid request body');
    }
    const authorization =
      /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/sts\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        lower.get('authorization') ?? '',
      );
    if (!authorization || !lower.get('x-amz-date')) {
      throw new FakeHttpError(
        400,
        'error validating the request: missing or malformed SigV4 signature',
      );
    }
    const [, accessKeyId, day, region, signedList, signature] = authorization as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const signed = signedList.split(';');
    if (!signed.includes('host') || !signed.includes('x-amz-date')) {
      throw new FakeHttpError(
        400,
        'error validating the request: host and x-amz-date must be signed',
      );
    }
    if (!lower.get('x-amz-date')?.startsWith(day)) {
      throw new FakeHttpError(400, 'error validating the request: credential scope date mismatch');
    }
    const serverId = auth.config.iam_server_id_header_value;
    if (typeof serverId === 'string' && serverId !== '') {
      if (
        lower.get('x-vault-aws-iam-server-id') !== serverId ||
        !signed.includes('x-vault-aws-iam-server-id')
      ) {
        throw new FakeHttpError(
          400,
          'error validating X-Vault-AWS-IAM-Server-ID header: expected header value does not match or is not signed',
        );
      }
    }
    const knownSecret = awsCredentials[accessKeyId];
    if (
      knownSecret !== undefined &&
      sigV4Signature(
        { method, url, headers, body: requestBody },
        signed,
        region,
        'sts',
        knownSecret,
      ) !== signature
    ) {
      throw new FakeHttpError(
        400,
        'error making upstream request: received error code 403 from STS: SignatureDoesNotMatch',
      );
    }
    const endpoint =
      typeof auth.config.sts_endpoint === 'string' && auth.config.sts_endpoint !== ''
        ? auth.config.sts_endpoint
        : url;
    let answer: Response;
    try {
      const forwarded = Object.fromEntries(
        Object.entries(headers).filter(
          ([k]) => !['host', 'content-length'].includes(k.toLowerCase()),
        ),
      );
      answer = await fetch(endpoint, {
        method: 'POST',
        headers: forwarded,
        body: requestBody,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code ?? 'network error';
      throw new FakeHttpError(400, `error making upstream request: ${code}`);
    }
    const xml = await answer.text();
    if (!answer.ok) {
      const code = /<Code>([^<]+)<\/Code>/.exec(xml)?.[1] ?? 'unknown';
      throw new FakeHttpError(
        400,
        `error making upstream request: received error code ${answer.status} from STS: ${code}`,
      );
    }
    const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1] ?? '';
    const arn = field('Arn');
    if (arn === '') throw new FakeHttpError(400, 'error parsing STS response');
    // arn:aws:sts::<account>:assumed-role/<role>/<session> → arn:aws:iam::<account>:role/<role>
    const parts = /^arn:([^:]+):(?:iam|sts)::(\d+):([^/]+)\/(.+)$/.exec(arn);
    let canonicalArn = arn;
    let friendlyName = arn.split('/').at(-1) ?? '';
    if (parts) {
      const [, partition, account, kind, rest] = parts as unknown as [
        string,
        string,
        string,
        string,
        string,
      ];
      const name =
        kind === 'assumed-role' ? (rest.split('/')[0] ?? rest) : (rest.split('/').at(-1) ?? rest);
      const iamKind = kind === 'assumed-role' ? 'role' : kind;
      canonicalArn = `arn:${partition}:iam::${account}:${iamKind}/${name}`;
      friendlyName = name;
    }
    return { arn, canonicalArn, account: field('Account'), userId: field('UserId'), friendlyName };
  }

  function boundMatch(allowed: string[], value: string | undefined): boolean {
    return allowed.includes('*') || (value !== undefined && allowed.includes(value));
  }

  async function login(ctx: Ctx, auth: AuthMount, rest: string): Promise<Record<string, unknown>> {
    const { body } = ctx;
    const issue = (
      entry: AuthEntry,
      meta: Record<string, string>,
      display: string,
      extraPolicies: string[] = [],
    ) => {
      const params = { ...entry.params, policies: [...entry.params.policies, ...extraPolicies] };
      const token = issueToken(ctx.ns, params, `auth/${auth.path}${rest}`, meta, display, true);
      return envelope(null, { auth: authBlock(token) });
    };
    switch (auth.type) {
      case 'approle': {
        if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
        const roleId = String(body.role_id ?? '');
        if (roleId === '') throw new FakeHttpError(400, 'missing role_id');
        const role = [...auth.roles.values()].find((r) => (r as AppRole).roleId === roleId) as
          | AppRole
          | undefined;
        if (!role) throw new FakeHttpError(400, 'invalid role or secret ID');
        if (role.bindSecretId) {
          const secretId = String(body.secret_id ?? '');
          if (secretId === '') throw new FakeHttpError(400, 'missing secret_id');
          const entry = role.secretIds.get(secretId);
          if (!entry || (entry.expires !== undefined && now() >= entry.expires)) {
            throw new FakeHttpError(400, 'invalid role or secret ID');
          }
          if (entry.usesLeft > 0) {
            entry.usesLeft -= 1;
            if (entry.usesLeft === 0) role.secretIds.delete(secretId);
          }
        }
        return issue(role, { role_name: role.name }, `approle`);
      }
      case 'userpass':
      case 'ldap':
      case 'radius': {
        // RADIUS also takes the user name in the body (`POST auth/radius/login`).
        const username = rest.startsWith('login/')
          ? rest.slice('login/'.length).toLowerCase()
          : auth.type === 'radius' && rest === 'login'
            ? String(body.username ?? '').toLowerCase()
            : '';
        const user = auth.users.get(username);
        const password = String(body.password ?? '');
        if (!user || user.password === undefined || user.password !== password || password === '') {
          throw new FakeHttpError(
            400,
            auth.type === 'ldap'
              ? 'ldap operation failed: failed to bind as user'
              : 'invalid username or password',
          );
        }
        const groupPolicies = user.groups.flatMap(
          (g) => auth.groups.get(g.toLowerCase())?.params.policies ?? [],
        );
        return issue(user, { username }, `${auth.type}-${username}`, groupPolicies);
      }
      case 'aws': {
        if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
        const caller = await awsIamCaller(auth, body);
        // Without `role`, Vault takes the IAM principal's friendly name.
        const roleName = String(body.role ?? '') || caller.friendlyName;
        const role = auth.roles.get(roleName.toLowerCase()) ?? auth.roles.get(roleName);
        if (!role) throw new FakeHttpError(400, `entry for role ${roleName} not found`);
        const authType = String(role.raw.auth_type ?? 'iam');
        if (authType !== 'iam') {
          throw new FakeHttpError(400, `auth method iam not allowed for role ${roleName}`);
        }
        const bound = parseList(role.raw.bound_iam_principal_arn);
        const matches = bound.some((want) =>
          want.endsWith('*')
            ? caller.canonicalArn.startsWith(want.slice(0, -1))
            : want === caller.canonicalArn,
        );
        if (!matches) {
          throw new FakeHttpError(
            403,
            `IAM Principal "${caller.arn}" does not belong to the role "${roleName}"`,
          );
        }
        return issue(
          role,
          {
            role: roleName,
            account_id: caller.account,
            auth_type: 'iam',
            canonical_arn: caller.canonicalArn,
            client_arn: caller.arn,
            client_user_id: caller.userId,
          },
          `aws-${caller.canonicalArn}`,
        );
      }
      case 'azure': {
        if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
        const roleName = String(body.role ?? '');
        const role = auth.roles.get(roleName.toLowerCase()) ?? auth.roles.get(roleName);
        if (!role) throw new FakeHttpError(400, `invalid role name "${roleName}"`);
        const claims = azureTokenClaims(auth, body.jwt);
        const objectId = String(claims.oid ?? '');
        const principals = parseList(role.raw.bound_service_principal_ids);
        if (principals.length > 0 && !principals.includes('*') && !principals.includes(objectId)) {
          throw new FakeHttpError(403, 'service principal not authorized');
        }
        const subscriptions = parseList(role.raw.bound_subscription_ids);
        const subscription = String(body.subscription_id ?? '');
        if (subscriptions.length > 0 && !subscriptions.includes(subscription)) {
          throw new FakeHttpError(403, 'subscription not authorized');
        }
        return issue(
          role,
          {
            role: roleName,
            object_id: objectId,
            subscription_id: subscription,
            resource_group_name: String(body.resource_group_name ?? ''),
            vm_name: String(body.vm_name ?? ''),
          },
          `azure-${objectId}`,
        );
      }
      case 'gcp': {
        if (rest !== 'login') throw noRoute(`auth/${auth.path}${rest}`);
        const roleName = String(body.role ?? '');
        const role = auth.roles.get(roleName.toLowerCase()) ?? auth.roles.get(roleName);
        if (!role) throw new FakeHttpError(400, `role "${roleName}" not found`);
        if (String(role.raw.type ?? '') !== 'iam') {
          throw new FakeHttpError(400, `role "${roleName}" is not of type iam`);
        }
        const account = gcpIamCaller(body.jwt, roleName, role.raw);
        return issue(
          role,
          {
            role: roleName,
            service_account_email: account,
            service_account_id: account,
            project_id: account.split('@')[1]?.split('.')[0] ?? '',
          },
          `gcp-${account}`,
        );
      }
      case 'kubernetes': {
        const role = auth.roles.get(String(body.role ?? ''));
        if (!role) throw new FakeHttpError(400, `invalid role name "${String(body.role ?? '')}"`);
        const claims = decodeJwt(body.jwt);
        checkTimes(claims, 403);
        const k8s = isRecord(claims['kubernetes.io']) ? claims['kubernetes.io'] : {};
        const sa = isRecord(k8s.serviceaccount) ? k8s.serviceaccount : {};
        const name =
          (claims['kubernetes.io/serviceaccount/service-account.name'] as string | undefined) ??
          (typeof sa.name === 'string' ? sa.name : undefined);
        const namespace =
          (claims['kubernetes.io/serviceaccount/namespace'] as string | undefined) ??
          (typeof k8s.namespace === 'string' ? k8s.namespace : undefined);
        if (!boundMatch(parseList(role.raw.bound_service_account_names), name)) {
          throw new FakeHttpError(403, 'service account name not authorized');
        }
        if (!boundMatch(parseList(role.raw.bound_service_account_namespaces), namespace)) {
          throw new FakeHttpError(403, 'namespace not authorized');
        }
        return issue(
          role,
          {
            role: role.name,
            service_account_name: name ?? '',
            service_account_namespace: namespace ?? '',
          },
          `kubernetes-${namespace ?? ''}-${name ?? ''}`,
        );
      }
      default: {
        // jwt / oidc
        const role = auth.roles.get(String(body.role ?? auth.config.default_role ?? ''));
        if (!role)
          throw new FakeHttpError(400, `role "${String(body.role ?? '')}" could not be found`);
        const claims = decodeJwt(body.jwt);
        checkTimes(claims, 400);
        const audiences = parseList(role.raw.bound_audiences);
        const aud = parseList(claims.aud);
        if (audiences.length > 0 && !aud.some((a) => audiences.includes(a))) {
          throw new FakeHttpError(400, 'error validating claims: invalid audience (aud) claim');
        }
        if (audiences.length === 0 && aud.length > 0) {
          throw new FakeHttpError(
            400,
            'audience claim found in JWT but no audiences bound to the role',
          );
        }
        const subject = role.raw.bound_subject;
        if (typeof subject === 'string' && subject !== '' && claims.sub !== subject) {
          throw new FakeHttpError(400, 'sub claim does not match bound subject');
        }
        const boundClaims = isRecord(role.raw.bound_claims) ? role.raw.bound_claims : {};
        for (const [claim, want] of Object.entries(boundClaims)) {
          const wanted = Array.isArray(want) ? want.map(String) : [String(want)];
          if (!wanted.includes(String(claims[claim]))) {
            throw new FakeHttpError(
              400,
              'error validating claims: claim is missing or does not match',
            );
          }
        }
        const user = claims[String(role.raw.user_claim)];
        if (user === undefined)
          throw new FakeHttpError(400, 'error validating claims: user claim not found');
        return issue(role, { role: role.name }, `${auth.type}-${String(user)}`);
      }
    }
  }

  // ----- KV v1 and v2 ----------------------------------------------------------------------

  function kv1(ctx: Ctx, mount: Mount, rest: string): Record<string, unknown> | undefined {
    const full = `${mount.path}${rest}`;
    const exists = mount.v1.has(rest);
    authorize(ctx, full, exists);
    const extra = { mount_type: 'kv' };
    switch (ctx.method) {
      case 'GET': {
        const data = mount.v1.get(rest);
        if (!data) throw new FakeHttpError(404, '');
        return envelope({ ...data }, { ...extra, lease_duration: KV1_TTL_HINT });
      }
      case 'LIST': {
        const keys = listKeys(mount.v1.keys(), rest);
        if (keys.length === 0) throw new FakeHttpError(404, '');
        return envelope({ keys }, extra);
      }
      case 'POST':
      case 'PUT':
        if (rest === '')
          throw new FakeHttpError(405, '1 error occurred:\n\t* unsupported path\n\n');
        mount.v1.set(rest, { ...ctx.body });
        return undefined;
      case 'DELETE':
        mount.v1.delete(rest);
        return undefined;
      default:
        throw unsupported();
    }
  }

  function kv2(ctx: Ctx, mount: Mount, rest: string): Record<string, unknown> | undefined {
    const slash = rest.indexOf('/');
    const area = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash + 1);
    const full = `${mount.path}${rest}`;
    const extra = { mount_type: 'kv' };
    const entry = mount.v2.get(path);
    const { method, body } = ctx;

    if (area === 'config') {
      authorize(ctx, full, true);
      if (method === 'GET') {
        return envelope(
          {
            cas_required: mount.config.casRequired,
            delete_version_after: '0s',
            max_versions: mount.config.maxVersions,
          },
          extra,
        );
      }
      if (body.max_versions !== undefined) mount.config.maxVersions = Number(body.max_versions);
      if (body.cas_required !== undefined)
        mount.config.casRequired = parseBool(body.cas_required, false);
      return undefined;
    }
    if (!['data', 'metadata', 'delete', 'undelete', 'destroy', 'subkeys'].includes(area)) {
      // What a KV v1 client gets from a v2 mount.
      authorize(ctx, full, false);
      throw Object.assign(new FakeHttpError(404, ''), {
        warnings: [
          "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
        ],
      });
    }
    const liveEntry = entry && entry.versions.size > 0 ? entry : undefined;
    authorize(ctx, full, area === 'data' ? liveEntry !== undefined : true);

    if (area === 'data' || area === 'subkeys') {
      if (method === 'GET') {
        if (!entry) throw new FakeHttpError(404, '');
        const wanted = Number(ctx.query.get('version') ?? 0) || entry.current;
        const v = entry.versions.get(wanted);
        if (!v) throw new FakeHttpError(404, '');
        const metadata = versionMetadata(entry, wanted, v);
        if (v.deletionTime !== undefined || v.destroyed) {
          throw Object.assign(new FakeHttpError(404, ''), { data: { data: null, metadata } });
        }
        if (area === 'subkeys') {
          const subkeys = Object.fromEntries(Object.keys(v.data).map((k) => [k, null]));
          return envelope({ subkeys, metadata }, extra);
        }
        return envelope({ data: { ...v.data }, metadata }, extra);
      }
      if (method === 'POST' || method === 'PUT') {
        if (path === '')
          throw new FakeHttpError(405, '1 error occurred:\n\t* unsupported path\n\n');
        if (!isRecord(body.data)) throw new FakeHttpError(400, 'no data provided');
        const options = isRecord(body.options) ? body.options : {};
        const cas = options.cas === undefined ? undefined : Number(options.cas);
        const written = kvWriteV2(mount, path, body.data, cas);
        return envelope(
          versionMetadata(mount.v2.get(path) as KvV2Entry, written.version, written),
          extra,
        );
      }
      if (method === 'PATCH') {
        const latest = entry?.versions.get(entry.current);
        if (!entry || !latest || latest.deletionTime !== undefined || latest.destroyed) {
          throw new FakeHttpError(404, '');
        }
        if (!isRecord(body.data)) throw new FakeHttpError(400, 'no data provided');
        const merged = mergePatch(latest.data, body.data);
        const options = isRecord(body.options) ? body.options : {};
        const cas = options.cas === undefined ? undefined : Number(options.cas);
        const written = kvWriteV2(mount, path, merged, cas);
        return envelope(versionMetadata(entry, written.version, written), extra);
      }
      if (method === 'DELETE') {
        const latest = entry?.versions.get(entry.current);
        if (latest && latest.deletionTime === undefined) latest.deletionTime = now();
        return undefined;
      }
      throw unsupported();
    }

    if (area === 'metadata') {
      if (method === 'LIST') {
        const keys = listKeys(mount.v2.keys(), path);
        if (keys.length === 0) throw new FakeHttpError(404, '');
        return envelope({ keys }, extra);
      }
      if (method === 'GET') {
        if (!entry) throw new FakeHttpError(404, '');
        const versions = Object.fromEntries(
          [...entry.versions].map(([n, v]) => {
            const { version: _v, custom_metadata: _c, ...rest } = versionMetadata(entry, n, v);
            return [String(n), rest];
          }),
        );
        return envelope(
          {
            cas_required: entry.casRequired,
            created_time: isoTime(entry.created),
            current_version: entry.current,
            custom_metadata: entry.customMetadata,
            delete_version_after: '0s',
            max_versions: entry.maxVersions,
            oldest_version: entry.oldest,
            updated_time: isoTime(entry.updated),
            versions,
          },
          extra,
        );
      }
      if (method === 'DELETE') {
        mount.v2.delete(path);
        return undefined;
      }
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
        let target = entry;
        if (!target) {
          const t = now();
          target = {
            versions: new Map(),
            current: 0,
            oldest: 0,
            created: t,
            updated: t,
            maxVersions: 0,
            casRequired: false,
            customMetadata: null,
          };
          mount.v2.set(path, target);
        }
        if (body.max_versions !== undefined) target.maxVersions = Number(body.max_versions);
        if (body.cas_required !== undefined)
          target.casRequired = parseBool(body.cas_required, false);
        if (isRecord(body.custom_metadata)) {
          target.customMetadata = Object.fromEntries(
            Object.entries(body.custom_metadata).map(([k, v]) => [k, String(v)]),
          );
        }
        return undefined;
      }
      throw unsupported();
    }

    // delete / undelete / destroy: POST {versions: [...]}
    if (method !== 'POST' && method !== 'PUT') throw unsupported();
    const versions = Array.isArray(body.versions) ? body.versions.map(Number) : [];
    if (versions.length === 0) throw new FakeHttpError(400, 'no version number provided');
    for (const n of versions) {
      const v = entry?.versions.get(n);
      if (!v) continue;
      if (area === 'delete' && v.deletionTime === undefined) v.deletionTime = now();
      if (area === 'undelete' && !v.destroyed) v.deletionTime = undefined;
      if (area === 'destroy') {
        v.destroyed = true;
        v.data = {};
      }
    }
    return undefined;
  }

  // ----- the HTTP handler ---------------------------------------------------------------------

  // A bad seed fails here, before a port is taken.
  if (options.seed) seedAll(options.seed);

  const served = await serveFake(
    async (req, res) => {
      await faults.delay();
      const url = new URL(req.url ?? '/', 'http://fake');
      let method = requestMethod(req).toUpperCase();
      if (method === 'GET' && url.searchParams.get('list') === 'true') method = 'LIST';
      const rawPath = url.pathname;
      const nsHeader = req.headers['x-vault-namespace'];
      const nsName = trimSlashes(typeof nsHeader === 'string' ? nsHeader : '');
      let path = '';
      const record = (status: number) => requests.push({ method, path, namespace: nsName, status });
      const fail = (status: number, errors: string[], extra: Record<string, unknown> = {}) => {
        record(status);
        sendJson(res, status, { errors, ...extra });
      };
      try {
        if (!rawPath.startsWith('/v1/')) {
          // Vault serves its UI and redirects elsewhere; an API client only ever sees 404 here.
          fail(404, []);
          return;
        }
        path = trimSlashes(
          rawPath
            .slice(4)
            .split('/')
            .map((s) => decodeURIComponent(s))
            .join('/'),
        );
        const injected = faults.takeFailure(path);
        if (injected !== undefined) {
          fail(injected, [`airlock fake: injected failure (HTTP ${injected})`]);
          return;
        }
        const parsed =
          ['POST', 'PUT', 'PATCH'].includes(method) ||
          (method === 'DELETE' && req.headers['content-length'] !== undefined)
            ? await readJsonBody(req)
            : undefined;
        if (parsed !== undefined && !isRecord(parsed))
          throw new FakeHttpError(400, 'the request body must be a JSON object');
        const ctx: Ctx = {
          req,
          res,
          method,
          path,
          query: url.searchParams,
          ns: namespaceFor(nsName),
          token: undefined,
          body: parsed ?? {},
        };
        const result = await route(ctx);
        if (result === undefined) {
          record(204);
          sendJson(res, 204);
        } else {
          record(200);
          sendJson(res, 200, result);
        }
      } catch (err) {
        if (err instanceof FakeHttpError) {
          const extra = err as FakeHttpError & { warnings?: string[]; data?: unknown };
          const errors = err.message === '' ? [] : [err.message];
          if (extra.data !== undefined) {
            // Vault answers a deleted KV v2 version with 404 and the version's metadata.
            record(err.status);
            sendJson(res, err.status, envelope(extra.data, { mount_type: 'kv' }));
            return;
          }
          fail(err.status, errors, extra.warnings ? { warnings: extra.warnings } : {});
          return;
        }
        if (err instanceof URIError) {
          fail(400, ['invalid path encoding']);
          return;
        }
        throw err;
      }
    },
    {
      extraMethods: ['LIST'],
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.tls ? { tls: options.tls } : {}),
    },
  );

  function seedAll(seed: VaultFakeSeed): void {
    const checked = parseVaultFakeSeed(seed);
    applySeed(rootNs, checked);
    for (const [name, nsSeed] of Object.entries(checked.namespaces ?? {})) {
      const clean = trimSlashes(name);
      applySeed(namespaces.get(clean) ?? createNamespace(clean), nsSeed);
    }
  }

  const nsOrThrow = (name: string | undefined) => {
    const ns = namespaces.get(trimSlashes(name ?? ''));
    if (!ns) throw new Error(`no namespace \`${name ?? ''}\` in the Vault fake`);
    return ns;
  };

  return {
    url: served.url,
    port: served.port,
    rootToken,
    requests,
    failNext: (status, count, pathPrefix) => faults.failNext(status, count, pathPrefix),
    setLatency: (ms) => faults.setLatency(ms),
    writeSecret: (path, data, namespace) => writeSecretAt(nsOrThrow(namespace), path, data),
    deleteSecret(path, namespace) {
      const found = findMount(nsOrThrow(namespace), trimSlashes(path));
      if (found?.mount.type !== 'kv') throw new Error(`no KV mount holds \`${path}\``);
      if (found.mount.version === 1) {
        found.mount.v1.delete(found.rest);
        return;
      }
      const entry = found.mount.v2.get(found.rest);
      const latest = entry?.versions.get(entry.current);
      if (latest && latest.deletionTime === undefined) latest.deletionTime = now();
    },
    enableKv: (path, version, namespace) => enableKv(nsOrThrow(namespace), path, version),
    writePolicy: (name, text, namespace) => writePolicy(nsOrThrow(namespace), name, text),
    seed: seedAll,
    expireTokens() {
      const t = now();
      for (const token of tokens.values()) if (!token.root) token.expires = t;
    },
    revokeToken: (token) => {
      tokens.delete(token);
    },
    advanceTime(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceTime: ms must be >= 0');
      clockOffset += ms;
    },
    now,
    clearRequests() {
      requests.length = 0;
    },
    async close() {
      faults.dispose();
      await served.close();
    },
  };
}

/** The version the fake reports in `sys/health`. */
const VERSION = '1.17.0+airlock.fake';

/** RFC 7386 JSON merge patch, as KV v2's `PATCH` applies it. */
function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isRecord(value) && isRecord(out[key]))
      out[key] = mergePatch(out[key] as Record<string, unknown>, value);
    else out[key] = value;
  }
  return out;
}
