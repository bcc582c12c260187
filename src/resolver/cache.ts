/**
 * @module resolver/cache
 * The resolver's cache: one layer above every backend (as powertools' `BaseProvider` keeps
 * it), so that each backend stays dumb and every backend gets the same semantics.
 *
 * An entry is the *outcome of a whole chain walk* for one `(kind, id)`: either a value with
 * the backend that served it, or a miss (negative caching, for Variables *and* Connections;
 * Airflow caches only Variable misses). Entries live `ttlSeconds` for their kind (misses
 * `negativeTtlSeconds`), and an expired entry is kept `maxStaleSeconds` longer so that the
 * resolver can serve it, marked stale, when the refresh fails (stale-if-error). The number of
 * entries per kind is bounded; the least recently used entry goes first.
 *
 * Connections are cached as the parsed, frozen `Connection`, not as `get_uri()` text (what
 * Airflow caches, which loses fields the URI form cannot express).
 */
import type { BackendName, SecretKind } from '../backends/backend.ts';

/** How a lookup's answer relates to the cache, as provenance shows it. */
export type CacheState = 'cached' | 'stale' | 'shared';

/** One cached outcome of a chain walk. */
export interface CacheEntry<T = unknown> {
  /** Whether some link held the id; `false` for a cached miss. */
  readonly found: boolean;
  /** The value (a string for a Variable, a `Connection` for a Connection) when found. */
  readonly value: T | undefined;
  /** The backend that served the value; `null` for a miss. */
  readonly source: BackendName | null;
  /** When the value was read from the store (ms since the epoch). */
  readonly storedAt: number;
  /** When the entry stops being fresh (ms since the epoch). */
  readonly expiresAt: number;
  /** Free for the resolver: the prebuilt answer for fresh hits (keeps hits allocation-free). */
  memo?: unknown;
  /** The cache's insertion counter when the entry last moved to the recent end. */
  tick?: number;
}

/** Options of {@link createSecretCache}; the numbers come from `[secrets]` settings. */
export interface SecretCacheOptions {
  /**
   * How long a found value stays fresh, per kind, in seconds; `0` turns caching of that kind off.
   * @default { variable: 300, connection: 300 }
   */
  ttlSeconds?: Partial<Record<SecretKind, number>>;
  /**
   * How long a miss stays cached, in seconds; `0` caches no miss.
   * @default 30
   */
  negativeTtlSeconds?: number;
  /**
   * How long past its expiry an entry may still be served when the refresh fails; `0`: never.
   * @default 0
   */
  maxStaleSeconds?: number;
  /**
   * The most entries kept per kind (least recently used first out).
   * @default 10000
   */
  maxEntries?: number;
  /** The clock, in ms since the epoch (tests pass a fake one). @default Date.now */
  now?: () => number;
}

/** What {@link SecretCache.stats} counts. */
export interface CacheStats {
  hits: number;
  misses: number;
  staleServed: number;
  evictions: number;
}

/**
 * A bounded TTL + LRU cache of chain outcomes, one map per kind.
 *
 * @example
 * ```ts
 * const cache = new SecretCache({ ttlSeconds: { variable: 60 } });
 * cache.set('variable', 'k', cache.entry('variable', true, 'v', 'vault'));
 * cache.fresh('variable', 'k')?.value; // 'v'
 * ```
 */
