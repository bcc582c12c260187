/**
 * @module pipelines/context
 * What runs inside a task: `Variable.get(key, { default, json })` and `Connection.get(connId)`
 * (Airflow's names, the library's objects), and the {@link TaskContext} a task's function
 * receives (a logger and the run's metadata).
 *
 * Inside a task or discovery process started by an airlock supervisor, the runner installs a
 * runtime that asks the supervisor for each value over its channel (the child holds no
 * credentials; see `supervisor.ts`). Outside one (a script, a test), the first lookup builds a
 * runtime that resolves directly from `process.env`. The runtime lives on `globalThis` under a
 * `Symbol.for` key so that every copy of this module (the built package a DAG file imports and
 * the sources) shares it.
 */

import type { Logger } from '../logging/logger.ts';
import { SecretsMasker } from '../masking/masker.ts';
import { Connection as ModelConnection } from '../model/connection.ts';
import { getConnection } from '../model/connection-lookup.ts';
import { getVariable } from '../model/variable.ts';
import type { Resolver } from '../resolver/resolver.ts';

/** The lookups task code needs: a resolver, or the supervisor's answers (`supervised.ts`). */
export type TaskLookup = Pick<Resolver, 'getVariable' | 'getConnection'>;

/** What task code resolves through. */
export interface TaskRuntime {
  readonly resolver: TaskLookup;
  readonly masker: SecretsMasker;
}

/** A task's logger: one line per call, `LEVEL - message`, masked, into the task's log. */
export interface TaskLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The run a try belongs to. */
export interface DagRunInfo {
  readonly dagId: string;
  readonly runId: string;
  /**
   * ISO-8601: the start of a scheduled run's data interval, or when a manual run was triggered
   * (Airflow's `logical_date`).
   */
  readonly logicalDate: string;
  /** ISO-8601: the data interval a scheduled run covers (empty, at the logical date, for a manual run). */
  readonly dataIntervalStart: string;
  readonly dataIntervalEnd: string;
  /** `scheduled`, `manual` (trigger) or `test` (`dags test` / `tasks test`). */
  readonly runType: string;
  /** The JSON object given with the trigger (`--conf`, the API's `conf`). */
  readonly conf: Readonly<Record<string, unknown>>;
}

/** A task as `upstream` reads it (a `Task<T>`): its id and what its function returns. */
export interface TaskRef<T> {
  readonly id: string;
  readonly fn: (context: never) => T | Promise<T>;
}

/** What a task's function receives; `P` is the type of its DAG's params. */
export interface TaskContext<P = Readonly<Record<string, unknown>>> {
  readonly dagId: string;
  readonly taskId: string;
  readonly runId: string;
  /** 1 for the first try. */
  readonly tryNumber: number;
  /** Retries + 1. */
  readonly maxTries: number;
  readonly logicalDate: string;
  /** ISO-8601: the run's data interval (Airflow's `data_interval_start` / `_end`). */
  readonly dataIntervalStart: string;
  readonly dataIntervalEnd: string;
  readonly dagRun: DagRunInfo;
  /**
   * The run's params: its conf over the DAG's param defaults, checked against their specs
   * (typed when the task is made with the build callback's `dag.task(…)`).
   */
  readonly params: P;
  /**
   * The value an upstream task returned in this run (its `return_value` XCom), typed as that
   * task's function returns it: `upstream(extract).rows`. Only tasks upstream of this one
   * (`dependsOn`, directly or not) can be read; by id, the value is `unknown`.
   *
   * @throws AirlockError `AIRLOCK_ERR_DAG_XCOM_NOT_FOUND` when the task is not upstream of this one
   *   or returned nothing in this run.
   */
  readonly upstream: {
    <T>(task: TaskRef<T>): T;
    (taskId: string): unknown;
  };
  /** Ends the try as `skipped` (throws a `SkipTask`; Airflow's `AirflowSkipException`). */
  readonly skip: (reason?: string) => never;
  /**
   * When this try succeeds, skip every task after this one (directly or not), whatever its
   * trigger rule (what `shortCircuit` does).
   */
  readonly skipDownstream: () => void;
  /** Aborted when the try times out or the worker stops it. */
  readonly signal: AbortSignal;
  readonly log: TaskLogger;
  readonly Variable: typeof Variable;
  readonly Connection: typeof Connection;
}

const RUNTIME_KEY = Symbol.for('airlock.pipelines.runtime');
type Slots = { [RUNTIME_KEY]?: TaskRuntime };
const slots = globalThis as Slots;

/**
 * Installs the runtime task code resolves through (the task runner does this); returns the one
 * it replaces.
 *
 * @example
 * ```ts
 * setTaskRuntime({ resolver, masker });
 * ```
 */
export function setTaskRuntime(runtime: TaskRuntime | undefined): TaskRuntime | undefined {
  const previous = slots[RUNTIME_KEY];
  if (runtime === undefined) delete slots[RUNTIME_KEY];
  else slots[RUNTIME_KEY] = runtime;
  return previous;
}

/** Options of {@link createTaskRuntime}. */
export interface CreateTaskRuntimeOptions {
  /** @default a new masker configured from the environment */
  masker?: SecretsMasker;
  logger?: Logger;
}

