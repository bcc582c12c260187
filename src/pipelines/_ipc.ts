/**
 * @module pipelines/_ipc
 * The error form of a supervisor's IPC answers (lookups, task values): a coded error keeps its
 * code and its message, masked with the masker of the child's pipes; anything else becomes
 * `AIRLOCK_ERR_INTERNAL` naming only the error's class. No value ever travels in it. Also the
 * lookup messages both sides share: a task process imports this, not the supervisor (which
 * loads the configuration and the chain).
 */
import { ERROR_CODES, type ErrorCode, isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { ConnectionFields } from '../model/connection.ts';

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

/** Set (to `1`) in a supervised child's environment: it asks its supervisor over IPC. */
export const SUPERVISED_ENV = 'AIRLOCK_SUPERVISED';

/** The IPC message type of a lookup, both ways. */
export const LOOKUP_MESSAGE = 'airlock:lookup';

/** A child's request: one Variable or Connection. */
export interface LookupRequest {
  readonly type: typeof LOOKUP_MESSAGE;
  readonly id: number;
  readonly kind: 'variable' | 'connection';
  readonly key: string;
}

/** The supervisor's answer: found (with the value and its source), a miss, or a coded error. */
export type LookupReply =
  | {
      readonly type: typeof LOOKUP_MESSAGE;
      readonly id: number;
      readonly found: true;
      readonly source: string;
      /** Whether the value is masked whole (`mask_all_resolved` and an external store). */
      readonly wholesale: boolean;
      /** A Variable's value, or a Connection's fields (`extra` as its JSON text). */
      readonly value: string | ConnectionFields;
    }
  | { readonly type: typeof LOOKUP_MESSAGE; readonly id: number; readonly found: false }
  | {
      readonly type: typeof LOOKUP_MESSAGE;
      readonly id: number;
      readonly error: { readonly code: ErrorCode; readonly message: string };
    };

/**
 * Set (to `1`) in a task process started ahead of its try: it loads, then waits for its try in
 * one {@link SPEC_MESSAGE} (instead of `AIRLOCK_TASK_SPEC`).
 */
export const AWAIT_SPEC_ENV = 'AIRLOCK_TASK_AWAIT_SPEC';

/** The IPC message that hands a started task process its try: `{ type, spec }`. */
export const SPEC_MESSAGE = 'airlock:spec';
