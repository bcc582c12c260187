/**
 * @module testing/fakes/_gcp-rest
 * The REST half of the Secret Manager double: Google's `v1` JSON API (the one `gcloud` and the
 * REST reference use), translated into the same RPCs the gRPC side runs, so both transports share
 * one store, one call log and one set of faults. Also the byte-level split that serves both
 * transports on one port: a connection that opens with the HTTP/2 preface goes to gRPC, anything
 * else to the HTTP/1.1 REST server.
 *
 * JSON follows proto3's mapping as Google's front end writes it: timestamps as RFC 3339 strings,
 * bytes as base64, int64 (`dataCrc32c`, `totalSize` stays a number) as a decimal string, fields
 * at their default value left out, errors as `{"error": {"code", "message", "status"}}`.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { FakeHttpError, readJsonBody, sendJson } from './_serve-fake.ts';

/** What the REST layer asks the fake's core to run: one RPC, as the gRPC side would decode it. */
export type RestInvoke = (
  method: string,
  request: Record<string, unknown>,
  resourceField: string,
  from: { apiClient: string; peer: string; transport: 'rest' },
  cancelled: () => boolean,
) => Promise<
  { ok: true; value: unknown } | { ok: false; code: number; message: string } | undefined
>;

/** gRPC status number → its name and the HTTP status Google's REST front end answers with. */
const STATUS: Readonly<Record<number, readonly [name: string, http: number]>> = {
  1: ['CANCELLED', 499],
  2: ['UNKNOWN', 500],
  3: ['INVALID_ARGUMENT', 400],
  4: ['DEADLINE_EXCEEDED', 504],
  5: ['NOT_FOUND', 404],
  6: ['ALREADY_EXISTS', 409],
  7: ['PERMISSION_DENIED', 403],
  8: ['RESOURCE_EXHAUSTED', 429],
  9: ['FAILED_PRECONDITION', 400],
  10: ['ABORTED', 409],
  11: ['OUT_OF_RANGE', 400],
  12: ['UNIMPLEMENTED', 501],
  13: ['INTERNAL', 500],
  14: ['UNAVAILABLE', 503],
  15: ['DATA_LOSS', 500],
  16: ['UNAUTHENTICATED', 401],
};

class RestError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

function sendError(res: ServerResponse, code: number, message: string): void {
  const [status, http] = STATUS[code] ?? ['UNKNOWN', 500];
  sendJson(res, http, { error: { code: http, message, status } });
}

const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

/** A proto3 JSON timestamp from the `{seconds, nanos}` the store keeps. */
function timestamp(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
  const ms = Number(seconds) * 1000 + Math.floor(Number(nanos ?? 0) / 1_000_000);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** Drops what proto3 JSON leaves out: nulls, empty strings, `false`, and protobufjs's oneof names. */
function compact(value: unknown, oneofs: readonly string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => compact(v));
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined || v === '' || v === false) continue;
    if (oneofs.includes(key) && typeof v === 'string') continue;
    out[key] = compact(v, ['replication', 'expiration', 'encryption']);
  }
  return out;
}

function secretJson(view: unknown): Record<string, unknown> {
  const v = view as Record<string, unknown>;
  const out = compact({ ...v, createTime: timestamp(v.createTime) }, ['expiration']) as Record<
    string,
    unknown
  >;
  for (const key of ['labels', 'annotations']) {
    const map = out[key];
    if (map && typeof map === 'object' && Object.keys(map).length === 0) delete out[key];
  }
  return out;
}

function versionJson(view: unknown): Record<string, unknown> {
  const v = view as Record<string, unknown>;
  return compact({
    ...v,
    createTime: timestamp(v.createTime),
    destroyTime: timestamp(v.destroyTime),
  }) as Record<string, unknown>;
}

function listJson(
  field: 'secrets' | 'versions',
  value: unknown,
  item: (v: unknown) => Record<string, unknown>,
): Record<string, unknown> {
  const v = value as { nextPageToken?: string; totalSize?: number } & Record<string, unknown>;
  const items = (v[field] as unknown[]).map(item);
  return {
    ...(items.length > 0 ? { [field]: items } : {}),
    ...(v.nextPageToken ? { nextPageToken: v.nextPageToken } : {}),
    ...(v.totalSize ? { totalSize: v.totalSize } : {}),
  };
}

function accessJson(value: unknown): Record<string, unknown> {
  const v = value as { name: string; payload: { data: Buffer; dataCrc32c: string } };
  return {
    name: v.name,
    payload: { data: v.payload.data.toString('base64'), dataCrc32c: v.payload.dataCrc32c },
  };
}

