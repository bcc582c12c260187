/**
 * @module resolver/_resp
 * A minimal Redis client over `node:net`: the handful of commands the shared cache needs
 * (`AUTH`, `SELECT`, `GET`, `SET … PX`, `DEL`, `PUBLISH`, `SUBSCRIBE`), RESP2 framing, and
 * replies matched to commands in order (Redis answers a connection's commands in order).
 */
import { connect, type Socket } from 'node:net';
import { AirlockError } from '../errors.ts';

/** A RESP2 reply: simple/bulk string, integer, nil, array, or an error reply. */
export type RespValue = string | number | null | RespValue[] | RespError;

/** An error reply (`-ERR …`). */
export class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/** Where and how to connect, from a `redis://[user:password@]host[:port][/db]` URL. */
export interface RedisTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
}

/**
 * Parses a `redis://` URL (`rediss://` is refused: this client speaks plain TCP).
 *
 * @example
 * ```ts
 * parseRedisUrl('redis://127.0.0.1:6379/2'); // { host: '127.0.0.1', port: 6379, db: 2 }
 * ```
 */
export function parseRedisUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AirlockError('AIRLOCK_ERR_CONFIG_INVALID', 'shared cache: not a redis:// URL');
  }
  if (parsed.protocol !== 'redis:') {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `shared cache: unsupported scheme \`${parsed.protocol.replace(/:$/, '')}\` (use redis://)`,
    );
  }
  const db = parsed.pathname.replace(/^\//, '');
  const target: RedisTarget = {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db: db === '' ? 0 : Number(db),
  };
  if (!Number.isInteger(target.db) || target.db < 0) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      'shared cache: the database must be a number',
    );
  }
  if (parsed.username) target.username = decodeURIComponent(parsed.username);
  if (parsed.password) target.password = decodeURIComponent(parsed.password);
  return target;
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Parses one reply from `buffer` at `offset`; `undefined` when more bytes are needed.
 */
export function parseReply(
  buffer: Buffer,
  offset = 0,
): { value: RespValue; next: number } | undefined {
  const end = buffer.indexOf('\r\n', offset);
  if (end < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] as number);
  const line = buffer.toString('utf8', offset + 1, end);
  const after = end + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new RespError(line), next: after };
    case ':':
      return { value: Number(line), next: after };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: after };
      if (buffer.length < after + length + 2) return undefined;
      return { value: buffer.toString('utf8', after, after + length), next: after + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: after };
      const items: RespValue[] = [];
      let next = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new AirlockError('AIRLOCK_ERR_BACKEND_UNAVAILABLE', 'redis: malformed reply');
  }
}

/** One Redis connection. */
export interface RedisConnection {
  /** Sends a command and resolves with its reply (an error reply rejects). */
  command(...args: (string | Buffer)[]): Promise<RespValue>;
  /** Subscribes this connection (which then only receives messages) to `channel`. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link connectRedis}. */
export interface ConnectRedisOptions {
  /**
   * Gives up on connecting, and on each reply, after this long (a timed-out reply drops the
   * connection). @default 2000
   */
  timeoutMs?: number;
}

function unavailable(what: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_BACKEND_UNAVAILABLE', `redis: ${what}`);
}

/**
 * Connects, authenticates (`AUTH`) and selects the database.
 *
 * @example
 * ```ts
 * const redis = await connectRedis(parseRedisUrl('redis://127.0.0.1:6379'));
 * await redis.command('SET', 'k', 'v', 'PX', '1000');
 * ```
 */
export async function connectRedis(
  target: RedisTarget,
  options: ConnectRedisOptions = {},
): Promise<RedisConnection> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const socket: Socket = connect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  const pending: Array<{ resolve: (v: RespValue) => void; reject: (e: Error) => void }> = [];
  let buffer: Buffer = Buffer.alloc(0);
  let onMessage: ((message: string) => void) | undefined;
  let closed = false;

  const failAll = (error: Error) => {
    closed = true;
    for (const waiter of pending.splice(0)) waiter.reject(error);
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    let offset = 0;
    for (;;) {
      let reply: ReturnType<typeof parseReply>;
      try {
        reply = parseReply(buffer, offset);
      } catch (err) {
        failAll(err as Error);
        socket.destroy();
        return;
      }
      if (!reply) break;
      offset = reply.next;
      const value = reply.value;
      if (onMessage && Array.isArray(value) && value[0] === 'message') {
        onMessage(String(value[2]));
        continue;
      }
      const waiter = pending.shift();
      if (!waiter) continue;
      // An idle connection (or a subscriber waiting for messages) never keeps the process alive.
      if (pending.length === 0) socket.unref();
      if (value instanceof RespError) {
        // The reply's text names the command's problem (WRONGPASS, NOAUTH…), never a value.
        waiter.reject(unavailable(value.message.split(' ')[0] ?? 'error reply'));
      } else {
        waiter.resolve(value);
      }
    }
    buffer = offset >= buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
  });
  socket.on('error', (err: NodeJS.ErrnoException) =>
    failAll(unavailable(err.code ?? 'socket error')),
  );
  socket.on('close', () => failAll(unavailable('connection closed')));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new AirlockError(
          'AIRLOCK_ERR_BACKEND_TIMEOUT',
          `redis: no connection to ${target.host}:${target.port} within ${timeoutMs} ms`,
          { details: { timeoutMs } },
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        unavailable(`cannot connect to ${target.host}:${target.port} (${err.code ?? 'error'})`),
      );
    });
  });

  const command = (...args: (string | Buffer)[]): Promise<RespValue> => {
    if (closed) return Promise.reject(unavailable('connection closed'));
    return new Promise<RespValue>((resolve, reject) => {
      // A command waiting for its reply keeps the process alive until it comes, or until the
      // deadline: a server that accepts and never answers must not hold the caller.
      socket.ref();
      const timer = setTimeout(() => {
        // Replies are matched to commands by order: after a lost reply the connection is
        // useless, so it is dropped with every command still waiting on it.
        failAll(
          new AirlockError(
            'AIRLOCK_ERR_BACKEND_TIMEOUT',
            `redis: no reply to ${String(args[0])} within ${timeoutMs} ms`,
            { details: { timeoutMs } },
          ),
        );
        socket.destroy();
      }, timeoutMs);
      pending.push({
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      socket.write(encodeCommand(args));
    });
  };

  try {
    if (target.password !== undefined) {
      await (target.username
        ? command('AUTH', target.username, target.password)
        : command('AUTH', target.password));
    }
    if (target.db !== 0) await command('SELECT', String(target.db));
  } catch (err) {
    socket.destroy();
    throw err;
  }
  socket.unref();

  return {
    command,
    async subscribe(channel, listener) {
      await command('SUBSCRIBE', channel);
      onMessage = listener;
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        socket.end(() => resolve());
        setTimeout(resolve, 200).unref();
      });
      socket.destroy();
    },
  };
}
