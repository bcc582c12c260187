/**
 * @module backends/gcp-secret-manager
 * Google Cloud Secret Manager, with Airflow's `CloudSecretManagerBackend` kwargs and names:
 * a Variable `key` is the secret `{variables_prefix}{sep}{key}`, read at version `latest`.
 *
 * The official `@google-cloud/secret-manager` client (gRPC) does the talking; it is loaded with
 * `import()` on the first lookup and built once per backend (Airflow builds a new client, and a
 * new gRPC channel, for every lookup). Each payload's CRC32C is checked against the
 * `data_crc32c` Google returns. Transient failures (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`,
 * `DEADLINE_EXCEEDED`, a checksum mismatch) are retried a bounded number of times with jittered
 * exponential back-off, all within one `timeout_ms` budget per lookup.
 *
 * Unlike Airflow, which answers `PERMISSION_DENIED` with "not found" and an ERROR log, this
 * backend fails closed: a refusal is `AIRLOCK_ERR_BACKEND_AUTH`, so a lookup never falls through to
 * a weaker source because the service account lost its role.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as GoogleAuthLibrary from 'google-auth-library';
import { z } from 'zod';
import { AirlockError, ConfigError, isAirlockError } from '../errors.ts';
import { safeJsonParse } from '../util/json.ts';
import { withRetry } from '../util/retry.ts';
import { crc32c } from './_crc32c.ts';
import { nullablePrefix, optionalString, parseOptions } from './_options.ts';
import { loadSdk } from './_sdk.ts';
import { assertTestCredentialsAllowed } from './_test-credentials.ts';
import {
  type BackendDeps,
  type BackendEntry,
  keysUnder,
  type SecretKind,
  type SecretsBackend,
  writableName,
} from './backend.ts';

/** The short name of this backend. */
export const BACKEND_NAME = 'gcp-secret-manager' as const;

/** Google's rule for a secret id: 1 to 255 letters, digits, `_` and `-`. */
export const SECRET_ID_PATTERN = /^[a-zA-Z0-9_-]{1,255}$/;

/** The OAuth scope the client asks for when `gcp_scopes` is not set. */
export const DEFAULT_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'] as const;

const PREFIX_CHARS = /^[a-zA-Z0-9_-]*$/;

const keyfileDict = () =>
  z
    .union([z.record(z.string(), z.unknown()), z.string()])
    .nullable()
    .optional();

/** Airflow's `CloudSecretManagerBackend` kwargs, plus `endpoint_url`, `timeout_ms`, `max_retries`. */
export const gcpSecretManagerOptionsSchema = z
  .strictObject({
    /**
     * Prefix of Connection secrets; `null` disables Connection lookups here.
     * @default 'airflow-connections'
     */
    connections_prefix: nullablePrefix('airflow-connections'),
    /**
     * Prefix of Variable secrets; `null` disables Variable lookups here.
     * @default 'airflow-variables'
     */
    variables_prefix: nullablePrefix('airflow-variables'),
    /**
     * Prefix of configuration secrets (Airflow's `get_config`); `null` disables them.
     * @default 'airflow-config'
     */
    config_prefix: nullablePrefix('airflow-config'),
    /**
     * Put between the prefix and the id: the secret id is `{prefix}{sep}{id}`.
     * @default '-'
     */
    sep: z.string().default('-'),
    /** A service-account key as a JSON object or a JSON string (exclusive with the next two). */
    gcp_keyfile_dict: keyfileDict(),
    /** Path of a service-account key JSON file. */
    gcp_key_path: optionalString(),
    /** An external-account (workload identity federation) config: a file path, or its JSON. */
    gcp_credential_config_file: keyfileDict(),
    /**
     * Comma-separated OAuth scopes.
     * @default 'https://www.googleapis.com/auth/cloud-platform'
     */
    gcp_scopes: optionalString(),
    /**
     * The project holding the secrets.
     * @default the credentials' project, then `$GOOGLE_CLOUD_PROJECT`, then Application Default
     * Credentials' project
     */
    project_id: optionalString(),
    /**
     * Service account to impersonate; a list is a delegation chain whose last entry is the target.
     * @default null
     */
    impersonation_chain: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .nullable()
      .optional(),
    /**
     * Secret Manager's address (`host:port`, or `https://host:port`), for a regional or private
     * endpoint or a local fake. @default 'secretmanager.googleapis.com:443'
     */
    endpoint_url: optionalString(),
    /**
     * Time budget of one lookup, retries included, in milliseconds.
     * @default 10000
     */
    timeout_ms: z.number().int().positive().max(600_000).default(10_000),
    /**
     * Retries of a transient failure (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`).
     * @default 3
     */
    max_retries: z.number().int().min(0).max(10).default(3),
  })
  .superRefine((opts, ctx) => {
    for (const field of ['connections_prefix', 'variables_prefix', 'config_prefix'] as const) {
      const prefix = opts[field];
      if (prefix === null) continue;
      const head = `${prefix}${opts.sep}`;
      if (!PREFIX_CHARS.test(head)) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message:
            '`' +
            field +
            '` followed by `sep` must use only letters, digits, `_` and `-` (Google secret ids: ^[a-zA-Z0-9_-]{1,255}$)',
        });
      } else if (head.length >= 255) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `\`${field}\` followed by \`sep\` leaves no room for an id within 255 characters`,
        });
      }
    }
    const sources = (
      ['gcp_keyfile_dict', 'gcp_key_path', 'gcp_credential_config_file'] as const
    ).filter((k) => opts[k] !== null && opts[k] !== undefined && opts[k] !== '');
    if (sources.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [sources[1] as string],
        message: `${sources.join(', ')} are mutually exclusive; give only one`,
      });
    }
    if (opts.endpoint_url !== null && opts.endpoint_url !== undefined) {
      if (parseEndpoint(opts.endpoint_url) === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['endpoint_url'],
          message: 'must be `host[:port]` or `http(s)://host[:port]`',
        });
      }
    }
  });

