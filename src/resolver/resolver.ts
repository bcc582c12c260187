/**
 * @module resolver/resolver
 * The resolver walks the chain of backends in order, stops at the first that holds the value,
 * and records which link served it (provenance) and what every link did.
 *
 * Unlike Airflow, which logs a failing backend and moves on to the next (possibly to a stale or
 * less protected copy in the metastore), the resolver fails closed by default: a backend that
 * fails stops the lookup with that backend's coded error. `fallthroughOnError: true` restores
 * Airflow's behaviour, with the failure still visible in the trace.
 */
import type { BackendName, SecretKind, SecretsBackend } from '../backends/backend.ts';
import { AirlockError, type ErrorCode, isAirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { Connection } from '../model/connection.ts';
import { mapLimit } from '../util/concurrency.ts';
import { safeJsonParse } from '../util/json.ts';
import type { CacheEntry, CacheState, SecretCache } from './cache.ts';
import type { SharedCache, SharedRecord } from './shared-cache.ts';

/** What one link did for one lookup. */
export type LinkOutcome = 'hit' | 'miss' | 'error' | 'skipped';

/** One link's part in a lookup: never the value. */
export interface LinkTrace {
  readonly backend: BackendName;
  readonly outcome: LinkOutcome;
  /** Wall time spent in this link, in milliseconds (0 for skipped links). */
  readonly durationMs: number;
  /** Where the link looked (a path, a secret name, an env name), when it says. */
  readonly location?: string;
  /**
   * Why a link was skipped, the error's message, or on a miss the backend's note on why the miss
   * is suspect (secret-free by construction).
   */
  readonly reason?: string;
  /** The error's code, for `error` outcomes. */
  readonly errorCode?: ErrorCode;
  /**
   * Set when the answer came from the cache instead of the store: `cached` (this process's
   * cache, fresh), `stale` (expired, served because the refresh failed) or `shared` (the shared
   * cache filled by another process). The link's outcome is what it was when read.
   */
  readonly cache?: CacheState;
}

/** A resolved value with its provenance. */
export interface Resolution<T> {
  readonly value: T;
  /** The backend that served the value (also when it came from the cache). */
  readonly source: BackendName;
  readonly trace: readonly LinkTrace[];
  /** Set when the value came from a cache; `stale` when served past its TTL (stale-if-error). */
  readonly cache?: CacheState;
}

/** The full story of one lookup, as `airlock secrets which` shows it. */
export interface WhichReport {
  readonly kind: SecretKind;
  readonly id: string;
  /** The link that serves the value, or `null` when none does (or the chain failed first). */
  readonly source: BackendName | null;
  readonly trace: readonly LinkTrace[];
}

/** A miss's trace link, with the backend's note on why the miss is suspect, if it has one. */
function missLink(
  backend: SecretsBackend,
  kind: SecretKind,
  id: string,
  durationMs: number,
  base: { location?: string },
): LinkTrace {
  const note = backend.missNote?.(kind, id);
  return {
    backend: backend.name,
    outcome: 'miss',
    durationMs,
    ...base,
    ...(note === undefined ? {} : { reason: note }),
  };
}

/**
 * The notes the links left on their misses for this lookup (see `SecretsBackend.missNote`), as
 * ` (vault: <note>; …)` to append to a not-found message, or `''` when every miss was plain.
 * Asks {@link Resolver.which}, which answers from the cache when it holds the miss.
 *
 * @example
 * ```ts
 * throw new NotFoundError('AIRLOCK_ERR_VAR_NOT_FOUND', `Variable \`x\` does not exist${await missHint(resolver, 'variable', 'x')}`);
 * ```
 */
export async function missHint(
  resolver: Partial<Pick<Resolver, 'which'>>,
  kind: SecretKind,
  id: string,
): Promise<string> {
  // A supervised task's lookups go to its supervisor, which has no provenance to give here.
  if (!resolver.which) return '';
  const report = await resolver.which(kind, id);
  const notes = report.trace
    .filter((link) => link.outcome === 'miss' && link.reason !== undefined)
    .map((link) => `${link.backend}: ${link.reason}`);
  return notes.length === 0 ? '' : ` (${notes.join('; ')})`;
}

/** Options of {@link createResolver}. */
export interface ResolverOptions {
  /** The chain, in priority order: external backends, then `env`, then `metastore`. */
  backends: readonly SecretsBackend[];
  /**
   * Airflow's behaviour: on a backend failure, try the next link instead of failing.
   * @default false
   */
  fallthroughOnError?: boolean;
  /**
   * A bound on each link's time, in milliseconds; `0` means none (backends have their own).
   * @default 0
   */
  linkTimeoutMs?: number;
  /**
   * One deadline per lookup, in milliseconds: the whole chain walk (every link, every retry a
   * store's SDK makes) must end within it, or the lookup fails with
   * `AIRLOCK_ERR_BACKEND_TIMEOUT` naming the link it was waiting on. `0` means none. Each
   * store's own timeouts (Airflow's kwargs) still apply inside it.
   * @default 30000
   */
  lookupTimeoutMs?: number;
  /**
   * Where every resolved secret is registered, so that logs, errors and child output mask it:
   * connection passwords and sensitive-named values always; with `maskAllResolved`, every value
   * an external backend serves.
   */
  masker?: SecretsMasker;
  /**
   * Register every value served by an external backend (not `env` or `metastore`), whatever its
   * name (`mask_all_resolved`).
   * @default true
   */
  maskAllResolved?: boolean;
  /** Told of failures passed over (`fallthroughOnError`) and, at debug, of every lookup. */
  logger?: Logger;
  /**
   * The cache of chain outcomes (see `cache.ts`); without one, every lookup walks the chain.
   * @default undefined
   */
  cache?: SecretCache;
  /** A cache shared by several processes (Redis), consulted after this process's cache. */
  sharedCache?: SharedCache;
}

/** The links whose values are masked by name only (Airflow's rules), not wholesale. */
export const LOCAL_LINKS: ReadonlySet<BackendName> = new Set(['env', 'metastore']);

/**
 * The links whose answer belongs to one process (its environment, files on its machine): never
 * written to the shared cache, and consulted before a shared-cache answer from a later link.
 */
const PROCESS_LINKS: ReadonlySet<BackendName> = new Set(['env', 'local-file']);

/** Registers what a resolved value reveals, following Airflow's masking rules. */
export function registerResolved(
  masker: SecretsMasker,
  kind: SecretKind,
  id: string,
  value: unknown,
  wholesale: boolean,
): void {
  if (kind === 'variable') {
    if (typeof value !== 'string') return;
    if (wholesale) masker.addSecret(value);
    else masker.add(value, id);
    // A JSON variable's nested sensitive keys are masked too (deserialize_json in Airflow).
    if (value.trimStart().startsWith('{')) {
      const parsed = safeJsonParse(value);
      if (parsed.ok) masker.add(parsed.value);
    }
    return;
  }
  const conn = value as Connection;
  // Airflow's Connection masks the password (and its quoted form) unconditionally.
  if (conn.password) masker.addSecret(conn.password);
  const extra = conn.extra === null ? {} : conn.extraDejson;
  masker.add(extra);
  if (wholesale) {
    if (conn.login) masker.addSecret(conn.login);
    masker.add(extra, 'secret');
  }
}

/** Per-call options of the resolver's lookups. */
export interface LookupOptions {
  signal?: AbortSignal;
  /**
   * Read the store even when the cache holds a fresh answer (powertools' `forceFetch`); the
   * answer read then replaces the cached one.
   * @default false
   */
  forceFetch?: boolean;
}

/** What {@link Resolver.prefetch} fetches. */
export interface PrefetchRequest {
  variables?: readonly string[];
  connections?: readonly string[];
}

/** Resolves Variables and Connections through a chain of backends. */
export interface Resolver {
  readonly backends: readonly SecretsBackend[];
  /** The Variable's value and provenance, or `undefined` when no link holds it. */
  getVariable(key: string, options?: LookupOptions): Promise<Resolution<string> | undefined>;
  /** The parsed Connection and provenance, or `undefined` when no link holds it. */
  getConnection(
    connId: string,
    options?: LookupOptions,
  ): Promise<Resolution<Connection> | undefined>;
  /**
   * Several Variables at once, each link asked for all the keys still missing in one batch
   * call where the backend has one (SSM `GetParameters`, Secrets Manager
   * `BatchGetSecretValue`), else in parallel single reads. The map holds the keys found.
   */
  getVariables(
    keys: readonly string[],
    options?: LookupOptions,
  ): Promise<Map<string, Resolution<string>>>;
  /** Several Connections at once, as {@link Resolver.getVariables} does for Variables. */
  getConnections(
    connIds: readonly string[],
    options?: LookupOptions,
  ): Promise<Map<string, Resolution<Connection>>>;
  /**
   * Resolves many ids at once into the cache (batch calls where a backend has them), so that
   * the lookups that follow are cache hits. Returns what was found.
   *
   * @example
   * ```ts
   * await resolver.prefetch({ variables: ['a', 'b'], connections: ['db'] });
   * ```
   */
  prefetch(
    request: PrefetchRequest,
    options?: LookupOptions,
  ): Promise<{
    variables: Map<string, Resolution<string>>;
    connections: Map<string, Resolution<Connection>>;
  }>;
  /**
   * Forgets the cached answer for one id, here and (with a shared cache) in every process, after
   * a write through airlock. A no-op without a cache.
   */
  invalidate(kind: SecretKind, id: string): Promise<void>;
  /** Forgets every cached answer, here and in every process sharing the cache (bulk imports). */
  invalidateAll(): Promise<void>;
  /**
   * What every link does for this lookup; with `all`, links after the serving one are asked too
   * (their hits are values the first link shadows). Never throws for a backend failure.
   * A fresh cached answer is reported as such (links marked `cache: 'cached'`) unless
   * `forceFetch` or `all` is set.
   */
  which(
    kind: SecretKind,
    id: string,
    options?: LookupOptions & { all?: boolean },
  ): Promise<WhichReport>;
  /**
   * The Variable keys starting with `prefix` that the links able to list hold (deduplicated,
   * sorted), and the links that cannot list (so callers can say the listing is partial).
   */
  listVariableKeys(
    prefix: string,
    options?: LookupOptions,
  ): Promise<{ keys: string[]; unlisted: BackendName[] }>;
  /** Disposes every backend. */
  dispose(): Promise<void>;
}

type Attempt<T> =
  | { outcome: 'hit'; value: T }
  | { outcome: 'miss' }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'error'; error: AirlockError };

