/** Polling for a state another process reaches (a bounded wait, never a timed assertion). */

/**
 * Calls `fn` every 150 ms until it returns something other than `undefined`, and returns that;
 * throws after `timeoutMs` (a generous bound for a hang).
 *
 * @example
 * ```ts
 * const run = await waitFor(async () => (await list()).find((r) => r.state === 'success'));
 * ```
 */
export async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 150));
  }
}
