/**
 * @module resolver/shared-cache
 * A cache shared by the worker processes of one or many hosts, so that N processes make one
 * store call per id per TTL instead of N. It sits behind each process's own cache.
 *
 * Entries are secrets: they are Fernet-encrypted with the metastore's keys before they leave the
 * process, and a process without the keys cannot read them. Invalidation after a write is a
 * `DEL` plus a `PUBLISH` on one channel that every process subscribes to, so their local caches
 * forget the id too (a process that misses the message, e.g. while reconnecting, keeps its local
 * copy at most one TTL).
 *
 * The cache is optional, so it is never waited on: every call (connecting, each reply) has a
 * deadline, and after a failure the cache is bypassed for `retryAfterMs` (calls fail at once,
 * without touching the network), so a Redis that accepts connections and never answers costs
 * one deadline per process and per window, not one per lookup.
 */
import type { BackendName, SecretKind } from '../backends/backend.ts';
import { AirlockError } from '../errors.ts';
import type { MultiFernet } from '../metastore/fernet.ts';
import { safeJsonParse } from '../util/json.ts';
import { connectRedis, parseRedisUrl, type RedisConnection } from './_resp.ts';

/** One chain outcome as the shared cache holds it (the raw store text, never a parsed form). */
export interface SharedRecord {
  readonly found: boolean;
  /** The raw value: a Variable's text, or a Connection's URI or JSON as the store holds it. */
  readonly raw: string | null;
  readonly source: BackendName | null;
  readonly storedAt: number;
  readonly expiresAt: number;
}

/** A cache several processes share. */
export interface SharedCache {
  get(kind: SecretKind, id: string): Promise<SharedRecord | undefined>;
  /** Stores a record, kept `keepMs` (its TTL plus the stale-if-error window). */
  set(kind: SecretKind, id: string, record: SharedRecord, keepMs: number): Promise<void>;
  /** Deletes the record and tells every subscribed process to forget its own copy. */
  invalidate(kind: SecretKind, id: string): Promise<void>;
  /** Deletes every record (after a bulk import) and tells every process to clear its cache. */
  invalidateAll(): Promise<void>;
  /** Called when another process (or this one) invalidates an id; `id` `null`: everything. */
  onInvalidate(listener: (kind: SecretKind | null, id: string | null) => void): void;
  close(): Promise<void>;
}

/** Options of {@link createRedisSharedCache}. */
export interface RedisSharedCacheOptions {
  /** `redis://[user:password@]host[:port][/db]`. */
  url: string;
  /** The metastore's Fernet keys; entries are encrypted with the first, read with any. */
  keys: MultiFernet;
  /** Key prefix (and channel name stem), to share one Redis between deployments. @default 'airlock' */
  prefix?: string;
  /** Subscribe to invalidations (long-lived processes); a CLI run only publishes. @default true */
  subscribe?: boolean;
  /** The bound on connecting and on each reply, in milliseconds. @default 1000 */
  timeoutMs?: number;
  /** How long the cache is bypassed after a failure, in milliseconds. @default 30000 */
  retryAfterMs?: number;
}

const KIND_TAG: Record<SecretKind, string> = { variable: 'v', connection: 'c' };

/**
 * A shared cache in Redis.
 *
 * @example
 * ```ts
 * const shared = createRedisSharedCache({ url: 'redis://127.0.0.1:6379', keys });
 * const resolver = createResolver({ backends, cache: new SecretCache(), sharedCache: shared });
 * ```
 */
