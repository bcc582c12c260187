/**
 * @module backends/vault
 * HashiCorp Vault (KV v1/v2), with Airflow's `VaultBackend` kwargs and semantics, over Vault's
 * HTTP API (`_http.ts`; Vault has no official Node SDK).
 *
 * Token lifecycle, where airlock does better than Airflow: Airflow calls `is_authenticated()` (a
 * `lookup-self` round trip) before every read and logs in again from scratch when it fails. Here
 * the token lives in the backend instance; a token from a login is renewed (`renew-self`) once a
 * third of its lease is left, or replaced by a new login near its end when it cannot be renewed;
 * a 403 triggers at most one recovery per read (re-login, or re-reading `token_path`), and only
 * when the token, not the policy, is at fault. A read therefore costs one HTTP call.
 */
import { AirlockError, ConfigError } from '../errors.ts';
import { isRecord, safeJsonParse } from '../util/json.ts';
import { errorCodeForStatus } from './_http.ts';
import { parseOptions } from './_options.ts';
import { encodePath, type VaultBackendDeps, VaultClient, vaultReason } from './_vault-client.ts';
import {
  BACKEND_NAME,
  checkAuthKwargs,
  SENSITIVE_KWARGS,
  type VaultBackendOptions,
  vaultOptionsSchema,
} from './_vault-options.ts';
import {
  type BackendDiagnosis,
  type BackendEntry,
  escapesPath,
  nameRefused,
  type SecretKind,
  type SecretsBackend,
} from './backend.ts';

export type { VaultBackendDeps } from './_vault-client.ts';
export {
  BACKEND_NAME,
  VAULT_AUTH_TYPES,
  type VaultBackendOptions,
  vaultOptionsSchema,
} from './_vault-options.ts';

/**
 * The KV data Airflow's `VaultBackend` reads: `{value}` for a Variable; for a Connection,
 * `{conn_uri}` from a URI, or the Connection's fields from a JSON document (`vault kv put
 * secret/connections/smtp_default conn_uri=…`, or one key per field).
 */
function kvData(kind: SecretKind, id: string, value: string): Record<string, unknown> {
  if (kind === 'variable') return { value };
  if (!value.trimStart().startsWith('{')) return { conn_uri: value };
  const parsed = safeJsonParse(value);
  if (!parsed.ok || !isRecord(parsed.value)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONN_JSON_INVALID',
      `${BACKEND_NAME}: connection \`${id}\`: the JSON document ${parsed.ok ? 'must be an object' : parsed.message}`,
      { details: { backend: BACKEND_NAME, id } },
    );
  }
  return parsed.value;
}

/** One KV write (`body`) or delete (no body) at `where`, as `vault kv put` / `vault kv delete`. */
async function writeSecret(
  client: VaultClient,
  op: { kind: SecretKind; id: string; where: string; body?: Record<string, unknown> },
  signal: AbortSignal | undefined,
): Promise<void> {
  const verb = op.body === undefined ? 'delete' : 'write';
  const what = `${verb} ${op.kind} \`${op.id}\``;
  const res = await client.authed(
    op.body === undefined ? 'DELETE' : 'POST',
    encodePath(op.where),
    what,
    signal,
    op.body,
  );
  if (res.status >= 200 && res.status < 300) return;
  const details = {
    backend: BACKEND_NAME,
    kind: op.kind,
    id: op.id,
    path: op.where,
    status: res.status,
  };
  const reason = vaultReason(res.body);
  const code = errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
  const needs = op.body === undefined ? '`delete`' : '`create` and `update`';
  throw new AirlockError(
    code,
    code === 'AIRLOCK_ERR_BACKEND_AUTH'
      ? `${BACKEND_NAME}: permission denied to ${what} at ${op.where} (HTTP ${res.status}); the token's policy needs ${needs} on this path`
      : `${BACKEND_NAME}: could not ${what} at ${op.where} (HTTP ${res.status}${reason ? `, ${reason}` : ''})`,
    { details },
  );
}

/**
 * Every key under `folder` (`LIST`, as `vault kv list`, into sub-folders too), relative to it;
 * none when the folder does not exist.
 */
async function listKv(
  client: VaultClient,
  folder: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const out: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const path = relative === '' ? folder : `${folder}/${relative.replace(/\/$/, '')}`;
    const what = `list ${path}/`;
    const res = await client.authed('GET', `${encodePath(path)}?list=true`, what, signal);
    if (res.status === 404) return;
    const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
    if (res.status !== 200 || !Array.isArray(data?.keys)) {
      const code = errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
      throw new AirlockError(
        code,
        `${BACKEND_NAME}: could not ${what} (HTTP ${res.status}${code === 'AIRLOCK_ERR_BACKEND_AUTH' ? "; the token's policy needs `list` on it" : ''})`,
        { details: { backend: BACKEND_NAME, path, status: res.status } },
      );
    }
    for (const key of data.keys as unknown[]) {
      const name = `${relative}${String(key)}`;
      if (name.endsWith('/')) await walk(name);
      else out.push(name);
    }
  };
  await walk('');
  return out.sort();
}

