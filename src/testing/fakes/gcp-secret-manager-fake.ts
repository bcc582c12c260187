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
import { loadSdk } from '../../backends/_sdk.ts';
import { createGcpRestHandler, type RestInvoke, splitByProtocol } from './_gcp-rest.ts';
import {
  FakeStatus,
  GcpSecretStore,
  GRPC_STATUS,
  type GrpcStatusName,
  RESOURCE_FIELDS,
} from './_gcp-secrets.ts';
import { serveFake } from './_serve-fake.ts';

export { GRPC_STATUS, type GrpcStatusName } from './_gcp-secrets.ts';

/** The project seeded secrets go to when none is named. */
export const DEFAULT_FAKE_PROJECT = 'airlock-fake' as const;

/** The gRPC status codes by name (the numbers are fixed by the gRPC spec). */
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

interface PendingFailure {
  code: number;
  remaining: number;
  method: string | undefined;
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

/** The double's fault injection, shared by both transports: failures, latency, throttling. */
class RpcFaults {
  failures: PendingFailure[] = [];
  latencyMs = 0;
  throttle: number | null = null;
  recent: number[] = [];
  private readonly timers = new Map<NodeJS.Timeout, () => void>();

  delay(): Promise<void> {
    if (this.latencyMs === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, this.latencyMs);
      this.timers.set(timer, resolve);
    });
  }

  takeFailure(method: string): number | undefined {
    const index = this.failures.findIndex((f) => f.method === undefined || f.method === method);
    const failure = this.failures[index];
    if (!failure) return undefined;
    failure.remaining -= 1;
    if (failure.remaining === 0) this.failures.splice(index, 1);
    return failure.code;
  }

  throttled(): boolean {
    const at = Date.now();
    this.recent = this.recent.filter((t) => at - t < 1000);
    this.recent.push(at);
    return this.throttle !== null && this.recent.length > this.throttle;
  }

  reset(): void {
    this.failures = [];
    this.latencyMs = 0;
    this.throttle = null;
    this.recent = [];
  }

  /** Releases every delayed answer at once. */
  dispose(): void {
    for (const [timer, release] of this.timers) {
      clearTimeout(timer);
      release();
    }
    this.timers.clear();
  }
}

/**
 * Runs one RPC the way both transports share it: the call log, injected failures, throttling,
 * latency, then the handler. Resolves with the answer or a {@link FakeStatus}; `undefined` when
 * the client went away while it waited.
 */
function createInvoke(store: GcpSecretStore, faults: RpcFaults, calls: FakeCall[]): RestInvoke {
  return async (method, request, resourceField, from, cancelled) => {
    const resource = String(request[resourceField] ?? '');
    calls.push({ method, resource, ...from });
    const injected = faults.takeFailure(method);
    const overQuota = faults.throttled();
    await faults.delay();
    if (cancelled()) return undefined;
    if (injected !== undefined) {
      return { ok: false, code: injected, message: `injected failure (${method})` };
    }
    if (overQuota) {
      return {
        ok: false,
        code: GRPC_STATUS.RESOURCE_EXHAUSTED,
        message: `Quota exceeded for quota metric 'Access requests' (fake limit ${faults.throttle} per second).`,
      };
    }
    const handler = store.handlers[method];
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
  };
}

/** A gRPC unary handler for `method` over `invoke`. */
function unary(invoke: RestInvoke, method: string, resourceField: string) {
  return (
    call: GrpcJs.ServerUnaryCall<Record<string, unknown>, unknown>,
    callback: GrpcJs.sendUnaryData<unknown>,
  ) => {
    const apiClient = call.metadata.get('x-goog-api-client').map(String).join(' ');
    const from = { apiClient, peer: call.getPeer(), transport: 'grpc' as const };
    void invoke(method, call.request, resourceField, from, () => call.cancelled).then((outcome) => {
      if (!outcome) return;
      if (outcome.ok) callback(null, outcome.value);
      else callback({ code: outcome.code, details: outcome.message });
    });
  };
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

/**
 * The Secret Manager gRPC service definition, from the SDK's own protos, and the gRPC package
 * google-gax uses. The SDK and the gRPC packages are optional peer dependencies: a missing one
 * fails with one coded line naming it.
 */
async function loadService(): Promise<{
  grpc: typeof GrpcJs;
  service: GrpcJs.ServiceDefinition;
}> {
  const double = 'the Google Secret Manager double';
  const { includeDirs, requireFromGax } = await loadSdk(
    double,
    '@google-cloud/secret-manager',
    locateSdk,
  );
  const grpc = await loadSdk(
    double,
    '@grpc/grpc-js',
    () => requireFromGax('@grpc/grpc-js') as typeof GrpcJs,
  );
  const protoLoader = await loadSdk(
    double,
    '@grpc/proto-loader',
    () => requireFromGax('@grpc/proto-loader') as typeof ProtoLoader,
  );
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
  return { grpc, service: loaded.google.cloud.secretmanager.v1.SecretManagerService.service };
}

export async function startGcpSecretManagerFake(
  options: GcpSecretManagerFakeOptions = {},
): Promise<GcpSecretManagerFake> {
  const { grpc, service } = await loadService();
  const projectId = options.projectId ?? DEFAULT_FAKE_PROJECT;
  const store = new GcpSecretStore();
  const faults = new RpcFaults();
  const calls: FakeCall[] = [];
  const invoke = createInvoke(store, faults, calls);
  const seed = (values: Readonly<Record<string, string>>, project = projectId) =>
    store.seed(values, project);

  const implementation: GrpcJs.UntypedServiceImplementation = {};
  for (const [method, field] of Object.entries(RESOURCE_FIELDS)) {
    implementation[method] = unary(invoke, method, field);
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
      faults.failures.push({ code: statusCode(code), remaining: count, method });
    },
    setLatency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('setLatency: ms must be >= 0');
      faults.latencyMs = ms;
    },
    setThrottle(perSecond) {
      if (perSecond !== null && (!Number.isInteger(perSecond) || perSecond < 0)) {
        throw new RangeError('setThrottle: perSecond must be an integer >= 0, or null');
      }
      faults.throttle = perSecond;
      faults.recent = [];
    },
    corruptNextChecksum(count = 1) {
      if (!Number.isInteger(count) || count < 1) {
        throw new RangeError('corruptNextChecksum: count must be >= 1');
      }
      store.corruptChecksums += count;
    },
    resetFaults() {
      faults.reset();
      store.corruptChecksums = 0;
      calls.length = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        faults.dispose();
        server.forceShutdown();
        void Promise.all([split.close(), rest.close()]).then(() => resolve());
      });
      return closing;
    },
  };
}
