/**
 * @module testing/fakes/gcp-secret-manager-fake
 * A test double of Google Cloud Secret Manager: the real `google.cloud.secretmanager.v1`
 * gRPC service, served by `@grpc/grpc-js` on `127.0.0.1` without TLS, so that the official
 * `@google-cloud/secret-manager` client talks to it exactly as it talks to Google; and, on the
 * same port, the REST `v1` JSON API (`gcloud secrets …`, curl), over the same store (see
 * `_gcp-rest.ts`). A connection that opens with the HTTP/2 preface is gRPC; any other is REST.
 *
 * The service definition is loaded from the `.proto` files that ship inside the installed
 * `@google-cloud/secret-manager` package (and google-gax's common protos), so the wire format is
 * the SDK's own, not a copy. State lives in memory; nothing is persisted and nothing is secured.
 *
 * What it does like Google: secret ids `[a-zA-Z0-9_-]{1,255}`; `ALREADY_EXISTS` on a second
 * `CreateSecret`; a replication policy is required; versions numbered from 1; `latest` is the most
 * recently created version whatever its state, so reading it while it is disabled or destroyed
 * fails with `FAILED_PRECONDITION` (as Google does; it does not fall back to an older version);
 * `NOT_FOUND` for a missing secret or version; CRC32C checked on `AddSecretVersion` and returned as
 * `data_crc32c` on `AccessSecretVersion`; payloads up to 64 KiB.
 *
 * Faults: `failNext(code)` with a gRPC status (`UNAVAILABLE`, `PERMISSION_DENIED`,
 * `UNAUTHENTICATED`, `RESOURCE_EXHAUSTED`, …), `setLatency(ms)` (a client deadline then gives
 * `DEADLINE_EXCEEDED`), `setThrottle(n)` (more than n requests a second get `RESOURCE_EXHAUSTED`)
 * and `corruptNextChecksum()`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as GrpcJs from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import { crc32c } from '../../backends/_crc32c.ts';
import { createGcpRestHandler, type RestInvoke, splitByProtocol } from './_gcp-rest.ts';
import { serveFake } from './_serve-fake.ts';

/** The project seeded secrets go to when none is named. */
export const DEFAULT_FAKE_PROJECT = 'airlock-fake' as const;

/** The gRPC status codes by name (the numbers are fixed by the gRPC spec). */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status by name, such as `UNAVAILABLE`. */
export type GrpcStatusName = keyof typeof GRPC_STATUS;

/** Options of {@link startGcpSecretManagerFake}. */
export interface GcpSecretManagerFakeOptions {
  /**
   * Port on 127.0.0.1; `0` lets the OS pick a free one (tests should keep 0).
   * @default 0
   */
  port?: number;
  /**
   * The project that {@link GcpSecretManagerFake.seed} writes to when it is not given one.
   * @default 'airlock-fake'
   */
  projectId?: string;
  /** Secrets to create at start: secret id → value (one enabled version each). */
  seed?: Readonly<Record<string, string>>;
}

/** One request the fake received (never its payload). */
export interface FakeCall {
  /** The RPC, such as `AccessSecretVersion`. */
  readonly method: string;
  /** The resource name or parent the request named. */
  readonly resource: string;
  /** The `x-goog-api-client` header: which client library sent it. */
  readonly apiClient: string;
  /** The client's address and port: one gRPC channel keeps one port. */
  readonly peer: string;
  /** `grpc`, or `rest` for the JSON API (gcloud, curl). */
  readonly transport: 'grpc' | 'rest';
}

