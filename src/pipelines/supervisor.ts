/**
 * @module pipelines/supervisor
 * The process boundary around user code. Every process that runs DAG files (a task try, a DAG
 * discovery) is a child of an airlock supervisor (the worker, `dags test`, `tasks test`, the
 * server, the CLI), which:
 *
 * - gives it none of airlock's own credentials ({@link childEnvironment});
 * - reads its stdout and stderr as bytes and masks them ({@link createMaskingStream}) before
 *   anything reaches a log file, a terminal or the database, so that output that bypasses the
 *   child's own masking (Node's fatal-error printer, `fs.writeSync(2, …)`, `process._rawDebug`,
 *   a grandchild with inherited stdio) is masked too;
 * - answers its `Variable.get` / `Connection.get` over the channel on the child's fd 3 (see
 *   `_ipc.ts`): the supervisor resolves through the deployment's chain (with its cache),
 *   registers what must be masked with the masker that reads the child's pipes, and only then
 *   answers (see `supervised.ts`).
 *
 * The child runs in its own process group; when its supervisor dies it notices (the closed
 * channel, or its new parent) and kills its group, and the supervisor kills the group when the
 * child ends.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import type { Duplex, Readable } from 'node:stream';
import { loadConfig } from '../config/load-config.ts';
import { ENV } from '../config/schema.ts';
import type { Logger } from '../logging/logger.ts';
import { registerEnvironmentSecrets } from '../masking/deployment.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { createMaskingStream } from '../masking/stream.ts';
import type { Metastore } from '../metastore/metastore.ts';
import type { Connection, ConnectionFields } from '../model/connection.ts';
import { openSecrets } from '../resolver/open.ts';
import { LOCAL_LINKS, type Resolver, registerResolved } from '../resolver/resolver.ts';
import {
  BYE_MESSAGE,
  CHANNEL_FD,
  encodeMessage,
  ipcError,
  LOOKUP_MESSAGE,
  type LookupReply,
  type LookupRequest,
  MessageReader,
  SUPERVISED_ENV,
  SUPERVISOR_PID_ENV,
} from './_ipc.ts';
import { answerXcom, isXcomRequest, type XcomChannel } from './xcom.ts';

type Env = Readonly<Record<string, string | undefined>>;

export {
  LOOKUP_MESSAGE,
  type LookupReply,
  type LookupRequest,
  SUPERVISED_ENV,
} from './_ipc.ts';

/** What a supervisor resolves a child's lookups through. */
export interface SupervisorLookup {
  readonly resolver: Pick<Resolver, 'getVariable' | 'getConnection'>;
  /** Task logs follow Airflow's rule unless `AIRLOCK__CORE__MASK_ALL_RESOLVED` is set. */
  readonly maskAllResolved: boolean;
}

/** Options of {@link createSupervisorLookup}. */
export interface SupervisorLookupOptions {
  /** An open metastore (the worker's, the server's); else the configured one, opened on use. */
  metastore?: Metastore | undefined;
  logger?: Logger | undefined;
}

/**
 * The lookup of a deployment environment: the configured chain (external backends →
 * environment → metastore) with the configured cache (and shared cache).
 *
 * @throws ConfigError when the environment's configuration is invalid.
 * @example
 * ```ts
 * const lookup = createSupervisorLookup(env, { metastore });
 * ```
 */
export function createSupervisorLookup(
  env: Env,
  options: SupervisorLookupOptions = {},
): SupervisorLookup & { dispose(): Promise<void> } {
  // Purpose `task`: what the children print follows Airflow's rule; each child's masker is
  // registered by the supervisor itself (below), so none is given here.
  const { resolver, maskAllResolved, dispose } = openSecrets(loadConfig(env), {
    purpose: 'task',
    env,
    logger: options.logger,
    ...(options.metastore ? { metastore: options.metastore } : {}),
  });
  return {
    resolver,
    maskAllResolved,
    dispose,
  };
}

/** A lookup per deployment environment, reused while the environment object is the same. */
export interface SupervisorLookups {
  /** The lookup of `env` (one per settings version: the runtime hands out one object each). */
  of(env: Env): SupervisorLookup;
  dispose(): Promise<void>;
}