/** `airlock doctor`'s Vault facts: the token's TTL and policies, and Vault's clock. */
async function diagnoseVault(
  client: VaultClient,
  signal: AbortSignal | undefined,
): Promise<BackendDiagnosis[]> {
  const out: BackendDiagnosis[] = [];
  const res = await client.authed('GET', 'auth/token/lookup-self', 'look up the token', signal);
  const data = isRecord(res.body) && isRecord(res.body.data) ? res.body.data : undefined;
  if (res.status === 200 && data) {
    const ttl = Number(data.ttl) || 0;
    const policies = Array.isArray(data.policies) ? data.policies.join(', ') : '';
    const renewable = data.renewable === true;
    const short = ttl > 0 && ttl < 3600 && !renewable;
    out.push({
      status: short ? 'warning' : 'ok',
      detail: `token: ${ttl === 0 ? 'no expiry' : `TTL ${ttl} s${renewable ? ', renewable' : ''}`}; policies: ${policies || 'none'}`,
      ...(short
        ? {
            fix: 'use a renewable token, or an auth method airlock logs in with again (approle, …)',
          }
        : {}),
    });
  } else {
    out.push({
      status: 'warning',
      detail: `token: lookup-self answered HTTP ${res.status}`,
      fix: 'grant read on auth/token/lookup-self (the default policy does) to see the token TTL',
    });
  }
  const health = await client.call(
    'GET',
    'sys/health',
    'ask the health',
    undefined,
    undefined,
    signal,
  );
  const serverTime = isRecord(health.body) ? Number(health.body.server_time_utc) : Number.NaN;
  if (Number.isFinite(serverTime) && serverTime > 0) {
    const skew = Math.round(Math.abs(serverTime * 1000 - client.now()) / 1000);
    out.push(
      skew > 60
        ? {
            status: 'warning',
            detail: `clock: ${skew} s apart from Vault`,
            fix: 'sync this machine clock (NTP): token TTLs are measured on it',
          }
        : { status: 'ok', detail: `clock: within ${skew} s of Vault` },
    );
  }
  return out;
}

function rstripSlash(value: string | null): string | null {
  return value === null ? null : value.replace(/\/+$/, '');
}

/** Where a secret lives: its mount and its path inside the mount. */
interface Location {
  mount: string;
  path: string;
}

function describeKind(kind: SecretKind): string {
  return kind === 'variable' ? 'variable' : 'connection';
}

/**
 * Creates the Vault backend.
 *
 * @example
 * ```ts
 * const vault = createVaultBackend({ url: 'http://127.0.0.1:8200', token: 'root' });
 * await vault.getVariable('hello'); // GET /v1/secret/data/variables/hello → its `value`
 * ```
 */
