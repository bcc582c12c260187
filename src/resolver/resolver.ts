/**
 * @module resolver/resolver
 * The resolver walks the chain of backends in order, stops at the first that holds the value,
 * and records which link served it (provenance) and what every link did.
 *
 * Unlike Airflow, which logs a failing backend and moves on to the next (possibly to a stale or
 * less protected copy in the metastore), the resolver fails closed by default: a backend that
 * fails stops the lookup with that backend's coded error. `fallthroughOnError: true` restores
 * Airflow's behaviour, with the failure still visible in the trace.
 *
 * This file assembles the parts: `link.ts` (one link), `walk.ts` (the chain walk), `batch.ts`
 * (the batch walk), `cache-layer.ts` and `shared-layer.ts` (the caches and fills), `which.ts`
 * (provenance, loaded on first use); the types are in `types.ts`.
 */
import type { BackendName } from '../backends/backend.ts';
import type { Connection } from '../model/connection.ts';
import type { SecretCache } from './cache.ts';
import { CacheLayer } from './cache-layer.ts';
import { type Chain, toBackendError } from './link.ts';
import type { Resolution, Resolver, ResolverOptions } from './types.ts';

export { missHint } from './hint.ts';
export { LOCAL_LINKS, registerResolved } from './link.ts';
export type {
  LinkOutcome,
  LinkTrace,
  LookupOptions,
  PrefetchRequest,
  Resolution,
  Resolver,
  ResolverOptions,
  WhichReport,
} from './types.ts';

/**
 * Creates a resolver over a chain of backends.
 *
 * @example
 * ```ts
 * const resolver = createResolver({ backends: [createEnvBackend()] });
 * const hit = await resolver.getVariable('hello');
 * console.log(hit?.value, hit?.source); // 'world' 'env'
 * ```
 */
export function createResolver(options: ResolverOptions): Resolver {
  const backends = Object.freeze([...options.backends]);
  const chain: Chain = {
    backends,
    fallthroughOnError: options.fallthroughOnError ?? false,
    linkTimeoutMs: options.linkTimeoutMs ?? 0,
    lookupTimeoutMs: options.lookupTimeoutMs ?? 30_000,
    masker: options.masker,
    maskAllResolved: options.maskAllResolved ?? true,
    logger: options.logger,
  };
  const cache = options.cache;
  const shared = options.sharedCache;
  const layer = new CacheLayer(chain, cache, shared);
  const cachesVariables = cache?.enabled('variable') ?? false;

  return {
    backends,
    getVariable(key, opts) {
      // The hot path: a fresh cached answer costs one Map lookup and no allocation.
      if (cachesVariables && opts?.forceFetch !== true) {
        const entry = (cache as SecretCache).fresh('variable', key);
        if (entry !== undefined) {
          return Promise.resolve(layer.answer(entry) as Resolution<string> | undefined);
        }
      }
      return layer.lookup<string>('variable', key, opts ?? {}, cachesVariables);
    },
    getConnection(connId, opts = {}) {
      return layer.lookup<Connection>('connection', connId, opts);
    },
    getVariables(keys, opts = {}) {
      return layer.lookupMany<string>('variable', keys, opts);
    },
    getConnections(connIds, opts = {}) {
      return layer.lookupMany<Connection>('connection', connIds, opts);
    },
    async prefetch(request, opts = {}) {
      const [variables, connections] = await Promise.all([
        layer.lookupMany<string>('variable', request.variables ?? [], opts),
        layer.lookupMany<Connection>('connection', request.connections ?? [], opts),
      ]);
      return { variables, connections };
    },
    invalidate: (kind, id) => layer.invalidate(kind, id),
    invalidateAll: () => layer.invalidateAll(),
    async which(kind, id, opts = {}) {
      // Loaded on first use: a plain lookup never asks for the whole story.
      const { which } = await import('./which.ts');
      return which(chain, cache, layer.traces, kind, id, opts);
    },
    async listVariableKeys(prefix, opts = {}) {
      const keys = new Set<string>();
      const unlisted: BackendName[] = [];
      for (const backend of backends) {
        if (!backend.listVariableKeys) {
          unlisted.push(backend.name);
          continue;
        }
        try {
          for (const key of await backend.listVariableKeys(opts.signal)) {
            if (key.startsWith(prefix)) keys.add(key);
          }
        } catch (err) {
          const error = toBackendError(backend.name, 'variable', `${prefix}*`, err);
          if (!chain.fallthroughOnError) throw error;
          unlisted.push(backend.name);
        }
      }
      return { keys: [...keys].sort(), unlisted };
    },
    async dispose() {
      await Promise.allSettled([...backends.map((b) => b.dispose?.()), shared?.close()]);
    },
  };
}
