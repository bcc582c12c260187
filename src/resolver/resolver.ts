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
import { safeJsonParse } from '../util/json.ts';

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
  /** Why a link was skipped, or the error's message (secret-free by construction). */
  readonly reason?: string;
  /** The error's code, for `error` outcomes. */
  readonly errorCode?: ErrorCode;
}

/** A resolved value with its provenance. */
export interface Resolution<T> {
  readonly value: T;
  /** The backend that served the value. */
  readonly source: BackendName;
  readonly trace: readonly LinkTrace[];
}

/** The full story of one lookup, as `airlock secrets which` shows it. */
export interface WhichReport {
  readonly kind: SecretKind;
  readonly id: string;
  /** The link that serves the value, or `null` when none does (or the chain failed first). */
  readonly source: BackendName | null;
  readonly trace: readonly LinkTrace[];
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
}

/** The links whose values are masked by name only (Airflow's rules), not wholesale. */
const LOCAL_LINKS: ReadonlySet<BackendName> = new Set(['env', 'metastore']);

/** Registers what a resolved value reveals, following Airflow's masking rules. */
function registerResolved(
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
   * What every link does for this lookup; with `all`, links after the serving one are asked too
   * (their hits are values the first link shadows). Never throws for a backend failure.
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

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
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

async function withTimeout<T>(
  run: (signal: AbortSignal | undefined) => Promise<T>,
  backend: BackendName,
  kind: SecretKind,
  id: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (timeoutMs <= 0) return run(signal);
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
      if (signal?.aborted) throw signal.reason;
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
      return Connection.deserialize(id, raw);
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
        if (signal?.aborted) throw signal.reason;
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

  async function walkMany<T>(
    kind: SecretKind,
    ids: readonly string[],
    signal: AbortSignal | undefined,
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
          if (!fallthroughOnError) throw answer.error;
          options.logger?.warn(
            { backend: backend.name, code: answer.error.code, kind, id },
            `${answer.error.message}; trying the next link (fallthrough_on_error)`,
          );
        } else if (answer.value === undefined) {
          trace.push({ backend: backend.name, outcome: 'miss', durationMs, ...base });
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

  async function walk<T>(
    kind: SecretKind,
    id: string,
    signal: AbortSignal | undefined,
    all: boolean,
    throwOnError: boolean,
  ): Promise<{ found?: { value: T; source: BackendName }; trace: LinkTrace[] }> {
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
          trace.push({ backend: backend.name, outcome: 'miss', durationMs, ...base });
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
    return found ? { found, trace } : { trace };
  }

  return {
    backends,
    async getVariable(key, opts = {}) {
      const { found, trace } = await walk<string>('variable', key, opts.signal, false, true);
      return found ? { value: found.value, source: found.source, trace } : undefined;
    },
    async getConnection(connId, opts = {}) {
      const { found, trace } = await walk<Connection>(
        'connection',
        connId,
        opts.signal,
        false,
        true,
      );
      return found ? { value: found.value, source: found.source, trace } : undefined;
    },
    getVariables(keys, opts = {}) {
      return walkMany<string>('variable', keys, opts.signal);
    },
    getConnections(connIds, opts = {}) {
      return walkMany<Connection>('connection', connIds, opts.signal);
    },
    async which(kind, id, opts = {}) {
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
      await Promise.allSettled(backends.map((b) => b.dispose?.()));
    },
  };
}