/**
 * One lookup per settings version, so that the tries of a worker share its cache.
 *
 * @example
 * ```ts
 * const lookups = supervisorLookups({ metastore });
 * const lookup = lookups.of(await runtime.environment());
 * ```
 */
export function supervisorLookups(options: SupervisorLookupOptions = {}): SupervisorLookups {
  let held: { env: Env; lookup: ReturnType<typeof createSupervisorLookup> } | undefined;
  return {
    of(env) {
      if (held?.env === env) return held.lookup;
      const lookup = createSupervisorLookup(env, options);
      const previous = held;
      held = { env, lookup };
      // Lookups still running on the old one finish: its stores stay open until then.
      if (previous)
        setTimeout(() => void previous.lookup.dispose().catch(() => {}), 60_000).unref();
      return lookup;
    },
    async dispose() {
      const previous = held;
      held = undefined;
      await previous?.lookup.dispose().catch(() => {});
    },
  };
}

const FAMILIES = [
  'AIRLOCK__SECRETS__',
  'AIRFLOW__SECRETS__',
  'AIRLOCK__DATABASE__',
  'AIRFLOW__DATABASE__',
];
const CREDENTIAL_NAMES: ReadonlySet<string> = new Set([
  ...ENV.fernetKey,
  ...ENV.databaseUrl,
  'AIRLOCK_ADMIN_PASSWORD',
]);

/**
 * Whether `name` configures airlock's own access to its stores, so that a task or discovery
 * child never gets it: the `[secrets]` and `[database]` families (backend kwargs, the chain, the
 * shared cache), the Fernet keys, the metastore URL (also Airflow's `_CMD` / `_SECRET` forms),
 * and the admin bootstrap password.
 */
export function isAirlockCredentialName(name: string): boolean {
  const base = name.replace(/_(CMD|SECRET)$/, '');
  return CREDENTIAL_NAMES.has(base) || FAMILIES.some((family) => name.startsWith(family));
}

/**
 * The environment of a child that runs user code: `env` without airlock's own credentials
 * ({@link isAirlockCredentialName}). The user's variables stay (`AIRFLOW_VAR_*`,
 * `AIRFLOW_CONN_*` included: a task may read its environment).
 */
export function childEnvironment(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !isAirlockCredentialName(name)) out[name] = value;
  }
  return out;
}

function connectionFields(conn: Connection): ConnectionFields {
  return {
    conn_type: conn.connType,
    description: conn.description,
    host: conn.host,
    login: conn.login,
    password: conn.password,
    schema: conn.schema,
    port: conn.port,
    extra: conn.extra,
  };
}

function isLookupRequest(message: unknown): message is LookupRequest {
  if (message === null || typeof message !== 'object') return false;
  const m = message as Record<string, unknown>;
  return (
    m.type === LOOKUP_MESSAGE &&
    typeof m.id === 'number' &&
    (m.kind === 'variable' || m.kind === 'connection') &&
    typeof m.key === 'string'
  );
}

/**
 * Answers one request: resolves it, registers what must be masked with `masker` (the masker of
 * this child's pipes) before the answer leaves, and never puts a value in an error.
 */
async function answer(
  request: LookupRequest,
  lookup: SupervisorLookup | undefined,
  masker: SecretsMasker,
): Promise<LookupReply> {
  const base = { type: LOOKUP_MESSAGE, id: request.id } as const;
  try {
    if (!lookup) {
      return {
        ...base,
        error: { code: 'AIRLOCK_ERR_INTERNAL', message: 'this process cannot resolve lookups' },
      };
    }
    const found =
      request.kind === 'variable'
        ? await lookup.resolver.getVariable(request.key)
        : await lookup.resolver.getConnection(request.key);
    if (found === undefined) return { ...base, found: false };
    const wholesale = lookup.maskAllResolved && !LOCAL_LINKS.has(found.source);
    registerResolved(masker, request.kind, request.key, found.value, wholesale);
    return {
      ...base,
      found: true,
      source: found.source,
      wholesale,
      value:
        typeof found.value === 'string' ? found.value : connectionFields(found.value as Connection),
    };
  } catch (err) {
    return { ...base, error: ipcError(err, masker, `could not resolve the ${request.kind}`) };
  }
}