/** Options of {@link createGcpSecretManagerBackend}. */
export type GcpSecretManagerBackendOptions = z.input<typeof gcpSecretManagerOptionsSchema>;

type ParsedOptions = z.output<typeof gcpSecretManagerOptionsSchema>;

/** Dependencies of {@link createGcpSecretManagerBackend}. */
export interface GcpSecretManagerBackendDeps extends BackendDeps {
  /**
   * A random number in [0, 1) for the retry jitter (tests pass a fixed one).
   * @default Math.random
   */
  random?: () => number;
}

/** What a `host:port` endpoint comes to. */
interface Endpoint {
  host: string;
  port: number;
}

function parseEndpoint(text: string): Endpoint | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (!['http:', 'https:', 'grpc:', 'grpcs:'].includes(url.protocol)) return undefined;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    return undefined;
  }
  if (url.pathname !== '/' && url.pathname !== '') return undefined;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') return undefined;
  const port = url.port === '' ? (url.protocol === 'http:' ? 80 : 443) : Number(url.port);
  return { host, port };
}

/** gRPC status codes (fixed by the gRPC spec) and their names, for messages. */
const GRPC_NAMES: Readonly<Record<number, string>> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};
const RETRYABLE = new Set([4, 8, 14]);
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 2_000;

/** The subset of the SDK client this backend uses. */
interface SecretManagerClient {
  accessSecretVersion(
    request: { name: string },
    options: { timeout: number; retry: null; signal?: AbortSignal },
  ): Promise<[AccessResponse, ...unknown[]]>;
  listSecrets(
    request: { parent: string; filter?: string; pageSize?: number },
    options: { timeout: number; retry: null; autoPaginate: true; signal?: AbortSignal },
  ): Promise<[{ name?: string | null }[], ...unknown[]]>;
  createSecret(
    request: { parent: string; secretId: string; secret: Record<string, unknown> },
    options: GaxWriteOptions,
  ): Promise<unknown>;
  addSecretVersion(
    request: { parent: string; payload: { data: Buffer; dataCrc32c: string } },
    options: GaxWriteOptions,
  ): Promise<unknown>;
  deleteSecret(request: { name: string }, options: GaxWriteOptions): Promise<unknown>;
  initialize(): Promise<unknown>;
  close(): Promise<void>;
}

/** The call options of a write: its deadline, no retries of the SDK's own. */
interface GaxWriteOptions {
  timeout: number;
  retry: null;
  signal?: AbortSignal;
}

/**
 * `airlock secrets put` / `delete` on Secret Manager: a new enabled version of the secret
 * (created first, with automatic replication, when it does not exist), as `gcloud secrets
 * versions add` does; a delete removes the secret with its versions (`gcloud secrets delete`).
 */
