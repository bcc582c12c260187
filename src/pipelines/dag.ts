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
import { checkParamSpecs, type ParamSpecs, type ParamsOf } from './params.ts';
import { checkTimezone, type Schedule, timetable } from './timetable.ts';

/**
 * A task's function. A throw (or a rejection) fails the try; what it returns (or resolves to),
 * when not `undefined`, is the task's value for its run (Airflow's `return_value` XCom): JSON data
 * of at most 48 KiB, which downstream tasks read, typed, with `upstream(task)`.
 */
export type TaskFn<R = unknown> = (context: TaskContext) => R | Promise<R>;

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
  /**
   * Wait longer after each failed try: Airflow's `retry_exponential_backoff` (the delay doubles
   * per try, with a deterministic jitter, up to `maxRetryDelaySeconds`).
   * @default false
   */
  retryExponentialBackoff?: boolean;
  /** The longest wait between tries (Airflow's `max_retry_delay`); `null` for none. @default null */
  maxRetryDelaySeconds?: number | null;
  /** When the task runs, given its upstream tasks' states (Airflow's `trigger_rule`). @default 'all_success' */
  triggerRule?: TriggerRule;
  /** Called in the task process after a successful try (Airflow's `on_success_callback`). */
  onSuccess?: TaskCallback;
  /**
   * Called in the task process after a try that fails with no retry left (Airflow's
   * `on_failure_callback`), with the error. Not called when the try is killed (a timeout).
   */
  onFailure?: TaskCallback;
}

/** A task callback; a throw in it is logged and changes nothing. */
export type TaskCallback = (context: TaskContext, error?: unknown) => void | Promise<void>;

/** What a DAG callback receives. */
export interface DagCallbackContext {
  readonly dagId: string;
  readonly runId: string;
  /** `success` or `failed`. */
  readonly state: string;
  readonly dagRun: TaskContext['dagRun'];
  readonly log: TaskContext['log'];
}

/** A DAG callback; it runs in its own supervised process; a throw in it is logged. */
export type DagCallback = (context: DagCallbackContext) => void | Promise<void>;

/** Airflow's trigger rules. */
export const TRIGGER_RULES = [
  'all_success',
  'all_failed',
  'all_done',
  'one_success',
  'one_failed',
  'none_failed',
  'none_skipped',
  'always',
] as const;

/** When a task runs, given its upstream tasks' states. */
export type TriggerRule = (typeof TRIGGER_RULES)[number];

/**
 * Thrown by a task to end its try as `skipped` (Airflow's `AirflowSkipException`); the tasks
 * after it follow their trigger rules (with `all_success`, they are skipped too).
 *
 * @example
 * ```ts
 * task('maybe', () => { if (!isBusinessDay()) throw new SkipTask('not a business day'); });
 * ```
 */
export class SkipTask extends Error {
  /** Use `instanceof SkipTask`, or this brand across copies of the module. */
  readonly airlockSkip = true;
  constructor(reason = 'skipped by the task') {
    super(reason);
    this.name = 'SkipTask';
  }
}

/** Options of {@link task}. */
export interface TaskOptions extends TaskSettings {
  /** Tasks (or task ids of the same DAG) this one runs after. @default [] */
  dependsOn?: readonly (Task<unknown> | string)[];
  /** One line shown in `dags list` and the UI. @default undefined */
  description?: string;
}

