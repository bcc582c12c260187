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
import { hostname } from 'node:os';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { MultiFernet } from '../metastore/fernet.ts';
import type { Metastore } from '../metastore/metastore.ts';
import type { DagInfo } from './loader.ts';

/** A task instance's state (Airflow's names); `null` waits for its upstream tasks. */
export type TaskState =
  | 'queued'
  | 'running'
  | 'success'
  | 'failed'
  | 'up_for_retry'
  | 'upstream_failed'
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
};

/** The pipeline tables, for Kysely. */
export type PipelineSchema = {
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
}

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
  /** @default Date.now() */
  readonly now?: number;
  /** The run's logical date (a trigger's `logical_date`). @default `now` */
  readonly logicalDate?: number;
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
}

/** What finishing a try did. */
export interface FinishReport {
  /** The try's new state: `success`, `failed` or `up_for_retry`; `undefined` if it was not ours. */
  readonly state: TaskState | undefined;
  /** Tasks made `queued` because their upstream tasks all succeeded. */
  readonly queued: readonly string[];
  /** Tasks made `upstream_failed`. */
  readonly upstreamFailed: readonly string[];
  /** The run's state after this. */
  readonly runState: DagRunState | undefined;
}

const RUN_ID = /^[A-Za-z0-9_.:+-]{1,250}$/;
const TERMINAL = new Set<TaskState>(['success', 'failed', 'upstream_failed']);

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
  };
}

