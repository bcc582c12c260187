/**
 * A loopback HTTP proxy in front of an AWS emulator (moto) that can answer with a chosen AWS
 * error or add latency: moto itself cannot inject faults. Errors are shaped as the AWS JSON
 * protocol sends them (`{"__type": …}` plus `x-amzn-ErrorType`), so the SDK parses them as it
 * parses real ones.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';

/** A fault proxy bound to 127.0.0.1 on a free port. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: the `endpoint_url` that goes through the proxy. */
  readonly url: string;
  /**
   * Answers the next SDK call with `status` and an AWS error, on every attempt of that call (the
   * SDK's retries share its `amz-sdk-invocation-id`), so the SDK's own retries do not hide it.
   */
  failNext(status: number, errorType?: string): void;
  /** Answers the next `count` HTTP requests (attempts, whatever call) with `status` and an AWS error. */
  failRequests(count: number, status: number, errorType?: string): void;
  /** Waits `ms` before forwarding each request. */
  setLatency(ms: number): void;
  /**
   * The operation of every request received: its `X-Amz-Target` (`secretsmanager.GetSecretValue`)
   * or, for query-protocol services such as STS, its `Action` (`AssumeRole`).
   */
  readonly targets: string[];
  /** Forgets the recorded targets and the pending faults. */
  clear(): void;
  close(): Promise<void>;
}