/** Options of {@link spawnSupervised}. */
export interface SpawnSupervisedOptions {
  /** The deployment's environment; the child gets it without airlock's credentials. */
  env: Env;
  /** Extra variables for the child (its spec). */
  extraEnv?: Readonly<Record<string, string>>;
  /** The masker of this child's pipes: what the child resolves is registered in it. */
  masker: SecretsMasker;
  /** Where the child's lookups are resolved; without one they fail with a coded error. */
  lookup?: SupervisorLookup | undefined;
  /** Kill the child's process group when it runs longer. */
  timeoutMs?: number | undefined;
  /** Where a task child's return value is kept and its upstream values read (see `xcom.ts`). */
  xcom?: XcomChannel | undefined;
}

/** A supervised child and its masked output. */
export interface SupervisedChild {
  readonly child: ChildProcess;
  /** The child's stdout, masked. */
  readonly stdout: Readable;
  /** The child's stderr, masked. */
  readonly stderr: Readable;
  /** Signals the child's whole process group (the child and what it started). */
  killGroup(signal: NodeJS.Signals): void;
  /** Sends `message` to the child over its channel (nothing once the channel is closed). */
  send(message: object): void;
  /** Calls `listener` with each message the child sends (its lookups and XCom requests too). */
  onMessage(listener: (message: unknown) => void): void;
  /** Whether the channel to the child is still open. */
  connected(): boolean;
}

/**
 * Starts `entry` (an airlock child entry: the task runner, the discovery) under supervision.
 * The secrets of `env` (the deployment's credentials, and the variables the child gets by the
 * lookup rule) are registered with `masker` first.
 *
 * @example
 * ```ts
 * const { child, stdout } = spawnSupervised(siblingEntry('task-main'), [], { env, masker, lookup });
 * ```
 */
export function spawnSupervised(
  entry: string,
  args: readonly string[],
  options: SpawnSupervisedOptions,
): SupervisedChild {
  const { masker, lookup } = options;
  // The deployment's credentials (the child does not get them, but a grandchild may find them
  // elsewhere) and the user variables the child does get, registered before it starts.
  registerEnvironmentSecrets(masker, options.env);
  const env = childEnvironment(options.env);
  const child = spawn(process.execPath, [entry, ...args], {
    env: {
      ...env,
      ...options.extraEnv,
      [SUPERVISED_ENV]: '1',
      [SUPERVISOR_PID_ENV]: String(process.pid),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    // Its own process group: the child kills it when this process dies, and this process kills
    // it when the child ends (no grandchild outlives its task).
    detached: true,
  });
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  const channel = child.stdio[CHANNEL_FD] as Duplex | null | undefined;
  const connected = () => channel?.writable === true && !channel.destroyed;
  const send = (message: object) => {
    if (connected()) channel?.write(encodeMessage(message));
  };
  const listeners: ((message: unknown) => void)[] = [];
  const reader = new MessageReader();
  const deliver = (message: unknown) => {
    const reply = isLookupRequest(message)
      ? answer(message, lookup, masker)
      : isXcomRequest(message)
        ? answerXcom(message, options.xcom, masker)
        : undefined;
    void reply?.then(send);
    if ((message as { type?: unknown } | null)?.type === BYE_MESSAGE) send({ type: BYE_MESSAGE });
    for (const listener of listeners) listener(message);
  };
  channel?.on('data', (chunk: Buffer) => reader.push(chunk, deliver));
  // A child gone mid-answer: the write fails, and its exit says the rest.
  channel?.on('error', () => {});
  child.once('exit', () => killGroup('SIGKILL'));
  let timer: NodeJS.Timeout | undefined;
  if (options.timeoutMs !== undefined) {
    timer = setTimeout(() => killGroup('SIGKILL'), options.timeoutMs);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
  }
  const stdout = (child.stdout as Readable).pipe(createMaskingStream(masker));
  const stderr = (child.stderr as Readable).pipe(createMaskingStream(masker));
  return {
    child,
    stdout,
    stderr,
    killGroup,
    send,
    onMessage: (listener) => {
      listeners.push(listener);
    },
    connected,
  };
}
