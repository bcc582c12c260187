/**
 * @module metastore/signals
 * Wake-ups between processes that share a metastore, so that a worker starts a queued task at
 * once instead of at its next poll (polling stays as the fallback everywhere):
 *
 * - PostgreSQL: the writer runs `pg_notify(channel, '')` in the transaction that queues the
 *   work (delivered at commit, never for a rolled-back change); a listener holds its own
 *   connection with `LISTEN channel` and reconnects after a loss (each attempt bounded by the
 *   URL's `connect_timeout`, then a capped back-off), signalling once on each (re)connect so
 *   that nothing sent while it was away waits for the poll.
 * - SQLite (a file): the writer rewrites a small file next to the database after the commit
 *   (`<db>-<channel>.signal`, holding a time); a listener watches it (`fs.watch`: inotify, no
 *   polling). An in-memory database has no other process to wake.
 */
import { closeSync, type FSWatcher, openSync, watch, writeFileSync } from 'node:fs';
import type { DatabaseTarget } from './database-url.ts';
import { postgresTimeouts } from './dialects.ts';

/** A listener's handle. */
export interface SignalListener {
  close(): Promise<void>;
}

/** The signal file of a SQLite database, or `undefined` (PostgreSQL, in memory). */
export function signalFile(target: DatabaseTarget, channel: string): string | undefined {
  if (target.kind !== 'sqlite' || target.path === ':memory:') return undefined;
  return `${target.path}-${channel}.signal`;
}

/** Rewrites a signal file (after the commit). A failure only leaves the poll to find the work. */
export function touchSignalFile(path: string): void {
  try {
    writeFileSync(path, String(Date.now()));
  } catch {
    // read-only folder: the listeners' polls find the work
  }
}

/** Options of {@link listenForSignals}. */
export interface ListenOptions {
  /** The first pause before reconnecting; doubled per failure up to `maxBackoffMs`. @default 250 */
  backoffMs?: number;
  /** @default 5000 */
  maxBackoffMs?: number;
  /** Told (without any detail of the URL) when the connection is lost or cannot be made. */
  onDisconnect?: (reason: string) => void;
}

/**
 * Calls `onSignal` whenever a writer signals `channel` on the database of `target` (see the
 * module comment); `channel` is a lower-case SQL identifier.
 *
 * @example
 * ```ts
 * const listener = listenForSignals(parseDatabaseUrl(url), 'airlock_task_queued', () => poll());
 * await listener.close();
 * ```
 */
export function listenForSignals(
  target: DatabaseTarget,
  channel: string,
  onSignal: () => void,
  options: ListenOptions = {},
): SignalListener {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new TypeError('invalid signal channel');
  if (target.kind === 'sqlite') {
    const path = signalFile(target, channel);
    if (path === undefined) return { close: async () => {} };
    let watcher: FSWatcher | undefined;
    try {
      closeSync(openSync(path, 'a'));
      watcher = watch(path, { persistent: false }, () => onSignal());
      watcher.on('error', () => {});
    } catch {
      // no watch on this file system: the poll finds the work
    }
    return {
      close: async () => {
        watcher?.close();
      },
    };
  }
  const connectionString = target.connectionString;
  const { connectMs } = postgresTimeouts(connectionString);
  const first = options.backoffMs ?? 250;
  const cap = options.maxBackoffMs ?? 5_000;
  let closed = false;
  let backoff = first;
  let timer: NodeJS.Timeout | undefined;
  let client: import('pg').Client | undefined;

  const retry = (reason: string) => {
    if (closed) return;
    options.onDisconnect?.(reason);
    const old = client;
    client = undefined;
    void old?.end().catch(() => {});
    timer = setTimeout(connect, backoff);
    timer.unref();
    backoff = Math.min(backoff * 2, cap);
  };
  async function connect(): Promise<void> {
    if (closed) return;
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString, connectionTimeoutMillis: connectMs });
    client = c;
    let lost = false;
    const lose = (reason: string) => {
      if (lost || client !== c) return;
      lost = true;
      retry(reason);
    };
    c.on('error', (err) => lose(err.name));
    c.on('end', () => lose('the connection ended'));
    c.on('notification', (message) => {
      if (message.channel === channel) onSignal();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      lose(err instanceof Error ? err.name : 'cannot connect');
      return;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    // Unref'd: a listener never keeps its process alive.
    (
      c as unknown as { connection?: { stream?: { unref?(): void } } }
    ).connection?.stream?.unref?.();
    backoff = first;
    onSignal(); // what was signalled while this listener was away
  }
  void connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
