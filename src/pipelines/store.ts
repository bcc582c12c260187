/**
 * @module pipelines/store
 * DAG runs and task instances in the metastore's database, and the work queue over them.
 *
 * The queue is the `task_instance` table: a row in state `queued` or `up_for_retry` whose
 * `run_after` has passed is claimable. A claim is one transaction that picks the oldest such row
 * and marks it `running` for the claiming worker: on PostgreSQL the pick is
 * `SELECT … FOR UPDATE SKIP LOCKED`, so any number of workers on any number of machines claim
 * different rows without waiting for each other; on SQLite the transaction is `BEGIN IMMEDIATE`
 * (the database's write lock), so claims are serialised.
 *
 * Finishing a try, and reaping tries whose worker stopped heart-beating, lock the run's row first
 * (`SELECT … FOR UPDATE`), so two tasks of one run that finish at once cannot both miss that the
 * task after them is now ready.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { MultiFernet } from '../metastore/fernet.ts';
import type { Metastore } from '../metastore/metastore.ts';
import type { TriggerRule } from './dag.ts';
import type { DagInfo } from './loader.ts';
import { type DataInterval, timetable } from './timetable.ts';

/** A task instance's state (Airflow's names); `null` waits for its upstream tasks. */
export type TaskState =
  | 'queued'
  | 'running'
  | 'success'
  | 'failed'
  | 'up_for_retry'
  | 'upstream_failed'
  | 'skipped'
  | null;

/** A DAG run's state. */
export type DagRunState = 'queued' | 'running' | 'success' | 'failed';

type Millis = number | string | bigint;

type DagRunTable = {
  id: import('kysely').Generated<number>;
  dag_id: string;
  run_id: string;
  run_type: string;
  state: string;
  conf: string | null;
  fileloc: string | null;
  logical_date: Millis;
  queued_at: Millis;
  start_date: Millis | null;
  end_date: Millis | null;
  triggered_by: string | null;
  data_interval_start: Millis | null;
  data_interval_end: Millis | null;
  note: string | null;
};

type DagTable = {
  dag_id: string;
  is_paused: boolean | number;
  is_active: boolean | number;
  fileloc: string | null;
  schedule: string | null;
  timezone: string;
  info: string;
  next_dagrun: Millis | null;
  next_dagrun_data_interval_start: Millis | null;
  next_dagrun_data_interval_end: Millis | null;
  next_dagrun_create_after: Millis | null;
  last_parsed_at: Millis;
};

type TaskInstanceTable = {
  id: import('kysely').Generated<number>;
  dag_id: string;
  run_id: string;
  task_id: string;
  state: string | null;
  try_number: number;
  max_tries: number;
  upstream: string;
  retry_delay_ms: Millis;
  timeout_ms: Millis | null;
  run_after: Millis | null;
  queued_at: Millis | null;
  start_date: Millis | null;
  end_date: Millis | null;
  hostname: string | null;
  worker_id: string | null;
  pid: number | null;
  heartbeat_at: Millis | null;
  exit_code: number | null;
  note: string | null;
  trigger_rule: string;
  retry_exponential_backoff: boolean | number;
  max_retry_delay_ms: Millis | null;
};

/** An earlier try of a task instance (Airflow's `task_instance_history`). */
type TiHistoryTable = {
  dag_id: string;
  run_id: string;
  task_id: string;
  try_number: number;
  state: string | null;
  max_tries: number;
  queued_at: Millis | null;
  start_date: Millis | null;
  end_date: Millis | null;
  hostname: string | null;
  pid: number | null;
  exit_code: number | null;
  note: string | null;
};

type XcomTable = {
  dag_id: string;
  run_id: string;
  task_id: string;
  key: string;
  value: string;
  created_at: Millis;
};

/** The pipeline tables, for Kysely. */
export type PipelineSchema = {
  airlock_xcom: XcomTable;
  airlock_ti_history: TiHistoryTable;
  airlock_dag: DagTable;
  dag_run: DagRunTable;
  task_instance: TaskInstanceTable;
};

/** A DAG run. Times are epoch milliseconds. */
export interface DagRunRecord {
  readonly dagId: string;
  readonly runId: string;
  readonly runType: string;
  readonly state: DagRunState;
  readonly conf: Readonly<Record<string, unknown>>;
  readonly fileloc: string | null;
  readonly logicalDate: number;
  readonly queuedAt: number;
  readonly startDate: number | null;
  readonly endDate: number | null;
  readonly triggeredBy: string | null;
  /** The data interval (a scheduled run's; a manual run's is empty, at its logical date). */
  readonly dataIntervalStart: number | null;
  readonly dataIntervalEnd: number | null;
  /** An operator's note on the run (Airflow's `note`), or `null`. */
  readonly note: string | null;
}

/** What the metastore knows of a DAG: paused or not, and its next scheduled run. */
export interface DagStateRecord {
  readonly dagId: string;
  readonly isPaused: boolean;
  /** Whether the last discovery found it. */
  readonly isActive: boolean;
  readonly schedule: string | null;
  readonly timezone: string;
  readonly info: DagInfo;
  /** The next run's logical date (the start of its data interval), or `null`. */
  readonly nextDagrun: number | null;
  readonly nextDagrunDataIntervalStart: number | null;
  readonly nextDagrunDataIntervalEnd: number | null;
  /** When the scheduler creates it (the end of its interval). */
  readonly nextDagrunCreateAfter: number | null;
  readonly lastParsedAt: number;
}

/** A task instance. Times are epoch milliseconds. */
export interface TaskInstanceRecord {
  readonly id: number;
  readonly dagId: string;
  readonly runId: string;
  readonly taskId: string;
  readonly state: TaskState;
  /** Tries started so far (the running try's number while running). */
  readonly tryNumber: number;
  /** Retries + 1. */
  readonly maxTries: number;
  readonly upstream: readonly string[];
  readonly retryDelayMs: number;
  readonly timeoutMs: number | null;
  readonly runAfter: number | null;
  readonly startDate: number | null;
  readonly endDate: number | null;
  readonly hostname: string | null;
  readonly workerId: string | null;
  readonly pid: number | null;
  readonly heartbeatAt: number | null;
  readonly exitCode: number | null;
  /** Why the state was set by airlock rather than by the task (a timeout, a lost worker). */
  readonly note: string | null;
  readonly triggerRule: TriggerRule;
  readonly retryExponentialBackoff: boolean;
  readonly maxRetryDelayMs: number | null;
}

/** One try of a task instance, as Airflow's tries endpoints show it. Times are epoch ms. */
export interface TryRecord {
  readonly dagId: string;
  readonly runId: string;
  readonly taskId: string;
  readonly tryNumber: number;
  readonly state: TaskState;
  readonly maxTries: number;
  readonly startDate: number | null;
  readonly endDate: number | null;
  readonly hostname: string | null;
  readonly pid: number | null;
  readonly note: string | null;
}

/** One value a task handed on (Airflow's XCom entry). */
export interface XcomRecord {
  readonly dagId: string;
  readonly runId: string;
  readonly taskId: string;
  readonly key: string;
  /** The value, decrypted (masked before it was stored). */
  readonly value: unknown;
  readonly createdAt: number;
}

/**
 * The channel a worker listens on: a store signals it when it queues work (a new run, a task
 * whose upstream tasks are done).
 */
export const TASK_QUEUED_CHANNEL = 'airlock_task_queued';

/** Signals {@link TASK_QUEUED_CHANNEL} in a transaction; returns what to do after the commit. */
type Signal = (trx: Transaction<PipelineSchema>) => Promise<() => void>;