/**
 * A runtime built from an environment: the normal chain (external backends → environment →
 * metastore, opened on first use), registering what it resolves with the masker.
 *
 * @example
 * ```ts
 * setTaskRuntime(createTaskRuntime(process.env));
 * ```
 */
export function createTaskRuntime(
  env: Readonly<Record<string, string | undefined>>,
  options: CreateTaskRuntimeOptions = {},
): TaskRuntime & { dispose(): Promise<void> } {
  const masker = options.masker ?? new SecretsMasker();
  // Purpose `task`: task logs follow Airflow's rule unless AIRLOCK__CORE__MASK_ALL_RESOLVED
  // says otherwise (a Variable is masked when its key is sensitive), so the docs' check shows
  // the value; the cache and shared cache as configured. The chain (and the configuration with
  // every backend's option schema) is loaded on the first lookup: a supervised task process,
  // which asks its supervisor, and a task that resolves nothing never load it.
  let opened: Promise<{ resolver: TaskLookup; dispose(): Promise<void> }> | undefined;
  const open = () => {
    opened ??= Promise.all([
      import('../config/load-config.ts'),
      import('../resolver/open.ts'),
    ]).then(([{ loadConfig }, { openSecrets }]) =>
      openSecrets(loadConfig(env), { purpose: 'task', env, masker, logger: options.logger }),
    );
    return opened;
  };
  const resolver: TaskLookup = {
    getVariable: async (key, lookupOptions) =>
      (await open()).resolver.getVariable(key, lookupOptions),
    getConnection: async (connId, lookupOptions) =>
      (await open()).resolver.getConnection(connId, lookupOptions),
  };
  return {
    resolver,
    masker,
    dispose: async () => {
      if (opened) await (await opened).dispose();
    },
  };
}

/** The installed runtime, or one built from `process.env` on first use. */
export function currentTaskRuntime(): TaskRuntime {
  let runtime = slots[RUNTIME_KEY];
  if (!runtime) {
    runtime = createTaskRuntime(process.env);
    slots[RUNTIME_KEY] = runtime;
  }
  return runtime;
}

/** Options of {@link Variable.get}. */
export interface VariableGetOptions {
  /** Returned (as given) when no source defines the key. */
  default?: unknown;
  /**
   * Parse the value as JSON (Airflow's `deserialize_json`).
   * @default false
   */
  json?: boolean;
  /** Cancels the lookup. */
  signal?: AbortSignal;
}

/** `Variable.get`'s overloads: a string, the default's type, or (with `json`) `T`. */
export interface VariableGet {
  /** The value as a string. */
  (key: string, options?: { json?: false; signal?: AbortSignal }): Promise<string>;
  /** The value, or `default` (as given) when no source defines the key. */
  <D>(
    key: string,
    options: { default: D; json?: false; signal?: AbortSignal },
  ): Promise<string | D>;
  /** The value parsed as JSON, typed as the caller says (not checked). */
  <T = unknown>(key: string, options: { json: true; signal?: AbortSignal }): Promise<T>;
  /** The value parsed as JSON, or `default`. */
  <T = unknown, D = T>(
    key: string,
    options: { json: true; default: D; signal?: AbortSignal },
  ): Promise<T | D>;
}

/**
 * Airflow's `Variable`, for task code. `Variable.get(key)` is a `Promise<string>`;
 * `Variable.get<T>(key, { json: true })` a `Promise<T>`.
 *
 * @example
 * ```ts
 * const bucket: string = await Variable.get('bucket');
 * const settings = await Variable.get<{ rows: number }>('settings', { json: true });
 * ```
 */
export const Variable: Readonly<{
  /**
   * The Variable's value through the chain (external backends → environment → metastore), as
   * Airflow's `Variable.get(key, default_var, deserialize_json)`.
   *
   * @throws NotFoundError `AIRLOCK_ERR_VAR_NOT_FOUND` when missing and no default is given.
   * @throws AirlockError `AIRLOCK_ERR_VAR_JSON_INVALID` when `json` is set and it is not JSON.
   */
  get: VariableGet;
}> = Object.freeze({
  get: ((key: string, options: VariableGetOptions = {}) =>
    getVariable(currentTaskRuntime().resolver, key, options)) as VariableGet,
});

/** The library's Connection class, with Airflow's `Connection.get(connId)` lookup. */
export type ConnectionWithGet = typeof ModelConnection & {
  /**
   * The Connection through the chain, as Airflow's `Connection.get_connection_from_secrets`.
   *
   * @throws NotFoundError `AIRLOCK_ERR_CONN_NOT_FOUND` when no source defines it.
   */
  get(connId: string): Promise<ModelConnection>;
};

async function getConnectionValue(connId: string): Promise<ModelConnection> {
  return (await getConnection(currentTaskRuntime().resolver, connId)).value;
}

/**
 * The library's {@link ModelConnection | Connection} class (same constructor, statics and
 * `instanceof`), with `Connection.get(connId)` added for task code.
 *
 * @example
 * ```ts
 * const conn = await Connection.get('warehouse');
 * console.log(conn.host, conn.getUri());
 * ```
 */
export const Connection: ConnectionWithGet = new Proxy(ModelConnection, {
  get(target, property, receiver) {
    if (property === 'get') return getConnectionValue;
    return Reflect.get(target, property, receiver === Connection ? target : receiver);
  },
}) as ConnectionWithGet;

/** An instance of the library's Connection. */
export type Connection = ModelConnection;