export function createVaultBackend(
  options: VaultBackendOptions = {},
  deps: VaultBackendDeps = {},
): SecretsBackend {
  const opts = parseOptions(BACKEND_NAME, vaultOptionsSchema, options);
  const env = deps.env ?? process.env;
  checkAuthKwargs(opts, env);

  const baseUrl = (opts.url || env.VAULT_ADDR || 'http://localhost:8200').replace(/\/+$/, '');
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(baseUrl);
    if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') throw new TypeError();
  } catch {
    throw new ConfigError([`${BACKEND_NAME} kwargs.url: must be an http:// or https:// URL`]);
  }
  if (parsedUrl.username !== '' || parsedUrl.password !== '') {
    // Vault takes no credentials in the URL (and fetch refuses to send them).
    throw new ConfigError([`${BACKEND_NAME} kwargs.url: must not contain a user name or password`]);
  }
  const paths: Record<SecretKind, string | null> = {
    variable: rstripSlash(opts.variables_path),
    connection: rstripSlash(opts.connections_path),
  };
  const kv2 = opts.kv_engine_version === 2;
  const client = new VaultClient(opts, env, deps, baseUrl, parsedUrl);
  const authed = client.authed.bind(client);

  // ----- reads -----------------------------------------------------------------------------

  /** Airflow's `_parse_path` + `build_path`: where `id` of `kind` lives, or `undefined` (skipped). */
  function locateSecret(kind: SecretKind, id: string): Location | undefined {
    const base = paths[kind];
    // A key with `..` segments, a leading `/` or a backslash would leave the configured path.
    if (base === null || escapesPath(id)) return undefined;
    let mount = opts.mount_point;
    let key = id;
    if (!mount) {
      const slash = id.indexOf('/');
      if (slash === -1) return undefined;
      mount = id.slice(0, slash);
      key = id.slice(slash + 1);
    }
    return { mount: mount.replace(/^\/+|\/+$/g, ''), path: base === '' ? key : `${base}/${key}` };
  }

  /** Where `put`/`delete` write `id`; a refusal when this backend would never read it there. */
  function writablePath(kind: SecretKind, id: string): string {
    const loc = locateSecret(kind, id);
    if (loc) return apiPath(loc);
    const why =
      paths[kind] === null
        ? `${kind}s_path is null, so this backend never reads ${kind}s`
        : escapesPath(id)
          ? 'the name would leave the configured path (a leading /, a backslash, or a . or .. segment)'
          : 'with mount_point null the name must start with <mount>/';
    throw nameRefused(BACKEND_NAME, kind, id, why);
  }

  function apiPath(loc: Location): string {
    return `${loc.mount}/${kv2 ? 'data/' : ''}${loc.path}`;
  }

  function versionNote(kind: SecretKind, id: string): string | undefined {
    const loc = locateSecret(kind, id);
    if (!loc) return undefined;
    const version = client.knownVersions.get(loc.mount);
    const configured = kv2 ? 2 : 1;
    if (version === undefined || version === null || version === configured) return undefined;
    return `${loc.mount}/ is a KV version ${version} mount, but kv_engine_version is ${configured}: set "kv_engine_version": ${version}`;
  }

  async function readSecret(
    kind: SecretKind,
    id: string,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown> | undefined> {
    const loc = locateSecret(kind, id);
    if (!loc) return undefined;
    const where = apiPath(loc);
    const what = `read ${describeKind(kind)} \`${id}\``;
    const res = await authed('GET', encodePath(where), what, signal);
    const details = { backend: BACKEND_NAME, kind, id, path: where, status: res.status };
    if (res.status === 404) {
      await client.mountVersion(loc.mount, signal);
      return undefined;
    }
    if (res.status === 200) {
      const outer = isRecord(res.body) ? res.body.data : undefined;
      const data = kv2 && isRecord(outer) ? outer.data : outer;
      if (isRecord(data)) return data;
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_VALUE_INVALID',
        `${BACKEND_NAME}: the answer for ${describeKind(kind)} \`${id}\` at ${where} holds no KV ${kv2 ? 'v2' : 'v1'} secret; check kv_engine_version`,
        { details },
      );
    }
    const reason = vaultReason(res.body);
    const code = errorCodeForStatus(res.status) ?? 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
    const message =
      code === 'AIRLOCK_ERR_BACKEND_AUTH'
        ? `${BACKEND_NAME}: permission denied reading ${describeKind(kind)} \`${id}\` at ${where} (HTTP ${res.status}${reason && reason !== 'permission denied' ? `, ${reason}` : ''}); the token's policy needs \`read\` on this path`
        : `${BACKEND_NAME}: could not ${what} at ${where} (HTTP ${res.status}${reason ? `, ${reason}` : ''})`;
    throw new AirlockError(code, message, { details });
  }

  return {
    name: BACKEND_NAME,

    async getVariable(key, signal) {
      const secret = await readSecret('variable', key, signal);
      // Airflow 3.x logs a warning for a secret without `value` and returns None.
      if (secret === undefined || !('value' in secret)) return undefined;
      const value = secret.value;
      if (value === null || value === undefined) return undefined;
      return typeof value === 'string' ? value : JSON.stringify(value);
    },

    async getConnectionValue(connId, signal) {
      const secret = await readSecret('connection', connId, signal);
      if (secret === undefined) return undefined;
      const uri = secret.conn_uri;
      if (typeof uri === 'string' && uri !== '') return uri;
      // Airflow 3.x: `json.dumps(secret)`, then `Connection.from_json`.
      return JSON.stringify(secret);
    },

    locate(kind, id) {
      const loc = locateSecret(kind, id);
      return loc ? apiPath(loc) : undefined;
    },

    listKeys: (kind, signal) => {
      const base = paths[kind];
      if (base === null || !opts.mount_point) return Promise.resolve([]);
      const mount = opts.mount_point.replace(/^\/+|\/+$/g, '');
      return listKv(client, `${mount}/${kv2 ? 'metadata/' : ''}${base}`, signal);
    },

    async putSecret(kind, id, value, signal) {
      const where = writablePath(kind, id);
      const data = kvData(kind, id, value);
      await writeSecret(client, { kind, id, where, body: kv2 ? { data } : data }, signal);
    },

    async deleteSecret(kind, id, signal) {
      await writeSecret(client, { kind, id, where: writablePath(kind, id) }, signal);
    },

    missNote: versionNote,

    diagnose: (signal) => diagnoseVault(client, signal),

    describe() {
      const out: Record<string, unknown> = { type: BACKEND_NAME, ...opts, url: baseUrl };
      for (const key of SENSITIVE_KWARGS) {
        if (out[key] !== undefined && out[key] !== null) out[key] = '***';
      }
      return out;
    },

    dispose: () => client.dispose(),
  };
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: vaultOptionsSchema as BackendEntry['optionsSchema'],
  create: createVaultBackend as BackendEntry['create'],
};
