/**
 * @module pipelines/supervised
 * The child side of the process boundary (see `supervisor.ts`): inside a task or discovery
 * process started by an airlock supervisor, `Variable.get` / `Connection.get` ask the supervisor
 * over the IPC channel instead of resolving (the child has no credentials to do so), and the
 * process dies with its supervisor: when the channel closes, it kills its own process group.
 */
import { AirlockError, type ErrorCode } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { Connection, type ConnectionFields } from '../model/connection.ts';
import { registerResolved } from '../resolver/link.ts';
import type { LookupOptions, Resolution } from '../resolver/types.ts';
import { LOOKUP_MESSAGE, type LookupReply, type LookupRequest, SUPERVISED_ENV } from './_ipc.ts';
import type { TaskLookup } from './context.ts';

type Reply = { readonly type: string; readonly id: number };
type Pending = { resolve: (reply: Reply) => void; reject: (err: unknown) => void };

function isReply(message: unknown): message is Reply {
  return (
    message !== null &&
    typeof message === 'object' &&
    typeof (message as { type?: unknown }).type === 'string' &&
    typeof (message as { id?: unknown }).id === 'number'
  );
}

/** Sends a request to the supervisor and waits for the reply with its id. */
type Ask = <R extends Reply>(
  message: { readonly type: string } & Record<string, unknown>,
  what: string,
  signal?: AbortSignal,
) => Promise<R>;

const ASK_KEY = Symbol.for('airlock.pipelines.supervisor-channel');
const slots = globalThis as { [ASK_KEY]?: Ask };

/** The IPC message a task process sends before it exits 0 when its try did not simply succeed. */
export const OUTCOME_MESSAGE = 'airlock:outcome';

/** A task try's outcome, beyond its exit code. */
export interface TryOutcomeMessage {
  readonly type: typeof OUTCOME_MESSAGE;
  /** The task skipped itself (`SkipTask`). */
  readonly skipped?: boolean;
  /** The tasks after it are to be skipped (`shortCircuit`). */
  readonly skipDownstream?: boolean;
}

/** Whether `message` is a {@link TryOutcomeMessage} (the supervisor's side). */
export function isOutcomeMessage(message: unknown): message is TryOutcomeMessage {
  return (
    message !== null &&
    typeof message === 'object' &&
    (message as { type?: unknown }).type === OUTCOME_MESSAGE
  );
}

/** Sends the try's outcome to the supervisor (nothing without one); resolves once it is sent. */
export function tellOutcome(outcome: Omit<TryOutcomeMessage, 'type'>): Promise<void> {
  if (!slots[ASK_KEY] || typeof process.send !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    process.send?.({ type: OUTCOME_MESSAGE, ...outcome }, undefined, {}, () => resolve());
  });
}

/**
 * Asks the supervising airlock process (requests other than lookups: XCom values).
 *
 * @throws AirlockError `AIRLOCK_ERR_INTERNAL` when this process has no supervisor.
 */
export function askSupervisor<R extends Reply>(
  message: { readonly type: string } & Record<string, unknown>,
  what: string,
): Promise<R> {
  const ask = slots[ASK_KEY];
  if (!ask) {
    return Promise.reject(
      new AirlockError('AIRLOCK_ERR_INTERNAL', `no supervising airlock process to ask for ${what}`),
    );
  }
  return ask<R>(message, what);
}

/**
 * When this process was started by a supervisor: installs the "die with the supervisor" handler
 * and returns the lookup that asks it (registering each answer with `masker` too, for the
 * process's own masking); otherwise `undefined` (the process resolves directly).
 *
 * @example
 * ```ts
 * const lookup = connectToSupervisor(masker);
 * ```
 */
export function connectToSupervisor(masker: SecretsMasker): TaskLookup | undefined {
  if (process.env[SUPERVISED_ENV] !== '1' || typeof process.send !== 'function') return undefined;
  delete process.env[SUPERVISED_ENV];
  process.on('disconnect', () => {
    // The supervisor is gone: nobody records this try or reads its output any more.
    try {
      process.kill(-process.pid, 'SIGKILL');
    } catch {
      // not a group leader: this process alone
    }
    process.exit(1);
  });
  // The channel keeps this process alive only while a request waits for its answer.
  process.channel?.unref();
  const pending = new Map<number, Pending>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isReply(message)) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (pending.size === 0) process.channel?.unref();
    waiter.resolve(message);
  });
  const ask: Ask = <R extends Reply>(
    message: { readonly type: string } & Record<string, unknown>,
    what: string,
    signal?: AbortSignal,
  ) =>
    new Promise<R>((resolve, reject) => {
      signal?.throwIfAborted();
      const id = ++next;
      pending.set(id, { resolve: resolve as (reply: Reply) => void, reject });
      process.channel?.ref();
      process.send?.({ ...message, id }, undefined, {}, (err) => {
        if (!err) return;
        pending.delete(id);
        reject(
          new AirlockError(
            'AIRLOCK_ERR_INTERNAL',
            `cannot ask the supervising airlock process for ${what}`,
          ),
        );
      });
      signal?.addEventListener(
        'abort',
        () => {
          if (pending.delete(id)) reject(signal?.reason);
        },
        { once: true },
      );
    });
  slots[ASK_KEY] = ask;
  const lookup = (kind: LookupRequest['kind'], key: string, options: LookupOptions) =>
    ask<LookupReply>({ type: LOOKUP_MESSAGE, kind, key }, `the ${kind}`, options.signal);
  const settle = <T>(
    kind: LookupRequest['kind'],
    key: string,
    reply: LookupReply,
    read: (value: string | ConnectionFields) => T,
  ): Resolution<T> | undefined => {
    if ('error' in reply)
      throw new AirlockError(reply.error.code as ErrorCode, reply.error.message);
    if (!reply.found) return undefined;
    const value = read(reply.value);
    registerResolved(masker, kind, key, value, reply.wholesale);
    return {
      value,
      source: reply.source as Resolution<T>['source'],
      trace: [],
    };
  };
  return {
    async getVariable(key, options = {}) {
      return settle('variable', key, await lookup('variable', key, options), (value) =>
        typeof value === 'string' ? value : '',
      );
    },
    async getConnection(connId, options = {}) {
      return settle('connection', connId, await lookup('connection', connId, options), (value) =>
        Connection.fromFields(typeof value === 'string' ? {} : value, connId),
      );
    },
  };
}