/** Options of {@link dag}. */
export interface DagOptions<P extends ParamSpecs = ParamSpecs> {
  /**
   * When the DAG runs by itself: a 5-field cron expression (`0 6 * * 1-5`), one of Airflow's
   * presets (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@quarterly`, `@yearly`, `@once`,
   * `@continuous`), or `null` for manual runs only. A scheduled run covers one data interval
   * (see `timetable.ts`) and is created by `airlock scheduler` once the interval has ended.
   */
  schedule: Schedule;
  /** The first data interval starts at the first cron time at or after it; required with a schedule. */
  startDate?: Date | string;
  /** No data interval starts after it. @default undefined */
  endDate?: Date | string;
  /**
   * Create a run for every interval since `startDate` (or the last run) that has not run, rather
   * than only the latest one (Airflow 2.8+'s `catchup_by_default = False`).
   * @default false
   */
  catchup?: boolean;
  /** The IANA timezone the cron expression is read in (DST handled). @default 'UTC' */
  timezone?: string;
  /** Scheduled runs queued or running at once; `@continuous` needs 1. @default 16 (1 for `@continuous`) */
  maxActiveRuns?: number;
  /**
   * Whether the DAG starts paused when first seen.
   * @default `AIRLOCK__CORE__DAGS_ARE_PAUSED_AT_CREATION` (true)
   */
  isPausedUponCreation?: boolean;
  /** @default undefined */
  description?: string;
  /** @default [] */
  tags?: readonly string[];
  /** Settings every task of the DAG inherits (Airflow's `default_args`). @default {} */
  defaultArgs?: TaskSettings;
  /** Called when a run of the DAG succeeds, in its own supervised process (Airflow's `on_success_callback`). */
  onSuccess?: DagCallback;
  /** Called when a run of the DAG fails, in its own supervised process (Airflow's `on_failure_callback`). */
  onFailure?: DagCallback;
  /**
   * The run's params (Airflow's `params`), name → spec (`{ type, default, enum, minimum, … }`):
   * a trigger's conf over the defaults, checked when the run is triggered; tasks made with the
   * build callback's `dag.task(…)` read them typed as `params`.
   * @default {}
   */
  params?: P;
}

/** A DAG's schedule, as the DAG, the discovery and the scheduler hold it. */
export interface DagScheduleFields {
  /** A cron expression, a preset, or `null` (see `timetable.ts`). */
  readonly schedule: Schedule;
  readonly timezone: string;
  /** Epoch ms, or `null`. */
  readonly startDate: number | null;
  /** Epoch ms, or `null`. */
  readonly endDate: number | null;
  readonly catchup: boolean;
  readonly maxActiveRuns: number;
  /** `null`: the deployment's default (`AIRLOCK__CORE__DAGS_ARE_PAUSED_AT_CREATION`). */
  readonly isPausedUponCreation: boolean | null;
}

/** The resolved settings of one task. */
export interface ResolvedTaskSettings {
  readonly retries: number;
  readonly retryDelaySeconds: number;
  readonly timeoutSeconds: number | null;
  readonly retryExponentialBackoff: boolean;
  readonly maxRetryDelaySeconds: number | null;
  readonly triggerRule: TriggerRule;
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
  const { retries, retryDelaySeconds, timeoutSeconds, maxRetryDelaySeconds, triggerRule } =
    settings;
  if (triggerRule !== undefined && !TRIGGER_RULES.includes(triggerRule)) {
    throw invalid(`${owner}: triggerRule must be one of ${TRIGGER_RULES.join(', ')}`);
  }
  if (
    maxRetryDelaySeconds !== undefined &&
    maxRetryDelaySeconds !== null &&
    !(Number.isFinite(maxRetryDelaySeconds) && maxRetryDelaySeconds >= 0)
  ) {
    throw invalid(`${owner}: maxRetryDelaySeconds must be a number >= 0, or null`);
  }
  for (const name of ['onSuccess', 'onFailure'] as const) {
    if (settings[name] !== undefined && typeof settings[name] !== 'function') {
      throw invalid(`${owner}: ${name} must be a function`);
    }
  }
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

function instant(dagId: string, name: string, value: Date | string | undefined): number | null {
  if (value === undefined) return null;
  const ms = value instanceof Date ? value.getTime() : Date.parse(String(value));
  if (!Number.isFinite(ms)) {
    throw invalid(`DAG \`${dagId}\`: ${name} must be a Date or an ISO-8601 string with a timezone`);
  }
  return ms;
}

/**
 * One task of a DAG. Made by {@link task} inside a DAG's `build` callback.
 *
 * @example
 * ```ts
 * const extract = task('extract', () => {});
 * const load = task('load', () => {}).dependsOn(extract);
 * ```
 *
 * `R` is what the task's function returns (resolved): `upstream(task)` in a downstream task has
 * that type.
 */
export class Task<R = unknown> {
  readonly id: string;
  readonly fn: TaskFn<R>;
  readonly dag: Dag;
  readonly description: string | undefined;
  readonly #settings: TaskSettings;
  readonly #upstream = new Set<string>();