/** Options of {@link PipelineStore.createRun}. */
export interface CreateRunOptions {
  readonly dag: DagInfo;
  /** @default `manual__<ISO time>` */
  readonly runId?: string;
  /** @default 'manual' */
  readonly runType?: string;
  /** @default {} */
  readonly conf?: Readonly<Record<string, unknown>>;
  readonly triggeredBy?: string;
  /** An operator's note on the run. @default null */
  readonly note?: string | null;
  /** @default Date.now() */
  readonly now?: number;
  /** A scheduled run's logical date. @default `now` */
  readonly logicalDate?: number;
  /** A scheduled run's data interval. @default empty, at the logical date */
  readonly dataInterval?: DataInterval;
}

/** Filters of a claim. */
export interface ClaimFilter {
  readonly dagId?: string;
  readonly runId?: string;
}

/** How a try ended. */
export interface TryOutcome {
  readonly success: boolean;
  readonly exitCode?: number | null;
  /** Set when airlock ended the try (a timeout). */
  readonly note?: string;
  /** When false, a failure is final even with retries left (a lost worker). @default true */
  readonly retry?: boolean;
  /** The task skipped itself (`SkipTask`): the try ends `skipped`. */
  readonly skipped?: boolean;
  /** A successful try asks for every task after it to be skipped (`shortCircuit`). */
  readonly skipDownstream?: boolean;
}

/** What finishing a try did. */
export interface FinishReport {
  /** The try's new state: `success`, `failed` or `up_for_retry`; `undefined` if it was not ours. */
  readonly state: TaskState | undefined;
  /** Tasks made `queued` because their upstream tasks all succeeded. */
  readonly queued: readonly string[];
  /** Tasks made `upstream_failed`. */
  readonly upstreamFailed: readonly string[];
  /** Tasks made `skipped` by their trigger rule or a short-circuit. */
  readonly skipped: readonly string[];
  /** The run's state after this. */
  readonly runState: DagRunState | undefined;
}

const RUN_ID = /^[A-Za-z0-9_.:+-]{1,250}$/;
const TERMINAL = new Set<TaskState>(['success', 'failed', 'upstream_failed', 'skipped']);
const FAILED = new Set<TaskState>(['failed', 'upstream_failed']);

/**
 * What a waiting task becomes, given its trigger rule and its upstream tasks' states (Airflow's
 * `TriggerRuleDep`): `queued` to run, `skipped` or `upstream_failed`, or `null` to keep waiting.
 */
export function evaluateTriggerRule(rule: TriggerRule, upstream: readonly TaskState[]): TaskState {
  const n = upstream.length;
  const success = upstream.filter((s) => s === 'success').length;
  const failed = upstream.filter((s) => FAILED.has(s)).length;
  const skipped = upstream.filter((s) => s === 'skipped').length;
  const done = upstream.filter((s) => TERMINAL.has(s)).length === n;
  switch (rule) {
    case 'always':
      return 'queued';
    case 'all_success':
      if (failed > 0) return 'upstream_failed';
      if (skipped > 0) return 'skipped';
      return success === n ? 'queued' : null;
    case 'all_failed':
      if (success > 0 || skipped > 0) return 'skipped';
      return failed === n ? 'queued' : null;
    case 'all_done':
      return done ? 'queued' : null;
    case 'one_success':
      if (success > 0) return 'queued';
      if (!done) return null;
      return skipped === n ? 'skipped' : 'upstream_failed';
    case 'one_failed':
      if (failed > 0) return 'queued';
      return done ? 'skipped' : null;
    case 'none_failed':
      if (failed > 0) return 'upstream_failed';
      return done ? 'queued' : null;
    case 'none_skipped':
      if (skipped > 0) return 'skipped';
      return done ? 'queued' : null;
    default:
      return null;
  }
}

/**
 * The wait before the next try after try `tryNumber` failed, in ms: the task's delay, or with
 * `retryExponentialBackoff` Airflow's formula (`TaskInstance.next_retry_datetime`): at least
 * `ceil(delay × 2^(tryNumber−1))` seconds (1 at least), plus a deterministic jitter below that
 * from the SHA-1 of `dag_id#task_id#logical_date#next_try`, capped by `maxRetryDelayMs`.
 */