/** One REST route: which RPC, how to build its request, how to write its answer. */
interface Route {
  method: string;
  resourceField: string;
  request: (
    resource: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
  ) => Record<string, unknown>;
  response: (value: unknown) => Record<string, unknown>;
  hasBody?: boolean;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RestError(3, 'Invalid JSON payload received. The request body must be an object.');
  }
  return body as Record<string, unknown>;
}

function pageQuery(query: URLSearchParams): Record<string, unknown> {
  const size = query.get('pageSize') ?? '0';
  if (!/^-?\d+$/.test(size)) {
    throw new RestError(3, `Invalid value at 'page_size' (TYPE_INT32), "${size}"`);
  }
  return {
    pageSize: Number(size),
    pageToken: query.get('pageToken') ?? '',
    filter: query.get('filter') ?? '',
  };
}

function payloadRequest(body: Record<string, unknown>): Record<string, unknown> {
  const payload = body.payload;
  if (payload === undefined) return { data: Buffer.alloc(0), dataCrc32c: null };
  if (payload === null || typeof payload !== 'object') {
    throw new RestError(3, "Invalid value at 'payload' (type.googleapis.com/SecretPayload)");
  }
  const { data, dataCrc32c } = payload as { data?: unknown; dataCrc32c?: unknown };
  if (data !== undefined && (typeof data !== 'string' || !BASE64.test(data))) {
    throw new RestError(3, "Invalid value at 'payload.data' (TYPE_BYTES), Base64 decoding failed");
  }
  let checksum: string | null = null;
  if (dataCrc32c !== undefined && dataCrc32c !== null) {
    if (
      !(typeof dataCrc32c === 'string' && /^\d+$/.test(dataCrc32c)) &&
      !(typeof dataCrc32c === 'number' && Number.isSafeInteger(dataCrc32c) && dataCrc32c >= 0)
    ) {
      throw new RestError(3, "Invalid value at 'payload.data_crc32c' (TYPE_INT64)");
    }
    checksum = String(dataCrc32c);
  }
  return {
    data: typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.alloc(0),
    dataCrc32c: checksum,
  };
}

const etagRequest = (name: string, _q: URLSearchParams, body: Record<string, unknown>) => ({
  name,
  etag: typeof body.etag === 'string' ? body.etag : '',
});

/** `<HTTP method> <kind>[:verb]` → route. Kinds: project, secret, versions, version. */
const ROUTES: Readonly<Record<string, Route>> = {
  'POST project/secrets': {
    method: 'CreateSecret',
    resourceField: 'parent',
    hasBody: true,
    request: (parent, query, body) => ({
      parent,
      secretId: query.get('secretId') ?? '',
      secret: body,
    }),
    response: secretJson,
  },
  'GET project/secrets': {
    method: 'ListSecrets',
    resourceField: 'parent',
    request: (parent, query) => ({ parent, ...pageQuery(query) }),
    response: (v) => listJson('secrets', v, secretJson),
  },
  'GET secret': {
    method: 'GetSecret',
    resourceField: 'name',
    request: (name) => ({ name }),
    response: secretJson,
  },
  'DELETE secret': {
    method: 'DeleteSecret',
    resourceField: 'name',
    request: (name, query) => ({ name, etag: query.get('etag') ?? '' }),
    response: () => ({}),
  },
  'POST secret:addVersion': {
    method: 'AddSecretVersion',
    resourceField: 'parent',
    hasBody: true,
    request: (parent, _query, body) => ({ parent, payload: payloadRequest(body) }),
    response: versionJson,
  },
  'GET secret/versions': {
    method: 'ListSecretVersions',
    resourceField: 'parent',
    request: (parent, query) => ({ parent, ...pageQuery(query) }),
    response: (v) => listJson('versions', v, versionJson),
  },
  'GET version': {
    method: 'GetSecretVersion',
    resourceField: 'name',
    request: (name) => ({ name }),
    response: versionJson,
  },
  'GET version:access': {
    method: 'AccessSecretVersion',
    resourceField: 'name',
    request: (name) => ({ name }),
    response: accessJson,
  },
  'POST version:disable': {
    method: 'DisableSecretVersion',
    resourceField: 'name',
    hasBody: true,
    request: etagRequest,
    response: versionJson,
  },
  'POST version:enable': {
    method: 'EnableSecretVersion',
    resourceField: 'name',
    hasBody: true,
    request: etagRequest,
    response: versionJson,
  },
  'POST version:destroy': {
    method: 'DestroySecretVersion',
    resourceField: 'name',
    hasBody: true,
    request: etagRequest,
    response: versionJson,
  },
};

