/**
 * @module resolver/cache-layer
 * The cache in front of the chain: fresh answers served from this process's cache, one fill (a
 * chain walk) per id however many callers ask at once, the shared cache consulted before the
 * walk, stale-if-error, and invalidation here and in every process sharing the cache.
 */
import type { SecretKind } from '../backends/backend.ts';
import { isAirlockError } from '../errors.ts';
import type { CacheEntry, CacheState, SecretCache } from './cache.ts';
import { type Chain, describeKind, raceSignal } from './link.ts';
import type { SharedCache } from './shared-cache.ts';
import { SharedLayer } from './shared-layer.ts';
import type { LinkTrace, LookupOptions, Resolution } from './types.ts';
import { type Walk, walk } from './walk.ts';

/** A trace as a cached answer shows it: the links as they were, marked with the cache state. */
export function cachedTrace(trace: readonly LinkTrace[], state: CacheState): LinkTrace[] {
  return trace.map((link) => ({ ...link, durationMs: 0, cache: state }));
}

/** The answer a cache entry gives (`undefined` for a cached miss). */
function answerOf(
  entry: CacheEntry,
  state: CacheState,
  trace: readonly LinkTrace[],
): Resolution<unknown> | undefined {
  if (!entry.found || entry.source === null) return undefined;
  if (state === 'cached' && entry.memo !== undefined) return entry.memo as Resolution<unknown>;
  const answer: Resolution<unknown> = Object.freeze({
    value: entry.value,
    source: entry.source,
    trace: Object.freeze(cachedTrace(trace, state)),
    cache: state,
  });
  if (state === 'cached') entry.memo = answer;
  return answer;
}

