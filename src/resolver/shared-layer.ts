/**
 * @module resolver/shared-layer
 * The resolver's side of the shared cache (Redis): what a fill writes to it (only what every
 * process of the deployment shares), what a lookup takes from it (never shadowing this process's
 * own earlier links), and one warning per outage when it fails.
 */
import type { BackendName, SecretKind } from '../backends/backend.ts';
import { isAirlockError } from '../errors.ts';
import type { Connection } from '../model/connection.ts';
import type { CacheEntry, SecretCache } from './cache.ts';
import {
  type Chain,
  loadConnectionModel,
  PROCESS_LINKS,
  RAW_CONNECTIONS,
  readerFor,
  registerServed,
} from './link.ts';
import type { SharedCache, SharedRecord } from './shared-cache.ts';
import type { LinkTrace } from './types.ts';

/** The record the shared cache holds for `entry`; `undefined` when it cannot be rendered raw. */
function toRecord(kind: SecretKind, entry: CacheEntry): SharedRecord | undefined {
  let raw: string | null = null;
  if (entry.found) {
    raw =
      kind === 'variable'
        ? (entry.value as string)
        : (RAW_CONNECTIONS.get(entry.value as Connection) ?? null);
    if (raw === null) return undefined;
  }
  return {
    found: entry.found,
    raw,
    source: entry.source,
    storedAt: entry.storedAt,
    expiresAt: entry.expiresAt,
  };
}

/** The parsed value of a found record (a Connection keeps its raw text for the next write). */
async function recordValue(kind: SecretKind, id: string, raw: string): Promise<unknown> {
  if (kind === 'variable') return raw;
  const { Connection } = await loadConnectionModel();
  const conn = Connection.deserialize(id, raw);
  RAW_CONNECTIONS.set(conn, raw);
  return conn;
}

/** The local cache, the shared cache, and the fill-time traces kept beside local entries. */
export class SharedLayer {
  readonly #chain: Chain;
  readonly #cache: SecretCache | undefined;
  readonly #shared: SharedCache | undefined;
  readonly #traces: WeakMap<CacheEntry, readonly LinkTrace[]>;
  /** Whether the shared cache failed since it last answered (one warning per outage). */
  #down = false;

  constructor(
    chain: Chain,
    cache: SecretCache | undefined,
    shared: SharedCache | undefined,
    traces: WeakMap<CacheEntry, readonly LinkTrace[]>,
  ) {
    this.#chain = chain;
    this.#cache = cache;
    this.#shared = shared;
    this.#traces = traces;
  }

  /** Stores a walk's outcome locally and in the shared cache, unless a write came in between. */
  store(
    kind: SecretKind,
    id: string,
    generation: number,
    found: { value: unknown; source: BackendName } | undefined,
    trace: readonly LinkTrace[],
  ): void {
    const cache = this.#cache;
    if (!cache || cache.generation(kind, id) !== generation) return;
    const entry = cache.entry(kind, found !== undefined, found?.value, found?.source ?? null);
    if (!entry) return;
    this.#traces.set(entry, trace);
    cache.set(kind, id, entry);
    // Only what every process of the deployment would read goes to the shared cache: a value
    // from this process's own environment or files would be served to the others as theirs.
    if (this.#shared && !(found && PROCESS_LINKS.has(found.source))) {
      const record = toRecord(kind, entry);
      if (record) {
        this.#shared
          .set(kind, id, record, entry.expiresAt - entry.storedAt + cache.maxStaleMs)
          .catch((err: unknown) => this.failed('write', err));
      }
    }
  }

  /** Reports a shared-cache failure: a fall back to the stores, with one warning per outage. */
  failed(what: string, err: unknown): void {
    // The shared cache is an optimisation: the cache then bypasses itself for a while (see
    // shared-cache.ts).
    if (this.#down) return;
    this.#down = true;
    const code = isAirlockError(err) ? err.code : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
    this.#chain.logger?.warn(
      { code },
      `shared cache: could not ${what} (${code}); bypassing it and using the stores`,
    );
  }

  /** Reports that other processes could not be told of a write. */
  invalidationFailed(err: unknown): void {
    this.failed(
      'tell other processes of the change; they may serve the old answer until its TTL ends',
      err,
    );
  }

  /**
   * Whether one of this process's own links (its environment, its files) that comes before
   * `source` in this chain (every one of them for a cached miss) has `id`: the shared answer,
   * written by another process, must not shadow it. These links are local and cheap; a failing
   * one counts as shadowing, so that the full walk reports it.
   */
  async #shadowed(kind: SecretKind, id: string, source: BackendName | null): Promise<boolean> {
    for (const backend of this.#chain.backends) {
      if (backend.name === source) return false;
      if (!PROCESS_LINKS.has(backend.name)) continue;
      try {
        if ((await readerFor(backend, kind, id)(undefined)) !== undefined) return true;
      } catch {
        return true;
      }
    }
    return false;
  }

  /** An entry from the shared cache, parsed and registered for masking; `undefined` if none. */
  async fromShared(
    kind: SecretKind,
    id: string,
  ): Promise<{ entry: CacheEntry; trace: LinkTrace[] } | undefined> {
    const cache = this.#cache;
    if (!this.#shared || !cache) return undefined;
    let record: SharedRecord | undefined;
    try {
      record = await this.#shared.get(kind, id);
      this.#down = false;
    } catch (err) {
      this.failed('read', err);
      return undefined;
    }
    if (!record || record.expiresAt <= cache.now()) return undefined;
    if (await this.#shadowed(kind, id, record.source)) return undefined;
    let value: unknown;
    if (record.found) {
      if (record.raw === null || record.source === null) return undefined;
      value = await recordValue(kind, id, record.raw);
      // This process never saw the value: it must mask it as if it had read the store.
      registerServed(this.#chain, kind, id, value, record.source);
    }
    const entry: CacheEntry = {
      found: record.found,
      value,
      source: record.source,
      storedAt: record.storedAt,
      expiresAt: record.expiresAt,
    };
    const trace: LinkTrace[] = record.source
      ? [{ backend: record.source, outcome: 'hit', durationMs: 0, cache: 'shared' }]
      : [];
    this.#traces.set(entry, trace);
    cache.set(kind, id, entry);
    return { entry, trace };
  }
}
