/**
 * @module resolver/batch
 * The batch walk: many ids through the chain at once, each link asked in one batch call for the
 * ids still missing where it has one (SSM `GetParameters`, Secrets Manager
 * `BatchGetSecretValue`), else in parallel single reads, with a trace per id.
 */
import type { BackendName, SecretKind, SecretsBackend } from '../backends/backend.ts';
import type { AirlockError } from '../errors.ts';
import { mapLimit } from '../util/concurrency.ts';
import {
  abortError,
  attempt,
  type Chain,
  loadConnectionModel,
  missLink,
  parseConnection,
  readerFor,
  registerServed,
  skipReason,
  toBackendError,
  withinDeadline,
  withTimeout,
} from './link.ts';
import type { LinkTrace, Resolution } from './types.ts';

type Answer = { value?: unknown; error?: AirlockError; durationMs: number };

/** One link's answers for many ids: a batch call where the backend has one. */
async function readMany(
  chain: Chain,
  backend: SecretsBackend,
  kind: SecretKind,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Map<string, Answer>> {
  const out = new Map<string, Answer>();
  const batch = kind === 'variable' ? backend.getVariables : backend.getConnectionValues;
  if (kind === 'connection') await loadConnectionModel();
  if (batch && ids.length > 1) {
    const started = performance.now();
    let raw: Map<string, string>;
    try {
      raw = await withTimeout(
        (s) => batch.call(backend, ids, s),
        backend.name,
        kind,
        `${ids.length} ids`,
        chain.linkTimeoutMs,
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
        const value = kind === 'variable' ? raw.get(id) : parseConnection(backend, id, raw.get(id));
        out.set(id, { value, durationMs });
      } catch (err) {
        out.set(id, { error: toBackendError(backend.name, kind, id, err), durationMs });
      }
    }
    return out;
  }
  await mapLimit(ids, 8, async (id) => {
    const started = performance.now();
    const read = readerFor(backend, kind, id);
    const result = await attempt(chain, backend, kind, id, read, signal);
    const durationMs = performance.now() - started;
    if (result.outcome === 'hit') out.set(id, { value: result.value, durationMs });
    else if (result.outcome === 'error') out.set(id, { error: result.error, durationMs });
    else out.set(id, { durationMs });
  });
  return out;
}

/**
 * Walks `chain` for every id of `ids`; the map holds the ids found. Ids whose walk met an error
 * (passed over by fallthrough) are added to `errored`.
 */
export function walkMany<T>(
  chain: Chain,
  kind: SecretKind,
  ids: readonly string[],
  signal: AbortSignal | undefined,
  errored: Set<string> = new Set(),
): Promise<Map<string, Resolution<T>>> {
  return withinDeadline(chain, signal, (s) => walkManyWithin<T>(chain, kind, ids, s, errored));
}

async function walkManyWithin<T>(
  chain: Chain,
  kind: SecretKind,
  ids: readonly string[],
  signal: AbortSignal | undefined,
  errored: Set<string>,
): Promise<Map<string, Resolution<T>>> {
  const unique = [...new Set(ids)];
  const traces = new Map<string, LinkTrace[]>(unique.map((id) => [id, []]));
  const found = new Map<string, { value: T; source: BackendName }>();
  for (const backend of chain.backends) {
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
    const answers = await readMany(chain, backend, kind, ask, signal);
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
        if (!chain.fallthroughOnError) throw answer.error;
        chain.logger?.warn(
          { backend: backend.name, code: answer.error.code, kind, id },
          `${answer.error.message}; trying the next link (fallthrough_on_error)`,
        );
      } else if (answer.value === undefined) {
        trace.push(missLink(backend, kind, id, durationMs, base));
      } else {
        trace.push({ backend: backend.name, outcome: 'hit', durationMs, ...base });
        registerServed(chain, kind, id, answer.value, backend.name);
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
