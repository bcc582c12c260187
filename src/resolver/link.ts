/**
 * @module resolver/link
 * Reading one link of the chain: the chain's settings every walk shares, one attempt under the
 * link's and the lookup's deadlines, a Connection parsed from what the link returned, the coded
 * error a foreign failure becomes, and what a resolved value registers with the masker.
 */
import type { BackendName, SecretKind, SecretsBackend } from '../backends/backend.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { Connection } from '../model/connection.ts';
import { safeJsonParse } from '../util/json.ts';
import type { LinkTrace } from './types.ts';

/** The chain and the settings every walk over it reads (from `ResolverOptions`, defaulted). */
export interface Chain {
  readonly backends: readonly SecretsBackend[];
  readonly fallthroughOnError: boolean;
  readonly linkTimeoutMs: number;
  readonly lookupTimeoutMs: number;
  readonly masker: SecretsMasker | undefined;
  readonly maskAllResolved: boolean;
  readonly logger: Logger | undefined;
}

/** A miss's trace link, with the backend's note on why the miss is suspect, if it has one. */
export function missLink(
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

/** The links whose values are masked by name only (Airflow's rules), not wholesale. */
export const LOCAL_LINKS: ReadonlySet<BackendName> = new Set(['env', 'metastore']);

/**
 * The links whose answer belongs to one process (its environment, files on its machine): never
 * written to the shared cache, and consulted before a shared-cache answer from a later link.
 */
export const PROCESS_LINKS: ReadonlySet<BackendName> = new Set(['env', 'local-file']);

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

export type Attempt<T> =
  | { outcome: 'hit'; value: T }
  | { outcome: 'miss' }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'error'; error: AirlockError };

/** Why a link that does not look an id up was skipped. */
export function skipReason(kind: SecretKind): string {
  return `not looked up here (${kind} lookups disabled, or outside the lookup pattern)`;
}

/**
 * The raw text each parsed Connection was read from, so that the shared cache stores what the
 * store holds (re-parsed on the way out) rather than a lossy `get_uri()` rendering.
 */
export const RAW_CONNECTIONS = new WeakMap<Connection, string>();

/** Waits for `promise`, giving up (with the signal's reason) when `signal` aborts. */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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

export function describeKind(kind: SecretKind): string {
  return kind === 'variable' ? 'variable' : 'connection';
}

/** Turns anything a backend threw into a coded, secret-free error naming the backend. */
export function toBackendError(
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
export function startDeadline(
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
export function abortError(
  signal: AbortSignal,
  backend: BackendName,
  kind: SecretKind,
  id: string,
): unknown {
  const reason: unknown = signal.reason;
  return reason instanceof LookupDeadline ? reason.error(backend, kind, id) : reason;
}

export async function withTimeout<T>(
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

/** One link's answer for one id, under the link's bound and the lookup's signal. */
export async function attempt<T>(
  chain: Chain,
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
    const value = await withTimeout(read, backend.name, kind, id, chain.linkTimeoutMs, signal);
    return value === undefined ? { outcome: 'miss' } : { outcome: 'hit', value };
  } catch (err) {
    if (signal?.aborted) throw abortError(signal, backend.name, kind, id);
    return { outcome: 'error', error: toBackendError(backend.name, kind, id, err) };
  }
}

let connectionModel: typeof import('../model/connection.ts') | undefined;

/**
 * The Connection model, loaded on the first Connection lookup: a command that only reads
 * Variables (a cold `variables get`) never loads it.
 */
export async function loadConnectionModel(): Promise<typeof import('../model/connection.ts')> {
  connectionModel ??= await import('../model/connection.ts');
  return connectionModel;
}

/** How `backend` reads one id of `kind` (a Connection parsed from the raw value). */
export function readerFor(
  backend: SecretsBackend,
  kind: SecretKind,
  id: string,
): (signal: AbortSignal | undefined) => Promise<unknown> {
  if (kind === 'variable') {
    return (signal: AbortSignal | undefined) => backend.getVariable(id, signal);
  }
  return async (signal: AbortSignal | undefined): Promise<Connection | undefined> => {
    const raw = await backend.getConnectionValue(id, signal);
    await loadConnectionModel();
    return parseConnection(backend, id, raw);
  };
}

/**
 * The Connection a link's raw value holds; `undefined` for nothing or an empty value. Call
 * {@link loadConnectionModel} first.
 */
export function parseConnection(
  backend: SecretsBackend,
  id: string,
  raw: string | undefined,
): Connection | undefined {
  // Airflow's `get_connection` treats an empty value as "not here".
  if (raw === undefined || raw === '') return undefined;
  try {
    if (!connectionModel) throw new Error('the Connection model is not loaded');
    const conn = connectionModel.Connection.deserialize(id, raw);
    RAW_CONNECTIONS.set(conn, raw);
    return conn;
  } catch (err) {
    if (!isAirlockError(err)) throw err;
    throw new AirlockError(err.code, `${backend.name}: ${err.message}`, {
      details: { backend: backend.name, conn_id: id },
    });
  }
}

/** Runs one lookup under the chain's deadline (joined with the caller's signal). */
export async function withinDeadline<R>(
  chain: Chain,
  signal: AbortSignal | undefined,
  run: (signal: AbortSignal | undefined) => Promise<R>,
): Promise<R> {
  const deadline = startDeadline(chain.lookupTimeoutMs, signal);
  try {
    return await run(deadline.signal);
  } finally {
    deadline.done();
  }
}

/** Registers a value `source` served with the chain's masker, by Airflow's rules. */
export function registerServed(
  chain: Chain,
  kind: SecretKind,
  id: string,
  value: unknown,
  source: BackendName,
): void {
  if (!chain.masker) return;
  const wholesale = chain.maskAllResolved && !LOCAL_LINKS.has(source);
  registerResolved(chain.masker, kind, id, value, wholesale);
}