/** Why a link that does not look an id up was skipped. */
function skipReason(kind: SecretKind): string {
  return `not looked up here (${kind} lookups disabled, or outside the lookup pattern)`;
}

/**
 * The raw text each parsed Connection was read from, so that the shared cache stores what the
 * store holds (re-parsed on the way out) rather than a lossy `get_uri()` rendering.
 */
const RAW_CONNECTIONS = new WeakMap<Connection, string>();

/** Waits for `promise`, giving up (with the signal's reason) when `signal` aborts. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function describeKind(kind: SecretKind): string {
  return kind === 'variable' ? 'variable' : 'connection';
}

/** Turns anything a backend threw into a coded, secret-free error naming the backend. */
function toBackendError(
  backend: BackendName,
  kind: SecretKind,
  id: string,
  err: unknown,
): AirlockError {
  if (isAirlockError(err)) return err;
  const name = err instanceof Error ? err.name : typeof err;
  // A foreign error's message may quote what the store sent back; it is not forwarded.
  return new AirlockError(
    'AIRLOCK_ERR_BACKEND_UNAVAILABLE',
    `${backend}: could not read ${describeKind(kind)} \`${id}\` (${name})`,
    { details: { backend, kind, id } },
  );
}

/** The abort reason of a lookup whose deadline passed (turned into a coded error per link). */
class LookupDeadline {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  error(backend: BackendName, kind: SecretKind, id: string): AirlockError {
    return new AirlockError(
      'AIRLOCK_ERR_BACKEND_TIMEOUT',
      `${backend}: the lookup of ${describeKind(kind)} \`${id}\` did not finish within its ${this.timeoutMs} ms deadline (AIRLOCK__SECRETS__LOOKUP_TIMEOUT_SECONDS)`,
      { details: { backend, kind, id, timeoutMs: this.timeoutMs } },
    );
  }
}

