/**
 * @module backends/_vault-client
 * The Vault backend's client: the HTTP transport (TLS settings, namespace, retries) and the
 * token's lifecycle. A token from a login is renewed (`renew-self`) once a third of its lease is
 * left, or replaced by a new login near its end; a configured token's lifetime is asked once, at
 * its second use; a 401/403 triggers at most one recovery, and only when the token, not the
 * policy, is at fault. Also asks a mount's KV version (after a miss).
 */

import { AirlockError } from '../errors.ts';
import { isRecord } from '../util/json.ts';
import {
  createHttpClient,
  createNodeFetch,
  errorCodeForStatus,
  type FetchLike,
  type HttpClient,
  type HttpResponse,
  type RetryPolicy,
} from './_http.ts';
import { loginRequest, readCredentialFile } from './_vault-auth.ts';
import { BACKEND_NAME, type VaultOptions } from './_vault-options.ts';
import type { BackendDeps } from './backend.ts';

/** Dependencies of the Vault backend; tests inject a clock or a transport. */
export interface VaultBackendDeps extends BackendDeps {
  /** The clock token lifetimes are measured with. @default Date.now */
  now?: () => number;
  /** Retries of transient failures. @default Airflow's: 3 retries of 412/500/502/503 */
  retry?: RetryPolicy;
}

/** The token in use and what is known of its lifetime. */
export interface TokenState {
  token: string;
  /** From a login (which can be repeated) or from the configuration. */
  source: 'login' | 'static';
  /** When it expires (ms since the epoch); `undefined`: never, or not known. */
  expiresAt: number | undefined;
  /** Its lease when issued or last renewed, in ms. */
  leaseMs: number;
  renewable: boolean;
  /** For a configured token: whether `lookup-self` has told its lifetime yet. */
  known: boolean;
  /** No renewal attempt before this time (after one failed for a transient reason). */
  renewNotBefore: number;
  /** Requests sent with this token so far. */
  uses: number;
}

type Action = 'none' | 'authenticate' | 'login' | 'renew' | 'lookup' | 'reload';

/** Percent-encodes each segment of a Vault path, keeping the slashes (as hvac's `format_url`). */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** A secret-free summary of Vault's `errors` list: only phrases airlock recognises. */
export function vaultReason(body: unknown): string | undefined {
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.join(' ') : '';
  if (/invalid token/i.test(errors)) return 'invalid or expired token';
  if (
    /invalid role or secret id|invalid (role|secret) id|invalid username or password|failed to bind/i.test(
      errors,
    )
  ) {
    return 'invalid credentials';
  }
  if (/error making upstream request/i.test(errors)) {
    return 'STS did not accept the signed GetCallerIdentity request';
  }
  if (/does not belong to the role/i.test(errors)) {
    return 'the IAM principal is not bound to the role';
  }
  if (/signed JWT|service account .* not (found|authorized)|audience \(aud\)/i.test(errors)) {
    return 'Vault did not accept the signed JWT';
  }
  if (/unable to (verify|parse) the token/i.test(errors))
    return 'Vault did not accept the Azure token';
  if (/permission denied/i.test(errors)) return 'permission denied';
  if (/sealed/i.test(errors)) return 'Vault is sealed';
  return undefined;
}

/** A Vault server, as one backend instance talks to it: transport and token. */
export class VaultClient {
  readonly opts: VaultOptions;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  private readonly deps: VaultBackendDeps;
  private readonly parsedUrl: URL;
  private readonly verify: string | boolean;
  private readonly authType: VaultOptions['auth_type'];
  private readonly authMount: string;
  private readonly canLogin: boolean;
  private httpPromise: Promise<HttpClient> | undefined;
  private closeTransport: (() => void) | undefined;
  /** The token in use, once there is one. */
  state: TokenState | undefined;
  private pending: Promise<TokenState> | undefined;
  /** Per mount: the asked-for version (`null`: not a KV mount, or Vault would not say). */
  private readonly mountVersions = new Map<string, Promise<1 | 2 | null>>();
  readonly knownVersions = new Map<string, 1 | 2 | null>();