async function writeGcpSecret(
  { client, project }: Built,
  op: { sid: string; value: string | undefined; timeoutMs: number },
  signal: AbortSignal | undefined,
): Promise<void> {
  const options: GaxWriteOptions = {
    timeout: op.timeoutMs,
    retry: null,
    ...(signal ? { signal } : {}),
  };
  const name = `projects/${project}/secrets/${op.sid}`;
  if (op.value === undefined) {
    await client.deleteSecret({ name }, options).catch((err: unknown) => {
      if ((err as { code?: unknown })?.code !== 5) throw err;
    });
    return;
  }
  const data = Buffer.from(op.value, 'utf8');
  const payload = { data, dataCrc32c: String(crc32c(data)) };
  try {
    await client.addSecretVersion({ parent: name, payload }, options);
  } catch (err) {
    if ((err as { code?: unknown })?.code !== 5) throw err;
    const secret = { replication: { automatic: {} } };
    await client.createSecret({ parent: `projects/${project}`, secretId: op.sid, secret }, options);
    await client.addSecretVersion({ parent: name, payload }, options);
  }
}

interface AccessResponse {
  name?: string | null;
  payload?: {
    data?: Uint8Array | string | null;
    dataCrc32c?: number | string | { toString(): string } | null;
  } | null;
}

interface Built {
  client: SecretManagerClient;
  project: string;
}

/** A failure of one attempt, already classified; `retry` says whether another may help. */
class AttemptFailure {
  readonly error: AirlockError;
  readonly retry: boolean;

  constructor(error: AirlockError, retry: boolean) {
    this.error = error;
    this.retry = retry;
  }
}

function configError(problem: string): ConfigError {
  return new ConfigError([`${BACKEND_NAME} kwargs: ${problem}`]);
}

function parseJsonKwarg(
  name: string,
  value: Record<string, unknown> | string,
): Record<string, unknown> {
  if (typeof value !== 'string') return { ...value };
  const parsed = safeJsonParse(value);
  if (!parsed.ok) throw configError(`${name} ${parsed.message}`);
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    throw configError(`${name} must be a JSON object`);
  }
  return parsed.value as Record<string, unknown>;
}

async function readJsonFile(name: string, path: string): Promise<Record<string, unknown>> {
  if (path.toLowerCase().endsWith('.p12')) {
    throw configError(`${name}: legacy P12 key files are not supported; use a JSON key`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw configError(`${name}: cannot read \`${path}\` (${code})`);
  }
  const parsed = safeJsonParse(text);
  if (!parsed.ok) throw configError(`${name}: \`${path}\` ${parsed.message}`);
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    throw configError(`${name}: \`${path}\` must hold a JSON object`);
  }
  return parsed.value as Record<string, unknown>;
}

type Gal = typeof GoogleAuthLibrary;
type AuthClient = InstanceType<Gal['AuthClient']>;

/** A service-account key as a JWT client (Airflow's `from_service_account_info`). */
function serviceAccountClient(
  gal: Gal,
  name: string,
  json: Record<string, unknown>,
  scopes: string[],
): AuthClient {
  if (json.type !== 'service_account') {
    throw configError(
      `${name} is not a service-account key (its \`type\` must be "service_account")`,
    );
  }
  const email = json.client_email;
  const rawKey = json.private_key;
  if (typeof email !== 'string' || typeof rawKey !== 'string') {
    throw configError(`${name} lacks \`client_email\` or \`private_key\``);
  }
  // As Airflow does: a key pasted into JSON often carries literal `\n` sequences.
  const key = rawKey.replaceAll('\\n', '\n');
  return new gal.JWT({
    email,
    key,
    scopes,
    ...(typeof json.private_key_id === 'string' ? { keyId: json.private_key_id } : {}),
  });
}