/** The AWS error name the proxy sends for a status when none is given. */
const DEFAULT_ERROR_TYPES: Record<number, string> = {
  400: 'ValidationException',
  401: 'UnrecognizedClientException',
  403: 'AccessDeniedException',
  429: 'ThrottlingException',
  500: 'InternalFailure',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

interface Fault {
  status: number;
  errorType: string;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function sendFault(res: ServerResponse, fault: Fault): void {
  const body = JSON.stringify({ __type: fault.errorType, message: 'fault injected by the test' });
  res.writeHead(fault.status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': fault.errorType,
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

/**
 * Starts a fault proxy that forwards to `target` (such as a moto server's URL).
 *
 * @example
 * ```ts
 * const proxy = await startFaultProxy(moto.url);
 * proxy.failNext(400, 'ThrottlingException');
 * ```
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const targets: string[] = [];
  let latencyMs = 0;
  let nextCall: Fault | undefined;
  let stickyCall: { invocation: string; fault: Fault } | undefined;
  const requestFaults: Fault[] = [];

  function faultFor(req: IncomingMessage): Fault | undefined {
    const invocation = String(req.headers['amz-sdk-invocation-id'] ?? randomUUID());
    if (stickyCall && stickyCall.invocation === invocation) return stickyCall.fault;
    stickyCall = undefined;
    if (nextCall) {
      stickyCall = { invocation, fault: nextCall };
      nextCall = undefined;
      return stickyCall.fault;
    }
    return requestFaults.shift();
  }

  const server = createServer(async (req, res) => {
    let clientGone = false;
    res.on('close', () => {
      clientGone = !res.writableFinished;
    });
    try {
      const body = await readBody(req);
      // JSON-protocol services name the operation in a header; query-protocol ones (STS) in
      // the form body.
      const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString('utf8'))?.[1];
      targets.push(String(req.headers['x-amz-target'] ?? action ?? `${req.method} ${req.url}`));
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
      if (clientGone) return;
      const fault = faultFor(req);
      if (fault) {
        sendFault(res, fault);
        return;
      }
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      forward.end(body);
    } catch {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fault = (status: number, errorType?: string): Fault => ({
    status,
    errorType: errorType ?? DEFAULT_ERROR_TYPES[status] ?? 'UnknownError',
  });

  return {
    url: `http://127.0.0.1:${port}`,
    targets,
    failNext(status, errorType) {
      nextCall = fault(status, errorType);
    },
    failRequests(count, status, errorType) {
      for (let i = 0; i < count; i++) requestFaults.push(fault(status, errorType));
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    clear() {
      targets.length = 0;
      nextCall = undefined;
      stickyCall = undefined;
      requestFaults.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers (nor closes them). */
export interface Blackhole {
  readonly port: number;
  /** How many connections it accepted. */
  readonly accepted: () => number;
  close(): Promise<void>;
}

/**
 * Starts a blackhole: the fault of a server that is up at the TCP level but hung (a stopped
 * process behind a live socket, a full accept queue at the application, a stuck proxy).
 *
 * @example
 * ```ts
 * const hole = await startBlackhole();
 * const url = `redis://127.0.0.1:${hole.port}`;
 * ```
 */
export async function startBlackhole(): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    // Reads whatever comes, answers nothing.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    accepted: () => accepted,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** What a {@link TcpFaultProxy} does with the connections it accepts. */
export type TcpFault =
  /** Forwards both ways, untouched. */
  | 'pass'
  /** Accepts and never answers (nor closes). */
  | 'blackhole'
  /** Resets the connection (TCP RST) as soon as the client sends something. */
  | 'reset'
  /** Forwards the request, then cuts the answer short: its first half, then the connection closes. */
  | 'truncate'
  /** Answers the first bytes the client sends with bytes that are no protocol at all. */
  | 'garbage';

/** A TCP proxy on 127.0.0.1 that forwards to a server or breaks the connection on purpose. */
export interface TcpFaultProxy {
  readonly port: number;
  /**
   * The fault for connections accepted from now on; the connections open until now are closed,
   * so that a client's pooled connection does not carry one fault into the next.
   */
  setFault(fault: TcpFault): void;
  /** Waits `ms` before forwarding the client's bytes (a slow network or server). */
  setLatency(ms: number): void;
  /**
   * How many times a client sent bytes since the proxy started: with a request/answer protocol
   * (PostgreSQL's), one per round trip.
   */
  readonly sends: number;
  close(): Promise<void>;
}

/**
 * Starts a TCP fault proxy in front of `target` (host and port): below HTTP, so it works for
 * HTTP/1 (Vault, AWS), HTTP/2 (gRPC, Google), TLS (Azure), Redis and PostgreSQL alike.
 *
 * @example
 * ```ts
 * const proxy = await startTcpFaultProxy({ host: '127.0.0.1', port: 6379 });
 * proxy.setFault('reset');
 * ```
 */
export async function startTcpFaultProxy(target: {
  host: string;
  port: number;
}): Promise<TcpFaultProxy> {
  let fault: TcpFault = 'pass';
  let latencyMs = 0;
  let sends = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createNetServer((client) => {
    track(client);
    const mode = fault;
    if (mode === 'blackhole') {
      client.resume();
      return;
    }
    if (mode === 'reset') {
      client.once('data', () => client.resetAndDestroy());
      return;
    }
    if (mode === 'garbage') {
      client.once('data', () => {
        client.end(Buffer.from('\u0000\u00ff<html>not the protocol</html>\r\n\r\n\u00ff\u0000'));
      });
      return;
    }
    const upstream = connect(target);
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      sends++;
      const send = () => {
        if (!upstream.destroyed) upstream.write(chunk);
      };
      if (latencyMs > 0) setTimeout(send, latencyMs);
      else send();
    });
    let cut = false;
    upstream.on('data', (chunk: Buffer) => {
      if (cut || client.destroyed) return;
      if (mode === 'truncate') {
        // Half of the first answer arrives, then the connection ends: a body cut short.
        cut = true;
        client.end(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))));
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    setFault(next) {
      fault = next;
      for (const socket of sockets) socket.destroy();
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    get sends() {
      return sends;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A port on 127.0.0.1 that nothing listens on (connections are refused). It is taken below 1024,
 * outside the ephemeral range the kernel hands out for `listen(0)`: a port merely closed again
 * could be given to a test double started a moment later, by this file or another worker, and the
 * "refused" cell would then reach a live store. The candidates avoid the Fetch standard's "bad
 * ports" (1, 7, 9, …), which `fetch` refuses before connecting.
 */
export async function refusedPort(): Promise<number> {
  for (const port of [2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 18]) {
    if (await isRefused(port)) return port;
  }
  throw new Error('no refused port below 1024 on 127.0.0.1');
}

function isRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