  /** Use {@link task}. */
  constructor(dag: Dag, id: string, fn: TaskFn<R>, options: TaskOptions = {}) {
    this.id = checkId('task_id', id);
    if (typeof fn !== 'function') {
      throw invalid(`task \`${id}\` of DAG \`${dag.id}\`: fn must be a function`);
    }
    checkSettings(`task \`${id}\` of DAG \`${dag.id}\``, options);
    this.fn = fn;
    this.dag = dag;
    this.description = options.description;
    const { dependsOn: _dependsOn, description: _description, ...settings } = options;
    this.#settings = Object.fromEntries(
      Object.entries(settings).filter(([, v]) => v !== undefined),
    ) as TaskSettings;
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

  /** Retries, delays, timeout and trigger rule, with the DAG's `defaultArgs` and the defaults applied. */
  get settings(): ResolvedTaskSettings {
    const own = this.#settings;
    const defaults = this.dag.defaultArgs;
    return {
      retries: own.retries ?? defaults.retries ?? 0,
      retryDelaySeconds: own.retryDelaySeconds ?? defaults.retryDelaySeconds ?? 300,
      timeoutSeconds: own.timeoutSeconds ?? defaults.timeoutSeconds ?? null,
      retryExponentialBackoff:
        own.retryExponentialBackoff ?? defaults.retryExponentialBackoff ?? false,
      maxRetryDelaySeconds: own.maxRetryDelaySeconds ?? defaults.maxRetryDelaySeconds ?? null,
      triggerRule: own.triggerRule ?? defaults.triggerRule ?? 'all_success',
    };
  }