const PATH =
  /^\/v1\/(projects\/[^/:]+)(?:\/(secrets)(?:\/([^/:]+)(?:\/(versions)(?:\/([^/:]+))?)?)?)?(?::([A-Za-z]+))?$/;

/** The route key and resource name of a `/v1/…` path, or `undefined`. */
function routeOf(httpMethod: string, path: string): { key: string; resource: string } | undefined {
  let decoded: string;
  try {
    decoded = path
      .split('/')
      .map((part) => decodeURIComponent(part))
      .join('/');
  } catch {
    return undefined;
  }
  const m = PATH.exec(decoded);
  if (!m?.[1]) return undefined;
  const [, project, secrets, secret, versions, version, verb] = m;
  let kind: string;
  let resource: string;
  if (version !== undefined) {
    kind = 'version';
    resource = `${project}/secrets/${secret}/versions/${version}`;
  } else if (versions !== undefined) {
    kind = 'secret/versions';
    resource = `${project}/secrets/${secret}`;
  } else if (secret !== undefined) {
    kind = 'secret';
    resource = `${project}/secrets/${secret}`;
  } else if (secrets !== undefined) {
    kind = 'project/secrets';
    resource = project;
  } else {
    return undefined;
  }
  return { key: `${httpMethod} ${kind}${verb ? `:${verb}` : ''}`, resource };
}

/**
 * The HTTP handler of the REST API over `invoke`. Requests need an `Authorization: Bearer …`
 * header (any token: the double checks presence, as a client would notice its absence).
 */
export function createGcpRestHandler(invoke: RestInvoke) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = routeOf(req.method ?? 'GET', url.pathname);
    const spec = route ? ROUTES[route.key] : undefined;
    if (!route || !spec) {
      sendError(res, 5, `The fake serves no ${req.method} ${url.pathname}.`);
      return;
    }
    if (!/^Bearer \S+$/i.test(req.headers.authorization ?? '')) {
      sendError(
        res,
        16,
        'Request is missing required authentication credential. Expected OAuth 2 access token, ' +
          'login cookie or other valid authentication credential.',
      );
      return;
    }
    let request: Record<string, unknown>;
    try {
      const body = spec.hasBody ? objectBody(await readJsonBody(req)) : {};
      request = spec.request(route.resource, url.searchParams, body);
    } catch (error) {
      if (error instanceof RestError) sendError(res, error.code, error.message);
      else if (error instanceof FakeHttpError) {
        sendError(res, 3, `Invalid JSON payload received. ${error.message}`);
      } else throw error;
      return;
    }
    const apiClient = String(req.headers['x-goog-api-client'] ?? req.headers['user-agent'] ?? '');
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const outcome = await invoke(
      spec.method,
      request,
      spec.resourceField,
      { apiClient, peer, transport: 'rest' },
      () => res.destroyed,
    );
    if (!outcome) return;
    if (outcome.ok) sendJson(res, 200, spec.response(outcome.value));
    else sendError(res, outcome.code, outcome.message);
  };
}

/** A listener that hands each connection to one of two loopback ports by its first bytes. */
export interface ProtocolSplit {
  readonly port: number;
  close(): Promise<void>;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n', 'latin1');

/**
 * Listens on `127.0.0.1:port` and forwards each connection, byte for byte, to `http2Port` when
 * it opens with the HTTP/2 connection preface (gRPC), else to `http1Port`.
 *
 * @example
 * ```ts
 * const split = await splitByProtocol(0, grpcPort, restPort);
 * ```
 */
export async function splitByProtocol(
  port: number,
  http2Port: number,
  http1Port: number,
): Promise<ProtocolSplit> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const listener = createServer((socket) => {
    track(socket);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const isHttp2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (isHttp2 && head.length < HTTP2_PREFACE.length) return;
      socket.pause();
      socket.off('data', onData);
      const upstream = connect(isHttp2 ? http2Port : http1Port, '127.0.0.1');
      track(upstream);
      socket.setNoDelay(true);
      upstream.setNoDelay(true);
      const destroy = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', destroy);
      upstream.on('error', destroy);
      socket.on('close', destroy);
      upstream.on('close', destroy);
      upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  listener.listen(port, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('fake did not get a port');
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        listener.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
