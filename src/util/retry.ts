/**
 * @module util/retry
 * One retry loop for every backend that retries by itself (the HTTP layer Vault uses, AWS
 * throttling, Google's transient codes): attempts, the wait before each retry, a waiting budget
 * (or deadline), and an abortable sleep that stops with the caller's abort reason.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Why a retry loop stopped on a failure. */
export type GiveUpReason = 'fatal' | 'retries' | 'budget';

/** Options of {@link withRetry}. */
export interface RetryOptions<T> {
  /** The most retries after the first attempt (`0`: one attempt). */
  retries: number;
  /** The wait before retry `n` (1 for the first retry), in milliseconds; `0` for none. */
  delayMs: (retry: number) => number;
  /** Whether a failure is worth another attempt. @default never */
  retryOn?: (err: unknown) => boolean;
  /** Whether a result is worth another attempt (an HTTP status); the last one is returned. */
  retryResult?: (result: T) => boolean;
  /**
   * Whether the loop may wait `ms` more after `waitedMs` so far (a budget, a deadline); when
   * not, it stops with reason `budget`. @default always
   */
  mayWait?: (ms: number, waitedMs: number) => boolean;
  /**
   * What to throw when the loop stops on a failure (the failure itself by default), with why:
   * `fatal` (not worth a retry), `retries` (none left) or `budget` (no time left).
   */
  giveUp?: (err: unknown, reason: GiveUpReason, attempts: number) => unknown;
  /** Stops the loop, and any wait, with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/**
 * Waits `ms`, or rejects with `signal`'s reason as soon as it aborts (not with Node's generic
 * `AbortError`: callers tell a deadline from a cancellation by the reason).
 *
 * @example
 * ```ts
 * await sleep(100, signal);
 * ```
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    throw signal?.aborted ? signal.reason : err;
  }
}

/**
 * Exponential back-off: `min(capMs, baseMs × 2^(retry − 1))`, times `random()` for full jitter
 * when given (AWS's and Google's advice for throttling).
 *
 * @example
 * ```ts
 * withRetry(call, { retries: 4, delayMs: exponentialBackoff({ baseMs: 250, capMs: 2000, random: Math.random }) });
 * ```
 */
export function exponentialBackoff(options: {
  baseMs: number;
  capMs?: number;
  random?: () => number;
}): (retry: number) => number {
  const { baseMs, capMs = Number.POSITIVE_INFINITY, random } = options;
  return (retry) => {
    const ceiling = Math.min(capMs, baseMs * 2 ** (retry - 1));
    return random ? Math.floor(random() * ceiling) : ceiling;
  };
}

/**
 * Runs `run` (given the attempt number, from 0) until it succeeds, or fails in a way not worth
 * another attempt, or the retries or the waiting budget are spent.
 *
 * @example
 * ```ts
 * const value = await withRetry(() => client.get(id), {
 *   retries: 3,
 *   delayMs: exponentialBackoff({ baseMs: 100 }),
 *   retryOn: (err) => isTransient(err),
 *   signal,
 * });
 * ```
 */
export async function withRetry<T>(
  run: (attempt: number) => Promise<T>,
  options: RetryOptions<T>,
): Promise<T> {
  const { signal } = options;
  let waited = 0;
  for (let attempt = 0; ; attempt++) {
    let result: T;
    try {
      result = await run(attempt);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const reason: GiveUpReason | undefined = !options.retryOn?.(err)
        ? 'fatal'
        : attempt >= options.retries
          ? 'retries'
          : undefined;
      const wait = reason === undefined ? options.delayMs(attempt + 1) : 0;
      const stop = reason ?? (options.mayWait?.(wait, waited) === false ? 'budget' : undefined);
      if (stop !== undefined) throw options.giveUp ? options.giveUp(err, stop, attempt + 1) : err;
      waited += wait;
      if (wait > 0) await sleep(wait, signal);
      continue;
    }
    if (attempt >= options.retries || !options.retryResult?.(result)) return result;
    const wait = options.delayMs(attempt + 1);
    if (options.mayWait?.(wait, waited) === false) return result;
    waited += wait;
    if (wait > 0) await sleep(wait, signal);
  }
}
