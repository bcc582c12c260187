/**
 * @module resolver/hint
 * The hint a not-found message carries: what the links noted on their misses. Apart from the
 * resolver, so that a task process (whose lookups go to its supervisor) does not load the chain.
 */
import type { SecretKind } from '../backends/backend.ts';
import type { Resolver } from './types.ts';

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