  /** The task's callbacks (its own, else the DAG's `defaultArgs`'). */
  get callbacks(): { onSuccess?: TaskCallback; onFailure?: TaskCallback } {
    const onSuccess = this.#settings.onSuccess ?? this.dag.defaultArgs.onSuccess;
    const onFailure = this.#settings.onFailure ?? this.dag.defaultArgs.onFailure;
    return { ...(onSuccess ? { onSuccess } : {}), ...(onFailure ? { onFailure } : {}) };
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
  dependsOn(...upstream: (Task<unknown> | string | readonly (Task<unknown> | string)[])[]): this {
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
  before<T extends Task<unknown>>(...downstream: T[]): T {
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
export class Dag<P extends ParamSpecs = ParamSpecs> implements DagScheduleFields {
  readonly [DAG_BRAND] = true;
  readonly id: string;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  readonly schedule: Schedule;
  readonly timezone: string;
  readonly startDate: number | null;
  readonly endDate: number | null;
  readonly catchup: boolean;
  readonly maxActiveRuns: number;
  readonly isPausedUponCreation: boolean | null;
  readonly defaultArgs: TaskSettings;
  readonly params: P;
  readonly onSuccess: DagCallback | undefined;
  readonly onFailure: DagCallback | undefined;
  /** The file the DAG was loaded from (set by the loader). */
  fileloc: string | undefined;
  readonly #tasks = new Map<string, Task>();
  #sealed = false;

  /** Use {@link dag}. */
  constructor(id: string, options: DagOptions<P>) {
    this.id = checkId('dag_id', id);
    if (options === null || typeof options !== 'object') {
      throw invalid(`DAG \`${id}\`: options are required (at least \`{ schedule: null }\`)`);
    }
    if (options.schedule !== null && typeof options.schedule !== 'string') {
      throw invalid(`DAG \`${id}\`: schedule must be a cron expression, a preset or null`);
    }
    try {
      this.timezone = checkTimezone(options.timezone ?? 'UTC');
    } catch (err) {
      throw invalid(`DAG \`${id}\`: ${(err as Error).message}`);
    }
    let table: ReturnType<typeof timetable>;
    try {
      table = timetable(options.schedule, this.timezone);
    } catch (err) {
      throw invalid(`DAG \`${id}\`: ${(err as Error).message}`);
    }
    this.startDate = instant(id, 'startDate', options.startDate);
    this.endDate = instant(id, 'endDate', options.endDate);
    if (table.kind !== 'none' && this.startDate === null) {
      throw invalid(`DAG \`${id}\`: a schedule needs a startDate`);
    }
    if (this.startDate !== null && this.endDate !== null && this.endDate < this.startDate) {
      throw invalid(`DAG \`${id}\`: endDate is before startDate`);
    }
    const continuous = table.kind === 'continuous';
    const maxActiveRuns = options.maxActiveRuns ?? (continuous ? 1 : 16);
    if (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1) {
      throw invalid(`DAG \`${id}\`: maxActiveRuns must be a whole number >= 1`);
    }
    if (continuous && maxActiveRuns !== 1) {
      throw invalid(`DAG \`${id}\`: a @continuous schedule needs maxActiveRuns 1`);
    }
    if (options.catchup !== undefined && typeof options.catchup !== 'boolean') {
      throw invalid(`DAG \`${id}\`: catchup must be a boolean`);
    }
    this.schedule = options.schedule;
    this.catchup = options.catchup ?? false;
    this.maxActiveRuns = maxActiveRuns;
    this.isPausedUponCreation = options.isPausedUponCreation ?? null;
    checkSettings(`DAG \`${id}\` defaultArgs`, options.defaultArgs);
    this.description = options.description;
    this.tags = Object.freeze([...(options.tags ?? [])]);
    this.defaultArgs = Object.freeze({ ...(options.defaultArgs ?? {}) });
    checkParamSpecs(id, options.params ?? {});
    for (const name of ['onSuccess', 'onFailure'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw invalid(`DAG \`${id}\`: ${name} must be a function`);
      }
    }
    this.onSuccess = options.onSuccess;
    this.onFailure = options.onFailure;
    this.params = Object.freeze({ ...(options.params ?? {}) }) as P;
  }

  /**
   * Declares a task of this DAG (inside its build callback), whose `params` are typed from the
   * DAG's param specs; otherwise as {@link task}.
   *
   * @example
   * ```ts
   * dag('report', { schedule: null, params: { day: { type: 'string', default: 'today' } } }, (d) => {
   *   d.task('render', ({ params }) => params.day.toUpperCase());
   * });
   * ```
   */
  task<R>(
    id: string,
    fn: (context: TaskContext<ParamsOf<P>>) => R | Promise<R>,
    options: TaskOptions = {},
  ): Task<R> {
    return task(id, fn as TaskFn<R>, options);
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
 * @throws AirlockError `AIRLOCK_ERR_DAG_INVALID` for a bad id, a bad schedule or timezone, a
 *   scheduled DAG without a startDate, a cycle, a duplicate task id.
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
export function dag<const P extends ParamSpecs = ParamSpecs>(
  id: string,
  options: DagOptions<P>,
  build?: (dag: Dag<P>) => void,
): Dag<P> {
  const d = new Dag<P>(id, options);
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
 *
 * // Typed data between tasks: `upstream(a)` has the type `a` returns.
 * const a = task('a', () => ({ n: 1 }));
 * task('b', ({ upstream }) => upstream(a).n + 1, { dependsOn: [a] });
 * ```
 */
export function task<R>(id: string, fn: TaskFn<R>, options: TaskOptions = {}): Task<R> {
  const current = building().at(-1);
  if (!current) {
    throw invalid(`task \`${String(id)}\` must be declared inside a dag(...) build callback`);
  }
  const t = new Task<R>(current, id, fn, options);
  current.addTask(t as Task<unknown>);
  return t;
}

/**
 * Declares a short-circuit task (Airflow's `ShortCircuitOperator`): it evaluates `condition`;
 * when the result is falsy, every task after it (directly or not) is skipped, whatever its
 * trigger rule; when truthy, they run as usual. Its value (`true`/`false`) is its return value.
 *
 * @example
 * ```ts
 * const isWeekday = shortCircuit('is_weekday', ({ logicalDate }) => new Date(logicalDate).getUTCDay() % 6 !== 0);
 * task('report', () => {}, { dependsOn: [isWeekday] });
 * ```
 */
export function shortCircuit(
  id: string,
  condition: (context: TaskContext) => unknown,
  options: TaskOptions = {},
): Task<boolean> {
  return task<boolean>(
    id,
    async (context) => {
      const go = Boolean(await condition(context));
      if (!go) {
        context.log.info('condition is falsy: skipping the downstream tasks');
        context.skipDownstream();
      }
      return go;
    },
    options,
  );
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
export function chain(...steps: (Task<unknown> | readonly Task<unknown>[])[]): void {
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