export function retryDelayMs(
  ti: Pick<
    TaskInstanceRecord,
    'dagId' | 'taskId' | 'retryDelayMs' | 'retryExponentialBackoff' | 'maxRetryDelayMs'
  >,
  tryNumber: number,
  logicalDate: number,
): number {
  let delayMs = ti.retryDelayMs;
  if (ti.retryExponentialBackoff) {
    const minBackoff = Math.max(1, Math.ceil((ti.retryDelayMs / 1000) * 2 ** (tryNumber - 1)));
    // Python's str(datetime) of the logical date, as Airflow hashes it.
    const when = new Date(logicalDate)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.(\d{3})Z$/, (_m, f: string) => (f === '000' ? '+00:00' : `.${f}000+00:00`));
    const hash = BigInt(
      `0x${createHash('sha1')
        .update(`${ti.dagId}#${ti.taskId}#${when}#${tryNumber + 1}`)
        .digest('hex')}`,
    );
    delayMs = (minBackoff + Number(hash % BigInt(minBackoff))) * 1000;
  }
  return ti.maxRetryDelayMs === null ? delayMs : Math.min(delayMs, ti.maxRetryDelayMs);
}

function ms(value: Millis | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** The Fernet keys of the metastore, when it has any (read each time: keys may be set later). */
type Keys = () => MultiFernet | undefined;

/**
 * A run's `conf` as stored: Fernet-encrypted JSON when the metastore has keys (as Variable
 * values are), plain JSON without (as Airflow stores values when no `fernet_key` is set).
 */
function confColumn(conf: Readonly<Record<string, unknown>>, keys: Keys): string {
  const text = JSON.stringify(conf);
  const fernet = keys();
  return fernet ? fernet.encrypt(text) : text;
}

/**
 * A stored `conf`: a Fernet token, or the plain JSON object that rows written before `conf` was
 * encrypted (or without keys) hold — a JSON object starts with `{`, a Fernet token never does.
 *
 * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` / `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` when
 *   an encrypted conf cannot be decrypted (never a silent empty conf for a task to run with).
 */
function parseConf(
  text: string | null,
  keys: Keys,
  where: { dagId: string; runId: string },
): Record<string, unknown> {
  if (!text) return {};
  let json = text;
  if (!text.trimStart().startsWith('{')) {
    const fernet = keys();
    const details = { dag_id: where.dagId, run_id: where.runId };
    if (!fernet) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
        `the conf of run \`${where.runId}\` of DAG \`${where.dagId}\` is encrypted and no Fernet key is configured`,
        { details },
      );
    }
    try {
      json = fernet.decryptToString(text);
    } catch (err) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_TOKEN_INVALID',
        `no configured Fernet key decrypts the conf of run \`${where.runId}\` of DAG \`${where.dagId}\``,
        { details, cause: err },
      );
    }
  }
  try {
    const parsed: unknown = JSON.parse(json);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function runRecord(row: Selectable<DagRunTable>, keys: Keys): DagRunRecord {
  return {
    dagId: row.dag_id,
    runId: row.run_id,
    runType: row.run_type,
    state: row.state as DagRunState,
    conf: parseConf(row.conf, keys, { dagId: row.dag_id, runId: row.run_id }),
    fileloc: row.fileloc,
    logicalDate: Number(row.logical_date),
    queuedAt: Number(row.queued_at),
    startDate: ms(row.start_date),
    endDate: ms(row.end_date),
    triggeredBy: row.triggered_by,
    dataIntervalStart: ms(row.data_interval_start),
    dataIntervalEnd: ms(row.data_interval_end),
    note: row.note ?? null,
  };
}

/** The history row of the try `row` holds (copied before the row moves to another try). */
function historyRow(
  row: Selectable<TaskInstanceTable>,
  state: string | null,
  endDate: Millis | null,
) {
  return {
    dag_id: row.dag_id,
    run_id: row.run_id,
    task_id: row.task_id,
    try_number: row.try_number,
    state,
    max_tries: row.max_tries,
    queued_at: row.queued_at,
    start_date: row.start_date,
    end_date: endDate,
    hostname: row.hostname,
    pid: row.pid,
    exit_code: row.exit_code,
    note: row.note,
  };
}

function dagStateRecord(row: Selectable<DagTable>): DagStateRecord {
  return {
    dagId: row.dag_id,
    isPaused: Boolean(row.is_paused),
    isActive: Boolean(row.is_active),
    schedule: row.schedule,
    timezone: row.timezone,
    info: JSON.parse(row.info) as DagInfo,
    nextDagrun: ms(row.next_dagrun),
    nextDagrunDataIntervalStart: ms(row.next_dagrun_data_interval_start),
    nextDagrunDataIntervalEnd: ms(row.next_dagrun_data_interval_end),
    nextDagrunCreateAfter: ms(row.next_dagrun_create_after),
    lastParsedAt: Number(row.last_parsed_at),
  };
}

/** The next scheduled run of `dag` after `last`, at `now` (see `timetable.ts`). */
function nextRunOf(dag: DagInfo, last: DataInterval | null, now: number) {
  return timetable(dag.schedule, dag.timezone).next(
    last,
    { earliest: dag.startDate, latest: dag.endDate, catchup: dag.catchup },
    now,
  );
}

function nextColumns(next: ReturnType<typeof nextRunOf>) {
  return {
    next_dagrun: next?.logicalDate ?? null,
    next_dagrun_data_interval_start: next?.interval.start ?? null,
    next_dagrun_data_interval_end: next?.interval.end ?? null,
    next_dagrun_create_after: next?.runAfter ?? null,
  };
}

/** A task instance's upstream task ids, stored as JSON (none when it does not parse). */
function parseUpstream(text: string): string[] {
  try {
    return JSON.parse(text) as string[];
  } catch {
    return [];
  }
}

function tiRecord(row: Selectable<TaskInstanceTable>): TaskInstanceRecord {
  const upstream = parseUpstream(row.upstream);
  return {
    id: Number(row.id),
    dagId: row.dag_id,
    runId: row.run_id,
    taskId: row.task_id,
    state: row.state as TaskState,
    tryNumber: row.try_number,
    maxTries: row.max_tries,
    upstream,
    retryDelayMs: Number(row.retry_delay_ms),
    timeoutMs: ms(row.timeout_ms),
    runAfter: ms(row.run_after),
    startDate: ms(row.start_date),
    endDate: ms(row.end_date),
    hostname: row.hostname,
    workerId: row.worker_id,
    pid: row.pid,
    heartbeatAt: ms(row.heartbeat_at),
    exitCode: row.exit_code,
    note: row.note,
    triggerRule: row.trigger_rule as TriggerRule,
    retryExponentialBackoff: Boolean(row.retry_exponential_backoff),
    maxRetryDelayMs: ms(row.max_retry_delay_ms),
  };
}

/**
 * Checks a run_id (it becomes a folder of the log path).
 *
 * @throws AirlockError `AIRLOCK_ERR_CLI_USAGE` when it is not 1–250 of `A-Za-z0-9_.:+-`, or is
 *   `.` / `..`.
 */
export function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId) || runId === '.' || runId === '..') {
    throw new AirlockError(
      'AIRLOCK_ERR_CLI_USAGE',
      'a run_id must be 1 to 250 letters, digits, `_`, `.`, `:`, `+` or `-`',
    );
  }
  return runId;
}

/** Airflow's run_id of a scheduled run: `scheduled__2026-03-01T07:00:00+00:00`. */
export function scheduledRunId(logicalDate: number): string {
  return `scheduled__${new Date(logicalDate).toISOString().replace(/\.000Z$|Z$/, '+00:00')}`;
}

