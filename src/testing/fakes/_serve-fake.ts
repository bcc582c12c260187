/**
 * @module testing/fakes/_serve-fake
 * Shared plumbing for airlock's in-process test doubles (the Vault fake now; the AWS, Google and
 * Azure fakes later): listen on loopback port 0, read JSON bodies with a size limit, inject
 * latency and one-shot failures, and close every socket and timer on `close()`.
 *
 * This is test code. Nothing here is hardened for untrusted networks, which is why the only host
 * it binds to is `127.0.0.1`.
 *
 * Node's HTTP parser only knows a fixed list of methods and answers anything else with a bare
 * 400 before a request handler runs. Vault's API uses `LIST`, and hvac sends it on the wire, so
 * {@link serveFake} can put a small byte-level shim in front of the parser that rewrites such a
 * request line to `GET` and adds an {@link ORIGINAL_METHOD_HEADER} header; {@link requestMethod}
 * gives a handler the method the client really sent.
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';

/** Header the method shim adds to a rewritten request; {@link requestMethod} reads it. */
export const ORIGINAL_METHOD_HEADER = 'x-airlock-fake-original-method';

/** A request handler of a fake: Node's own request and response objects. */
export type FakeHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Options of {@link serveFake}. */
export interface ServeFakeOptions {
  /**
   * Port to listen on; `0` lets the OS pick a free one (tests should keep 0).
   * @default 0
   */
  port?: number;
  /**
   * Interface to bind. Only loopback is allowed: a fake has no authentication worth the name.
   * @default '127.0.0.1'
   */
  host?: '127.0.0.1';
  /**
   * The `node:http` server that parses requests and runs `handler`; pass one to tune timeouts.
   * @default a new `http.createServer()`
   */
  server?: Server;
  /**
   * Request methods Node's parser rejects that the fake must still accept (for Vault: `LIST`).
   * Such a request reaches the handler as `GET` with {@link ORIGINAL_METHOD_HEADER} set.
   * @default []
   */
  extraMethods?: readonly string[];
  /**
   * Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. TLS is terminated
   * before the method shim, so `extraMethods` work over HTTPS too.
   * @default undefined (plain HTTP)
   */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/** A running fake server, as returned by {@link serveFake}. */
export interface ServedFake {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234` (`https://` with `tls`). */
  readonly url: string;
  /** The port the OS assigned. */
  readonly port: number;
  /** The HTTP server that parses requests (useful for timeouts; do not call `listen` on it). */
  readonly server: Server;
  /** Stops listening, destroys open connections and resolves once the port is released. */
  close(): Promise<void>;
}

/**
 * Starts `handler` on `127.0.0.1` (port 0 by default) and returns its URL and a `close()`.
 *
 * An exception thrown by `handler` becomes a plain-text 500, so a bug in a fake shows up as a
 * failing request rather than a hung test.
 *
 * @example
 * ```ts
 * const served = await serveFake((req, res) => sendJson(res, 200, { ok: true }));
 * const res = await fetch(`${served.url}/ping`);
 * await served.close();
 * ```
 */
export async function serveFake(
  handler: FakeHandler,
  options: ServeFakeOptions = {},
): Promise<ServedFake> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') throw new Error('serveFake binds to 127.0.0.1 only');
  const server = options.server ?? createServer();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`fake server error: ${message}\n`);
      });
  });

  const extraMethods = (options.extraMethods ?? []).map((m) => m.toUpperCase());
  const sockets = new Set<Socket>();
  const accept = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Without extra methods the socket goes to Node's parser untouched (its fast native path).
    const connection = extraMethods.length === 0 ? socket : new MethodShim(socket, extraMethods);
    server.emit('connection', connection);
  };
  // With TLS, the listener hands over decrypted sockets, so the shim sees plain HTTP bytes.
  const listener: NetServer = options.tls
    ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, accept)
    : createNetServer(accept);
  if (options.tls) {
    // A client that gives up during the handshake (say, one that rejects the certificate)
    // must not crash the test run.
    listener.on('tlsClientError', (_error, socket) => socket.destroy());
    listener.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }
  listener.listen(options.port ?? 0, host);
  await once(listener, 'listening');
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('fake did not get a port');

  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    port: address.port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        listener.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * The method the client sent, including one the {@link serveFake} shim rewrote (such as `LIST`).
 *
 * @example
 * ```ts
 * if (requestMethod(req) === 'LIST') listKeys();
 * ```
 */
