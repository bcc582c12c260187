/**
 * @module pipelines/dag
 * The pipeline API: `dag(id, options, build)` declares a DAG, and `task(id, fn, options)` inside
 * its `build` callback declares its tasks, as Airflow's `with DAG(...):` block does. Dependencies
 * are explicit (`>>` is not TypeScript): `task('b', fn, { dependsOn: [a] })`, `b.dependsOn(a)`,
 * `a.before(b)`, or `chain(a, b, c)`.
 *
 * A DAG registers itself when it is built, so a DAG file needs no export (as Airflow collects the
 * DAG objects a module creates); the registry lives on `globalThis` under a `Symbol.for` key, so
 * that a DAG file that imports `airlock` (the built package) and a loader that runs from the
 * sources share it.
 */
import { AirlockError } from '../errors.ts';

/** What a task's function receives. See {@link TaskContext}. */
import type { TaskContext } from './context.ts';

/** A task's function: its return value is ignored; a throw (or a rejection) fails the try. */
export type TaskFn = (context: TaskContext) => unknown;

/** Per-task settings; each falls back to the DAG's `defaultArgs`, then to the default. */
export interface TaskSettings {
  /**
   * How many times a failed try is retried (Airflow's `retries`).
   * @default 0
   */
  retries?: number;
  /**
   * Seconds between a failed try and the next (Airflow's `retry_delay`).
   * @default 300
   */
  retryDelaySeconds?: number;
  /**
   * A try that runs longer is killed and fails (Airflow's `execution_timeout`); `null` for none.
   * @default null
   */
  timeoutSeconds?: number | null;
}

/** Options of {@link task}. */
export interface TaskOptions extends TaskSettings {
  /** Tasks (or task ids of the same DAG) this one runs after. @default [] */
  dependsOn?: readonly (Task | string)[];
  /** One line shown in `dags list` and the UI. @default undefined */
  description?: string;
}

/** Options of {@link dag}. */
export interface DagOptions {
  /**
   * When the DAG runs by itself. Only `null` (manual: `airlock dags trigger`, the UI's trigger
   * button) is supported: a cron schedule needs a scheduler, which airlock does not have.
   */
  schedule: null;
  /** @default undefined */
  description?: string;
  /** @default [] */
  tags?: readonly string[];
  /** Settings every task of the DAG inherits (Airflow's `default_args`). @default {} */
  defaultArgs?: TaskSettings;
}

/** The resolved settings of one task. */
export interface ResolvedTaskSettings {
  readonly retries: number;
  readonly retryDelaySeconds: number;
  readonly timeoutSeconds: number | null;
}

const DAG_BRAND = Symbol.for('airlock.pipelines.dag');
const REGISTRY_KEY = Symbol.for('airlock.pipelines.registry');
const BUILDING_KEY = Symbol.for('airlock.pipelines.building');

/** Airflow's `KEY_REGEX` for dag and task ids, and its `ID_LEN`. */
const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;
const ID_MAX = 250;

type Registry = Dag[];
type GlobalSlots = {
  [REGISTRY_KEY]?: Registry;
  [BUILDING_KEY]?: Dag[];
};
const slots = globalThis as GlobalSlots;

function registry(): Registry {
  slots[REGISTRY_KEY] ??= [];
  return slots[REGISTRY_KEY];
}

function building(): Dag[] {
  slots[BUILDING_KEY] ??= [];
  return slots[BUILDING_KEY];
}

function invalid(message: string, details: Record<string, string> = {}): AirlockError {
  return new AirlockError('AIRLOCK_ERR_DAG_INVALID', message, { details });
}

/**
 * Whether `id` is a valid dag_id or task_id: Airflow's `KEY_REGEX` (`^[\w.-]+$`, ASCII) and
 * `ID_LEN` (250), and not `.` or `..` (an id names a folder of the log path).
 *
 * @example
 * ```ts
 * isValidId('etl.load'); // true
 * isValidId('..'); // false
 * ```
 */
export function isValidId(id: unknown): id is string {
  return (
    typeof id === 'string' &&
    ID_PATTERN.test(id) &&
    id.length <= ID_MAX &&
    id !== '.' &&
    id !== '..'
  );
}

function checkId(kind: 'dag_id' | 'task_id', id: unknown): string {
  if (!isValidId(id)) {
    throw invalid(
      `the ${kind} \`${String(id).slice(0, 300)}\` must be 1 to ${ID_MAX} letters, digits, \`_\`, \`.\` or \`-\` (not \`.\` or \`..\`)`,
    );
  }
  return id;
}

function checkSettings(owner: string, settings: TaskSettings | undefined): void {
  if (!settings) return;
  const { retries, retryDelaySeconds, timeoutSeconds } = settings;
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
    throw invalid(`${owner}: retries must be a whole number >= 0`);
  }
  if (
    retryDelaySeconds !== undefined &&
    !(Number.isFinite(retryDelaySeconds) && retryDelaySeconds >= 0)
  ) {
    throw invalid(`${owner}: retryDelaySeconds must be a number >= 0`);
  }
  if (
    timeoutSeconds !== undefined &&
    timeoutSeconds !== null &&
    !(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0)
  ) {
    throw invalid(`${owner}: timeoutSeconds must be a number > 0, or null`);
  }
}