/** A lookup's deadline joined with the caller's signal; `done()` releases the timer. */
function startDeadline(
  timeoutMs: number,
  signal: AbortSignal | undefined,
): { signal: AbortSignal | undefined; done(): void } {
  if (timeoutMs <= 0) return { signal, done() {} };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new LookupDeadline(timeoutMs)), timeoutMs);
  // A deadline never keeps a process alive on its own.
  timer.unref();
  return {
    signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
    done: () => clearTimeout(timer),
  };
}

/** What to throw when `signal` aborted while `backend` was being read. */
function abortError(
  signal: AbortSignal,
  backend: BackendName,
  kind: SecretKind,
  id: string,
): unknown {
  const reason: unknown = signal.reason;
  return reason instanceof LookupDeadline ? reason.error(backend, kind, id) : reason;
}

async function withTimeout<T>(
  run: (signal: AbortSignal | undefined) => Promise<T>,
  backend: BackendName,
  kind: SecretKind,
  id: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  // A backend that ignores its signal still cannot hold the lookup past its deadline.
  if (timeoutMs <= 0) return raceSignal(run(signal), signal);
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(
        timeout.aborted
          ? new AirlockError(
              'AIRLOCK_ERR_BACKEND_TIMEOUT',
              `${backend}: reading ${describeKind(kind)} \`${id}\` took longer than ${timeoutMs} ms`,
              { details: { backend, kind, id, timeoutMs } },
            )
          : combined.reason,
      );
    };
    combined.addEventListener('abort', onAbort, { once: true });
  });
  try {
    // A backend that ignores its signal still cannot hold the chain past the bound.
    return await Promise.race([run(combined), aborted]);
  } finally {
    if (onAbort) combined.removeEventListener('abort', onAbort);
  }
}

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
  const fallthroughOnError = options.fallthroughOnError ?? false;
  const linkTimeoutMs = options.linkTimeoutMs ?? 0;
  const lookupTimeoutMs = options.lookupTimeoutMs ?? 30_000;
  const masker = options.masker;
  const maskAllResolved = options.maskAllResolved ?? true;

  async function attempt<T>(
    backend: SecretsBackend,
    kind: SecretKind,
    id: string,
    read: (signal: AbortSignal | undefined) => Promise<T | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<Attempt<T>> {
    if (backend.locate && backend.locate(kind, id) === undefined) {
      return { outcome: 'skipped', reason: skipReason(kind) };
    }
    try {
      const value = await withTimeout(read, backend.name, kind, id, linkTimeoutMs, signal);
      return value === undefined ? { outcome: 'miss' } : { outcome: 'hit', value };
    } catch (err) {
      if (signal?.aborted) throw abortError(signal, backend.name, kind, id);
      return { outcome: 'error', error: toBackendError(backend.name, kind, id, err) };
    }
  }

  function readerFor(backend: SecretsBackend, kind: SecretKind, id: string) {
    if (kind === 'variable') {
      return (signal: AbortSignal | undefined) => backend.getVariable(id, signal);
    }
    return async (signal: AbortSignal | undefined): Promise<Connection | undefined> =>
      parseConnection(backend, id, await backend.getConnectionValue(id, signal));
  }

  function parseConnection(
    backend: SecretsBackend,
    id: string,
    raw: string | undefined,
  ): Connection | undefined {
    // Airflow's `get_connection` treats an empty value as "not here".
    if (raw === undefined || raw === '') return undefined;
    try {
      const conn = Connection.deserialize(id, raw);
      RAW_CONNECTIONS.set(conn, raw);
      return conn;
    } catch (err) {
      if (!isAirlockError(err)) throw err;
      throw new AirlockError(err.code, `${backend.name}: ${err.message}`, {
        details: { backend: backend.name, conn_id: id },
      });
    }
  }

  /** One link's answers for many ids: a batch call where the backend has one. */
  async function readMany(
    backend: SecretsBackend,
    kind: SecretKind,
    ids: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, { value?: unknown; error?: AirlockError; durationMs: number }>> {
    const out = new Map<string, { value?: unknown; error?: AirlockError; durationMs: number }>();
    const batch = kind === 'variable' ? backend.getVariables : backend.getConnectionValues;
    if (batch && ids.length > 1) {
      const started = performance.now();
      let raw: Map<string, string>;
      try {
        raw = await withTimeout(
          (s) => batch.call(backend, ids, s),
          backend.name,
          kind,
          `${ids.length} ids`,
          linkTimeoutMs,
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw abortError(signal, backend.name, kind, ids.join(', '));
        const error = toBackendError(backend.name, kind, ids.join(', '), err);
        const durationMs = performance.now() - started;
        for (const id of ids) out.set(id, { error, durationMs });
        return out;
      }
      const durationMs = performance.now() - started;
      for (const id of ids) {
        try {
          const value =
            kind === 'variable' ? raw.get(id) : parseConnection(backend, id, raw.get(id));
          out.set(id, { value, durationMs });
        } catch (err) {
          out.set(id, { error: toBackendError(backend.name, kind, id, err), durationMs });
        }
      }
      return out;
    }
    await mapLimit(ids, 8, async (id) => {
      const started = performance.now();
      const read = readerFor(backend, kind, id) as (s: AbortSignal | undefined) => Promise<unknown>;
      const result = await attempt(backend, kind, id, read, signal);
      const durationMs = performance.now() - started;
      if (result.outcome === 'hit') out.set(id, { value: result.value, durationMs });
      else if (result.outcome === 'error') out.set(id, { error: result.error, durationMs });
      else out.set(id, { durationMs });
    });
    return out;
  }

  /** Runs one lookup under its deadline (joined with the caller's signal). */
  async function withinDeadline<R>(
    signal: AbortSignal | undefined,
    run: (signal: AbortSignal | undefined) => Promise<R>,
  ): Promise<R> {
    const deadline = startDeadline(lookupTimeoutMs, signal);
    try {
      return await run(deadline.signal);
    } finally {
      deadline.done();
    }
  }

  function walkMany<T>(
    kind: SecretKind,
    ids: readonly string[],
    signal: AbortSignal | undefined,
    errored: Set<string> = new Set(),
  ): Promise<Map<string, Resolution<T>>> {
    return withinDeadline(signal, (s) => walkManyWithin<T>(kind, ids, s, errored));
  }

  async function walkManyWithin<T>(
    kind: SecretKind,
    ids: readonly string[],
    signal: AbortSignal | undefined,
    errored: Set<string>,
  ): Promise<Map<string, Resolution<T>>> {
    const unique = [...new Set(ids)];
    const traces = new Map<string, LinkTrace[]>(unique.map((id) => [id, []]));
    const found = new Map<string, { value: T; source: BackendName }>();
    for (const backend of backends) {
      const ask: string[] = [];
      for (const id of unique) {
        const trace = traces.get(id) as LinkTrace[];
        const location = backend.locate?.(kind, id);
        const base = location === undefined ? {} : { location };
        const hit = found.get(id);
        if (hit) {
          trace.push({
            backend: backend.name,
            outcome: 'skipped',
            durationMs: 0,
            reason: `served by ${hit.source}`,
            ...base,
          });
        } else if (backend.locate && location === undefined) {
          trace.push({
            backend: backend.name,
            outcome: 'skipped',
            durationMs: 0,
            reason: skipReason(kind),
          });
        } else {
          ask.push(id);
        }
      }
      if (ask.length === 0) continue;
      const answers = await readMany(backend, kind, ask, signal);
      for (const id of ask) {
        const answer = answers.get(id) ?? { durationMs: 0 };
        const trace = traces.get(id) as LinkTrace[];
        const location = backend.locate?.(kind, id);
        const base = location === undefined ? {} : { location };
        const durationMs = Math.round(answer.durationMs * 1000) / 1000;
        if (answer.error) {
          trace.push({
            backend: backend.name,
            outcome: 'error',
            durationMs,
            reason: answer.error.message,
            errorCode: answer.error.code,
            ...base,
          });
          errored.add(id);
          if (!fallthroughOnError) throw answer.error;
          options.logger?.warn(
            { backend: backend.name, code: answer.error.code, kind, id },
            `${answer.error.message}; trying the next link (fallthrough_on_error)`,
          );
        } else if (answer.value === undefined) {
          trace.push(missLink(backend, kind, id, durationMs, base));
        } else {
          trace.push({ backend: backend.name, outcome: 'hit', durationMs, ...base });
          if (masker) {
            const wholesale = maskAllResolved && !LOCAL_LINKS.has(backend.name);
            registerResolved(masker, kind, id, answer.value, wholesale);
          }
          found.set(id, { value: answer.value as T, source: backend.name });
        }
      }
    }
    const out = new Map<string, Resolution<T>>();
    for (const [id, hit] of found) {
      out.set(id, { value: hit.value, source: hit.source, trace: traces.get(id) as LinkTrace[] });
    }
    return out;
  }

  type Walk<T> = {
    found?: { value: T; source: BackendName };
    trace: LinkTrace[];
    errored?: boolean;
  };

  function walk<T>(
    kind: SecretKind,
    id: string,
    signal: AbortSignal | undefined,
    all: boolean,
    throwOnError: boolean,
  ): Promise<Walk<T>> {
    return withinDeadline(signal, (s) => walkWithin<T>(kind, id, s, all, throwOnError));
  }

  async function walkWithin<T>(
    kind: SecretKind,
    id: string,
    signal: AbortSignal | undefined,
    all: boolean,
    throwOnError: boolean,
  ): Promise<Walk<T>> {
    const trace: LinkTrace[] = [];
    let found: { value: T; source: BackendName } | undefined;
    let stopped: string | undefined;
    for (const backend of backends) {
      const location = backend.locate?.(kind, id);
      const base = location === undefined ? {} : { location };
      if (stopped !== undefined) {
        trace.push({
          backend: backend.name,
          outcome: 'skipped',
          durationMs: 0,
          reason: stopped,
          ...base,
        });
        continue;
      }
      const started = performance.now();
      const result = await attempt(
        backend,
        kind,
        id,
        readerFor(backend, kind, id) as (s: AbortSignal | undefined) => Promise<T | undefined>,
        signal,
      );
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      switch (result.outcome) {
        case 'hit':
          trace.push({ backend: backend.name, outcome: 'hit', durationMs, ...base });
          if (masker) {
            const wholesale = maskAllResolved && !LOCAL_LINKS.has(backend.name);
            registerResolved(masker, kind, id, result.value, wholesale);
          }
          if (!found) found = { value: result.value, source: backend.name };
          if (!all) stopped = `served by ${backend.name}`;
          break;
        case 'miss':
          trace.push(missLink(backend, kind, id, durationMs, base));
          break;
        case 'skipped':
          trace.push({
            backend: backend.name,
            outcome: 'skipped',
            durationMs: 0,
            reason: result.reason,
          });
          break;
        case 'error':
          trace.push({
            backend: backend.name,
            outcome: 'error',
            durationMs,
            reason: result.error.message,
            errorCode: result.error.code,
            ...base,
          });
          if (fallthroughOnError) {
            options.logger?.warn(
              { backend: backend.name, code: result.error.code, kind, id },
              `${result.error.message}; trying the next link (fallthrough_on_error)`,
            );
          }
          if (!fallthroughOnError && !found) {
            if (throwOnError) throw result.error;
            stopped = `the chain stopped at the ${backend.name} error`;
          }
          break;
      }
    }
    options.logger?.debug({ kind, id, source: found?.source ?? null, trace }, 'lookup');
    const errored = trace.some((t) => t.outcome === 'error');
    return found ? { found, trace, errored } : { trace, errored };
  }

  // ---- the cache layer -------------------------------------------------------------------

  const cache = options.cache;
  const shared = options.sharedCache;
  /** Lookups in flight, per kind and id: concurrent lookups of one id share one chain walk. */
  const cachesVariables = cache?.enabled('variable') ?? false;
  const inflight: Record<SecretKind, Map<string, Promise<Resolution<unknown> | undefined>>> = {
    variable: new Map(),
    connection: new Map(),
  };
  shared?.onInvalidate((kind, id) => {
    if (kind === null || id === null) cache?.clear();
    else cache?.invalidate(kind, id);
  });

  function cachedTrace(trace: readonly LinkTrace[], state: CacheState): LinkTrace[] {
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

  /** The fill-time trace of each entry, kept beside it for cached answers and `which`. */
  const traces = new WeakMap<CacheEntry, readonly LinkTrace[]>();

  function register(kind: SecretKind, id: string, value: unknown, source: BackendName): void {
    if (!masker) return;
    registerResolved(masker, kind, id, value, maskAllResolved && !LOCAL_LINKS.has(source));
  }

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

  /** Stores a walk's outcome locally and in the shared cache, unless a write came in between. */
  function store(
    kind: SecretKind,
    id: string,
    generation: number,
    found: { value: unknown; source: BackendName } | undefined,
    trace: readonly LinkTrace[],
  ): void {
    if (!cache || cache.generation(kind, id) !== generation) return;
    const entry = cache.entry(kind, found !== undefined, found?.value, found?.source ?? null);
    if (!entry) return;
    traces.set(entry, trace);
    cache.set(kind, id, entry);
    // Only what every process of the deployment would read goes to the shared cache: a value
    // from this process's own environment or files would be served to the others as theirs.
    if (shared && !(found && PROCESS_LINKS.has(found.source))) {
      const record = toRecord(kind, entry);
      if (record) {
        shared
          .set(kind, id, record, entry.expiresAt - entry.storedAt + cache.maxStaleMs)
          .catch((err: unknown) => sharedFailed('write', err));
      }
    }
  }

  /** Whether the shared cache failed since it last answered (one warning per outage). */
  let sharedDown = false;

  function sharedFailed(what: string, err: unknown): void {
    // The shared cache is an optimisation: a failure falls back to the store, with one warning
    // per outage (the cache then bypasses itself for a while, see shared-cache.ts).
    if (sharedDown) return;
    sharedDown = true;
    const code = isAirlockError(err) ? err.code : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
    options.logger?.warn(
      { code },
      `shared cache: could not ${what} (${code}); bypassing it and using the stores`,
    );
  }

  function invalidationFailed(err: unknown): void {
    sharedFailed(
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
  async function shadowed(
    kind: SecretKind,
    id: string,
    source: BackendName | null,
  ): Promise<boolean> {
    for (const backend of backends) {
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
  async function fromShared(
    kind: SecretKind,
    id: string,
  ): Promise<{ entry: CacheEntry; trace: LinkTrace[] } | undefined> {
    if (!shared || !cache) return undefined;
    let record: SharedRecord | undefined;
    try {
      record = await shared.get(kind, id);
      sharedDown = false;
    } catch (err) {
      sharedFailed('read', err);
      return undefined;
    }
    if (!record || record.expiresAt <= cache.now()) return undefined;
    if (await shadowed(kind, id, record.source)) return undefined;
    let value: unknown;
    if (record.found) {
      if (record.raw === null || record.source === null) return undefined;
      value =
        kind === 'variable'
          ? record.raw
          : (() => {
              const conn = Connection.deserialize(id, record.raw as string);
              RAW_CONNECTIONS.set(conn, record.raw as string);
              return conn;
            })();
      // This process never saw the value: it must mask it as if it had read the store.
      register(kind, id, value, record.source);
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
    traces.set(entry, trace);
    cache.set(kind, id, entry);
    return { entry, trace };
  }

  /** Serves the stale entry for `id` after a failed refresh, or `undefined` when none may be. */
  function serveStale(kind: SecretKind, id: string, err: unknown): Resolution<unknown> | undefined {
    const stale = cache?.stale(kind, id);
    if (!stale?.found || !cache) return undefined;
    cache.stats.staleServed++;
    const code = isAirlockError(err) ? err.code : 'AIRLOCK_ERR_BACKEND_UNAVAILABLE';
    options.logger?.warn(
      { kind, id, code, ageMs: cache.now() - stale.storedAt },
      `serving a stale ${describeKind(kind)} \`${id}\` (the refresh failed with ${code})`,
    );
    return answerOf(stale, 'stale', traces.get(stale) ?? []);
  }

  /** One chain walk for `id` that fills the cache; concurrent callers share it. */
  function fill(
    kind: SecretKind,
    id: string,
    forceFetch: boolean,
  ): Promise<Resolution<unknown> | undefined> {
    const pending = inflight[kind];
    if (!forceFetch) {
      const running = pending.get(id);
      if (running) return running;
    }
    const generation = cache?.generation(kind, id) ?? 0;
    const run = (async () => {
      if (!forceFetch) {
        const hit = await fromShared(kind, id);
        if (hit) return answerOf(hit.entry, 'shared', hit.trace);
      }
      let result: Awaited<ReturnType<typeof walk<unknown>>>;
      try {
        // The shared walk takes no caller's signal: one caller giving up must not fail the
        // others; each caller stops waiting on its own signal instead (raceSignal).
        result = await walk<unknown>(kind, id, undefined, false, true);
      } catch (err) {
        const stale = serveStale(kind, id, err);
        if (stale) return stale;
        throw err;
      }
      const { found, trace, errored } = result;
      if (found) {
        store(kind, id, generation, found, trace);
        return { value: found.value, source: found.source, trace };
      }
      if (errored) {
        // A miss after a failure (fallthrough_on_error) is not a real miss: never cached.
        return serveStale(kind, id, new Error('fallthrough')) ?? undefined;
      }
      store(kind, id, generation, undefined, trace);
      return undefined;
    })();
    pending.set(id, run);
    const forget = () => {
      if (pending.get(id) === run) pending.delete(id);
    };
    run.then(forget, forget);
    return run;
  }

  async function lookup<T>(
    kind: SecretKind,
    id: string,
    opts: LookupOptions,
    checked = false,
  ): Promise<Resolution<T> | undefined> {
    if (!cache?.enabled(kind)) {
      const { found, trace } = await walk<T>(kind, id, opts.signal, false, true);
      return found ? { value: found.value, source: found.source, trace } : undefined;
    }
    if (!opts.forceFetch && !checked) {
      const entry = cache.fresh(kind, id);
      if (entry !== undefined) {
        return (entry.memo ?? answerOf(entry, 'cached', traces.get(entry) ?? [])) as
          | Resolution<T>
          | undefined;
      }
    }
    return raceSignal(fill(kind, id, opts.forceFetch ?? false), opts.signal) as Promise<
      Resolution<T> | undefined
    >;
  }

  async function lookupMany<T>(
    kind: SecretKind,
    ids: readonly string[],
    opts: LookupOptions,
  ): Promise<Map<string, Resolution<T>>> {
    if (!cache?.enabled(kind)) return walkMany<T>(kind, ids, opts.signal);
    const out = new Map<string, Resolution<T>>();
    const ask: string[] = [];
    const joined: Array<Promise<void>> = [];
    for (const id of new Set(ids)) {
      const entry = opts.forceFetch ? undefined : cache.fresh(kind, id);
      if (entry !== undefined) {
        const answer = answerOf(entry, 'cached', traces.get(entry) ?? []);
        if (answer) out.set(id, answer as Resolution<T>);
        continue;
      }
      const running = opts.forceFetch ? undefined : inflight[kind].get(id);
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
      const remaining: string[] = [];
      if (shared && !opts.forceFetch) {
        await Promise.all(
          ask.map(async (id) => {
            const hit = await fromShared(kind, id);
            if (!hit) remaining.push(id);
            else {
              const answer = answerOf(hit.entry, 'shared', hit.trace);
              if (answer) out.set(id, answer as Resolution<T>);
            }
          }),
        );
      } else {
        remaining.push(...ask);
      }
      if (remaining.length > 0) {
        const errored = new Set<string>();
        let found: Map<string, Resolution<T>>;
        try {
          found = await raceSignal(walkMany<T>(kind, remaining, undefined, errored), opts.signal);
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          // Stale-if-error for a batch: only when every id it asked for has a stale value.
          const stale = remaining.map((id) => [id, serveStale(kind, id, err)] as const);
          if (stale.some(([, answer]) => answer === undefined)) throw err;
          for (const [id, answer] of stale) out.set(id, answer as Resolution<T>);
          found = new Map();
        }
        for (const id of remaining) {
          const hit = found.get(id);
          if (hit) {
            store(kind, id, generations.get(id) ?? 0, hit, hit.trace);
            out.set(id, hit);
          } else if (!errored.has(id) && !out.has(id)) {
            store(kind, id, generations.get(id) ?? 0, undefined, []);
          }
        }
      }
    }
    await Promise.all(joined);
    return out;
  }

  async function whichCached(kind: SecretKind, id: string): Promise<WhichReport | undefined> {
    const entry = cache?.peek(kind, id);
    if (!entry) return undefined;
    const trace = cachedTrace(traces.get(entry) ?? [], 'cached');
    const served = new Set(trace.map((t) => t.backend));
    // Links the fill never reached (it stopped at the serving link) are listed as such.
    for (const backend of backends) {
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

  return {
    backends,
    getVariable(key, opts) {
      // The hot path: a fresh cached answer costs one Map lookup and no allocation.
      if (cachesVariables && opts?.forceFetch !== true) {
        const entry = (cache as SecretCache).fresh('variable', key);
        if (entry !== undefined) {
          return Promise.resolve(
            (entry.memo ?? answerOf(entry, 'cached', traces.get(entry) ?? [])) as
              | Resolution<string>
              | undefined,
          );
        }
      }
      return lookup<string>('variable', key, opts ?? {}, cachesVariables);
    },
    getConnection(connId, opts = {}) {
      return lookup<Connection>('connection', connId, opts);
    },
    getVariables(keys, opts = {}) {
      return lookupMany<string>('variable', keys, opts);
    },
    getConnections(connIds, opts = {}) {
      return lookupMany<Connection>('connection', connIds, opts);
    },
    async prefetch(request, opts = {}) {
      const [variables, connections] = await Promise.all([
        lookupMany<string>('variable', request.variables ?? [], opts),
        lookupMany<Connection>('connection', request.connections ?? [], opts),
      ]);
      return { variables, connections };
    },
    async invalidate(kind, id) {
      cache?.invalidate(kind, id);
      inflight[kind].delete(id);
      // The write this follows is done: a cache that cannot hear of it is reported, not thrown.
      await shared?.invalidate(kind, id).catch((err: unknown) => invalidationFailed(err));
    },
    async invalidateAll() {
      cache?.clear();
      inflight.variable.clear();
      inflight.connection.clear();
      await shared?.invalidateAll().catch((err: unknown) => invalidationFailed(err));
    },
    async which(kind, id, opts = {}) {
      if (!opts.forceFetch && !opts.all) {
        const cached = await whichCached(kind, id);
        if (cached) return cached;
      }
      const { found, trace } = await walk<unknown>(kind, id, opts.signal, opts.all ?? false, false);
      return { kind, id, source: found?.source ?? null, trace };
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
          if (!fallthroughOnError) throw error;
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