/** This process's worker id: `host:pid`. */
export function defaultWorkerId(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * The pipeline state over a metastore's database.
 *
 * @example
 * ```ts
 * const runs = PipelineStore.from(metastore);
 * const run = await runs.createRun({ dag: info });
 * const claimed = await runs.claimNext('host:123');
 * ```
 */
export class PipelineStore {
  readonly #db: Kysely<PipelineSchema>;
  readonly #postgres: boolean;
  readonly #keys: Keys;
  readonly #signal: Signal | undefined;

  /**
   * Use {@link PipelineStore.from}.
   *
   * @param keys - The Fernet keys that encrypt each run's `conf` and the tasks' values (without
   *   them, a conf is stored as plain JSON and storing a value fails).
   */
  constructor(
    db: Kysely<PipelineSchema>,
    dialect: 'sqlite' | 'postgres',
    keys: Keys = () => undefined,
    signal?: Signal,
  ) {
    this.#db = db;
    this.#signal = signal;
    this.#postgres = dialect === 'postgres';
    this.#keys = keys;
  }

  /**
   * The store over `metastore`'s database (migrated to `0003-pipelines` or later); run `conf`
   * is encrypted with the metastore's Fernet keys.
   */
  static from(metastore: Metastore): PipelineStore {
    return new PipelineStore(
      metastore.kysely.withTables<PipelineSchema>() as unknown as Kysely<PipelineSchema>,
      metastore.dialect,
      () => (metastore.hasKeys ? metastore.fernet : undefined),
      (trx) => metastore.signal(trx as never, TASK_QUEUED_CHANNEL),
    );
  }

  #fernetFor(what: string): MultiFernet {
    const fernet = this.#keys();
    if (!fernet) {
      throw new AirlockError(
        'AIRLOCK_ERR_CRYPTO_KEY_MISSING',
        `metastore: no Fernet key to ${what} (set AIRLOCK__CORE__FERNET_KEY or run \`airlock db migrate\`)`,
      );
    }
    return fernet;
  }

  /** Stores (replaces) a task's value `key` in its run, Fernet-encrypted. */
  async setXcom(
    ti: { dagId: string; runId: string; taskId: string },
    key: string,
    json: string,
  ): Promise<void> {
    const value = this.#fernetFor('store a task value').encrypt(json);
    await this.#tx(async (trx) => {
      await trx
        .deleteFrom('airlock_xcom')
        .where('dag_id', '=', ti.dagId)
        .where('run_id', '=', ti.runId)
        .where('task_id', '=', ti.taskId)
        .where('key', '=', key)
        .execute();
      await trx
        .insertInto('airlock_xcom')
        .values({
          dag_id: ti.dagId,
          run_id: ti.runId,
          task_id: ti.taskId,
          key,
          value,
          created_at: Date.now(),
        })
        .execute();
    });
  }

  /** Removes a task's values in its run (a new try starts without them, as in Airflow). */
  async clearXcom(ti: { dagId: string; runId: string; taskId: string }): Promise<void> {
    await this.#read(() =>
      this.#db
        .deleteFrom('airlock_xcom')
        .where('dag_id', '=', ti.dagId)
        .where('run_id', '=', ti.runId)
        .where('task_id', '=', ti.taskId)
        .execute(),
    );
  }

  /**
   * The values of a run, decrypted: of `taskIds` (all tasks when omitted), of `key` (all keys
   * when omitted), as JSON text in `text` and parsed in `value`.
   */
  async xcoms(
    dagId: string,
    runId: string,
    filter: { taskIds?: readonly string[]; key?: string } = {},
  ): Promise<(XcomRecord & { readonly text: string })[]> {
    if (filter.taskIds?.length === 0) return [];
    const rows = await this.#read(() => {
      let query = this.#db
        .selectFrom('airlock_xcom')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId);
      if (filter.taskIds) query = query.where('task_id', 'in', [...filter.taskIds]);
      if (filter.key !== undefined) query = query.where('key', '=', filter.key);
      return query.orderBy('task_id').orderBy('key').execute();
    });
    const fernet = rows.length > 0 ? this.#fernetFor('read the task values') : undefined;
    return rows.map((r) => {
      const text = fernet?.decryptToString(r.value) ?? 'null';
      return {
        dagId: r.dag_id,
        runId: r.run_id,
        taskId: r.task_id,
        key: r.key,
        text,
        value: JSON.parse(text) as unknown,
        createdAt: Number(r.created_at),
      };
    });
  }

  /**
   * {@link #tx}, waking the workers of the database when `woke(result)` says work was queued:
   * PostgreSQL's `NOTIFY` inside the transaction (sent at its commit), SQLite's signal file after.
   */
  async #txWaking<T>(
    fn: (trx: Transaction<PipelineSchema>) => Promise<T>,
    woke: (result: T) => boolean,
  ): Promise<T> {
    let after: (() => void) | undefined;
    const result = await this.#tx(async (trx) => {
      const r = await fn(trx);
      if (this.#signal && woke(r)) after = await this.#signal(trx);
      return r;
    });
    after?.();
    return result;
  }

  async #tx<T>(fn: (trx: Transaction<PipelineSchema>) => Promise<T>): Promise<T> {
    try {
      return await this.#db.transaction().execute(fn);
    } catch (err) {
      throw storeError(err);
    }
  }

  async #lockRun(trx: Transaction<PipelineSchema>, dagId: string, runId: string): Promise<void> {
    if (!this.#postgres) return; // BEGIN IMMEDIATE already holds the write lock
    await trx
      .selectFrom('dag_run')
      .select('id')
      .where('dag_id', '=', dagId)
      .where('run_id', '=', runId)
      .forUpdate()
      .execute();
  }

  /**
   * Creates a run of `dag` in state `queued`: one task instance per task, the ones without
   * upstream tasks `queued` (claimable now), the others waiting (`null`).
   *
   * @throws AirlockError `AIRLOCK_ERR_STORE_CONFLICT` when the run_id exists for the DAG.
   */
  async createRun(options: CreateRunOptions): Promise<DagRunRecord> {
    return this.#txWaking(
      (trx) => this.#insertRun(trx, options),
      () => true,
    );
  }

  async #insertRun(
    trx: Transaction<PipelineSchema>,
    options: CreateRunOptions,
  ): Promise<DagRunRecord> {
    const now = options.now ?? Date.now();
    const runId = checkRunId(
      options.runId ?? `manual__${new Date(options.logicalDate ?? now).toISOString()}`,
    );
    const { dag } = options;
    const logicalDate = options.logicalDate ?? now;
    const existing = await trx
      .selectFrom('dag_run')
      .select('id')
      .where('dag_id', '=', dag.dagId)
      .where('run_id', '=', runId)
      .executeTakeFirst();
    if (existing) {
      throw new AirlockError(
        'AIRLOCK_ERR_STORE_CONFLICT',
        `DAG \`${dag.dagId}\` already has a run \`${runId}\``,
        { details: { dag_id: dag.dagId, run_id: runId } },
      );
    }
    const row = {
      dag_id: dag.dagId,
      run_id: runId,
      run_type: options.runType ?? 'manual',
      state: 'queued',
      conf: confColumn(options.conf ?? {}, this.#keys),
      fileloc: dag.fileloc,
      logical_date: logicalDate,
      queued_at: now,
      start_date: null,
      end_date: null,
      triggered_by: options.triggeredBy ?? null,
      data_interval_start: options.dataInterval?.start ?? logicalDate,
      data_interval_end: options.dataInterval?.end ?? logicalDate,
      note: options.note ?? null,
    };
    await trx.insertInto('dag_run').values(row).execute();
    if (dag.tasks.length > 0) {
      await trx
        .insertInto('task_instance')
        .values(
          dag.tasks.map((t) => {
            // A root, or a task that runs whatever its upstream does (`always`), starts queued.
            const ready = t.upstream.length === 0 || t.triggerRule === 'always';
            return {
              dag_id: dag.dagId,
              run_id: runId,
              task_id: t.taskId,
              state: ready ? 'queued' : null,
              try_number: 0,
              max_tries: t.retries + 1,
              upstream: JSON.stringify(t.upstream),
              retry_delay_ms: Math.round(t.retryDelaySeconds * 1000),
              timeout_ms: t.timeoutSeconds === null ? null : Math.round(t.timeoutSeconds * 1000),
              run_after: ready ? now : null,
              queued_at: ready ? now : null,
              trigger_rule: t.triggerRule ?? 'all_success',
              retry_exponential_backoff: t.retryExponentialBackoff ?? false,
              max_retry_delay_ms:
                t.maxRetryDelaySeconds == null ? null : Math.round(t.maxRetryDelaySeconds * 1000),
            };
          }),
        )
        .execute();
    } else {
      await trx
        .updateTable('dag_run')
        .set({ state: 'success', start_date: now, end_date: now })
        .where('dag_id', '=', dag.dagId)
        .where('run_id', '=', runId)
        .execute();
    }
    const created = await trx
      .selectFrom('dag_run')
      .selectAll()
      .where('dag_id', '=', dag.dagId)
      .where('run_id', '=', runId)
      .executeTakeFirstOrThrow();
    return runRecord(created, this.#keys);
  }

  /** The data interval of the DAG's latest scheduled run, or `null` (Airflow's "last automated"). */
  async #lastScheduled(
    db: Kysely<PipelineSchema> | Transaction<PipelineSchema>,
    dagId: string,
  ): Promise<DataInterval | null> {
    const row = await db
      .selectFrom('dag_run')
      .select(['data_interval_start', 'data_interval_end', 'logical_date'])
      .where('dag_id', '=', dagId)
      .where('run_type', '=', 'scheduled')
      .orderBy('logical_date', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) return null;
    return {
      start: Number(row.data_interval_start ?? row.logical_date),
      end: Number(row.data_interval_end ?? row.logical_date),
    };
  }

  /**
   * Records what a discovery found: each DAG's row is created (paused when `pausedAtCreation`
   * says so, or the DAG's `isPausedUponCreation`) or refreshed with its new description and next
   * run; a DAG the discovery no longer finds is marked inactive (its runs stay).
   */
  async syncDags(
    dags: readonly DagInfo[],
    options: { now?: number; pausedAtCreation: boolean },
  ): Promise<void> {
    const now = options.now ?? Date.now();
    await this.#tx(async (trx) => {
      const known = new Set(
        (await trx.selectFrom('airlock_dag').select('dag_id').execute()).map((r) => r.dag_id),
      );
      for (const dag of dags) {
        const next = nextRunOf(dag, await this.#lastScheduled(trx, dag.dagId), now);
        const columns = {
          is_active: true,
          fileloc: dag.fileloc,
          schedule: dag.schedule,
          timezone: dag.timezone,
          info: JSON.stringify(dag),
          last_parsed_at: now,
          ...nextColumns(next),
        };
        if (known.has(dag.dagId)) {
          await trx
            .updateTable('airlock_dag')
            .set(columns)
            .where('dag_id', '=', dag.dagId)
            .execute();
        } else {
          // Another process may insert it at the same time: theirs or ours, the row is the same.
          await trx
            .insertInto('airlock_dag')
            .values({
              dag_id: dag.dagId,
              is_paused: dag.isPausedUponCreation ?? options.pausedAtCreation,
              ...columns,
            })
            .onConflict((oc) => oc.column('dag_id').doNothing())
            .execute();
        }
      }
      const found = dags.map((d) => d.dagId);
      let gone = trx.updateTable('airlock_dag').set({ is_active: false });
      if (found.length > 0) gone = gone.where('dag_id', 'not in', found);
      await gone.execute();
    });
  }

  /** The metastore's record of one DAG, or `undefined`. */
  async dagState(dagId: string): Promise<DagStateRecord | undefined> {
    const row = await this.#read(() =>
      this.#db.selectFrom('airlock_dag').selectAll().where('dag_id', '=', dagId).executeTakeFirst(),
    );
    return row ? dagStateRecord(row) : undefined;
  }

  /** The metastore's record of each DAG, by dag_id. */
  async dagStates(): Promise<Map<string, DagStateRecord>> {
    const rows = await this.#read(() => this.#db.selectFrom('airlock_dag').selectAll().execute());
    return new Map(rows.map((r) => [r.dag_id, dagStateRecord(r)]));
  }

  /**
   * Pauses or unpauses a DAG the metastore knows (`syncDags` first).
   *
   * @throws AirlockError `AIRLOCK_ERR_DAG_NOT_FOUND` when it has no row.
   */
  async setPaused(dagId: string, paused: boolean): Promise<DagStateRecord> {
    return this.#tx(async (trx) => {
      await trx
        .updateTable('airlock_dag')
        .set({ is_paused: paused })
        .where('dag_id', '=', dagId)
        .execute();
      const row = await trx
        .selectFrom('airlock_dag')
        .selectAll()
        .where('dag_id', '=', dagId)
        .executeTakeFirst();
      if (!row) {
        throw new AirlockError('AIRLOCK_ERR_DAG_NOT_FOUND', `no DAG \`${dagId}\``, {
          details: { dag_id: dagId },
        });
      }
      return dagStateRecord(row);
    });
  }

  /**
   * Creates the scheduled runs that are due at `now`, for at most `limit` DAGs, and returns
   * them. Each DAG's row is locked for the transaction (`SELECT … FOR UPDATE SKIP LOCKED` on
   * PostgreSQL, so that several schedulers take different DAGs and never wait on each other; the
   * write lock of `BEGIN IMMEDIATE` on SQLite); inside it the next run is computed from the DAG's
   * latest scheduled run, so a run is never created twice nor skipped, and the partial unique
   * index on (dag_id, logical_date) backs that up. A DAG at its `maxActiveRuns` waits.
   */
  async scheduleDue(now: number, options: { limit?: number } = {}): Promise<DagRunRecord[]> {
    return this.#txWaking(
      async (trx) => {
        let due = trx
          .selectFrom('airlock_dag')
          .selectAll()
          .where('is_paused', '=', false)
          .where('is_active', '=', true)
          .where('next_dagrun_create_after', '<=', now)
          .orderBy('next_dagrun_create_after')
          .limit(options.limit ?? 50);
        if (this.#postgres) due = due.forUpdate().skipLocked();
        const created: DagRunRecord[] = [];
        for (const row of await due.execute()) {
          const dag = JSON.parse(row.info) as DagInfo;
          const active = await trx
            .selectFrom('dag_run')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('dag_id', '=', dag.dagId)
            .where('state', 'in', ['queued', 'running'])
            .executeTakeFirst();
          let slots = dag.maxActiveRuns - Number(active?.n ?? 0);
          let last = await this.#lastScheduled(trx, dag.dagId);
          let next = nextRunOf(dag, last, now);
          while (next && next.runAfter <= now && slots > 0) {
            created.push(
              await this.#insertRun(trx, {
                dag,
                runId: scheduledRunId(next.logicalDate),
                runType: 'scheduled',
                logicalDate: next.logicalDate,
                dataInterval: next.interval,
                triggeredBy: 'scheduler',
              }),
            );
            slots--;
            last = next.interval;
            next = nextRunOf(dag, last, now);
          }
          await trx
            .updateTable('airlock_dag')
            .set(nextColumns(next))
            .where('dag_id', '=', dag.dagId)
            .execute();
        }
        return created;
      },
      (created) => created.length > 0,
    );
  }

  /** The run, or `undefined`. */
  async getRun(dagId: string, runId: string): Promise<DagRunRecord | undefined> {
    const row = await this.#read(() =>
      this.#db
        .selectFrom('dag_run')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .executeTakeFirst(),
    );
    return row ? runRecord(row, this.#keys) : undefined;
  }

  /** Runs, newest first; of one DAG when `dagId` is given. */
  async listRuns(
    options: { dagId?: string; limit?: number; offset?: number } = {},
  ): Promise<{ runs: DagRunRecord[]; total: number }> {
    const { dagId, limit = 100, offset = 0 } = options;
    return this.#read(async () => {
      let query = this.#db.selectFrom('dag_run');
      if (dagId !== undefined) query = query.where('dag_id', '=', dagId);
      const rows = await query
        .selectAll()
        .orderBy('queued_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .offset(offset)
        .execute();
      const count = await query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
      return { runs: rows.map((r) => runRecord(r, this.#keys)), total: Number(count?.n ?? 0) };
    });
  }

  /** The task instances of several runs of a DAG (one query), by run id. */
  async taskInstancesOfRuns(
    dagId: string,
    runIds: readonly string[],
  ): Promise<Map<string, TaskInstanceRecord[]>> {
    const out = new Map<string, TaskInstanceRecord[]>(runIds.map((id) => [id, []]));
    if (runIds.length === 0) return out;
    const rows = await this.#read(() =>
      this.#db
        .selectFrom('task_instance')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', 'in', [...runIds])
        .orderBy('id')
        .execute(),
    );
    for (const row of rows) out.get(row.run_id)?.push(tiRecord(row));
    return out;
  }

  /** The run's task instances, in creation (topological) order. */
  async taskInstances(dagId: string, runId: string): Promise<TaskInstanceRecord[]> {
    return (await this.listTaskInstances(dagId, runId)).instances;
  }

  /**
   * One page of the run's task instances in creation order, paged in SQL (`LIMIT`/`OFFSET`),
   * with their number by `COUNT(*)`; every one when no limit is given.
   */
  async listTaskInstances(
    dagId: string,
    runId: string,
    options: { limit?: number; offset?: number } = {},
  ): Promise<{ instances: TaskInstanceRecord[]; total: number }> {
    const base = this.#db
      .selectFrom('task_instance')
      .where('dag_id', '=', dagId)
      .where('run_id', '=', runId);
    const { limit, offset = 0 } = options;
    return this.#read(async () => {
      let query = base.selectAll().orderBy('id');
      if (limit !== undefined) query = query.limit(limit).offset(offset);
      const rows = await query.execute();
      if (limit === undefined) return { instances: rows.map(tiRecord), total: rows.length };
      const count = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
      return { instances: rows.map(tiRecord), total: Number(count?.n ?? 0) };
    });
  }

  /** One task instance, or `undefined`. */
  async getTaskInstance(
    dagId: string,
    runId: string,
    taskId: string,
  ): Promise<TaskInstanceRecord | undefined> {
    const row = await this.#read(() =>
      this.#db
        .selectFrom('task_instance')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', '=', taskId)
        .executeTakeFirst(),
    );
    return row ? tiRecord(row) : undefined;
  }

  /**
   * Claims the oldest claimable task instance for `workerId`: marks it `running`, starts its next
   * try and its heartbeat, and marks its run `running`. `undefined` when there is no work.
   */
  async claimNext(
    workerId: string,
    options: ClaimFilter & { now?: number; pid?: number } = {},
  ): Promise<TaskInstanceRecord | undefined> {
    const now = options.now ?? Date.now();
    if (this.#postgres) return this.#claimOnPostgres(workerId, options, now);
    return this.#tx(async (trx) => {
      let pick = trx
        .selectFrom('task_instance')
        .select(['id', 'dag_id', 'run_id'])
        .where('state', 'in', ['queued', 'up_for_retry'])
        .where('run_after', '<=', now);
      if (options.dagId !== undefined) pick = pick.where('dag_id', '=', options.dagId);
      if (options.runId !== undefined) pick = pick.where('run_id', '=', options.runId);
      pick = pick.orderBy('run_after').orderBy('id').limit(1);
      if (this.#postgres) pick = pick.forUpdate().skipLocked();
      const picked = await pick.executeTakeFirst();
      if (!picked) return undefined;
      await trx
        .updateTable('task_instance')
        .set((eb) => claimedColumns(eb('try_number', '+', 1), workerId, now, options.pid))
        .where('id', '=', picked.id)
        .execute();
      await trx
        .updateTable('dag_run')
        .set({ state: 'running', start_date: now })
        .where('dag_id', '=', picked.dag_id)
        .where('run_id', '=', picked.run_id)
        .where('state', '=', 'queued')
        .execute();
      const row = await trx
        .selectFrom('task_instance')
        .selectAll()
        .where('id', '=', picked.id)
        .executeTakeFirstOrThrow();
      return tiRecord(row);
    });
  }

  /**
   * The claim on PostgreSQL in one statement: the task instance taken (`UPDATE … WHERE id =
   * (SELECT … FOR UPDATE SKIP LOCKED) RETURNING *`) and, in the same statement, its run marked
   * running if it was queued (the run's row is skipped when locked: a finishing try holds it, so
   * the run is already running). One round trip a claim.
   */
  async #claimOnPostgres(
    workerId: string,
    options: ClaimFilter & { pid?: number },
    now: number,
  ): Promise<TaskInstanceRecord | undefined> {
    const row = await this.#read(() =>
      this.#db
        .with('claimed', (db) =>
          db
            .updateTable('task_instance')
            .set((eb) => claimedColumns(eb('try_number', '+', 1), workerId, now, options.pid))
            .where('id', '=', (eb) => {
              let pick = eb
                .selectFrom('task_instance')
                .select('id')
                .where('state', 'in', ['queued', 'up_for_retry'])
                .where('run_after', '<=', now);
              if (options.dagId !== undefined) pick = pick.where('dag_id', '=', options.dagId);
              if (options.runId !== undefined) pick = pick.where('run_id', '=', options.runId);
              return pick.orderBy('run_after').orderBy('id').limit(1).forUpdate().skipLocked();
            })
            .returningAll(),
        )
        .with('started', (db) =>
          db
            .updateTable('dag_run')
            .set({ state: 'running', start_date: now })
            .where('id', '=', (eb) =>
              eb
                .selectFrom('dag_run')
                .innerJoin('claimed', (join) =>
                  join
                    .onRef('claimed.dag_id', '=', 'dag_run.dag_id')
                    .onRef('claimed.run_id', '=', 'dag_run.run_id'),
                )
                .select('dag_run.id')
                .where('dag_run.state', '=', 'queued')
                .forUpdate('dag_run')
                .skipLocked(),
            )
            .returning('id'),
        )
        .selectFrom('claimed')
        .selectAll()
        .executeTakeFirst(),
    );
    return row ? tiRecord(row) : undefined;
  }

  /** Writes the heartbeat of `workerId`'s running tries `ids`. */
  async heartbeat(workerId: string, ids: readonly number[], now = Date.now()): Promise<void> {
    if (ids.length === 0) return;
    await this.#read(() =>
      this.#db
        .updateTable('task_instance')
        .set({ heartbeat_at: now })
        .where('id', 'in', [...ids])
        .where('worker_id', '=', workerId)
        .where('state', '=', 'running')
        .execute(),
    );
  }

  /**
   * Ends try `ti.tryNumber` of `ti` (if it is still `running` under `ti.workerId`): success,
   * skipped, a retry after the task's delay (or Airflow's exponential backoff), or failure; then
   * applies the trigger rules of the tasks waiting on it (queued, skipped or upstream_failed),
   * skips everything below it for a short-circuit, and settles the run.
   */
  async finishTry(
    ti: TaskInstanceRecord,
    outcome: TryOutcome,
    now = Date.now(),
  ): Promise<FinishReport> {
    return this.#txWaking(
      async (trx) => {
        const notRecorded: FinishReport = {
          state: undefined,
          queued: [],
          upstreamFailed: [],
          skipped: [],
          runState: undefined,
        };
        const skipBelow =
          outcome.success && !outcome.skipped && outcome.skipDownstream ? ti.taskId : undefined;
        if (outcome.success || outcome.skipped) {
          // The state does not depend on the row: one conditional update (which is also the
          // check that this try is still the task instance's running one), which on PostgreSQL
          // also takes the run's lock first (in its condition), as `#lockRun` would.
          const state: TaskState = outcome.skipped ? 'skipped' : 'success';
          let update = trx
            .updateTable('task_instance')
            .set(endedColumns(state, now, outcome, null))
            .where('id', '=', ti.id)
            .where('state', '=', 'running')
            .where('try_number', '=', ti.tryNumber)
            .where('worker_id', '=', ti.workerId);
          if (this.#postgres) {
            update = update.where((eb) =>
              eb.exists(
                eb
                  .selectFrom('dag_run')
                  .select('dag_run.id')
                  .where('dag_run.dag_id', '=', ti.dagId)
                  .where('dag_run.run_id', '=', ti.runId)
                  .forUpdate(),
              ),
            );
          }
          const ended = await update.returning('task_instance.id').executeTakeFirst();
          if (!ended) return notRecorded;
          return this.#settle(trx, ti.dagId, ti.runId, state, now, skipBelow);
        }
        await this.#lockRun(trx, ti.dagId, ti.runId);
        const current = await trx
          .selectFrom('task_instance')
          .selectAll()
          .where('id', '=', ti.id)
          .executeTakeFirst();
        if (
          current?.state !== 'running' ||
          current.try_number !== ti.tryNumber ||
          current.worker_id !== ti.workerId
        ) {
          return notRecorded;
        }
        let state: TaskState;
        if ((outcome.retry ?? true) && current.try_number < current.max_tries) {
          state = 'up_for_retry';
        } else state = 'failed';
        let runAfter: number | null = null;
        if (state === 'up_for_retry') {
          const run = await trx
            .selectFrom('dag_run')
            .select('logical_date')
            .where('dag_id', '=', ti.dagId)
            .where('run_id', '=', ti.runId)
            .executeTakeFirst();
          runAfter =
            now +
            retryDelayMs(tiRecord(current), current.try_number, Number(run?.logical_date ?? 0));
        }
        if (state === 'up_for_retry') {
          // The try is over and the next one will reuse the row: keep this one's details.
          await this.#keepTry(
            trx,
            {
              ...current,
              exit_code: outcome.exitCode ?? null,
              note: outcome.note ?? null,
            },
            state,
            now,
          );
        }
        await trx
          .updateTable('task_instance')
          .set(endedColumns(state, now, outcome, runAfter))
          .where('id', '=', ti.id)
          .execute();
        return this.#settle(trx, ti.dagId, ti.runId, state, now);
      },
      (report) => report.queued.length > 0,
    );
  }

  /**
   * Applies the trigger rules of the waiting tasks and settles the run (inside a locked
   * transaction). With `skipBelow`, every waiting task below that one is skipped first.
   */
  async #settle(
    trx: Transaction<PipelineSchema>,
    dagId: string,
    runId: string,
    state: TaskState,
    now: number,
    skipBelow?: string,
  ): Promise<FinishReport> {
    // Only what the trigger rules and the run's state need, and only when there is something to
    // decide: a task waits (its rule may now hold), or no task is left to run (the run ends), or
    // a short-circuit skips what is below. Otherwise (a wide run's tries while its other tasks
    // are queued or running) nothing changes, and the statement returns no row instead of
    // every task instance of the run.
    let read = trx
      .selectFrom('task_instance')
      .select(['task_id', 'state', 'upstream', 'trigger_rule'])
      .where('dag_id', '=', dagId)
      .where('run_id', '=', runId);
    if (skipBelow === undefined) {
      read = read.where((eb) =>
        eb.or([
          eb.exists(
            eb
              .selectFrom('task_instance as waiting')
              .select('waiting.id')
              .where('waiting.dag_id', '=', dagId)
              .where('waiting.run_id', '=', runId)
              .where('waiting.state', 'is', null),
          ),
          eb.not(
            eb.exists(
              eb
                .selectFrom('task_instance as open')
                .select('open.id')
                .where('open.dag_id', '=', dagId)
                .where('open.run_id', '=', runId)
                .where('open.state', 'not in', [...TERMINAL]),
            ),
          ),
        ]),
      );
    }
    const found = await read.execute();
    if (found.length === 0) {
      return { state, queued: [], upstreamFailed: [], skipped: [], runState: 'running' };
    }
    const rows = found.map((row) => ({
      taskId: row.task_id,
      state: row.state as TaskState,
      upstream: parseUpstream(row.upstream),
      triggerRule: row.trigger_rule as TriggerRule,
    }));
    const states = new Map(rows.map((r) => [r.taskId, r.state]));
    const changed = new Map<string, TaskState>();
    const set = (taskId: string, to: TaskState) => {
      states.set(taskId, to);
      changed.set(taskId, to);
    };
    if (skipBelow !== undefined) {
      // Every task below the short-circuit (directly or not), whatever its trigger rule.
      const below = new Set([skipBelow]);
      let grew = true;
      while (grew) {
        grew = false;
        for (const r of rows) {
          if (!below.has(r.taskId) && r.upstream.some((u) => below.has(u))) {
            below.add(r.taskId);
            grew = true;
          }
        }
      }
      below.delete(skipBelow);
      for (const id of below) {
        const s = states.get(id);
        if (s === null || s === 'queued') set(id, 'skipped');
      }
    }
    // Propagate until nothing changes: each waiting task's rule over its upstream states.
    let again = true;
    while (again) {
      again = false;
      for (const r of rows) {
        if (states.get(r.taskId) !== null) continue;
        const next = evaluateTriggerRule(
          r.triggerRule,
          r.upstream.map((u) => states.get(u) ?? null),
        );
        if (next !== null) {
          set(r.taskId, next);
          again = true;
        }
      }
    }
    const byState = (s: TaskState) =>
      [...changed].filter(([, to]) => to === s).map(([taskId]) => taskId);
    const queued = byState('queued');
    const upstreamFailed = byState('upstream_failed');
    const skipped = byState('skipped');
    if (queued.length > 0) {
      await trx
        .updateTable('task_instance')
        .set({ state: 'queued', run_after: now, queued_at: now })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', 'in', queued)
        .execute();
    }
    for (const [ended, ids] of [
      ['upstream_failed', upstreamFailed],
      ['skipped', skipped],
    ] as const) {
      if (ids.length === 0) continue;
      await trx
        .updateTable('task_instance')
        .set({ state: ended, end_date: now, run_after: null })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', 'in', ids)
        .execute();
    }
    let runState: DagRunState = 'running';
    if ([...states.values()].every((s) => TERMINAL.has(s))) {
      // Airflow: the run failed when a leaf task failed (or could not run); else it succeeded.
      const leaves = rows.filter((r) => !rows.some((o) => o.upstream.includes(r.taskId)));
      runState = leaves.some((r) => FAILED.has(states.get(r.taskId) ?? null))
        ? 'failed'
        : 'success';
      await trx
        .updateTable('dag_run')
        .set({ state: runState, end_date: now })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute();
    }
    return { state, queued, upstreamFailed, skipped, runState };
  }

  /**
   * Marks `failed` every running try whose heartbeat is older than `timeoutMs` (its worker
   * crashed or lost the database), settles their runs, and returns them.
   */
  async reapStale(timeoutMs: number, now = Date.now()): Promise<TaskInstanceRecord[]> {
    const stale = (
      await this.#read(() =>
        this.#db
          .selectFrom('task_instance')
          .selectAll()
          .where('state', '=', 'running')
          .where('heartbeat_at', '<', now - timeoutMs)
          .execute(),
      )
    ).map(tiRecord);
    const reaped: TaskInstanceRecord[] = [];
    for (const ti of stale) {
      const report = await this.finishTry(
        ti,
        {
          success: false,
          retry: false,
          note: `no heartbeat from worker ${ti.workerId ?? '?'} for ${Math.round(timeoutMs / 1000)}s; marked failed`,
        },
        now,
      );
      if (report.state !== undefined) reaped.push(ti);
    }
    return reaped;
  }

  // --- changes an operator makes (the API's patch, clear and delete; `dags delete`, `tasks clear`)

  /** Copies the try `row` holds into the history (replacing a copy of the same try). */
  async #keepTry(
    trx: Transaction<PipelineSchema>,
    row: Selectable<TaskInstanceTable>,
    state: string | null,
    endDate: Millis | null,
  ): Promise<void> {
    const kept = historyRow(row, state, endDate);
    await trx
      .insertInto('airlock_ti_history')
      .values(kept)
      .onConflict((oc) =>
        oc.columns(['dag_id', 'run_id', 'task_id', 'try_number']).doUpdateSet({
          state: kept.state,
          start_date: kept.start_date,
          end_date: kept.end_date,
          hostname: kept.hostname,
          pid: kept.pid,
          exit_code: kept.exit_code,
          note: kept.note,
        }),
      )
      .execute();
  }

  /**
   * Every try of a task instance, oldest first: the earlier ones from the history, the latest from
   * the task instance itself (unless it was cleared since and has not started again: then from the
   * history too). A try older
   * than the history (a run from before it was kept) has `null` state and dates.
   */
  async taskTries(ti: TaskInstanceRecord): Promise<TryRecord[]> {
    const rows = await this.#read(() =>
      this.#db
        .selectFrom('airlock_ti_history')
        .selectAll()
        .where('dag_id', '=', ti.dagId)
        .where('run_id', '=', ti.runId)
        .where('task_id', '=', ti.taskId)
        .orderBy('try_number')
        .execute(),
    );
    const kept = new Map(rows.map((r) => [r.try_number, r]));
    const base = { dagId: ti.dagId, runId: ti.runId, taskId: ti.taskId };
    return Array.from({ length: ti.tryNumber }, (_, i): TryRecord => {
      const n = i + 1;
      const row = kept.get(n);
      // The row holds try n until it is cleared (its dates are reset; the try went to history).
      if (n === ti.tryNumber && (ti.startDate !== null || !row)) {
        return {
          ...base,
          tryNumber: n,
          state: ti.state,
          maxTries: ti.maxTries,
          startDate: ti.startDate,
          endDate: ti.endDate,
          hostname: ti.hostname,
          pid: ti.pid,
          note: ti.note,
        };
      }
      return {
        ...base,
        tryNumber: n,
        state: (row?.state ?? null) as TaskState,
        maxTries: row?.max_tries ?? ti.maxTries,
        startDate: ms(row?.start_date ?? null),
        endDate: ms(row?.end_date ?? null),
        hostname: row?.hostname ?? null,
        pid: row?.pid ?? null,
        note: row?.note ?? null,
      };
    });
  }

  /** Sets (or, with `null`, removes) a run's note; the run, or `undefined` when there is none. */
  async setRunNote(
    dagId: string,
    runId: string,
    note: string | null,
  ): Promise<DagRunRecord | undefined> {
    await this.#read(() =>
      this.#db
        .updateTable('dag_run')
        .set({ note })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute(),
    );
    return this.getRun(dagId, runId);
  }

  /** Deletes a run and its task instances (their log files stay). `false` when there was none. */
  async deleteRun(dagId: string, runId: string): Promise<boolean> {
    return this.#tx(async (trx) => {
      await this.#lockRun(trx, dagId, runId);
      await trx
        .deleteFrom('task_instance')
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute();
      await trx
        .deleteFrom('airlock_ti_history')
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute();
      const result = await trx
        .deleteFrom('dag_run')
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /**
   * Clears task instances of a run so that they run again, as Airflow's clear: each one's state is
   * reset (queued when its upstream tasks succeeded, else waiting), it gets `triesOf(taskId)` more
   * tries after the ones it has used, and the run goes back to `queued` (or stays `running`).
   *
   * @returns The task ids cleared (none when the run does not exist).
   */
  async clearTasks(
    dagId: string,
    runId: string,
    taskIds: readonly string[],
    triesOf: (taskId: string) => number,
    now = Date.now(),
  ): Promise<string[]> {
    if (taskIds.length === 0) return [];
    return this.#tx(async (trx) => {
      await this.#lockRun(trx, dagId, runId);
      const rows = await trx
        .selectFrom('task_instance')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', 'in', [...taskIds])
        .execute();
      for (const row of rows) {
        // The try the row holds ends here (Airflow records it in task_instance_history); one
        // still running is `restarting`, Airflow's state for a try cleared while it ran.
        if (row.try_number > 0) {
          const state = row.state === 'running' ? 'restarting' : row.state;
          await this.#keepTry(trx, row, state, row.end_date ?? now);
        }
        await trx
          .updateTable('task_instance')
          .set({
            state: null,
            max_tries: row.try_number + triesOf(row.task_id),
            start_date: null,
            end_date: null,
            heartbeat_at: null,
            worker_id: null,
            exit_code: null,
            note: null,
            run_after: null,
          })
          .where('id', '=', row.id)
          .execute();
      }
      if (rows.length === 0) return [];
      const running = await trx
        .selectFrom('task_instance')
        .select('id')
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('state', '=', 'running')
        .executeTakeFirst();
      await trx
        .updateTable('dag_run')
        .set({ state: running ? 'running' : 'queued', end_date: null })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute();
      await this.#settle(trx, dagId, runId, 'queued', now);
      return rows.map((r) => r.task_id);
    });
  }

  /**
   * Sets a task instance's state (`success` or `failed`), as an operator marks it; the tasks
   * below it are queued or fail as after a try, and the run settles.
   *
   * @returns The task instance, or `undefined` when the run has no such task.
   */
  async setTaskState(
    dagId: string,
    runId: string,
    taskId: string,
    state: 'success' | 'failed',
    now = Date.now(),
  ): Promise<TaskInstanceRecord | undefined> {
    return this.#tx(async (trx) => {
      await this.#lockRun(trx, dagId, runId);
      const result = await trx
        .updateTable('task_instance')
        .set({ state, end_date: now, heartbeat_at: null, run_after: null })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', '=', taskId)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      await this.#settle(trx, dagId, runId, state, now);
      const row = await trx
        .selectFrom('task_instance')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', '=', taskId)
        .executeTakeFirstOrThrow();
      return tiRecord(row);
    });
  }

  /**
   * Sets a finished state on a run, as Airflow's "mark success / failed": `success` marks every
   * task instance not yet successful `success`; `failed` marks the unfinished ones `failed` (those
   * that never started `upstream_failed`).
   */
  async setRunState(
    dagId: string,
    runId: string,
    state: 'success' | 'failed',
    now = Date.now(),
  ): Promise<DagRunRecord | undefined> {
    return this.#tx(async (trx) => {
      await this.#lockRun(trx, dagId, runId);
      const base = () =>
        trx.updateTable('task_instance').where('dag_id', '=', dagId).where('run_id', '=', runId);
      if (state === 'success') {
        await base()
          .set({ state: 'success', end_date: now, heartbeat_at: null, run_after: null })
          .where((eb) => eb.or([eb('state', 'is', null), eb('state', '!=', 'success')]))
          .execute();
      } else {
        await base()
          .set({ state: 'failed', end_date: now, heartbeat_at: null, run_after: null })
          .where('state', 'in', ['queued', 'running', 'up_for_retry'])
          .execute();
        await base()
          .set({ state: 'upstream_failed', end_date: now })
          .where('state', 'is', null)
          .execute();
      }
      const result = await trx
        .updateTable('dag_run')
        .set({ state, end_date: now })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      const row = await trx
        .selectFrom('dag_run')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .executeTakeFirstOrThrow();
      return runRecord(row, this.#keys);
    });
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storeError(err);
    }
  }
}

