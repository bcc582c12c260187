/**
 * @module backends/_pending
 * The error a configured backend gives while its implementation has not landed yet.
 */
import { AirlockError } from '../errors.ts';

/** A clear, coded "not available yet" error for `name`. */
export function notAvailableYet(name: string): AirlockError {
  return new AirlockError(
    'AIRLOCK_ERR_BACKEND_NOT_AVAILABLE',
    `${name}: this backend is not available yet in airlock ${'0.1'}; use local-file or the environment meanwhile`,
    { details: { backend: name } },
  );
}
