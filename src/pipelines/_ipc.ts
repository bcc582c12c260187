/**
 * @module pipelines/_ipc
 * The channel between a supervisor and its child (a task or discovery process), what both sides
 * share: a task process imports this, not the supervisor (which loads the configuration and the
 * chain).
 *
 * The channel is a socket pair on the child's file descriptor {@link CHANNEL_FD}, carrying one
 * JSON message per line both ways. It is not Node's IPC channel on purpose: a child with an IPC
 * channel (or that writes to a piped `process.stdout`) loads Node's `net` and streams at
 * start-up, about 6 ms of CPU a try; the child writes this socket with `fs.writeSync` and reads
 * it with `fs.read` only while it waits for an answer.
 *
 * Also the error form of a supervisor's answers (lookups, task values): a coded error keeps its
 * code and its message, masked with the masker of the child's pipes; anything else becomes
 * `AIRLOCK_ERR_INTERNAL` naming only the error's class. No value ever travels in it.
 */
import { ERROR_CODES, type ErrorCode, isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { ConnectionFields } from '../model/connection.ts';

/** The child's file descriptor of its channel to the supervisor. */
export const CHANNEL_FD = 3;

/** The longest message either side reads (a discovery of many DAGs is the largest). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** `message` as it crosses the channel: JSON text (which never holds a raw newline) and `\n`. */
export function encodeMessage(message: object): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits the channel's bytes into messages. A line that is not JSON, or is longer than 64 MiB,
 * is dropped (the other side then waits for an answer that does not come, as it would for a
 * message lost on a closed channel).
 *
 * @example
 * ```ts
 * const reader = new MessageReader();
 * socket.on('data', (chunk) => reader.push(chunk, handle));
 * ```
 */
export class MessageReader {
  #held: Buffer[] = [];
  #heldBytes = 0;

  /** Reads `chunk` (whose memory may be reused once this returns), delivering each message. */
  push(chunk: Buffer, deliver: (message: unknown) => void): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, nl);
      const held = this.#held;
      const dropped = this.#heldBytes + part.length > MAX_MESSAGE_BYTES;
      this.#held = [];
      this.#heldBytes = 0;
      start = nl + 1;
      if (dropped) continue;
      const line = held.length > 0 ? Buffer.concat([...held, part]) : part;
      let message: unknown;
      try {
        message = JSON.parse(line.toString('utf8'));
      } catch {
        continue;
      }
      deliver(message);
    }
    if (start < chunk.length && this.#heldBytes <= MAX_MESSAGE_BYTES) {
      this.#held.push(Buffer.from(chunk.subarray(start)));
      this.#heldBytes += chunk.length - start;
    }
  }
}

/** An error as it crosses the channel. */
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

/**
 * Set (to `1`) in a supervised child's environment: its channel to the supervisor is open on
 * {@link CHANNEL_FD}.
 */
export const SUPERVISED_ENV = 'AIRLOCK_SUPERVISED';

/**
 * Set in a supervised child's environment: its supervisor's pid (the child's parent when it
 * starts). The child dies at once when its parent is another process by the time it opens the
 * channel, and later when its parent changes.
 */
export const SUPERVISOR_PID_ENV = 'AIRLOCK_SUPERVISOR_PID';

/**
 * A child's last message when it exits while one of its reads of the channel is outstanding
 * (Node would wait for that read at exit): the supervisor answers it with the same message.
 */
export const BYE_MESSAGE = 'airlock:bye';

/** The message type of a lookup, both ways. */
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

/**
 * Set (to `1`) in a task process whose `NODE_COMPILE_CACHE` its worker set (see
 * `task-start.ts`): the process removes both before the task runs.
 */
export const OWN_COMPILE_CACHE_ENV = 'AIRLOCK_OWN_COMPILE_CACHE';

/** The message that hands a started task process its try: `{ type, spec }`. */
export const SPEC_MESSAGE = 'airlock:spec';