/** What ending a try sets on its task instance (`runAfter`: when a retry may start). */
function endedColumns(state: TaskState, now: number, outcome: TryOutcome, runAfter: number | null) {
  return {
    state,
    end_date: now,
    exit_code: outcome.exitCode ?? null,
    note: outcome.note ?? null,
    heartbeat_at: null,
    run_after: runAfter,
  };
}

/** What a claim sets on the task instance it takes. */
function claimedColumns<T>(tryNumber: T, workerId: string, now: number, pid: number | undefined) {
  return {
    state: 'running' as const,
    try_number: tryNumber,
    start_date: now,
    end_date: null,
    heartbeat_at: now,
    worker_id: workerId,
    hostname: hostname(),
    pid: pid ?? null,
    exit_code: null,
    note: null,
  };
}

function storeError(err: unknown): unknown {
  if (err instanceof AirlockError) return err;
  const code = (err as { code?: unknown; errcode?: unknown }).code;
  const errcode = (err as { errcode?: unknown }).errcode;
  const which =
    typeof code === 'string'
      ? ` (${code})`
      : typeof errcode === 'number'
        ? ` (SQLite ${errcode})`
        : '';
  return new AirlockError(
    'AIRLOCK_ERR_STORE_QUERY_FAILED',
    `metastore: a pipeline query failed${which}`,
  );
}