/** A credential configuration file (`google.auth.load_credentials_from_file`'s types). */
function configFileClient(gal: Gal, json: Record<string, unknown>, scopes: string[]): AuthClient {
  const name = 'gcp_credential_config_file';
  switch (json.type) {
    case 'service_account':
      return serviceAccountClient(gal, name, json, scopes);
    case 'authorized_user':
      return new gal.UserRefreshClient({
        clientId: String(json.client_id ?? ''),
        clientSecret: String(json.client_secret ?? ''),
        refreshToken: String(json.refresh_token ?? ''),
      });
    case 'external_account': {
      const source = (json.credential_source ?? {}) as Record<string, unknown>;
      const options = { ...json, scopes } as never;
      // The same choice google-auth-library's `ExternalAccountClient.fromJSON` makes.
      if (source.environment_id) return new gal.AwsClient(options);
      if (source.executable) return new gal.PluggableAuthClient(options);
      return new gal.IdentityPoolClient(options);
    }
    case 'external_account_authorized_user':
      return new gal.ExternalAccountAuthorizedUserClient(json as never);
    default:
      throw configError(
        `${name} has an unsupported credential type; use a service-account key, an authorized-user file or an external-account configuration (for impersonation use \`impersonation_chain\`)`,
      );
  }
}

/**
 * The metadata-server probe of google-auth-library (`gcp-metadata`) reports an unexpected answer
 * with `process.emitWarning(…, 'MetadataLookupWarning')`, which Node prints to stderr by itself,
 * after airlock's own error line. Once a backend looks for Application Default Credentials, such
 * warnings are caught instead, and the last one's error code (`403, ENOTFOUND`: no metadata
 * server here) goes into the no-credentials message. Other warnings pass through untouched.
 */
let lastMetadataLookup: string | undefined;
let metadataWarningsCaught = false;