/** Lookups through the cache (or straight through the chain when the kind is not cached). */
export class CacheLayer {
  readonly #chain: Chain;
  readonly #cache: SecretCache | undefined;
  readonly #shared: SharedLayer;
  readonly #sharedCache: SharedCache | undefined;
  /** The fill-time trace of each entry, kept beside it for cached answers and `which`. */
  readonly traces = new WeakMap<CacheEntry, readonly LinkTrace[]>();
  /** Lookups in flight, per kind and id: concurrent lookups of one id share one chain walk. */
  readonly #inflight: Record<SecretKind, Map<string, Promise<Resolution<unknown> | undefined>>> = {
    variable: new Map(),
    connection: new Map(),
  };

  constructor(chain: Chain, cache: SecretCache | undefined, shared: SharedCache | undefined) {
    this.#chain = chain;
    this.#cache = cache;
    this.#sharedCache = shared;
    this.#shared = new SharedLayer(chain, cache, shared, this.traces);
    shared?.onInvalidate((kind, id) => {
      if (kind === null || id === null) cache?.clear();
      else cache?.invalidate(kind, id);
    });
  }

  /** The answer a fresh cache entry gives (`undefined` for a cached miss), memoised. */
  answer(entry: CacheEntry): Resolution<unknown> | undefined {
    return (
      (entry.memo as Resolution<unknown> | undefined) ??
      answerOf(entry, 'cached', this.traces.get(entry) ?? [])
    );
  }

  /** Serves the stale entry for `id` after a failed refresh, or `undefined` when none may be. */
  #serveStale(kind: SecretKind, id: string, err: unknown): Resolution<unknown> | undefined {
    const cache = this.#cache;
    const stale = cache?.stale(kind, id);
    if (!stale?.found || !cache) return undefined;
    cache.stats.staleServed++;
    const code = isAirlockError(err) ? err.code : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
    this.#chain.logger?.warn(
      { kind, id, code, ageMs: cache.now() - stale.storedAt },
      `serving a stale ${describeKind(kind)} \`${id}\` (the refresh failed with ${code})`,
    );
    return answerOf(stale, 'stale', this.traces.get(stale) ?? []);
  }

  /** One chain walk for `id` that fills the cache; concurrent callers share it. */
  #fill(
    kind: SecretKind,
    id: string,
    forceFetch: boolean,
  ): Promise<Resolution<unknown> | undefined> {
    const pending = this.#inflight[kind];
    if (!forceFetch) {
      const running = pending.get(id);
      if (running) return running;
    }
    const generation = this.#cache?.generation(kind, id) ?? 0;
    const run = (async () => {
      if (!forceFetch) {
        const hit = await this.#shared.fromShared(kind, id);
        if (hit) return answerOf(hit.entry, 'shared', hit.trace);
      }
      let result: Walk<unknown>;
      try {
        // The shared walk takes no caller's signal: one caller giving up must not fail the
        // others; each caller stops waiting on its own signal instead (raceSignal).
        result = await walk<unknown>(this.#chain, kind, id, undefined, false, true);
      } catch (err) {
        const stale = this.#serveStale(kind, id, err);
        if (stale) return stale;
        throw err;
      }
      const { found, trace, errored } = result;
      if (found) {
        this.#shared.store(kind, id, generation, found, trace);
        return { value: found.value, source: found.source, trace };
      }
      if (errored) {
        // A miss after a failure (fallthrough_on_error) is not a real miss: never cached.
        return this.#serveStale(kind, id, new Error('fallthrough')) ?? undefined;
      }
      this.#shared.store(kind, id, generation, undefined, trace);
      return undefined;
    })();
    pending.set(id, run);
    const forget = () => {
      if (pending.get(id) === run) pending.delete(id);
    };
    run.then(forget, forget);
    return run;
  }

  /** One id: the cache's fresh answer (unless `checked`: the caller just looked), or a fill. */
  async lookup<T>(
    kind: SecretKind,
    id: string,
    opts: LookupOptions,
    checked = false,
  ): Promise<Resolution<T> | undefined> {
    if (!this.#cache?.enabled(kind)) {
      const { found, trace } = await walk<T>(this.#chain, kind, id, opts.signal, false, true);
      return found ? { value: found.value, source: found.source, trace } : undefined;
    }
    if (!opts.forceFetch && !checked) {
      const entry = this.#cache.fresh(kind, id);
      if (entry !== undefined) return this.answer(entry) as Resolution<T> | undefined;
    }
    return raceSignal(this.#fill(kind, id, opts.forceFetch ?? false), opts.signal) as Promise<
      Resolution<T> | undefined
    >;
  }

  /** Many ids: cached answers, joined fills, shared-cache hits, then one batch walk. */
  async lookupMany<T>(
    kind: SecretKind,
    ids: readonly string[],
    opts: LookupOptions,
  ): Promise<Map<string, Resolution<T>>> {
    const cache = this.#cache;
    // The batch walk is loaded on first use: a command that looks up one id never needs it.
    const { walkMany } = await import('./batch.ts');
    if (!cache?.enabled(kind)) return walkMany<T>(this.#chain, kind, ids, opts.signal);
    const out = new Map<string, Resolution<T>>();
    const ask: string[] = [];
    const joined: Array<Promise<void>> = [];
    for (const id of new Set(ids)) {
      const entry = opts.forceFetch ? undefined : cache.fresh(kind, id);
      if (entry !== undefined) {
        const answer = answerOf(entry, 'cached', this.traces.get(entry) ?? []);
        if (answer) out.set(id, answer as Resolution<T>);
        continue;
      }
      const running = opts.forceFetch ? undefined : this.#inflight[kind].get(id);
      if (running) {
        // Coalescing holds for batches too: an id already being read is not read again.
        joined.push(
          running.then((answer) => {
            if (answer) out.set(id, answer as Resolution<T>);
          }),
        );
        continue;
      }
      ask.push(id);
    }
    if (ask.length > 0) {
      const generations = new Map(ask.map((id) => [id, cache.generation(kind, id)]));
      const remaining = await this.#fromSharedMany(kind, ask, opts, out);
      if (remaining.length > 0) await this.#fillMany(kind, remaining, generations, opts, out);
    }
    await Promise.all(joined);
    return out;
  }

  /** Puts the shared cache's answers for `ask` in `out`; returns the ids it did not answer. */
  async #fromSharedMany<T>(
    kind: SecretKind,
    ask: readonly string[],
    opts: LookupOptions,
    out: Map<string, Resolution<T>>,
  ): Promise<string[]> {
    if (!this.#sharedCache || opts.forceFetch) return [...ask];
    const remaining: string[] = [];
    await Promise.all(
      ask.map(async (id) => {
        const hit = await this.#shared.fromShared(kind, id);
        if (!hit) remaining.push(id);
        else {
          const answer = answerOf(hit.entry, 'shared', hit.trace);
          if (answer) out.set(id, answer as Resolution<T>);
        }
      }),
    );
    return remaining;
  }

  /** One batch walk for `remaining`, its outcomes stored; stale-if-error when all have one. */
  async #fillMany<T>(
    kind: SecretKind,
    remaining: readonly string[],
    generations: ReadonlyMap<string, number>,
    opts: LookupOptions,
    out: Map<string, Resolution<T>>,
  ): Promise<void> {
    const errored = new Set<string>();
    const { walkMany } = await import('./batch.ts');
    let found: Map<string, Resolution<T>>;
    try {
      found = await raceSignal(
        walkMany<T>(this.#chain, kind, remaining, undefined, errored),
        opts.signal,
      );
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // Stale-if-error for a batch: only when every id it asked for has a stale value.
      const stale = remaining.map((id) => [id, this.#serveStale(kind, id, err)] as const);
      if (stale.some(([, answer]) => answer === undefined)) throw err;
      for (const [id, answer] of stale) out.set(id, answer as Resolution<T>);
      found = new Map();
    }
    for (const id of remaining) {
      const hit = found.get(id);
      if (hit) {
        this.#shared.store(kind, id, generations.get(id) ?? 0, hit, hit.trace);
        out.set(id, hit);
      } else if (!errored.has(id) && !out.has(id)) {
        this.#shared.store(kind, id, generations.get(id) ?? 0, undefined, []);
      }
    }
  }

  /** Forgets one id here and, with a shared cache, in every process. */
  async invalidate(kind: SecretKind, id: string): Promise<void> {
    this.#cache?.invalidate(kind, id);
    this.#inflight[kind].delete(id);
    // The write this follows is done: a cache that cannot hear of it is reported, not thrown.
    await this.#sharedCache
      ?.invalidate(kind, id)
      .catch((err: unknown) => this.#shared.invalidationFailed(err));
  }

  /** Forgets everything here and, with a shared cache, in every process. */
  async invalidateAll(): Promise<void> {
    this.#cache?.clear();
    this.#inflight.variable.clear();
    this.#inflight.connection.clear();
    await this.#sharedCache
      ?.invalidateAll()
      .catch((err: unknown) => this.#shared.invalidationFailed(err));
  }
}