function tiRecord(row: Selectable<TaskInstanceTable>): TaskInstanceRecord {
  let upstream: string[] = [];
  try {
    upstream = JSON.parse(row.upstream) as string[];
  } catch {
    upstream = [];
  }
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

  /**
   * Use {@link PipelineStore.from}.
   *
   * @param keys - The Fernet keys that encrypt each run's `conf` (none: stored as plain JSON).
   */
  constructor(
    db: Kysely<PipelineSchema>,
    dialect: 'sqlite' | 'postgres',
    keys: Keys = () => undefined,
  ) {
    this.#db = db;
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
    );
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
    const now = options.now ?? Date.now();
    const runId = checkRunId(
      options.runId ?? `manual__${new Date(options.logicalDate ?? now).toISOString()}`,
    );
    const { dag } = options;
    return this.#tx(async (trx) => {
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
        logical_date: options.logicalDate ?? now,
        queued_at: now,
        start_date: null,
        end_date: null,
        triggered_by: options.triggeredBy ?? null,
      };
      await trx.insertInto('dag_run').values(row).execute();
      if (dag.tasks.length > 0) {
        await trx
          .insertInto('task_instance')
          .values(
            dag.tasks.map((t) => ({
              dag_id: dag.dagId,
              run_id: runId,
              task_id: t.taskId,
              state: t.upstream.length === 0 ? 'queued' : null,
              try_number: 0,
              max_tries: t.retries + 1,
              upstream: JSON.stringify(t.upstream),
              retry_delay_ms: Math.round(t.retryDelaySeconds * 1000),
              timeout_ms: t.timeoutSeconds === null ? null : Math.round(t.timeoutSeconds * 1000),
              run_after: t.upstream.length === 0 ? now : null,
              queued_at: t.upstream.length === 0 ? now : null,
            })),
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
    });
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

  /**
   * Re-encrypts every run's `conf` with the first Fernet key (plain JSON ones are encrypted),
   * in one transaction, for `airlock db rotate-fernet-key`.
   *
   * @returns How many confs were rewritten.
   * @throws AirlockError `AIRLOCK_ERR_CRYPTO_KEY_MISSING` without keys,
   *   `AIRLOCK_ERR_CRYPTO_TOKEN_INVALID` naming the first run no key decrypts (nothing changes).
   */
  async rotateConfKeys(): Promise<number> {
    const fernet = this.#keys();
    if (!fernet) {
      throw new AirlockError('AIRLOCK_ERR_CRYPTO_KEY_MISSING', 'no Fernet key is configured');
    }
    return this.#tx(async (trx) => {
      const rows = await trx
        .selectFrom('dag_run')
        .select(['id', 'dag_id', 'run_id', 'conf'])
        .where('conf', 'is not', null)
        .execute();
      for (const row of rows) {
        const conf = parseConf(row.conf, this.#keys, { dagId: row.dag_id, runId: row.run_id });
        await trx
          .updateTable('dag_run')
          .set({ conf: fernet.encrypt(JSON.stringify(conf)) })
          .where('id', '=', row.id)
          .execute();
      }
      return rows.length;
    });
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

  /** The run's task instances, in creation (topological) order. */
  async taskInstances(dagId: string, runId: string): Promise<TaskInstanceRecord[]> {
    const rows = await this.#read(() =>
      this.#db
        .selectFrom('task_instance')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .orderBy('id')
        .execute(),
    );
    return rows.map(tiRecord);
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
        .set((eb) => ({
          state: 'running',
          try_number: eb('try_number', '+', 1),
          start_date: now,
          end_date: null,
          heartbeat_at: now,
          worker_id: workerId,
          hostname: hostname(),
          pid: options.pid ?? null,
          exit_code: null,
          note: null,
        }))
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
   * Ends try `ti.tryNumber` of `ti` (if it is still `running` under `ti.workerId`): success, a
   * retry after the task's delay, or failure; then queues the tasks whose upstream all succeeded,
   * marks the ones below a final failure `upstream_failed`, and settles the run.
   */
  async finishTry(
    ti: TaskInstanceRecord,
    outcome: TryOutcome,
    now = Date.now(),
  ): Promise<FinishReport> {
    return this.#tx(async (trx) => {
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
        return { state: undefined, queued: [], upstreamFailed: [], runState: undefined };
      }
      let state: TaskState;
      if (outcome.success) state = 'success';
      else if ((outcome.retry ?? true) && current.try_number < current.max_tries) {
        state = 'up_for_retry';
      } else state = 'failed';
      await trx
        .updateTable('task_instance')
        .set({
          state,
          end_date: now,
          exit_code: outcome.exitCode ?? null,
          note: outcome.note ?? null,
          heartbeat_at: null,
          run_after: state === 'up_for_retry' ? now + Number(current.retry_delay_ms) : null,
        })
        .where('id', '=', ti.id)
        .execute();
      return this.#settle(trx, ti.dagId, ti.runId, state, now);
    });
  }

  /** Queues ready tasks, propagates failures and settles the run (inside a locked transaction). */
  async #settle(
    trx: Transaction<PipelineSchema>,
    dagId: string,
    runId: string,
    state: TaskState,
    now: number,
  ): Promise<FinishReport> {
    const rows = (
      await trx
        .selectFrom('task_instance')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute()
    ).map(tiRecord);
    const states = new Map(rows.map((r) => [r.taskId, r.state]));
    const queued: string[] = [];
    const upstreamFailed: string[] = [];
    // Propagate until nothing changes: a waiting task with a failed upstream fails too.
    let changed = true;
    while (changed) {
      changed = false;
      for (const r of rows) {
        if (states.get(r.taskId) !== null) continue;
        const ups = r.upstream.map((u) => states.get(u));
        if (ups.some((s) => s === 'failed' || s === 'upstream_failed')) {
          states.set(r.taskId, 'upstream_failed');
          upstreamFailed.push(r.taskId);
          changed = true;
        } else if (ups.every((s) => s === 'success')) {
          states.set(r.taskId, 'queued');
          queued.push(r.taskId);
          changed = true;
        }
      }
    }
    if (queued.length > 0) {
      await trx
        .updateTable('task_instance')
        .set({ state: 'queued', run_after: now, queued_at: now })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', 'in', queued)
        .execute();
    }
    if (upstreamFailed.length > 0) {
      await trx
        .updateTable('task_instance')
        .set({ state: 'upstream_failed', end_date: now })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .where('task_id', 'in', upstreamFailed)
        .execute();
    }
    const all = [...states.values()];
    let runState: DagRunState = 'running';
    if (all.every((s) => TERMINAL.has(s))) {
      runState = all.every((s) => s === 'success') ? 'success' : 'failed';
      await trx
        .updateTable('dag_run')
        .set({ state: runState, end_date: now })
        .where('dag_id', '=', dagId)
        .where('run_id', '=', runId)
        .execute();
    }
    return { state, queued, upstreamFailed, runState };
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

  /** Deletes a run and its task instances (their log files stay). `false` when there was none. */
  async deleteRun(dagId: string, runId: string): Promise<boolean> {
    return this.#tx(async (trx) => {
      await this.#lockRun(trx, dagId, runId);
      await trx
        .deleteFrom('task_instance')
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
