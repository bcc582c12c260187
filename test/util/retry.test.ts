import { describe, expect, it } from 'vitest';
import { exponentialBackoff, sleep, withRetry } from '../../src/util/retry.ts';

class Transient extends Error {}

/** A call failing with `failures` errors, then answering `answer`; counts its attempts. */
function flaky<T>(failures: unknown[], answer: T) {
  const calls: number[] = [];
  return {
    calls,
    run: async (attempt: number) => {
      calls.push(attempt);
      const failure = failures[attempt];
      if (failure !== undefined) throw failure;
      return answer;
    },
  };
}

describe('withRetry', () => {
  it('retries what is worth it, with the waits the policy gives, and returns the answer', async () => {
    const call = flaky([new Transient(), new Transient()], 'ok');
    const waits: number[] = [];
    const value = await withRetry(call.run, {
      retries: 3,
      delayMs: (n) => {
        waits.push(n);
        return 0;
      },
      retryOn: (err) => err instanceof Transient,
    });
    expect(value).toBe('ok');
    expect(call.calls).toEqual([0, 1, 2]);
    expect(waits).toEqual([1, 2]);
  });

  it('stops at once on a failure not worth a retry, saying why', async () => {
    const fatal = new Error('no');
    const call = flaky([fatal], 'ok');
    const reasons: string[] = [];
    await expect(
      withRetry(call.run, {
        retries: 3,
        delayMs: () => 0,
        retryOn: (err) => err instanceof Transient,
        giveUp: (err, reason) => {
          reasons.push(reason);
          return err;
        },
      }),
    ).rejects.toBe(fatal);
    expect(call.calls).toEqual([0]);
    expect(reasons).toEqual(['fatal']);
  });

  it('gives up when the retries are spent, with the number of attempts', async () => {
    const call = flaky([new Transient(), new Transient(), new Transient()], 'ok');
    await expect(
      withRetry(call.run, {
        retries: 2,
        delayMs: () => 0,
        retryOn: (err) => err instanceof Transient,
        giveUp: (_err, reason, attempts) => new Error(`${reason} after ${attempts}`),
      }),
    ).rejects.toThrow('retries after 3');
  });

  it('gives up when the next wait would pass the budget', async () => {
    const call = flaky([new Transient(), new Transient(), new Transient()], 'ok');
    await expect(
      withRetry(call.run, {
        retries: 10,
        delayMs: () => 1,
        retryOn: (err) => err instanceof Transient,
        mayWait: (ms, waited) => waited + ms <= 1,
        giveUp: (_err, reason, attempts) => new Error(`${reason} after ${attempts}`),
      }),
    ).rejects.toThrow('budget after 2');
  });

  it('retries a result worth another attempt, and returns the last one', async () => {
    let n = 0;
    const statuses = [503, 503, 503];
    const last = await withRetry(async () => statuses[n++] ?? 200, {
      retries: 2,
      delayMs: () => 0,
      retryResult: (status) => status === 503,
    });
    expect(last).toBe(503);
    expect(n).toBe(3);
  });

  it("stops a wait with the caller's abort reason, not Node's AbortError", async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    const call = flaky([new Transient(), new Transient()], 'ok');
    const pending = withRetry(call.run, {
      retries: 3,
      delayMs: () => 60_000,
      retryOn: (err) => err instanceof Transient,
      signal: controller.signal,
    });
    setImmediate(() => controller.abort(reason));
    await expect(pending).rejects.toBe(reason);
    expect(call.calls).toEqual([0]);
  });
});

describe('sleep and exponentialBackoff', () => {
  it('rejects with the reason of a signal already aborted', async () => {
    const reason = new Error('gone');
    await expect(sleep(60_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('doubles from the base up to the cap, with full jitter when asked', () => {
    const plain = exponentialBackoff({ baseMs: 100, capMs: 500 });
    expect([1, 2, 3, 4, 5].map(plain)).toEqual([100, 200, 400, 500, 500]);
    const jittered = exponentialBackoff({ baseMs: 100, capMs: 500, random: () => 0.5 });
    expect([1, 2, 3].map(jittered)).toEqual([50, 100, 200]);
  });
});
