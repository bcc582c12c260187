/**
 * @module server/v1/views
 * The bodies of Airflow 2's DAG, DAG run, task instance and XCom schemas, built from airlock's
 * records (`models.ts` declares them). A field airlock has no concept of takes Airflow's neutral
 * value (`null` where the schema allows it, the default pool, map index -1, …), never a missing
 * required field nor a `null` where Airflow's type is not nullable.
 */
import { AirlockError } from '../../errors.ts';
import type { DagBagInfo, DagInfo } from '../../pipelines/loader.ts';
import type {
  DagRunRecord,
  DagStateRecord,
  TaskInstanceRecord,
  TryRecord,
  XcomRecord,
} from '../../pipelines/store.ts';
import { airflowParams, iso } from '../v2/dags.ts';

const RUN_TYPES = new Set(['backfill', 'manual', 'scheduled', 'dataset_triggered']);

/** A DAG as Airflow 2's `DAG`. */
export function dagJson(d: DagInfo, bag: DagBagInfo, state: DagStateRecord | undefined) {
  return {
    dag_id: d.dagId,
    dag_display_name: d.dagId,
    root_dag_id: null,
    is_paused: state?.isPaused ?? null,
    is_active: true,
    is_subdag: false,
    last_parsed_time: iso(state?.lastParsedAt),
    last_pickled: null,
    last_expired: null,
    scheduler_lock: null,
    pickle_id: null,
    default_view: 'grid',
    fileloc: d.fileloc,
    file_token: Buffer.from(d.fileloc).toString('base64url'),
    owners: ['airflow'],
    description: d.description,
    schedule_interval:
      d.schedule === null ? null : { __type: 'CronExpression' as const, value: d.schedule },
    timetable_description: d.schedule,
    tags: d.tags.map((name) => ({ name })),
    max_active_tasks: null,
    max_active_runs: d.maxActiveRuns,
    max_consecutive_failed_dag_runs: null,
    has_task_concurrency_limits: false,
    has_import_errors: bag.errors.some((e) => e.file === d.fileloc),
    next_dagrun: iso(state?.nextDagrun ?? null),
    next_dagrun_data_interval_start: iso(state?.nextDagrunDataIntervalStart ?? null),
    next_dagrun_data_interval_end: iso(state?.nextDagrunDataIntervalEnd ?? null),
    next_dagrun_create_after: iso(state?.nextDagrunCreateAfter ?? null),
    timezone: d.timezone,
    start_date: iso(d.startDate),
    end_date: iso(d.endDate),
    catchup: d.catchup,
    params: airflowParams(d),
    task_ids: d.tasks.map((t) => t.taskId),
  };
}

/** A DAG run as Airflow 2's `DAGRun`, with `conf` as the caller may see it. */
export function runJson(run: DagRunRecord, conf: Readonly<Record<string, unknown>>) {
  return {
    dag_run_id: run.runId,
    dag_id: run.dagId,
    logical_date: iso(run.logicalDate),
    execution_date: iso(run.logicalDate),
    start_date: iso(run.startDate),
    end_date: iso(run.endDate),
    data_interval_start: iso(run.dataIntervalStart ?? run.logicalDate),
    data_interval_end: iso(run.dataIntervalEnd ?? run.logicalDate),
    last_scheduling_decision: null,
    run_type: RUN_TYPES.has(run.runType) ? run.runType : 'manual',
    state: run.state,
    external_trigger: run.runType !== 'scheduled',
    conf: { ...conf },
    note: run.note,
    queued_at: iso(run.queuedAt),
    triggered_by: run.triggeredBy,
  };
}

/** A try (the latest one: the task instance itself) as Airflow 2's `TaskInstance`. */
export function tiJson(run: DagRunRecord, t: TryRecord) {
  return {
    task_id: t.taskId,
    task_display_name: t.taskId,
    dag_id: t.dagId,
    dag_run_id: t.runId,
    execution_date: iso(run.logicalDate) as string,
    start_date: iso(t.startDate),
    end_date: iso(t.endDate),
    duration: t.startDate !== null && t.endDate !== null ? (t.endDate - t.startDate) / 1000 : null,
    state: t.state,
    try_number: t.tryNumber,
    map_index: -1,
    max_tries: t.maxTries - 1,
    hostname: t.hostname ?? '',
    unixname: '',
    pool: 'default_pool',
    pool_slots: 1,
    queue: null,
    priority_weight: null,
    operator: null,
    queued_when: null,
    pid: t.pid,
    executor: null,
    executor_config: '{}',
    note: t.note,
    rendered_map_index: null,
    rendered_fields: {},
  };
}

/** The latest try of a task instance, as {@link tiJson} takes it. */
export function latestTry(ti: TaskInstanceRecord): TryRecord {
  return {
    dagId: ti.dagId,
    runId: ti.runId,
    taskId: ti.taskId,
    tryNumber: ti.tryNumber,
    state: ti.state,
    maxTries: ti.maxTries,
    startDate: ti.startDate,
    endDate: ti.endDate,
    hostname: ti.hostname,
    pid: ti.pid,
    note: ti.note,
  };
}

/** A task instance as Airflow 2's `TaskInstanceReference` (what a clear lists). */
export function tiReference(run: DagRunRecord, ti: TaskInstanceRecord) {
  return {
    task_id: ti.taskId,
    dag_id: ti.dagId,
    dag_run_id: ti.runId,
    execution_date: iso(run.logicalDate) as string,
  };
}

/** An XCom entry as Airflow 2's `XComCollectionItem` (the value only when one is asked for). */
export function xcomJson(run: DagRunRecord, x: XcomRecord) {
  return {
    key: x.key,
    timestamp: iso(x.createdAt) as string,
    execution_date: iso(run.logicalDate) as string,
    map_index: -1,
    task_id: x.taskId,
    dag_id: x.dagId,
    dag_run_id: x.runId,
    logical_date: iso(run.logicalDate) as string,
  };
}

/** Only the `fields` of `view` (Airflow's `fields` query); the whole view without them. */
export function pick<T extends Record<string, unknown>>(
  view: T,
  fields: string | readonly string[] | undefined,
): Partial<T> {
  const wanted = fields === undefined ? [] : typeof fields === 'string' ? [fields] : fields;
  const names = wanted
    .flatMap((f) => f.split(','))
    .map((f) => f.trim())
    .filter(Boolean);
  if (names.length === 0) return view;
  const unknown = names.find((name) => !(name in view));
  if (unknown !== undefined) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      `\`fields\` names no field \`${unknown}\``,
    );
  }
  return Object.fromEntries(Object.entries(view).filter(([k]) => names.includes(k))) as Partial<T>;
}