/** A running Secret Manager fake. */
export interface GcpSecretManagerFake {
  /**
   * `http://127.0.0.1:<port>`: gRPC over cleartext HTTP/2 (give it as `endpoint_url`) and the
   * REST API under `/v1/` (`gcloud config set api_endpoint_overrides/secretmanager <url>/`).
   */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The project {@link seed} writes to by default. */
  readonly projectId: string;
  /** Every request received so far, oldest first. */
  readonly calls: readonly FakeCall[];
  /**
   * Creates each secret (automatic replication) if it is missing and adds a new enabled version
   * holding the value.
   */
  seed(secrets: Readonly<Record<string, string>>, projectId?: string): void;
  /**
   * Answers the next `count` requests (of `method` only, if given) with the gRPC status `code`.
   */
  failNext(code: GrpcStatusName | number, count?: number, method?: string): void;
  /** Delays every answer by `ms` milliseconds (0 turns it off). */
  setLatency(ms: number): void;
  /** More than `perSecond` requests within one second get `RESOURCE_EXHAUSTED`; `null`: off. */
  setThrottle(perSecond: number | null): void;
  /** Makes the next `count` `AccessSecretVersion` answers carry a wrong `data_crc32c`. */
  corruptNextChecksum(count?: number): void;
  /** Clears pending faults, latency, throttling and the call log (the secrets stay). */
  resetFaults(): void;
  /** Stops the server, drops open calls and clears timers. */
  close(): Promise<void>;
}

type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

interface Timestamp {
  seconds: string;
  nanos: number;
}

interface StoredVersion {
  number: number;
  state: VersionState;
  data: Buffer | null;
  crc: number;
  createTime: Timestamp;
  destroyTime: Timestamp | null;
  clientSpecifiedPayloadChecksum: boolean;
  etag: string;
}

interface StoredSecret {
  name: string;
  secret: Record<string, unknown>;
  createTime: Timestamp;
  etag: string;
  versions: StoredVersion[];
}

interface PendingFailure {
  code: number;
  remaining: number;
  method: string | undefined;
}

const SECRET_ID = /^[a-zA-Z0-9_-]{1,255}$/;

/** The RPCs served, each with the request field that names its resource (for the call log). */
const RESOURCE_FIELDS: Readonly<Record<string, 'name' | 'parent'>> = {
  CreateSecret: 'parent',
  GetSecret: 'name',
  ListSecrets: 'parent',
  DeleteSecret: 'name',
  AddSecretVersion: 'parent',
  ListSecretVersions: 'parent',
  GetSecretVersion: 'name',
  AccessSecretVersion: 'name',
  DisableSecretVersion: 'name',
  EnableSecretVersion: 'name',
  DestroySecretVersion: 'name',
};
const MAX_PAYLOAD_BYTES = 65_536;

class FakeStatus extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'FakeStatus';
    this.code = code;
  }
}

const fail = (code: GrpcStatusName, message: string) => new FakeStatus(GRPC_STATUS[code], message);

function now(): Timestamp {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

let etagCounter = 0;
function nextEtag(): string {
  etagCounter += 1;
  return `"${Date.now().toString(16)}${etagCounter.toString(16).padStart(4, '0')}"`;
}

function statusCode(code: GrpcStatusName | number): number {
  if (typeof code === 'number') {
    if (!Number.isInteger(code) || code < 1 || code > 16) {
      throw new RangeError(`failNext: ${code} is not a gRPC error status (1-16)`);
    }
    return code;
  }
  const value = GRPC_STATUS[code];
  if (value === undefined || value === 0) throw new RangeError(`failNext: unknown status ${code}`);
  return value;
}

/**
 * Where the SDK and its google-gax live, and a `require` that resolves from google-gax: the gRPC
 * packages are its dependencies, so they are found wherever the package manager put them.
 */
function locateSdk(): { includeDirs: string[]; requireFromGax: NodeJS.Require } {
  const require = createRequire(import.meta.url);
  const sdkMain = require.resolve('@google-cloud/secret-manager');
  // build/src/index.js → package root.
  const sdkRoot = join(dirname(sdkMain), '..', '..');
  const gaxMain = createRequire(sdkMain).resolve('google-gax');
  const gaxRoot = join(dirname(gaxMain), '..', '..');
  return {
    includeDirs: [join(sdkRoot, 'build', 'protos'), join(gaxRoot, 'build', 'protos')],
    requireFromGax: createRequire(gaxMain),
  };
}

function parseProject(parent: string): string {
  const m = /^projects\/([^/]+)$/.exec(parent);
  if (!m?.[1]) {
    throw fail(
      'INVALID_ARGUMENT',
      `Invalid resource field value in the request: parent [${parent}]`,
    );
  }
  return m[1];
}

function parseSecretName(name: string): { project: string; secretId: string; name: string } {
  const m = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name);
  if (!m?.[1] || !m[2] || !SECRET_ID.test(m[2])) {
    throw fail('INVALID_ARGUMENT', `Invalid resource field value in the request: name [${name}]`);
  }
  return { project: m[1], secretId: m[2], name };
}

