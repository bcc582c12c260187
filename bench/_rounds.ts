/**
 * Rounds of two measurements back to back, each first in turn, so that a machine whose speed
 * drifts during the run shifts both alike.
 */

/**
 * Runs `a` then `b` in an even round, `b` then `a` in an odd one; their results, `a`'s first.
 *
 * @example
 * ```ts
 * const [airlock, baseline] = await inTurn(round, measureAirlock, measureBaseline);
 * ```
 */
export async function inTurn<A, B>(
  round: number,
  a: () => Promise<A>,
  b: () => Promise<B>,
): Promise<[A, B]> {
  if (round % 2 === 0) {
    const first = await a();
    return [first, await b()];
  }
  const second = await b();
  return [await a(), second];
}