export function createRedisSharedCache(options: RedisSharedCacheOptions): SharedCache {
  const target = parseRedisUrl(options.url);
  const prefix = options.prefix ?? 'airlock';
  const channel = `${prefix}:invalidate`;
  const listeners: Array<(kind: SecretKind | null, id: string | null) => void> = [];
  const timeoutMs = options.timeoutMs ?? 1000;
  const retryAfterMs = options.retryAfterMs ?? 30_000;
  let connection: Promise<RedisConnection> | undefined;
  let subscriber: Promise<RedisConnection> | undefined;
  /** Until when the cache is bypassed (after a failure), as `Date.now()` milliseconds. */
  let bypassUntil = 0;

  const keyOf = (kind: SecretKind, id: string) => `${prefix}:cache:${KIND_TAG[kind]}:${id}`;

  /** Runs one cache call with the connection, unless the cache is bypassed; a failure trips it. */
  async function guarded<T>(run: (redis: RedisConnection) => Promise<T>): Promise<T> {
    const now = Date.now();
    if (now < bypassUntil) {
      throw new AirlockError(
        'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
        `redis: bypassed for ${Math.ceil((bypassUntil - now) / 1000)} s after a failure`,
        { details: { bypassed: 1 } },
      );
    }
    const opened = client();
    try {
      return await run(await opened);
    } catch (err) {
      bypassUntil = Date.now() + retryAfterMs;
      // The connection may be the broken part: the next call after the window opens a new one.
      if (connection === opened) connection = undefined;
      opened.then((c) => c.close()).catch(() => {});
      throw err;
    }
  }

  function client(): Promise<RedisConnection> {
    if (!connection) {
      connection = connectRedis(target, { timeoutMs });
      // A failed connection is retried by the next call, not remembered.
      connection.catch(() => {
        connection = undefined;
      });
      if (options.subscribe !== false) subscribe();
    }
    return connection;
  }

  function subscribe(): void {
    if (subscriber) return;
    subscriber = connectRedis(target, { timeoutMs }).then(async (sub) => {
      await sub.subscribe(channel, (message) => {
        if (message === '*') {
          for (const listener of listeners) listener(null, null);
          return;
        }
        const [tag, ...rest] = message.split(':');
        const kind: SecretKind | undefined =
          tag === 'v' ? 'variable' : tag === 'c' ? 'connection' : undefined;
        if (kind) for (const listener of listeners) listener(kind, rest.join(':'));
      });
      return sub;
    });
    subscriber.catch(() => {
      subscriber = undefined;
    });
  }

  return {
    async get(kind, id) {
      const token = await guarded((redis) => redis.command('GET', keyOf(kind, id)));
      if (typeof token !== 'string') return undefined;
      let text: string;
      try {
        text = options.keys.decryptToString(token);
      } catch {
        // Written with keys this process does not hold (or tampered with): treated as absent.
        return undefined;
      }
      const parsed = safeJsonParse(text);
      if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') return undefined;
      const r = parsed.value as Record<string, unknown>;
      if (typeof r.found !== 'boolean' || typeof r.expiresAt !== 'number') return undefined;
      return {
        found: r.found,
        raw: typeof r.raw === 'string' ? r.raw : null,
        source: typeof r.source === 'string' ? (r.source as BackendName) : null,
        storedAt: typeof r.storedAt === 'number' ? r.storedAt : 0,
        expiresAt: r.expiresAt,
      };
    },
    async set(kind, id, record, keepMs) {
      const token = options.keys.encrypt(JSON.stringify(record));
      await guarded((redis) =>
        redis.command('SET', keyOf(kind, id), token, 'PX', String(Math.max(1, Math.ceil(keepMs)))),
      );
    },
    async invalidate(kind, id) {
      await guarded(async (redis) => {
        await redis.command('DEL', keyOf(kind, id));
        await redis.command('PUBLISH', channel, `${KIND_TAG[kind]}:${id}`);
      });
    },
    invalidateAll: () =>
      guarded(async (redis) => {
        let cursor = '0';
        do {
          const reply = (await redis.command(
            'SCAN',
            cursor,
            'MATCH',
            `${prefix}:cache:*`,
            'COUNT',
            '500',
          )) as [string, string[]];
          cursor = reply[0];
          if (reply[1].length > 0) await redis.command('DEL', ...reply[1]);
        } while (cursor !== '0');
        await redis.command('PUBLISH', channel, '*');
      }),
    onInvalidate(listener) {
      listeners.push(listener);
    },
    async close() {
      const open = [connection, subscriber];
      connection = undefined;
      subscriber = undefined;
      await Promise.allSettled(open.map(async (c) => (await c)?.close()));
    },
  };
}
