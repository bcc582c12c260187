/**
 * @module pipelines/xcom
 * Data between tasks (Airflow's XCom): a task's return value is its `return_value` entry, kept
 * for its run (Fernet-encrypted in `airlock_xcom`) and handed to the downstream tasks that ask for
 * it with `upstream(task)`.
 *
 * It crosses the process boundary both ways over the supervisor channel (see `_ipc.ts`): the task
 * process sends what its function returned (`push`); its supervisor checks the size, masks it with
 * the try's masker (so a secret the task resolved, or a string under a sensitive key such as
 * `password`, is stored as `***`: a secret never travels through XCom — read it with `Variable` /
 * `Connection` where it is needed) and stores it. Before a task's function runs, the task process
 * asks for its upstream tasks' values (`pull`), so `upstream(a)` is synchronous.
 */
import { AirlockError, isAirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { type IpcError, ipcError } from './_ipc.ts';

/** The message type of an XCom request, both ways. */
export const XCOM_MESSAGE = 'airlock:xcom';
/** The key of a task's return value (Airflow's `XCOM_RETURN_KEY`). */
export const RETURN_VALUE_KEY = 'return_value';
/** The largest value, as UTF-8 JSON. @default 48 KiB */
export const XCOM_MAX_BYTES = 48 * 1024;

/** A task process's request. */
export type XcomRequest =
  | {
      readonly type: typeof XCOM_MESSAGE;
      readonly id: number;
      readonly op: 'push';
      readonly key: string;
      readonly value: string;
    }
  | {
      readonly type: typeof XCOM_MESSAGE;
      readonly id: number;
      readonly op: 'pull';
      readonly key: string;
      readonly taskIds: readonly string[];
    };

/** The supervisor's answer: the pulled values (JSON text by task id), or a coded error. */
export type XcomReply =
  | {
      readonly type: typeof XCOM_MESSAGE;
      readonly id: number;
      readonly values: Record<string, string>;
    }
  | {
      readonly type: typeof XCOM_MESSAGE;
      readonly id: number;
      readonly error: IpcError;
    };

/** Where a supervisor keeps the values of the try it supervises. */
export interface XcomChannel {
  /** Stores the try's value `key` (JSON text, already masked). */
  push(key: string, json: string): Promise<void>;
  /** The values `key` of `taskIds` in the try's run (JSON text), the missing ones left out. */
  pull(taskIds: readonly string[], key: string): Promise<Record<string, string>>;
}

function invalid(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_DAG_XCOM_INVALID', message);
}

/**
 * A return value as JSON text, or `undefined` for no value (`undefined`, a `void` function).
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_XCOM_INVALID` for a value JSON cannot hold exactly (a
 *   function, a symbol, a `bigint`, `NaN` or an infinity, a cycle) or one over
 *   {@link XCOM_MAX_BYTES}.
 */
export function serializeXcom(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let text: string;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'function' || typeof v === 'symbol') {
        throw invalid(`a task's return value cannot hold a ${typeof v}`);
      }
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw invalid(`a task's return value cannot hold ${String(v)}`);
      }
      return v;
    });
  } catch (err) {
    if (isAirlockError(err)) throw err;
    throw invalid(
      `a task's return value is not JSON-serialisable (${err instanceof Error ? err.name : typeof err})`,
    );
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > XCOM_MAX_BYTES) {
    throw invalid(
      `a task's return value is ${size} bytes as JSON, over the ${XCOM_MAX_BYTES}-byte limit`,
    );
  }
  return text;
}

/** Whether `message` is an XCom request (the supervisor's side). */
export function isXcomRequest(message: unknown): message is XcomRequest {
  if (message === null || typeof message !== 'object') return false;
  const m = message as Record<string, unknown>;
  if (m.type !== XCOM_MESSAGE || typeof m.id !== 'number' || typeof m.key !== 'string') {
    return false;
  }
  if (m.op === 'push') return typeof m.value === 'string';
  return (
    m.op === 'pull' &&
    Array.isArray(m.taskIds) &&
    m.taskIds.every((t: unknown) => typeof t === 'string')
  );
}

/**
 * Answers one XCom request of a supervised task process: a pushed value is checked and masked with
 * `masker` (the try's) before `channel` stores it; without a channel (`tasks test`) a push is
 * dropped and a pull finds nothing.
 */
export async function answerXcom(
  request: XcomRequest,
  channel: XcomChannel | undefined,
  masker: SecretsMasker,
): Promise<XcomReply> {
  const base = { type: XCOM_MESSAGE, id: request.id } as const;
  try {
    if (request.op === 'pull') {
      return { ...base, values: channel ? await channel.pull(request.taskIds, request.key) : {} };
    }
    if (Buffer.byteLength(request.value, 'utf8') > XCOM_MAX_BYTES) {
      throw invalid(`a task's return value is over the ${XCOM_MAX_BYTES}-byte limit`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(request.value);
    } catch {
      throw invalid("a task's return value is not JSON");
    }
    await channel?.push(request.key, JSON.stringify(masker.redactValue(parsed, request.key)));
    return { ...base, values: {} };
  } catch (err) {
    return { ...base, error: ipcError(err, masker, `could not ${request.op} the value`) };
  }
}

/** Throws the coded error of a reply. */
export function throwIfXcomError(reply: XcomReply): Extract<XcomReply, { values: unknown }> {
  if ('error' in reply) throw new AirlockError(reply.error.code, reply.error.message);
  return reply;
}