  constructor(
    opts: VaultOptions,
    env: Readonly<Record<string, string | undefined>>,
    deps: VaultBackendDeps,
    baseUrl: string,
    parsedUrl: URL,
  ) {
    this.opts = opts;
    this.env = env;
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.parsedUrl = parsedUrl;
    this.baseUrl = baseUrl;
    this.timeoutMs = Math.round((opts.timeout ?? 30) * 1000);
    this.authType = opts.auth_type;
    // hvac's default mount of each method: the method's name (`gcp`, …), but `aws` for aws_iam.
    this.authMount = (
      opts.auth_mount_point || (opts.auth_type === 'aws_iam' ? 'aws' : opts.auth_type)
    ).replace(/^\/+|\/+$/g, '');
    this.verify = opts.verify ?? (env.VAULT_CACERT || env.VAULT_CAPATH || true);
    this.canLogin = opts.auth_type !== 'token';
  }

  http(): Promise<HttpClient> {
    if (this.httpPromise) return this.httpPromise;
    this.httpPromise = (async () => {
      let transport: FetchLike | undefined = this.deps.fetch;
      const customTls =
        this.verify !== true || (this.opts.cert !== undefined && this.opts.cert !== null);
      if (!transport && this.parsedUrl.protocol === 'https:' && customTls) {
        const nodeFetch = await createNodeFetch(BACKEND_NAME, {
          verify: this.verify,
          cert: this.opts.cert ?? undefined,
        });
        transport = nodeFetch.fetch;
        this.closeTransport = nodeFetch.close;
      }
      return createHttpClient({
        backend: BACKEND_NAME,
        timeoutMs: this.timeoutMs,
        ...(transport ? { fetch: transport } : {}),
        ...(this.deps.retry ? { retry: this.deps.retry } : {}),
      });
    })();
    // A CA bundle that could not be read is tried again at the next lookup.
    this.httpPromise.catch(() => {
      this.httpPromise = undefined;
    });
    return this.httpPromise;
  }

  headers(token?: string): Record<string, string> {
    const h: Record<string, string> = { 'x-vault-request': 'true' };
    if (token !== undefined) h['x-vault-token'] = token;
    if (this.opts.namespace) h['x-vault-namespace'] = this.opts.namespace;
    return h;
  }

  async call(
    method: string,
    path: string,
    what: string,
    token: string | undefined,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const client = await this.http();
    return client.send(
      {
        method,
        url: `${this.baseUrl}/v1/${path}`,
        headers: this.headers(token),
        ...(body === undefined ? {} : { body }),
      },
      what,
      signal,
    );
  }

