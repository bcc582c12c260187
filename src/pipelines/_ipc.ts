/**
 * @module pipelines/_ipc
 * The error form of a supervisor's IPC answers (lookups, task values): a coded error keeps its
 * code and its message, masked with the masker of the child's pipes; anything else becomes
 * `AIRLOCK_ERR_INTERNAL` naming only the error's class. No value ever travels in it.
 */
import { ERROR_CODES, type ErrorCode, isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';

/** An error as it crosses the IPC channel. */
export interface IpcError {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * The IPC form of `err`; `failed` says what could not be done (`could not resolve the variable`).
 *
 * @example
 * ```ts
 * return { type, id, error: ipcError(err, masker, 'could not store the value') };
 * ```
 */
export function ipcError(err: unknown, masker: SecretsMasker, failed: string): IpcError {
  if (isAirlockError(err) && err.code in ERROR_CODES) {
    return { code: err.code, message: masker.redact(err.message) };
  }
  return {
    code: 'AIRLOCK_ERR_INTERNAL',
    message: `the supervisor ${failed} (${err instanceof Error ? err.name : typeof err})`,
  };
}