/**
 * One task of a DAG. Made by {@link task} inside a DAG's `build` callback.
 *
 * @example
 * ```ts
 * const extract = task('extract', () => {});
 * const load = task('load', () => {}).dependsOn(extract);
 * ```
 */
export class Task {
  readonly id: string;
  readonly fn: TaskFn;
  readonly dag: Dag;
  readonly description: string | undefined;
  readonly #settings: TaskSettings;
  readonly #upstream = new Set<string>();

  /** Use {@link task}. */
  constructor(dag: Dag, id: string, fn: TaskFn, options: TaskOptions = {}) {
    this.id = checkId('task_id', id);
    if (typeof fn !== 'function') {
      throw invalid(`task \`${id}\` of DAG \`${dag.id}\`: fn must be a function`);
    }
    checkSettings(`task \`${id}\` of DAG \`${dag.id}\``, options);
    this.fn = fn;
    this.dag = dag;
    this.description = options.description;
    this.#settings = {
      ...(options.retries === undefined ? {} : { retries: options.retries }),
      ...(options.retryDelaySeconds === undefined
        ? {}
        : { retryDelaySeconds: options.retryDelaySeconds }),
      ...(options.timeoutSeconds === undefined ? {} : { timeoutSeconds: options.timeoutSeconds }),
    };
    for (const upstream of options.dependsOn ?? []) this.dependsOn(upstream);
  }

  /** The ids of the tasks this one runs after. */
  get upstream(): readonly string[] {
    return [...this.#upstream];
  }

  /** The ids of the tasks that run after this one. */
  get downstream(): readonly string[] {
    return this.dag.tasks.filter((t) => t.#upstream.has(this.id)).map((t) => t.id);
  }

  /** Retries, delay and timeout, with the DAG's `defaultArgs` and the defaults applied. */
  get settings(): ResolvedTaskSettings {
    const defaults = this.dag.defaultArgs;
    return {
      retries: this.#settings.retries ?? defaults.retries ?? 0,
      retryDelaySeconds: this.#settings.retryDelaySeconds ?? defaults.retryDelaySeconds ?? 300,
      timeoutSeconds: this.#settings.timeoutSeconds ?? defaults.timeoutSeconds ?? null,
    };
  }

  /**
   * Makes this task run after each of `upstream` (Airflow's `upstream >> this`). Returns this
   * task.
   *
   * @example
   * ```ts
   * load.dependsOn(extract, transform);
   * ```
   */
  dependsOn(...upstream: (Task | string | readonly (Task | string)[])[]): this {
    for (const item of upstream.flat()) {
      const id = typeof item === 'string' ? item : item.id;
      if (typeof item !== 'string' && item.dag !== this.dag) {
        throw invalid(
          `task \`${this.id}\` cannot depend on \`${id}\` of another DAG (\`${item.dag.id}\`)`,
        );
      }
      if (id === this.id) throw invalid(`task \`${this.id}\` cannot depend on itself`);
      this.#upstream.add(id);
    }
    return this;
  }

  /**
   * Makes `downstream` run after this task (Airflow's `this >> downstream`) and returns the last
   * one given, so that `a.before(b).before(c)` reads as a chain. (Not `then`: that
   * would make a task look like a Promise to `await`.)
   *
   * @example
   * ```ts
   * extract.before(transform).before(load);
   * ```
   */
  before<T extends Task>(...downstream: T[]): T {
    for (const t of downstream) t.dependsOn(this);
    const last = downstream.at(-1);
    if (!last) throw invalid(`task \`${this.id}\`: before() needs at least one task`);
    return last;
  }
}

/**
 * A DAG: an id, options and its tasks. Made by {@link dag}.
 *
 * @example
 * ```ts
 * const d = dag('etl', { schedule: null }, () => { task('hello', () => console.log('hi')); });
 * d.tasks.map((t) => t.id); // ['hello']
 * ```
 */
export class Dag {
  readonly [DAG_BRAND] = true;
  readonly id: string;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  readonly schedule: null;
  readonly defaultArgs: TaskSettings;
  /** The file the DAG was loaded from (set by the loader). */
  fileloc: string | undefined;
  readonly #tasks = new Map<string, Task>();
  #sealed = false;

  /** Use {@link dag}. */
  constructor(id: string, options: DagOptions) {
    this.id = checkId('dag_id', id);
    if (options === null || typeof options !== 'object') {
      throw invalid(`DAG \`${id}\`: options are required (at least \`{ schedule: null }\`)`);
    }
    if (options.schedule !== null) {
      throw invalid(
        `DAG \`${id}\`: schedule must be null (manual runs); cron schedules need a scheduler, which airlock does not have`,
      );
    }
    checkSettings(`DAG \`${id}\` defaultArgs`, options.defaultArgs);
    this.description = options.description;
    this.tags = Object.freeze([...(options.tags ?? [])]);
    this.schedule = null;
    this.defaultArgs = Object.freeze({ ...(options.defaultArgs ?? {}) });
  }

  /** The tasks, in declaration order. */
  get tasks(): readonly Task[] {
    return [...this.#tasks.values()];
  }

  /** The task `taskId`, or `undefined`. */
  getTask(taskId: string): Task | undefined {
    return this.#tasks.get(taskId);
  }

  /** Adds a task (used by {@link task}). */
  addTask(t: Task): void {
    if (this.#sealed) {
      throw invalid(`DAG \`${this.id}\`: tasks can only be added inside its build callback`);
    }
    if (this.#tasks.has(t.id)) {
      throw invalid(`DAG \`${this.id}\` has two tasks with the id \`${t.id}\``, {
        dag_id: this.id,
        task_id: t.id,
      });
    }
    this.#tasks.set(t.id, t);
  }

  /**
   * The task ids in an order where every task comes after its upstream tasks.
   *
   * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID` for an unknown upstream id or a cycle.
   */
  topologicalOrder(): string[] {
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (id: string, path: string[]) => {
      const mark = state.get(id);
      if (mark === 'done') return;
      if (mark === 'visiting') {
        throw invalid(`DAG \`${this.id}\` has a cycle: ${[...path, id].join(' -> ')}`, {
          dag_id: this.id,
        });
      }
      state.set(id, 'visiting');
      const t = this.#tasks.get(id);
      for (const up of t?.upstream ?? []) {
        if (!this.#tasks.has(up)) {
          throw invalid(`task \`${id}\` of DAG \`${this.id}\` depends on unknown task \`${up}\``, {
            dag_id: this.id,
            task_id: id,
          });
        }
        visit(up, [...path, id]);
      }
      state.set(id, 'done');
      order.push(id);
    };
    for (const id of this.#tasks.keys()) visit(id, []);
    return order;
  }

  /** Closes the DAG to new tasks and checks it (unknown upstream ids, cycles). */
  seal(): void {
    this.topologicalOrder();
    this.#sealed = true;
  }
}

/** Whether `value` is a {@link Dag}, also one made by another copy of this module. */
export function isDag(value: unknown): value is Dag {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[DAG_BRAND] === true
  );
}

/**
 * Declares a DAG. Tasks made by {@link task} while `build` runs belong to it; the DAG is checked
 * (no cycle, no unknown upstream) and registered for the loader when `build` returns.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID` for a bad id, a cron schedule, a cycle, a
 *   duplicate task id.
 * @example
 * ```ts
 * import { dag, task, Variable } from 'airlock';
 *
 * export default dag('example_secrets_dags', { schedule: null }, () => {
 *   task('test-task', async () => {
 *     console.log(`My variable is: ${await Variable.get('test-key')}`);
 *   });
 * });
 * ```
 */
export function dag(id: string, options: DagOptions, build?: (dag: Dag) => void): Dag {
  const d = new Dag(id, options);
  if (build) {
    const stack = building();
    stack.push(d);
    try {
      const result: unknown = build(d);
      if (result instanceof Promise) {
        throw invalid(`DAG \`${id}\`: the build callback must be synchronous`);
      }
    } finally {
      stack.pop();
    }
  }
  d.seal();
  registry().push(d);
  return d;
}

/**
 * Declares a task of the DAG whose `build` callback is running.
 *
 * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID` outside a `build` callback, or for a bad id.
 * @example
 * ```ts
 * const extract = task('extract', async ({ log }) => log.info('extracting'), { retries: 2 });
 * task('load', () => {}, { dependsOn: [extract], timeoutSeconds: 60 });
 * ```
 */
export function task(id: string, fn: TaskFn, options: TaskOptions = {}): Task {
  const current = building().at(-1);
  if (!current) {
    throw invalid(`task \`${String(id)}\` must be declared inside a dag(...) build callback`);
  }
  const t = new Task(current, id, fn, options);
  current.addTask(t);
  return t;
}

/**
 * Makes each task run after the one before it (Airflow's `chain(a, b, c)`); an array stands for
 * tasks that run side by side.
 *
 * @example
 * ```ts
 * chain(extract, [clean, enrich], load);
 * ```
 */
export function chain(...steps: (Task | readonly Task[])[]): void {
  for (let i = 1; i < steps.length; i++) {
    const before = [steps[i - 1] ?? []].flat();
    const after = [steps[i] ?? []].flat();
    for (const t of after) t.dependsOn(before);
  }
}

/** Takes (and clears) the DAGs registered since the last call; for the loader. */
export function takeRegisteredDags(): Dag[] {
  const list = registry();
  const taken = [...list];
  list.length = 0;
  return taken;
}