export function requestMethod(req: IncomingMessage): string {
  const original = req.headers[ORIGINAL_METHOD_HEADER];
  return typeof original === 'string' ? original.toUpperCase() : (req.method ?? 'GET');
}

/**
 * An error a fake's handler throws to answer with `status`; the fake turns it into its own
 * service's error format (Vault: `{"errors": [message]}`).
 *
 * @example
 * ```ts
 * throw new FakeHttpError(413, 'http: request body too large');
 * ```
 */
export class FakeHttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'FakeHttpError';
    this.status = status;
  }
}

/** Default cap on a request body: far above anything a secret needs, far below memory trouble. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Reads a whole request body, failing with a 413 {@link FakeHttpError} past `limitBytes`.
 *
 * @example
 * ```ts
 * const raw = await readBody(req, 64 * 1024);
 * ```
 */
export async function readBody(
  req: IncomingMessage,
  limitBytes: number = DEFAULT_BODY_LIMIT_BYTES,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > limitBytes) {
      // Stop reading: the rest of the body is dropped with the connection.
      req.destroy();
      throw new FakeHttpError(413, 'http: request body too large');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads and parses a JSON request body. An empty body gives `undefined`; malformed JSON a 400
 * {@link FakeHttpError}; an oversized body a 413.
 *
 * @example
 * ```ts
 * const body = await readJsonBody(req);
 * ```
 */
export async function readJsonBody(
  req: IncomingMessage,
  limitBytes: number = DEFAULT_BODY_LIMIT_BYTES,
): Promise<unknown> {
  const raw = (await readBody(req, limitBytes)).toString('utf8');
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'invalid JSON';
    throw new FakeHttpError(400, `failed to parse JSON input: ${reason}`);
  }
}

/**
 * Sends `body` as JSON with `status` (or an empty body for 204 and HEAD requests).
 *
 * @example
 * ```ts
 * sendJson(res, 404, { errors: [] });
 * ```
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** The fault-injection hooks every fake exposes to tests. */
export interface FaultInjection {
  /**
   * Makes the next `count` requests (only those whose path starts with `pathPrefix`, if given)
   * fail with `status` in the service's own error format.
   */
  failNext(status: number, count?: number, pathPrefix?: string): void;
  /** Delays every response by `ms` milliseconds (0 turns it off). */
  setLatency(ms: number): void;
}

interface PendingFailure {
  status: number;
  remaining: number;
  pathPrefix: string | undefined;
}

/**
 * Latency and `failNext` bookkeeping for a fake. The fake calls {@link FaultInjector.delay} and
 * {@link FaultInjector.takeFailure} at the start of each request and `dispose()` on close, which
 * cancels pending delays so no timer outlives the test.
 *
 * @example
 * ```ts
 * const faults = new FaultInjector();
 * faults.failNext(503, 2, 'secret/');
 * const status = faults.takeFailure('secret/data/x'); // 503
 * ```
 */
export class FaultInjector implements FaultInjection {
  #latencyMs = 0;
  #failures: PendingFailure[] = [];
  #timers = new Map<NodeJS.Timeout, () => void>();

  failNext(status: number, count = 1, pathPrefix?: string): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`failNext: ${status} is not an HTTP status`);
    }
    if (!Number.isInteger(count) || count < 1) throw new RangeError('failNext: count must be >= 1');
    this.#failures.push({ status, remaining: count, pathPrefix });
  }

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('setLatency: ms must be >= 0');
    this.#latencyMs = ms;
  }

  /** The current injected latency in milliseconds. */
  get latencyMs(): number {
    return this.#latencyMs;
  }

  /** Removes pending failures and resets latency to 0. */
  reset(): void {
    this.#failures = [];
    this.#latencyMs = 0;
  }

  /**
   * Consumes one pending failure that applies to `path` and returns its status, or `undefined`.
   * Failures are used in the order they were registered.
   */
  takeFailure(path: string): number | undefined {
    const index = this.#failures.findIndex(
      (f) => f.pathPrefix === undefined || path.startsWith(f.pathPrefix),
    );
    const failure = this.#failures[index];
    if (failure === undefined) return undefined;
    failure.remaining -= 1;
    if (failure.remaining === 0) this.#failures.splice(index, 1);
    return failure.status;
  }

  /** Waits for the injected latency; resolves at once when it is 0 or after `dispose()`. */
  delay(): Promise<void> {
    if (this.#latencyMs === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, this.#latencyMs);
      this.#timers.set(timer, resolve);
    });
  }

  /** Clears every pending delay timer (their requests then continue on closed sockets). */
  dispose(): void {
    for (const [timer, resolve] of this.#timers) {
      clearTimeout(timer);
      resolve();
    }
    this.#timers.clear();
  }
}