function parseVersionName(name: string): { secret: string; version: string } {
  const m = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/.exec(name);
  if (!m?.[1] || !m[2] || !(m[2] === 'latest' || /^[1-9][0-9]*$/.test(m[2]))) {
    throw fail('INVALID_ARGUMENT', `Invalid resource field value in the request: name [${name}]`);
  }
  parseSecretName(m[1]);
  return { secret: m[1], version: m[2] };
}

function pageOf<T>(items: T[], pageSize: number, pageToken: string): { page: T[]; next: string } {
  let start = 0;
  if (pageToken !== '') {
    start = Number.parseInt(Buffer.from(pageToken, 'base64url').toString('utf8'), 10);
    if (!Number.isInteger(start) || start < 0 || start > items.length) {
      throw fail('INVALID_ARGUMENT', 'Invalid page token.');
    }
  }
  if (pageSize < 0) throw fail('INVALID_ARGUMENT', 'page_size must be positive.');
  const size = pageSize === 0 ? 25_000 : Math.min(pageSize, 25_000);
  const end = start + size;
  return {
    page: items.slice(start, end),
    next: end < items.length ? Buffer.from(String(end), 'utf8').toString('base64url') : '',
  };
}

/**
 * Starts the fake on `127.0.0.1` and resolves once it is listening.
 *
 * @example
 * ```ts
 * const fake = await startGcpSecretManagerFake({ seed: { 'airflow-variables-hello': 'world' } });
 * const client = new SecretManagerServiceClient({
 *   apiEndpoint: fake.host, port: fake.port, sslCreds: grpc.credentials.createInsecure(),
 * });
 * await fake.close();
 * ```
 */