export class SecretCache {
  readonly #maps: Record<SecretKind, Map<string, CacheEntry>> = {
    variable: new Map(),
    connection: new Map(),
  };
  /** The Variables' map, held directly: the hot path skips one property lookup. */
  readonly #variables = this.#maps.variable;
  readonly #generations: Record<SecretKind, Map<string, number>> = {
    variable: new Map(),
    connection: new Map(),
  };
  readonly #ttlMs: Record<SecretKind, number>;
  readonly #negativeTtlMs: number;
  readonly #maxStaleMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #recentWindow: number;
  #tick = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, staleServed: 0, evictions: 0 };

  constructor(options: SecretCacheOptions = {}) {
    this.#ttlMs = {
      variable: Math.max(0, options.ttlSeconds?.variable ?? 300) * 1000,
      connection: Math.max(0, options.ttlSeconds?.connection ?? 300) * 1000,
    };
    this.#negativeTtlMs = Math.max(0, options.negativeTtlSeconds ?? 30) * 1000;
    this.#maxStaleMs = Math.max(0, options.maxStaleSeconds ?? 0) * 1000;
    this.#maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 10_000));
    this.#now = options.now ?? (() => this.#turnClock());
    this.#recentWindow = Math.floor(this.#maxEntries / 2);
  }

  #stamp: number | undefined;
  readonly #forgetStamp = () => {
    this.#stamp = undefined;
  };

  /**
   * `Date.now()` read once per turn of the event loop: a burst of cached lookups (one task's
   * microtasks) costs one clock read instead of one each, which is most of a hit's cost. TTLs are
   * in seconds; a turn is far shorter.
   */
  #turnClock(): number {
    let stamp = this.#stamp;
    if (stamp === undefined) {
      stamp = Date.now();
      this.#stamp = stamp;
      setImmediate(this.#forgetStamp).unref();
    }
    return stamp;
  }

  /** The clock the cache uses (ms since the epoch). */
  now(): number {
    return this.#now();
  }

  /** Whether anything of `kind` is cached at all (a found value or a miss). */
  enabled(kind: SecretKind): boolean {
    return this.#ttlMs[kind] > 0 || this.#negativeTtlMs > 0;
  }

  /** The stale-if-error window, in ms. */
  get maxStaleMs(): number {
    return this.#maxStaleMs;
  }

  /**
   * A new entry for an outcome read now, or `undefined` when such outcomes are not cached
   * (their TTL is 0).
   */
  entry<T>(
    kind: SecretKind,
    found: boolean,
    value: T | undefined,
    source: BackendName | null,
    storedAt: number = this.#now(),
  ): CacheEntry<T> | undefined {
    const ttl = found ? this.#ttlMs[kind] : this.#negativeTtlMs;
    if (ttl <= 0) return undefined;
    return { found, value, source, storedAt, expiresAt: storedAt + ttl };
  }

  /** The fresh entry for `id`, counted as a hit or a miss; an LRU touch on a hit. */
  fresh(kind: SecretKind, id: string): CacheEntry | undefined {
    const map = kind === 'variable' ? this.#variables : this.#maps.connection;
    const entry = map.get(id);
    if (entry !== undefined && entry.expiresAt > this.#now()) {
      this.stats.hits++;
      // Re-inserting moves the key to the end of the Map's order (the most recently used). An
      // entry already in the recent half is left where it is: it is far from eviction, and a
      // hot key's hit then costs one Map lookup (an approximate LRU, as most caches are).
      if (this.#tick - (entry.tick ?? 0) >= this.#recentWindow) {
        map.delete(id);
        entry.tick = ++this.#tick;
        map.set(id, entry);
      }
      return entry;
    }
    this.stats.misses++;
    return undefined;
  }

  /** The fresh entry for `id` without counting or touching it (for `which`). */
  peek(kind: SecretKind, id: string): CacheEntry | undefined {
    const entry = this.#maps[kind].get(id);
    return entry !== undefined && entry.expiresAt > this.#now() ? entry : undefined;
  }

  /** An expired entry still inside the stale-if-error window, if any. */
  stale(kind: SecretKind, id: string): CacheEntry | undefined {
    const entry = this.#maps[kind].get(id);
    if (entry === undefined || this.#maxStaleMs <= 0) return undefined;
    return this.#now() <= entry.expiresAt + this.#maxStaleMs ? entry : undefined;
  }

  /** Stores an entry, evicting the least recently used ones past the bound. */
  set(kind: SecretKind, id: string, entry: CacheEntry): void {
    const map = this.#maps[kind];
    map.delete(id);
    entry.tick = ++this.#tick;
    map.set(id, entry);
    while (map.size > this.#maxEntries) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
      this.stats.evictions++;
    }
  }

  /**
   * A counter bumped by every invalidation of `id`: a fill that started before a write compares
   * it before storing, so a value read before the write is never cached after it.
   */
  generation(kind: SecretKind, id: string): number {
    return this.#generations[kind].get(id) ?? 0;
  }

  /** Drops `id` (after a write), so the next lookup reads the store. */
  invalidate(kind: SecretKind, id: string): void {
    this.#maps[kind].delete(id);
    const generations = this.#generations[kind];
    generations.set(id, (generations.get(id) ?? 0) + 1);
    // Bounded like the entries: an old counter only matters while a fill is in flight.
    if (generations.size > this.#maxEntries) {
      generations.delete(generations.keys().next().value as string);
    }
  }

  /** Drops everything. */
  clear(): void {
    for (const kind of ['variable', 'connection'] as const) {
      for (const id of this.#maps[kind].keys()) this.invalidate(kind, id);
    }
  }

  /** How many entries of `kind` are held. */
  size(kind: SecretKind): number {
    return this.#maps[kind].size;
  }
}
