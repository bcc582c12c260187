/**
 * @module resolver/which
 * Provenance: which link serves an id and what every link did (`airlock secrets which`), from
 * the cache when it holds a fresh answer, and the miss notes a not-found message appends.
 */
import type { SecretKind } from '../backends/backend.ts';
import type { CacheEntry, SecretCache } from './cache.ts';
import { cachedTrace } from './cache-layer.ts';
import type { Chain } from './link.ts';
import type { LinkTrace, LookupOptions, WhichReport } from './types.ts';
import { walk } from './walk.ts';

/** The report for a cached answer, or `undefined` when the cache holds none for `id`. */
function whichCached(
  chain: Chain,
  cache: SecretCache | undefined,
  traces: WeakMap<CacheEntry, readonly LinkTrace[]>,
  kind: SecretKind,
  id: string,
): WhichReport | undefined {
  const entry = cache?.peek(kind, id);
  if (!entry) return undefined;
  const trace = cachedTrace(traces.get(entry) ?? [], 'cached');
  const served = new Set(trace.map((t) => t.backend));
  // Links the fill never reached (it stopped at the serving link) are listed as such.
  for (const backend of chain.backends) {
    if (!served.has(backend.name)) {
      trace.push({
        backend: backend.name,
        outcome: 'skipped',
        durationMs: 0,
        reason: entry.source ? `served by ${entry.source}` : 'answered from the cache',
        cache: 'cached',
      });
    }
  }
  return { kind, id, source: entry.found ? entry.source : null, trace };
}

/** What every link does for `id` (see {@link Resolver.which}). */
export async function which(
  chain: Chain,
  cache: SecretCache | undefined,
  traces: WeakMap<CacheEntry, readonly LinkTrace[]>,
  kind: SecretKind,
  id: string,
  opts: LookupOptions & { all?: boolean },
): Promise<WhichReport> {
  if (!opts.forceFetch && !opts.all) {
    const cached = whichCached(chain, cache, traces, kind, id);
    if (cached) return cached;
  }
  const { found, trace } = await walk<unknown>(
    chain,
    kind,
    id,
    opts.signal,
    opts.all ?? false,
    false,
  );
  return { kind, id, source: found?.source ?? null, trace };
}