  async login(): Promise<TokenState> {
    const request = await loginRequest(this);
    const where = `auth/${this.authMount}`;
    const what = `log in with ${this.authType} at ${where}`;
    const res = await this.call(
      'POST',
      `auth/${encodePath(this.authMount)}/${request.path}`,
      what,
      undefined,
      request.body,
    );
    const auth = isRecord(res.body) && isRecord(res.body.auth) ? res.body.auth : undefined;
    if (res.status === 200 && typeof auth?.client_token === 'string' && auth.client_token !== '') {
      const leaseMs = Math.max(0, Number(auth.lease_duration) || 0) * 1000;
      return {
        token: auth.client_token,
        source: 'login',
        expiresAt: leaseMs > 0 ? this.now() + leaseMs : undefined,
        leaseMs,
        renewable: auth.renewable === true,
        known: true,
        renewNotBefore: 0,
        uses: 0,
      };
    }
    const reason = vaultReason(res.body);
    const code =
      res.status === 200 || res.status === 400 || res.status === 404
        ? 'AIRLOCK_ERR_BACKEND_AUTH'
        : (errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_AUTH');
    const problem = res.status === 200 ? 'the answer has no token' : `HTTP ${res.status}`;
    throw new AirlockError(
      code,
      `${BACKEND_NAME}: could not ${what} (${problem}${reason ? `, ${reason}` : ''})`,
      { details: { backend: BACKEND_NAME, auth_type: this.authType, status: res.status } },
    );
  }

  async configuredToken(): Promise<TokenState> {
    const token = this.opts.token_path
      ? await readCredentialFile('token_path', this.opts.token_path)
      : (this.opts.token ?? this.env.VAULT_TOKEN ?? '');
    if (token === '') {
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: the configured token is empty`,
        {
          details: { backend: BACKEND_NAME, auth_type: this.authType },
        },
      );
    }
    return {
      token,
      source: 'static',
      expiresAt: undefined,
      leaseMs: 0,
      renewable: false,
      known: false,
      renewNotBefore: 0,
      uses: 0,
    };
  }

  /** What the token needs before the next request. */
  due(s: TokenState): Action {
    const t = this.now();
    // A configured token's lifetime is asked for once, at its second use: a one-shot CLI call
    // never pays for it, a long-running worker learns whether to renew it.
    if (s.source === 'static' && !s.known && s.uses >= 1) return 'lookup';
    if (s.expiresAt === undefined) return 'none';
    const remaining = s.expiresAt - t;
    if (s.renewable && remaining > 0 && remaining <= s.leaseMs / 3 && t >= s.renewNotBefore) {
      return 'renew';
    }
    if (this.canLogin && remaining <= Math.max(s.leaseMs / 10, 1000)) return 'login';
    if (!this.canLogin && remaining <= 0 && this.opts.token_path) return 'reload';
    return 'none';
  }

  async renew(s: TokenState): Promise<TokenState> {
    let res: HttpResponse;
    try {
      res = await this.call('POST', 'auth/token/renew-self', 'renew the token', s.token, {});
    } catch {
      return {
        ...s,
        renewNotBefore: this.now() + Math.min(Math.max(s.leaseMs / 20, 1000), 30_000),
      };
    }
    const auth = isRecord(res.body) && isRecord(res.body.auth) ? res.body.auth : undefined;
    if (res.status === 200 && auth) {
      const leaseMs = Math.max(0, Number(auth.lease_duration) || 0) * 1000;
      const expiresAt = leaseMs > 0 ? this.now() + leaseMs : undefined;
      // A renewal that no longer moves the end (the max TTL is reached) is the last one.
      const moved =
        expiresAt === undefined || s.expiresAt === undefined || expiresAt > s.expiresAt + 1000;
      return {
        ...s,
        expiresAt,
        leaseMs: Math.max(leaseMs, moved ? 0 : s.leaseMs),
        renewable: auth.renewable === true && moved,
      };
    }
    if ((res.status === 401 || res.status === 403) && this.canLogin) return this.login();
    return {
      ...s,
      renewable: res.status === 400 ? false : s.renewable,
      renewNotBefore: this.now() + 5000,
    };
  }

  async lookup(s: TokenState): Promise<TokenState> {
    try {
      const res = await this.call('GET', 'auth/token/lookup-self', 'look up the token', s.token);
      if ((res.status === 401 || res.status === 403) && this.opts.token_path) {
        // Dead already: a Vault Agent may have written its successor to the file.
        const fresh = await this.configuredToken();
        if (fresh.token !== s.token) return fresh;
      }
      const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
      if (res.status !== 200 || !data) return { ...s, known: true };
      const ttlMs = Math.max(0, Number(data.ttl) || 0) * 1000;
      const leaseMs = Math.max(0, Number(data.period) || Number(data.creation_ttl) || 0) * 1000;
      return {
        ...s,
        known: true,
        expiresAt: ttlMs > 0 ? this.now() + ttlMs : undefined,
        leaseMs: leaseMs || ttlMs,
        renewable: data.renewable === true,
      };
    } catch {
      return { ...s, known: true };
    }
  }

  run(action: Exclude<Action, 'none'>): Promise<TokenState> {
    const current = this.state;
    const work = async (): Promise<TokenState> => {
      switch (action) {
        case 'authenticate':
          return this.canLogin ? this.login() : this.configuredToken();
        case 'login':
          return this.login();
        case 'renew':
          return this.renew(current as TokenState);
        case 'lookup':
          return this.lookup(current as TokenState);
        case 'reload': {
          const fresh = await this.configuredToken();
          return fresh.token === current?.token
            ? { ...(current as TokenState), known: true }
            : fresh;
        }
      }
    };
    const promise = work().then((next) => {
      this.state = next;
      return next;
    });
    this.pending = promise;
    // Waiters see the outcome; the slot frees itself either way.
    promise.then(
      () => {
        if (this.pending === promise) this.pending = undefined;
      },
      () => {
        if (this.pending === promise) this.pending = undefined;
      },
    );
    return promise;
  }

  /** The token to send now: authenticating, renewing or replacing it first when needed. */
  async currentToken(): Promise<string> {
    if (this.pending) {
      const joined = await this.pending;
      joined.uses += 1;
      return joined.token;
    }
    const action: Action = this.state === undefined ? 'authenticate' : this.due(this.state);
    const s = action === 'none' ? (this.state as TokenState) : await this.run(action);
    s.uses += 1;
    return s.token;
  }

  /**
   * After a 401/403 sent with `used`: whether a fresh token is this.now in place. Only a token that
   * Vault says is invalid (or that `lookup-self` rejects) is replaced, and only once.
   */
  async recover(used: string, res: HttpResponse, signal?: AbortSignal): Promise<boolean> {
    if (this.pending) {
      try {
        return (await this.pending).token !== used;
      } catch {
        return false;
      }
    }
    if (this.state !== undefined && this.state.token !== used) return true;
    if (!this.canLogin && !this.opts.token_path) return false;
    let invalid = vaultReason(res.body) === 'invalid or expired token';
    if (!invalid) {
      try {
        const probe = await this.call(
          'GET',
          'auth/token/lookup-self',
          'check the token',
          used,
          undefined,
          signal,
        );
        invalid = probe.status === 401 || probe.status === 403;
      } catch {
        invalid = false;
      }
    }
    if (!invalid) return false;
    const next = await this.run(this.canLogin ? 'login' : 'reload');
    return next.token !== used;
  }

  async authed(
    method: string,
    path: string,
    what: string,
    signal?: AbortSignal,
    body?: unknown,
  ): Promise<HttpResponse> {
    const token = await this.currentToken();
    const res = await this.call(method, path, what, token, body, signal);
    if (res.status !== 401 && res.status !== 403) return res;
    if (!(await this.recover(token, res, signal))) return res;
    return this.call(method, path, what, await this.currentToken(), body, signal);
  }

  // ----- the mount's KV version, asked after a miss ------------------------------------------
  // A KV v2 read on a v1 mount (or the reverse) is a plain 404, the same answer as a missing
  // secret. After a miss, the mount's version is asked once (Vault reports it on the
  // `sys/internal/ui/mounts/<path>` preflight, which the Vault CLI and hvac send too) so that
  // `secrets which` and the not-found message can name the real cause.

  mountVersion(mount: string, signal?: AbortSignal): Promise<1 | 2 | null> {
    let asked = this.mountVersions.get(mount);
    if (!asked) {
      asked = this.authed(
        'GET',
        `sys/internal/ui/mounts/${encodePath(mount)}`,
        `ask the KV version of ${mount}/`,
        signal,
      )
        .then((res) => {
          const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
          if (res.status !== 200 || data?.type !== 'kv') return null;
          const options = isRecord(data.options) ? data.options : {};
          // A `kv` mount without a version option is version 1, as in Vault.
          return String(options.version ?? '1') === '2' ? 2 : 1;
        })
        .catch(() => null)
        .then((version) => {
          this.knownVersions.set(mount, version);
          return version;
        });
      this.mountVersions.set(mount, asked);
    }
    return asked;
  }

  /**
   * Revokes a token from a login (tokens must not pile up in Vault, Airflow issue #30611; a
   * configured token belongs to the user and is left alone) and closes the transport.
   */
  async dispose(): Promise<void> {
    const s = this.state;
    this.state = undefined;
    if (s?.source === 'login' && (s.expiresAt === undefined || s.expiresAt > this.now())) {
      const bound = AbortSignal.timeout(Math.min(this.timeoutMs, 5000));
      await this.call(
        'POST',
        'auth/token/revoke-self',
        'revoke the token',
        s.token,
        {},
        bound,
      ).catch(() => undefined);
    }
    this.closeTransport?.();
    this.closeTransport = undefined;
    this.httpPromise = undefined;
  }
}