function catchMetadataLookupWarnings(): void {
  if (metadataWarningsCaught) return;
  metadataWarningsCaught = true;
  const emitWarning = process.emitWarning;
  process.emitWarning = function airlockEmitWarning(
    this: NodeJS.Process,
    warning: string | Error,
    ...rest: unknown[]
  ): void {
    const option = rest[0];
    const type =
      typeof option === 'string'
        ? option
        : typeof (option as { type?: unknown } | undefined)?.type === 'string'
          ? (option as { type: string }).type
          : warning instanceof Error
            ? warning.name
            : undefined;
    if (type === 'MetadataLookupWarning') {
      const text = warning instanceof Error ? warning.message : String(warning);
      const code = /code = ([A-Za-z0-9_, ]{1,64})$/.exec(text)?.[1];
      lastMetadataLookup = code ?? 'UNKNOWN';
      return;
    }
    (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
}

/** `; the metadata server lookup failed (<code>)` after a caught warning, else `''`. */
function metadataNote(): string {
  return lastMetadataLookup === undefined
    ? ''
    : `; the metadata server lookup failed (${lastMetadataLookup})`;
}

/** A credential failure as a plain marker: the SDK's error (its message may quote a file) is dropped. */
function noCredentials(err: unknown): Error {
  if (isAirlockError(err)) return err;
  const marker = new Error('no usable Google credentials');
  marker.name = err instanceof Error ? err.name : 'Error';
  return marker;
}

/** Closes a client; a client whose channel never came up rejects here, which is of no interest. */
async function closeQuietly(client: SecretManagerClient): Promise<void> {
  try {
    await client.close();
  } catch {
    // Nothing to release.
  }
}

/** The Google credentials the kwargs name (a key, a credential config file, impersonation). */
async function buildAuth(
  gal: Gal,
  opts: ParsedOptions,
  scopes: string[],
): Promise<{ auth: InstanceType<Gal['GoogleAuth']>; fileProject?: string }> {
  let source: AuthClient | undefined;
  let fileProject: string | undefined;
  if (opts.gcp_keyfile_dict) {
    const json = parseJsonKwarg('gcp_keyfile_dict', opts.gcp_keyfile_dict);
    source = serviceAccountClient(gal, 'gcp_keyfile_dict', json, scopes);
    if (typeof json.project_id === 'string') fileProject = json.project_id;
  } else if (opts.gcp_key_path) {
    const json = await readJsonFile('gcp_key_path', opts.gcp_key_path);
    source = serviceAccountClient(gal, 'gcp_key_path', json, scopes);
    if (typeof json.project_id === 'string') fileProject = json.project_id;
  } else if (opts.gcp_credential_config_file) {
    const value = opts.gcp_credential_config_file;
    const json =
      typeof value === 'string' && !value.trim().startsWith('{')
        ? await readJsonFile('gcp_credential_config_file', value)
        : parseJsonKwarg('gcp_credential_config_file', value);
    source = configFileClient(gal, json, scopes);
    if (typeof json.project_id === 'string') fileProject = json.project_id;
  }
  const chain = opts.impersonation_chain;
  if (chain !== null && chain !== undefined) {
    const list = typeof chain === 'string' ? [chain] : [...chain];
    const targetPrincipal = list.at(-1) as string;
    const sourceClient = source ?? (await new gal.GoogleAuth({ scopes }).getClient());
    const impersonated = new gal.Impersonated({
      sourceClient: sourceClient as never,
      targetPrincipal,
      delegates: list.slice(0, -1),
      targetScopes: scopes,
      lifetime: 3600,
    });
    const auth = new gal.GoogleAuth({ authClient: impersonated as never, scopes });
    return fileProject === undefined ? { auth } : { auth, fileProject };
  }
  const auth = source
    ? new gal.GoogleAuth({ authClient: source as never, scopes })
    : new gal.GoogleAuth({ scopes });
  return fileProject === undefined ? { auth } : { auth, fileProject };
}

/** What a client is built from. */
interface ClientSetup {
  opts: ParsedOptions;
  env: Readonly<Record<string, string | undefined>>;
  endpoint: Endpoint | undefined;
  testCredentials: boolean;
  scopes: string[];
}

/** The SDK's client, set up, and the project it reads from. */
async function buildClient(setup: ClientSetup): Promise<Built> {
  const { opts, env, endpoint, testCredentials, scopes } = setup;
  const require = createRequire(import.meta.url);
  const sdkPath = await loadSdk(BACKEND_NAME, '@google-cloud/secret-manager', () =>
    require.resolve('@google-cloud/secret-manager'),
  );
  const sdk = (await import('@google-cloud/secret-manager')) as unknown as {
    SecretManagerServiceClient: new (o: Record<string, unknown>) => SecretManagerClient;
  };
  // The gRPC module and the auth library the SDK itself uses (not whatever is hoisted).
  const gaxPath = createRequire(sdkPath).resolve('google-gax');
  const gax = createRequire(sdkPath)('google-gax') as {
    grpc: { credentials: { createInsecure(): unknown } };
  };
  const clientOptions: Record<string, unknown> = {};
  if (endpoint) {
    clientOptions.apiEndpoint = endpoint.host;
    clientOptions.port = endpoint.port;
  }
  if (testCredentials) {
    const project = opts.project_id as string;
    const client = new sdk.SecretManagerServiceClient({
      ...clientOptions,
      sslCreds: gax.grpc.credentials.createInsecure(),
      // Set so the client does not look for Application Default Credentials to learn it.
      universeDomain: 'googleapis.com',
      projectId: project,
    });
    await client.initialize();
    return { client, project };
  }
  const gal = createRequire(gaxPath)('google-auth-library') as Gal;
  catchMetadataLookupWarnings();
  const { auth, fileProject } = await buildAuth(gal, opts, scopes);
  let project = opts.project_id || fileProject || env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT;
  if (!project) {
    try {
      project = (await auth.getProjectId()) || undefined;
    } catch {
      project = undefined;
    }
  }
  if (!project) {
    throw configError(
      'no project: set `project_id`, use a key that names one, or set $GOOGLE_CLOUD_PROJECT',
    );
  }
  const client = new sdk.SecretManagerServiceClient({ ...clientOptions, auth });
  try {
    // Sets up the channel now: the SDK's methods leave a rejected set-up unhandled (which
    // would end the process), so a client is only used once its set-up has succeeded.
    await client.initialize();
  } catch (err) {
    await closeQuietly(client);
    throw noCredentials(err);
  }
  return { client, project };
}

/** Maps a failed call to a coded, secret-free error (the SDK error is never attached). */
function classify(
  err: unknown,
  what: string,
  details: Record<string, string | number>,
  verb: 'read' | 'write' | 'delete' = 'read',
): AttemptFailure {
  const code =
    typeof (err as { code?: unknown })?.code === 'number'
      ? (err as { code: number }).code
      : undefined;
  const name = code === undefined ? undefined : GRPC_NAMES[code];
  const errName = err instanceof Error ? err.name : typeof err;
  if (code === undefined || name === undefined) {
    // Not a gRPC status: credentials could not be loaded or refreshed, or a local failure.
    return new AttemptFailure(
      new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: could not ${verb} ${what}: no usable Google credentials (${errName})${metadataNote()}`,
        { details: { ...details, error: errName } },
      ),
      false,
    );
  }
  const detailText = String((err as { details?: unknown }).details ?? '');
  const info = { ...details, grpcStatus: name };
  const message = `${BACKEND_NAME}: could not ${verb} ${what} (gRPC ${name})`;
  if (code === 7 || code === 16) {
    return new AttemptFailure(
      new AirlockError('AIRLOCK_ERR_BACKEND_AUTH', message, { details: info }),
      false,
    );
  }
  if (code === 14 && /getting metadata from plugin failed/i.test(detailText)) {
    // grpc-js reports a credential that cannot produce a token as UNAVAILABLE.
    return new AttemptFailure(
      new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: could not ${verb} ${what}: Google credentials could not produce a token`,
        { details: info },
      ),
      false,
    );
  }
  if (code === 4) {
    return new AttemptFailure(
      new AirlockError('AIRLOCK_ERR_BACKEND_TIMEOUT', `${message}: no answer within the deadline`, {
        details: info,
      }),
      true,
    );
  }
  if (code === 9) {
    return new AttemptFailure(
      new AirlockError(
        'AIRLOCK_ERR_BACKEND_VERSION_DISABLED',
        `${BACKEND_NAME}: the latest version of the secret for ${what} is disabled or destroyed (gRPC FAILED_PRECONDITION); enable it or add a new version`,
        { details: info },
      ),
      false,
    );
  }
  if (code === 8) {
    return new AttemptFailure(
      new AirlockError('AIRLOCK_ERR_BACKEND_THROTTLED', `${message}: quota exceeded`, {
        details: info,
      }),
      true,
    );
  }
  return new AttemptFailure(
    new AirlockError('AIRLOCK_ERR_BACKEND_UNAVAILABLE', message, { details: info }),
    RETRYABLE.has(code),
  );
}

/** The payload as text once its CRC32C matches, or a (retryable) failure. */
function checkPayload(
  response: AccessResponse,
  what: string,
  details: Record<string, string | number>,
): string | AttemptFailure {
  const raw = response.payload?.data;
  const data =
    raw === null || raw === undefined
      ? new Uint8Array()
      : typeof raw === 'string'
        ? Buffer.from(raw, 'base64')
        : raw;
  const expected = response.payload?.dataCrc32c;
  if (expected !== null && expected !== undefined) {
    let matches = false;
    try {
      matches = BigInt(String(expected)) === BigInt(crc32c(data));
    } catch {
      matches = false;
    }
    if (!matches) {
      return new AttemptFailure(
        new AirlockError(
          'AIRLOCK_ERR_BACKEND_CHECKSUM_MISMATCH',
          `${BACKEND_NAME}: the payload read for ${what} does not match its CRC32C checksum`,
          { details },
        ),
        true,
      );
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return new AttemptFailure(
      new AirlockError(
        'AIRLOCK_ERR_BACKEND_VALUE_INVALID',
        `${BACKEND_NAME}: the secret for ${what} is not UTF-8 text`,
        { details },
      ),
      false,
    );
  }
}

/** Airflow's list of Variable keys: the secrets whose id starts with `head`, without it. */
async function listSecretKeys(
  { client, project }: Built,
  head: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const parent = `projects/${project}`;
  try {
    const [secrets] = await client.listSecrets(
      { parent, ...(head === '' ? {} : { filter: `name:${head}` }) },
      {
        timeout: timeoutMs,
        retry: null,
        autoPaginate: true,
        ...(signal ? { signal } : {}),
      },
    );
    return keysUnder(
      secrets.map((secret) => (secret.name ?? '').split('/').at(-1) ?? ''),
      head,
    );
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw classify(err, 'the list of variables', { backend: BACKEND_NAME, kind: 'variable' }).error;
  }
}

/** The kwargs in effect, credentials masked. */
function describeOptions(
  opts: ParsedOptions,
  scopes: string[],
  testCredentials: boolean,
): Record<string, unknown> {
  return {
    type: BACKEND_NAME,
    connections_prefix: opts.connections_prefix,
    variables_prefix: opts.variables_prefix,
    config_prefix: opts.config_prefix,
    sep: opts.sep,
    project_id: opts.project_id ?? null,
    gcp_key_path: opts.gcp_key_path ?? null,
    gcp_keyfile_dict: opts.gcp_keyfile_dict ? '***' : null,
    gcp_credential_config_file:
      typeof opts.gcp_credential_config_file === 'string' &&
      !opts.gcp_credential_config_file.trim().startsWith('{')
        ? opts.gcp_credential_config_file
        : opts.gcp_credential_config_file
          ? '***'
          : null,
    gcp_scopes: scopes.join(','),
    impersonation_chain: opts.impersonation_chain ?? null,
    endpoint_url: opts.endpoint_url ?? null,
    timeout_ms: opts.timeout_ms,
    max_retries: opts.max_retries,
    test_credentials: testCredentials,
  };
}

/**
 * Creates the Google Cloud Secret Manager backend.
 *
 * @example
 * ```ts
 * const gcp = createGcpSecretManagerBackend({ project_id: 'my-project' });
 * await gcp.getVariable('db_url'); // reads projects/my-project/secrets/airflow-variables-db_url
 * ```
 */
export function createGcpSecretManagerBackend(
  options: GcpSecretManagerBackendOptions = {},
  deps: GcpSecretManagerBackendDeps = {},
): SecretsBackend {
  const opts: ParsedOptions = parseOptions(BACKEND_NAME, gcpSecretManagerOptionsSchema, options);
  const env = deps.env ?? process.env;
  const random = deps.random ?? Math.random;
  const endpoint = opts.endpoint_url ? parseEndpoint(opts.endpoint_url) : undefined;
  const testCredentials = assertTestCredentialsAllowed(BACKEND_NAME, opts.endpoint_url, env);
  if (testCredentials && !opts.project_id) {
    throw configError(
      'project_id is required with AIRLOCK_TEST_CREDENTIALS=1 (no credentials to take it from)',
    );
  }
  const scopes = opts.gcp_scopes
    ? opts.gcp_scopes
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [...DEFAULT_SCOPES];

  let building: Promise<Built> | undefined;
  let built: Built | undefined;
  let disposed = false;

  async function getClient(): Promise<Built> {
    if (disposed) {
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
        `${BACKEND_NAME}: the backend was disposed`,
        {
          details: { backend: BACKEND_NAME },
        },
      );
    }
    if (built) return built;
    building ??= buildClient({ opts, env, endpoint, testCredentials, scopes }).then(
      (b) => {
        built = b;
        return b;
      },
      (err: unknown) => {
        // A failed build (an unreadable key, no project) is tried again at the next lookup.
        building = undefined;
        throw err;
      },
    );
    return building;
  }

  /** The memoised client; a failure to build it is a coded error naming the lookup. */
  async function clientFor(what: string, details: Record<string, string | number>): Promise<Built> {
    try {
      return await getClient();
    } catch (err) {
      if (isAirlockError(err)) throw err;
      const name = err instanceof Error ? err.name : typeof err;
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_AUTH',
        `${BACKEND_NAME}: could not read ${what}: no usable Google credentials (${name})${metadataNote()}; see docs/backends/gcp-secret-manager.md#authentication`,
        { details: { ...details, error: name } },
      );
    }
  }

  function forget(client: SecretManagerClient): void {
    if (built?.client !== client) return;
    built = undefined;
    building = undefined;
    void closeQuietly(client);
  }

  function prefixFor(kind: SecretKind): string | null {
    return kind === 'variable' ? opts.variables_prefix : opts.connections_prefix;
  }

  /** Airflow's `build_path`: `{prefix}{sep}{id}`, nothing trimmed or replaced. */
  function secretId(kind: SecretKind, id: string): string | undefined {
    const prefix = prefixFor(kind);
    return prefix === null ? undefined : `${prefix}${opts.sep}${id}`;
  }

  function describeWhat(kind: SecretKind, id: string): string {
    return `${kind} \`${id}\``;
  }

  async function access(
    kind: SecretKind,
    id: string,
    prefix: string | null,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    if (prefix === null) return undefined;
    const sid = `${prefix}${opts.sep}${id}`;
    // A name Google refuses cannot hold a value: answer "not here" without a call (Airflow
    // makes the call, gets INVALID_ARGUMENT and returns None).
    if (!SECRET_ID_PATTERN.test(sid)) return undefined;
    signal?.throwIfAborted();
    const what = describeWhat(kind, id);
    const details = { backend: BACKEND_NAME, kind, id, secret: sid };
    const { client, project } = await clientFor(what, details);
    const name = `projects/${project}/secrets/${sid}/versions/latest`;
    const deadline = Date.now() + opts.timeout_ms;
    let last: AirlockError | undefined;
    /** Past the deadline: the last failure, or a timeout when that was one (or none). */
    const expired = () =>
      last && last.code !== 'AIRLOCK_ERR_BACKEND_TIMEOUT'
        ? last
        : new AirlockError(
            'AIRLOCK_ERR_BACKEND_TIMEOUT',
            `${BACKEND_NAME}: reading ${what} took longer than ${opts.timeout_ms} ms`,
            { details: { ...details, timeoutMs: opts.timeout_ms } },
          );
    return withRetry(
      async () => {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw expired();
        try {
          const [response] = await client.accessSecretVersion(
            { name },
            { timeout: remaining, retry: null, ...(signal ? { signal } : {}) },
          );
          const checked = checkPayload(response, what, details);
          if (typeof checked === 'string') return checked;
          last = checked.error;
          throw checked;
        } catch (err) {
          if (err instanceof AttemptFailure || signal?.aborted) throw err;
          if ((err as { code?: unknown })?.code === 5) return undefined;
          if (typeof (err as { code?: unknown })?.code !== 'number') {
            // The client could not get credentials (its channel setup failed and stays failed):
            // build a new one at the next lookup, in case the credentials have come back.
            forget(client);
          }
          const failure = classify(err, what, details);
          last = failure.error;
          throw failure;
        }
      },
      {
        retries: opts.max_retries,
        delayMs: (n) => Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (n - 1)) * random(),
        retryOn: (err) => err instanceof AttemptFailure && err.retry,
        mayWait: (ms) => Date.now() + ms < deadline,
        giveUp: (err, reason) =>
          reason === 'budget' ? expired() : err instanceof AttemptFailure ? err.error : err,
        signal,
      },
    );
  }

  async function write(
    kind: SecretKind,
    id: string,
    value: string | undefined,
    signal?: AbortSignal,
  ) {
    const sid = writableName(
      BACKEND_NAME,
      kind,
      id,
      secretId(kind, id),
      (n) => SECRET_ID_PATTERN.test(n),
      'letters, digits, _ and -, at most 255 characters',
    );
    const verb = value === undefined ? 'delete' : 'write';
    const details = { backend: BACKEND_NAME, kind, id, secret: sid };
    const built = await clientFor(describeWhat(kind, id), details);
    try {
      await writeGcpSecret(built, { sid, value, timeoutMs: opts.timeout_ms }, signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw classify(err, describeWhat(kind, id), details, verb).error;
    }
  }

  return {
    name: BACKEND_NAME,
    async listKeys(kind, signal) {
      const prefix = prefixFor(kind);
      if (prefix === null) return [];
      const built = await clientFor(`the list of ${kind}s`, { backend: BACKEND_NAME, kind });
      return listSecretKeys(built, `${prefix}${opts.sep}`, opts.timeout_ms, signal);
    },
    putSecret: (kind, id, value, signal) => write(kind, id, value, signal),
    deleteSecret: (kind, id, signal) => write(kind, id, undefined, signal),
    getVariable: (key, signal) => access('variable', key, opts.variables_prefix, signal),
    getConnectionValue: (connId, signal) =>
      access('connection', connId, opts.connections_prefix, signal),
    async listVariableKeys(signal) {
      if (opts.variables_prefix === null) return [];
      const built = await clientFor('the list of variables', {
        backend: BACKEND_NAME,
        kind: 'variable',
      });
      return listSecretKeys(built, `${opts.variables_prefix}${opts.sep}`, opts.timeout_ms, signal);
    },
    locate(kind: SecretKind, id: string) {
      const sid = secretId(kind, id);
      if (sid === undefined) return undefined;
      return `projects/${opts.project_id ?? built?.project ?? '<project>'}/secrets/${sid}/versions/latest`;
    },
    describe: () => describeOptions(opts, scopes, testCredentials),
    async dispose() {
      disposed = true;
      const current = built ?? (building ? await building.catch(() => undefined) : undefined);
      built = undefined;
      building = undefined;
      if (current) await closeQuietly(current.client);
    },
  };
}

/** This backend in the registry (`names.ts` loads it on demand, `registry.ts` eagerly). */
export const backendEntry: BackendEntry = {
  optionsSchema: gcpSecretManagerOptionsSchema as BackendEntry['optionsSchema'],
  create: createGcpSecretManagerBackend as BackendEntry['create'],
};