/**
 * The byte-level shim behind `extraMethods`: a Duplex that sits between the TCP socket and
 * Node's HTTP parser. It tracks request boundaries itself (head, then a Content-Length or chunked
 * body) so that keep-alive and even pipelined requests are each rewritten correctly, whatever
 * the timing of the responses.
 */
class MethodShim extends Duplex {
  readonly #socket: Socket;
  readonly #methods: readonly string[];
  #state: 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'trailer' | 'passthrough' = 'head';
  #pending: Buffer = Buffer.alloc(0);
  #remaining = 0;

  constructor(socket: Socket, methods: readonly string[]) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.#methods = methods;
    socket.on('data', (chunk: Buffer) => {
      const out = this.#transform(chunk);
      if (out.length > 0 && !this.push(out)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
    socket.on('timeout', () => this.emit('timeout'));
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }

  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#socket.setTimeout(ms);
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.#socket.setKeepAlive(enable, delay);
    return this;
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (e?: Error) => void): void {
    this.#socket.write(chunk, (err) => callback(err ?? undefined));
  }

  override _final(callback: (e?: Error) => void): void {
    this.#socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (e: Error | null) => void): void {
    this.#socket.destroy();
    callback(error);
  }

  /** Feeds `chunk` through the request-boundary state machine and returns the bytes to parse. */
  #transform(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.#state === 'passthrough') {
        out.push(data);
        break;
      }
      if (this.#state === 'head') {
        const end = data.indexOf('\r\n\r\n');
        if (end === -1) {
          // A head larger than 64 KiB is not a request we care to rewrite: stop tracking and
          // let Node's parser reject it.
          if (data.length > 64 * 1024) {
            this.#state = 'passthrough';
            continue;
          }
          this.#pending = data;
          break;
        }
        out.push(this.#rewriteHead(data.subarray(0, end + 4)));
        data = data.subarray(end + 4);
        continue;
      }
      if (this.#state === 'body' || this.#state === 'chunk-data') {
        const take = Math.min(this.#remaining, data.length);
        out.push(data.subarray(0, take));
        data = data.subarray(take);
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = this.#state === 'body' ? 'head' : 'chunk-size';
        continue;
      }
      // chunk-size and trailer are line-based.
      const eol = data.indexOf('\r\n');
      if (eol === -1) {
        this.#pending = data;
        break;
      }
      const line = data.subarray(0, eol).toString('latin1');
      out.push(data.subarray(0, eol + 2));
      data = data.subarray(eol + 2);
      if (this.#state === 'chunk-size') {
        const size = Number.parseInt(line.split(';')[0] ?? '', 16);
        if (Number.isNaN(size)) this.#state = 'passthrough';
        else if (size === 0) this.#state = 'trailer';
        else {
          this.#state = 'chunk-data';
          this.#remaining = size + 2; // the chunk and its CRLF
        }
      } else if (line === '') {
        this.#state = 'head';
      }
    }
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** Rewrites one request head if its method is an extra one, and sets up the body state. */
  #rewriteHead(head: Buffer): Buffer {
    let text = head.toString('latin1');
    const space = text.indexOf(' ');
    const method = space > 0 ? text.slice(0, space).toUpperCase() : '';
    if (this.#methods.includes(method)) {
      const lineEnd = text.indexOf('\r\n');
      text =
        `GET${text.slice(space, lineEnd)}\r\n` +
        `${ORIGINAL_METHOD_HEADER}: ${method}\r\n` +
        text.slice(lineEnd + 2);
    }
    const lower = text.toLowerCase();
    const length = /\r\ncontent-length:[ \t]*(\d+)/.exec(lower);
    if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
      this.#state = 'chunk-size';
    } else if (length?.[1] !== undefined && Number(length[1]) > 0) {
      this.#state = 'body';
      this.#remaining = Number(length[1]);
    } else {
      this.#state = 'head';
    }
    return Buffer.from(text, 'latin1');
  }
}
