/**
 * @module pipelines/supervised
 * The child side of the process boundary (see `supervisor.ts`): inside a task or discovery
 * process started by an airlock supervisor, `Variable.get` / `Connection.get` ask the supervisor
 * over the channel on fd 3 (see `_ipc.ts`) instead of resolving (the child has no credentials to
 * do so), and the process dies with its supervisor: when the channel closes or the process gets
 * a new parent, it kills its own process group.
 *
 * Nothing here loads Node's streams or `net`: requests are written with `fs.writeSync`, and the
 * answers read with `fs.read` only while one is awaited, so the channel never keeps the process
 * alive on its own (a task whose function never settles ends as it would unsupervised).
 */
import { AirlockError, type ErrorCode } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { Connection, type ConnectionFields } from '../model/connection.ts';
import { registerResolved } from '../resolver/link.ts';
import type { LookupOptions, Resolution } from '../resolver/types.ts';
import { writeAll } from '../util/write-all.ts';
import {
  BYE_MESSAGE,
  CHANNEL_FD,
  encodeMessage,
  LOOKUP_MESSAGE,
  type LookupReply,
  type LookupRequest,
  MessageReader,
  SUPERVISED_ENV,
  SUPERVISOR_PID_ENV,
} from './_ipc.ts';
import type { TaskLookup } from './context.ts';

// Taken from the process, not imported: an ES import of `node:fs` reads every export of it
// (running its lazy getters), which costs a task process milliseconds.
const fs = process.getBuiltinModule('node:fs');

type Reply = { readonly type: string; readonly id: number };

function isReply(message: unknown): message is Reply {
  return (
    message !== null &&
    typeof message === 'object' &&
    typeof (message as { type?: unknown }).type === 'string' &&
    typeof (message as { id?: unknown }).id === 'number'
  );
}

/** How often a supervised process checks that its supervisor is still its parent. */
const PARENT_CHECK_MS = 200;

/** The supervisor is gone: nobody records this try or reads its output any more. */
function dieWithSupervisor(): never {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // not a group leader: this process alone
  }
  process.exit(1);
}

/**
 * This process's end of the channel to its supervisor (one per process).
 *
 * @example
 * ```ts
 * const channel = openSupervisorChannel();
 * channel?.send({ type: 'airlock:dagbag', bag });
 * ```
 */
export interface SupervisorChannel {
  /** Sends `message` (synchronously); `false` when the supervisor is gone. */
  send(message: object): boolean;
  /**
   * Reads the channel until `take` returns `true` for a message (each message is offered to
   * every waiting `take`, oldest first); `take` is called with `undefined` when the channel
   * closes. Returns a function that stops waiting.
   */
  receive(take: (message: unknown) => boolean): () => void;
  /**
   * {@link receive}, blocking: reads the channel synchronously until `take` returns `true` for a
   * message, or is called with `undefined` when the channel closes. For a process with nothing
   * else to do until then (a task process started ahead, waiting for its try): it waits in the
   * read itself, without Node's thread pool. Returns `false`, having read nothing, when the
   * channel cannot be read that way (its descriptor does not block).
   */
  receiveSync(take: (message: unknown) => boolean): boolean;
  /**
   * Lets the process exit: Node waits at exit for a read still outstanding (one for an answer
   * nobody waits for any more, after an aborted lookup), so the supervisor is asked for a
   * {@link BYE_MESSAGE}, which ends it. Resolves at once when no read is outstanding.
   */
  release(): Promise<void>;
}

class FdChannel implements SupervisorChannel {
  readonly #reader = new MessageReader();
  readonly #buffer = Buffer.allocUnsafe(64 * 1024);
  readonly #takers = new Set<(message: unknown) => boolean>();
  #reading = false;
  #closed = false;