export async function startGcpSecretManagerFake(
  options: GcpSecretManagerFakeOptions = {},
): Promise<GcpSecretManagerFake> {
  const { includeDirs, requireFromGax } = locateSdk();
  const grpc = requireFromGax('@grpc/grpc-js') as typeof GrpcJs;
  const protoLoader = requireFromGax('@grpc/proto-loader') as typeof ProtoLoader;
  const definition = protoLoader.loadSync('google/cloud/secretmanager/v1/service.proto', {
    includeDirs,
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    google: {
      cloud: {
        secretmanager: { v1: { SecretManagerService: { service: GrpcJs.ServiceDefinition } } };
      };
    };
  };
  const service = loaded.google.cloud.secretmanager.v1.SecretManagerService.service;

  const projectId = options.projectId ?? DEFAULT_FAKE_PROJECT;
  const secrets = new Map<string, StoredSecret>();
  const calls: FakeCall[] = [];
  let failures: PendingFailure[] = [];
  let latencyMs = 0;
  let throttle: number | null = null;
  let recent: number[] = [];
  let corruptChecksums = 0;
  const timers = new Map<NodeJS.Timeout, () => void>();

  function getSecret(name: string): StoredSecret {
    const secret = secrets.get(name);
    if (!secret) throw fail('NOT_FOUND', `Secret [${name}] not found.`);
    return secret;
  }

  function findVersion(secret: StoredSecret, version: string, fullName: string): StoredVersion {
    const found =
      version === 'latest'
        ? secret.versions.at(-1)
        : secret.versions.find((v) => v.number === Number(version));
    if (!found) {
      if (version === 'latest') {
        throw fail('NOT_FOUND', `Secret [${secret.name}] not found or has no versions.`);
      }
      throw fail('NOT_FOUND', `Secret Version [${fullName}] not found.`);
    }
    return found;
  }

  function secretView(s: StoredSecret): Record<string, unknown> {
    return { ...s.secret, name: s.name, createTime: s.createTime, etag: s.etag };
  }

  function versionView(s: StoredSecret, v: StoredVersion): Record<string, unknown> {
    return {
      name: `${s.name}/versions/${v.number}`,
      createTime: v.createTime,
      ...(v.destroyTime ? { destroyTime: v.destroyTime } : {}),
      state: v.state,
      etag: v.etag,
      clientSpecifiedPayloadChecksum: v.clientSpecifiedPayloadChecksum,
    };
  }

  function createSecret(parent: string, secretId: string, secret: Record<string, unknown>) {
    parseProject(parent);
    if (!SECRET_ID.test(secretId)) {
      throw fail(
        'INVALID_ARGUMENT',
        'Secret id must be 1-255 characters of letters, digits, underscores and hyphens.',
      );
    }
    const replication = secret.replication as Record<string, unknown> | null | undefined;
    if (!replication || (!replication.automatic && !replication.userManaged)) {
      throw fail('INVALID_ARGUMENT', 'Secret.replication must be specified.');
    }
    const name = `${parent}/secrets/${secretId}`;
    if (secrets.has(name)) throw fail('ALREADY_EXISTS', `Secret [${name}] already exists.`);
    const stored: StoredSecret = {
      name,
      secret: { replication, labels: secret.labels ?? {}, annotations: secret.annotations ?? {} },
      createTime: now(),
      etag: nextEtag(),
      versions: [],
    };
    secrets.set(name, stored);
    return stored;
  }

  function addVersion(parent: string, data: Buffer, checksum: string | null): StoredVersion {
    parseSecretName(parent);
    const secret = getSecret(parent);
    if (data.length > MAX_PAYLOAD_BYTES) {
      throw fail('INVALID_ARGUMENT', 'Secret payload data must be no larger than 64KiB.');
    }
    const crc = crc32c(data);
    if (checksum !== null && BigInt(checksum) !== BigInt(crc)) {
      throw fail('INVALID_ARGUMENT', 'Checksum mismatch: the data_crc32c does not match the data.');
    }
    const version: StoredVersion = {
      number: (secret.versions.at(-1)?.number ?? 0) + 1,
      state: 'ENABLED',
      data: Buffer.from(data),
      crc,
      createTime: now(),
      destroyTime: null,
      clientSpecifiedPayloadChecksum: checksum !== null,
      etag: nextEtag(),
    };
    secret.versions.push(version);
    return version;
  }

  function seed(values: Readonly<Record<string, string>>, project = projectId): void {
    for (const [secretId, value] of Object.entries(values)) {
      const name = `projects/${project}/secrets/${secretId}`;
      if (!secrets.has(name)) {
        createSecret(`projects/${project}`, secretId, { replication: { automatic: {} } });
      }
      addVersion(name, Buffer.from(value, 'utf8'), null);
    }
  }

  function delay(): Promise<void> {
    if (latencyMs === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, latencyMs);
      timers.set(timer, resolve);
    });
  }

  function takeFailure(method: string): number | undefined {
    const index = failures.findIndex((f) => f.method === undefined || f.method === method);
    const failure = failures[index];
    if (!failure) return undefined;
    failure.remaining -= 1;
    if (failure.remaining === 0) failures.splice(index, 1);
    return failure.code;
  }

  function throttled(): boolean {
    const at = Date.now();
    recent = recent.filter((t) => at - t < 1000);
    recent.push(at);
    return throttle !== null && recent.length > throttle;
  }

  type Handler = (request: Record<string, unknown>) => unknown;

  /**
   * Runs one RPC the way both transports share it: the call log, injected failures, throttling,
   * latency, then the handler. Resolves with the answer or a {@link FakeStatus}; `undefined` when
   * the client went away while it waited.
   */
  async function invoke(
    method: string,
    request: Record<string, unknown>,
    resourceField: string,
    from: Omit<FakeCall, 'method' | 'resource'>,
    cancelled: () => boolean,
  ): ReturnType<RestInvoke> {
    const resource = String(request[resourceField] ?? '');
    calls.push({ method, resource, ...from });
    const injected = takeFailure(method);
    const overQuota = throttled();
    await delay();
    if (cancelled()) return undefined;
    if (injected !== undefined) {
      return { ok: false, code: injected, message: `injected failure (${method})` };
    }
    if (overQuota) {
      return {
        ok: false,
        code: GRPC_STATUS.RESOURCE_EXHAUSTED,
        message: `Quota exceeded for quota metric 'Access requests' (fake limit ${throttle} per second).`,
      };
    }
    const handler = handlers[method];
    if (!handler) {
      return { ok: false, code: GRPC_STATUS.UNIMPLEMENTED, message: `${method} is not served.` };
    }
    try {
      return { ok: true, value: handler(request) };
    } catch (error) {
      if (error instanceof FakeStatus)
        return { ok: false, code: error.code, message: error.message };
      return { ok: false, code: GRPC_STATUS.INTERNAL, message: 'fake server error' };
    }
  }

  /** A gRPC unary handler for `method` over {@link invoke}. */
  function unary(method: string, resourceField: string) {
    return (
      call: GrpcJs.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: GrpcJs.sendUnaryData<unknown>,
    ) => {
      const apiClient = call.metadata.get('x-goog-api-client').map(String).join(' ');
      const from = { apiClient, peer: call.getPeer(), transport: 'grpc' as const };
      void invoke(method, call.request, resourceField, from, () => call.cancelled).then(
        (outcome) => {
          if (!outcome) return;
          if (outcome.ok) callback(null, outcome.value);
          else callback({ code: outcome.code, details: outcome.message });
        },
      );
    };
  }

  const str = (v: unknown) => (typeof v === 'string' ? v : '');

  /** The RPCs by name, each taking the request as proto-loader decodes it. */
  const handlers: Record<string, Handler> = {
    CreateSecret: (req) => {
      const stored = createSecret(
        str(req.parent),
        str(req.secretId),
        (req.secret as Record<string, unknown> | null) ?? {},
      );
      return secretView(stored);
    },
    GetSecret: (req) => {
      const { name } = parseSecretName(str(req.name));
      return secretView(getSecret(name));
    },
    ListSecrets: (req) => {
      const parent = str(req.parent);
      parseProject(parent);
      const filter = str(req.filter);
      const nameFilter = /^name:(\S+)$/.exec(filter);
      if (filter !== '' && !nameFilter) {
        throw fail('INVALID_ARGUMENT', 'The fake supports only `name:<text>` filters.');
      }
      const all = [...secrets.values()]
        .filter((s) => s.name.startsWith(`${parent}/secrets/`))
        .filter((s) => !nameFilter?.[1] || s.name.includes(nameFilter[1]))
        .sort((a, b) => a.name.localeCompare(b.name));
      const { page, next } = pageOf(all, Number(req.pageSize ?? 0), str(req.pageToken));
      return { secrets: page.map(secretView), nextPageToken: next, totalSize: all.length };
    },
    DeleteSecret: (req) => {
      const { name } = parseSecretName(str(req.name));
      const secret = getSecret(name);
      const etag = str(req.etag);
      if (etag !== '' && etag !== secret.etag) {
        throw fail('ABORTED', `The etag does not match the current etag of Secret [${name}].`);
      }
      secrets.delete(name);
      return {};
    },
    AddSecretVersion: (req) => {
      const parent = str(req.parent);
      const payload = (req.payload as { data?: Buffer; dataCrc32c?: string | null } | null) ?? {};
      const checksum =
        payload.dataCrc32c === undefined || payload.dataCrc32c === null
          ? null
          : String(payload.dataCrc32c);
      const version = addVersion(parent, payload.data ?? Buffer.alloc(0), checksum);
      return versionView(getSecret(parent), version);
    },
    ListSecretVersions: (req) => {
      const { name } = parseSecretName(str(req.parent));
      const secret = getSecret(name);
      const all = [...secret.versions].reverse();
      const { page, next } = pageOf(all, Number(req.pageSize ?? 0), str(req.pageToken));
      return {
        versions: page.map((v) => versionView(secret, v)),
        nextPageToken: next,
        totalSize: all.length,
      };
    },
    GetSecretVersion: (req) => {
      const fullName = str(req.name);
      const { secret: secretName, version } = parseVersionName(fullName);
      const secret = getSecret(secretName);
      return versionView(secret, findVersion(secret, version, fullName));
    },
    AccessSecretVersion: (req) => {
      const fullName = str(req.name);
      const { secret: secretName, version } = parseVersionName(fullName);
      const secret = secrets.get(secretName);
      if (!secret) throw fail('NOT_FOUND', `Secret [${secretName}] not found or has no versions.`);
      const found = findVersion(secret, version, fullName);
      const resolved = `${secret.name}/versions/${found.number}`;
      if (found.state !== 'ENABLED' || found.data === null) {
        throw fail(
          'FAILED_PRECONDITION',
          `Secret Version [${resolved}] is in ${found.state} state.`,
        );
      }
      let crc = found.crc;
      if (corruptChecksums > 0) {
        corruptChecksums -= 1;
        crc = (crc ^ 0x1) >>> 0;
      }
      return { name: resolved, payload: { data: found.data, dataCrc32c: String(crc) } };
    },
    DisableSecretVersion: (req) => changeState(str(req.name), str(req.etag), 'DISABLED'),
    EnableSecretVersion: (req) => changeState(str(req.name), str(req.etag), 'ENABLED'),
    DestroySecretVersion: (req) => changeState(str(req.name), str(req.etag), 'DESTROYED'),
  };

  function changeState(fullName: string, etag: string, state: VersionState) {
    const { secret: secretName, version } = parseVersionName(fullName);
    const secret = getSecret(secretName);
    const found = findVersion(secret, version, fullName);
    if (etag !== '' && etag !== found.etag) {
      throw fail('ABORTED', `The etag does not match the current etag of [${fullName}].`);
    }
    if (found.state === 'DESTROYED') {
      throw fail(
        'FAILED_PRECONDITION',
        `Secret Version [${secret.name}/versions/${found.number}] is in DESTROYED state.`,
      );
    }
    found.state = state;
    found.etag = nextEtag();
    if (state === 'DESTROYED') {
      found.data = null;
      found.destroyTime = now();
    }
    return versionView(secret, found);
  }

  const implementation: GrpcJs.UntypedServiceImplementation = {};
  for (const [method, field] of Object.entries(RESOURCE_FIELDS)) {
    implementation[method] = unary(method, field);
  }
  const server = new grpc.Server();
  server.addService(service, implementation);
  // gRPC and REST each listen on a loopback port of their own; the port clients see splits
  // connections between them by their first bytes, as Google's front end serves both.
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  const rest = await serveFake(createGcpRestHandler(invoke));
  const split = await splitByProtocol(options.port ?? 0, grpcPort, rest.port);
  const port = split.port;

  if (options.seed) seed(options.seed);

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    projectId,
    calls,
    seed,
    failNext(code, count = 1, method) {
      if (!Number.isInteger(count) || count < 1) {
        throw new RangeError('failNext: count must be >= 1');
      }
      failures.push({ code: statusCode(code), remaining: count, method });
    },
    setLatency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('setLatency: ms must be >= 0');
      latencyMs = ms;
    },
    setThrottle(perSecond) {
      if (perSecond !== null && (!Number.isInteger(perSecond) || perSecond < 0)) {
        throw new RangeError('setThrottle: perSecond must be an integer >= 0, or null');
      }
      throttle = perSecond;
      recent = [];
    },
    corruptNextChecksum(count = 1) {
      if (!Number.isInteger(count) || count < 1) {
        throw new RangeError('corruptNextChecksum: count must be >= 1');
      }
      corruptChecksums += count;
    },
    resetFaults() {
      failures = [];
      latencyMs = 0;
      throttle = null;
      recent = [];
      corruptChecksums = 0;
      calls.length = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const [timer, release] of timers) {
          clearTimeout(timer);
          release();
        }
        timers.clear();
        server.forceShutdown();
        void Promise.all([split.close(), rest.close()]).then(() => resolve());
      });
      return closing;
    },
  };
}
