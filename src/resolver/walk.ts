/**
 * @module resolver/walk
 * The chain walk for one id: every link in order until one holds it (or, for `which --all`, every
 * link), with what each link did recorded in the trace, under the lookup's deadline. Fails closed
 * on a link's error unless the chain falls through (`fallthrough_on_error`).
 */
import type { BackendName, SecretKind } from '../backends/backend.ts';
import {
  attempt,
  type Chain,
  missLink,
  readerFor,
  registerServed,
  withinDeadline,
} from './link.ts';
import type { LinkTrace } from './types.ts';

/** What one walk found, and what every link did. */
export interface Walk<T> {
  found?: { value: T; source: BackendName };
  trace: LinkTrace[];
  errored?: boolean;
}

/**
 * Walks `chain` for `id`. With `all`, links after the serving one are asked too; with
 * `throwOnError`, a link's error (outside fallthrough) is thrown rather than recorded.
 */
export function walk<T>(
  chain: Chain,
  kind: SecretKind,
  id: string,
  signal: AbortSignal | undefined,
  all: boolean,
  throwOnError: boolean,
): Promise<Walk<T>> {
  return withinDeadline(chain, signal, (s) => walkWithin<T>(chain, kind, id, s, all, throwOnError));
}

async function walkWithin<T>(
  chain: Chain,
  kind: SecretKind,
  id: string,
  signal: AbortSignal | undefined,
  all: boolean,
  throwOnError: boolean,
): Promise<Walk<T>> {
  const trace: LinkTrace[] = [];
  let found: { value: T; source: BackendName } | undefined;
  let stopped: string | undefined;
  for (const backend of chain.backends) {
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
      chain,
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
        registerServed(chain, kind, id, result.value, backend.name);
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
        if (chain.fallthroughOnError) {
          chain.logger?.warn(
            { backend: backend.name, code: result.error.code, kind, id },
            `${result.error.message}; trying the next link (fallthrough_on_error)`,
          );
        }
        if (!chain.fallthroughOnError && !found) {
          if (throwOnError) throw result.error;
          stopped = `the chain stopped at the ${backend.name} error`;
        }
        break;
    }
  }
  chain.logger?.debug({ kind, id, source: found?.source ?? null, trace }, 'lookup');
  const errored = trace.some((t) => t.outcome === 'error');
  return found ? { found, trace, errored } : { trace, errored };
}