  send(message: object): boolean {
    if (this.#closed) return false;
    const bytes = Buffer.from(encodeMessage(message), 'utf8');
    try {
      writeAll(CHANNEL_FD, bytes);
      return true;
    } catch {
      // EPIPE: the supervisor is gone (the parent check ends this process).
      return false;
    }
  }

  release(): Promise<void> {
    if (!this.#reading) return Promise.resolve();
    return new Promise((resolve) => {
      this.receive((message) => {
        if (message !== undefined && (message as { type?: unknown }).type !== BYE_MESSAGE) {
          return false;
        }
        resolve();
        return true;
      });
      if (!this.send({ type: BYE_MESSAGE })) resolve();
    });
  }

  receive(take: (message: unknown) => boolean): () => void {
    if (this.#closed) {
      take(undefined);
      return () => {};
    }
    this.#takers.add(take);
    this.#read();
    return () => this.#takers.delete(take);
  }

  receiveSync(take: (message: unknown) => boolean): boolean {
    let taken = false;
    const deliver = (message: unknown) => {
      if (!taken && take(message)) {
        taken = true;
        return;
      }
      this.#offer(message);
    };
    while (!taken && !this.#closed) {
      let n = 0;
      try {
        n = fs.readSync(CHANNEL_FD, this.#buffer, 0, this.#buffer.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        // closed (or broken): as the end of the channel
      }
      if (n === 0) {
        this.#closed = true;
        take(undefined);
        return true;
      }
      this.#reader.push(this.#buffer.subarray(0, n), deliver);
    }
    if (!taken) take(undefined);
    return true;
  }

  /** Offers `message` to the waiting takers, oldest first, until one takes it. */
  #offer(message: unknown): void {
    for (const take of this.#takers) {
      if (take(message)) {
        this.#takers.delete(take);
        break;
      }
    }
  }

  #read(): void {
    if (this.#reading || this.#closed || this.#takers.size === 0) return;
    this.#reading = true;
    fs.read(CHANNEL_FD, this.#buffer, 0, this.#buffer.length, null, (err, n) => {
      this.#reading = false;
      if (err || n === 0) {
        this.#closed = true;
        const takers = [...this.#takers];
        this.#takers.clear();
        for (const take of takers) take(undefined);
        dieWithSupervisor();
      }
      this.#reader.push(this.#buffer.subarray(0, n), (message) => this.#offer(message));
      this.#read();
    });
  }
}

/**
 * Lets a supervised process exit (see {@link SupervisorChannel.release}); nothing without a
 * supervisor.
 */
export function releaseSupervisorChannel(): Promise<void> {
  return slots[CHANNEL_KEY]?.release() ?? Promise.resolve();
}

const CHANNEL_KEY = Symbol.for('airlock.pipelines.supervisor-channel');
const ASK_KEY = Symbol.for('airlock.pipelines.supervisor-ask');
const slots = globalThis as {
  [CHANNEL_KEY]?: SupervisorChannel | null;
  [ASK_KEY]?: Ask;
};

/**
 * The channel to this process's supervisor, when an airlock supervisor started it (else
 * `undefined`). The first call also makes the process die with its supervisor: a supervisor
 * that is gone (`kill -9` included) closes the channel and leaves the process to a new parent,
 * either of which kills the process's group.
 */
export function openSupervisorChannel(): SupervisorChannel | undefined {
  const held = slots[CHANNEL_KEY];
  if (held !== undefined) return held ?? undefined;
  if (process.env[SUPERVISED_ENV] !== '1') {
    slots[CHANNEL_KEY] = null;
    return undefined;
  }
  // The supervisor's pid, from the supervisor itself: a process whose supervisor died before
  // this line (a `kill -9` right after the spawn) already has a new parent, which `ppid` alone
  // would take for its supervisor (and then never see leave).
  const named = Number(process.env[SUPERVISOR_PID_ENV]);
  delete process.env[SUPERVISED_ENV];
  delete process.env[SUPERVISOR_PID_ENV];
  const channel = new FdChannel();
  slots[CHANNEL_KEY] = channel;
  const parent = Number.isInteger(named) && named > 0 ? named : process.ppid;
  const checkParent = () => {
    if (process.ppid !== parent) dieWithSupervisor();
  };
  checkParent();
  setInterval(checkParent, PARENT_CHECK_MS).unref();
  return channel;
}

/** Sends a request to the supervisor and waits for the reply with its id. */
type Ask = <R extends Reply>(
  message: { readonly type: string } & Record<string, unknown>,
  what: string,
  signal?: AbortSignal,
) => Promise<R>;

/** The message a task process sends before it exits 0 when its try did not simply succeed. */
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

/** Sends the try's outcome to the supervisor (nothing without one). */
export function tellOutcome(outcome: Omit<TryOutcomeMessage, 'type'>): void {
  openSupervisorChannel()?.send({ type: OUTCOME_MESSAGE, ...outcome });
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

/** Requests over `channel`, each with its own id, answered in any order. */
function askOver(channel: SupervisorChannel): Ask {
  let next = 0;
  return <R extends Reply>(
    message: { readonly type: string } & Record<string, unknown>,
    what: string,
    signal?: AbortSignal,
  ) =>
    new Promise<R>((resolve, reject) => {
      signal?.throwIfAborted();
      const id = ++next;
      const failed = () =>
        new AirlockError(
          'AIRLOCK_ERR_INTERNAL',
          `cannot ask the supervising airlock process for ${what}`,
        );
      const onAbort = () => {
        stop();
        reject(signal?.reason);
      };
      const stop = channel.receive((reply) => {
        if (reply === undefined) {
          reject(failed());
          return true;
        }
        if (!isReply(reply) || reply.id !== id) return false;
        signal?.removeEventListener('abort', onAbort);
        resolve(reply as R);
        return true;
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!channel.send({ ...message, id })) {
        stop();
        signal?.removeEventListener('abort', onAbort);
        reject(failed());
      }
    });
}

/**
 * When this process was started by a supervisor: opens the channel to it (see
 * {@link openSupervisorChannel}) and returns the lookup that asks it (registering each answer
 * with `masker` too, for the process's own masking); otherwise `undefined` (the process
 * resolves directly).
 *
 * @example
 * ```ts
 * const lookup = connectToSupervisor(masker);
 * ```
 */
export function connectToSupervisor(masker: SecretsMasker): TaskLookup | undefined {
  const channel = openSupervisorChannel();
  if (!channel) return undefined;
  const ask = slots[ASK_KEY] ?? askOver(channel);
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
