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
import { z } from 'zod';
import { type FaultInjection, FaultInjector, serveFake } from './_serve-fake.ts';
import { generateTestCertificate } from './_test-certificate.ts';
import { enableKv, writeSecretAt } from './_vault-kv.ts';
import { createVaultHandler } from './_vault-router.ts';
import type { Namespace, VaultFakeRequest, VaultState } from './_vault-state.ts';
import { createNamespace, createVaultState, findMount, trimSlashes } from './_vault-state.ts';

export type { VaultFakeRequest };

import { writePolicy } from './_vault-sys.ts';

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

function applySeed(s: VaultState, ns: Namespace, seed: VaultFakeNamespaceSeed): void {
  for (const [path, version] of Object.entries(seed.mounts ?? {})) enableKv(ns, path, version);
  for (const [name, text] of Object.entries(seed.policies ?? {})) writePolicy(ns, name, text);
  for (const [path, data] of Object.entries(seed.kv ?? {})) writeSecretAt(s, ns, path, data);
}

/**
 * A certificate for `127.0.0.1` and `localhost`, for {@link VaultFakeOptions.tls}: `cert` is the
 * server certificate followed by the throw-away CA that signed it, so `cert` also serves as the
 * client's CA bundle.
 *
 * @example
 * ```ts
 * const tls = await generateFakeTlsCertificate();
 * const vault = await startVaultFake({ tls });
 * ```
 */
export async function generateFakeTlsCertificate(): Promise<{ key: string; cert: string }> {
  const { ca, cert, key } = await generateTestCertificate();
  return { key, cert: `${cert.trimEnd()}\n${ca}` };
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
  const state = createVaultState({
    rootToken,
    awsCredentials: options.awsCredentials,
    gcpServiceAccountKeys: options.gcpServiceAccountKeys,
    azureTokenKeys: options.azureTokenKeys,
  });
  const faults = new FaultInjector();
  const requests: VaultFakeRequest[] = [];

  const seedAll = (seed: VaultFakeSeed): void => {
    const checked = parseVaultFakeSeed(seed);
    applySeed(state, nsOrThrow(''), checked);
    for (const [name, nsSeed] of Object.entries(checked.namespaces ?? {})) {
      const clean = trimSlashes(name);
      applySeed(state, state.namespaces.get(clean) ?? createNamespace(state, clean), nsSeed);
    }
  };
  const nsOrThrow = (name: string | undefined) => {
    const ns = state.namespaces.get(trimSlashes(name ?? ''));
    if (!ns) throw new Error(`no namespace \`${name ?? ''}\` in the Vault fake`);
    return ns;
  };

  // A bad seed fails here, before a port is taken.
  if (options.seed) seedAll(options.seed);

  const served = await serveFake(createVaultHandler(state, faults, requests), {
    extraMethods: ['LIST'],
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.tls ? { tls: options.tls } : {}),
  });

  return {
    url: served.url,
    port: served.port,
    rootToken,
    requests,
    failNext: (status, count, pathPrefix) => faults.failNext(status, count, pathPrefix),
    setLatency: (ms) => faults.setLatency(ms),
    writeSecret: (path, data, namespace) => writeSecretAt(state, nsOrThrow(namespace), path, data),
    deleteSecret(path, namespace) {
      const found = findMount(nsOrThrow(namespace), trimSlashes(path));
      if (found?.mount.type !== 'kv') throw new Error(`no KV mount holds \`${path}\``);
      if (found.mount.version === 1) {
        found.mount.v1.delete(found.rest);
        return;
      }
      const entry = found.mount.v2.get(found.rest);
      const latest = entry?.versions.get(entry.current);
      if (latest && latest.deletionTime === undefined) latest.deletionTime = state.now();
    },
    enableKv: (path, version, namespace) => enableKv(nsOrThrow(namespace), path, version),
    writePolicy: (name, text, namespace) => writePolicy(nsOrThrow(namespace), name, text),
    seed: seedAll,
    expireTokens() {
      const t = state.now();
      for (const token of state.tokens.values()) if (!token.root) token.expires = t;
    },
    revokeToken: (token) => {
      state.tokens.delete(token);
    },
    advanceTime(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceTime: ms must be >= 0');
      state.clockOffset += ms;
    },
    now: () => state.now(),
    clearRequests() {
      requests.length = 0;
    },
    async close() {
      faults.dispose();
      await served.close();
    },
  };
}
