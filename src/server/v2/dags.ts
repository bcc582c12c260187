/**
 * @module server/v2/dags
 * Airflow 3's DAG operations under `/api/v2`, over the pipelines' store and DAG discovery (the
 * pipelines' route module passes them in, see `pipelines/http.ts`): DAGs (list with Airflow's
 * filters and paging, get, details, tasks), DAG runs (trigger with `logical_date`/`run_after`/
 * `conf`, list with the `~` wildcard and `POST …/dagRuns/list`, get), task instances (list, get),
 * logs (structured content, `Accept: text/plain` or `application/x-ndjson`, continuation tokens)
 * and import errors.
 *
 * A DAG's pause state and next run come from its row in the store (`store.dagStates()`), its
 * schedule (`timetable_summary`), catchup, dates and params from its definition; a run's data
 * interval from the run. Fields airlock has no concept of take Airflow's documented neutral
 * values: DAGs are never stale, have one owner `airflow`, Airflow's default limits
 * (`max_active_tasks` 16); task instances are unmapped (`map_index` -1) in `default_pool`.
 */
import { createHash } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AirlockError } from '../../errors.ts';
import type { DagBagInfo, DagInfo, TaskInfo } from '../../pipelines/loader.ts';
import type {
  DagRunRecord,
  DagStateRecord,
  PipelineStore,
  TaskInstanceRecord,
} from '../../pipelines/store.ts';
import type { AppDeps, AppEnv, AuthUser } from '../context.ts';
import type { ApiV2 } from './app.ts';
import {
  errorResponses,
  jsonResponse,
  likeMatcher,
  pageQuery,
  SECURED,
  sortAndPage,
  stringList,
} from './schemas.ts';

/** What a trigger may name besides the conf. */
export interface TriggerOptions {
  /** @default `manual__<logical date>` */
  readonly runId?: string | undefined;
  /** The logical date, in ms. @default now */
  readonly logicalDate?: number | undefined;
  /** An operator's note on the run. @default null */
  readonly note?: string | null | undefined;
}

/** What the pipelines' route module lends the v2 DAG operations. */
export interface PipelineApi {
  readonly store: PipelineStore;
  discover(): Promise<DagBagInfo>;
  /** When the current discovery ran (ms). */
  discoveredAt(): number;
  dagOr404(dagId: string): Promise<DagInfo>;
  runOr404(dagId: string, runId: string): Promise<DagRunRecord>;
  tryLog(
    dagId: string,
    runId: string,
    taskId: string,
    tryText?: string,
  ): Promise<{ run: DagRunRecord; ti: TaskInstanceRecord; n: number; text: string | undefined }>;
  trigger(
    c: Context<AppEnv>,
    dagId: string,
    conf: Record<string, unknown>,
    options?: TriggerOptions,
  ): Promise<DagRunRecord>;
  /** Pauses or unpauses a DAG (editor); a 404 for a DAG the discovery does not find. */
  setPaused(c: Context<AppEnv>, dagId: string, paused: boolean): Promise<DagStateRecord>;
  visibleConf(
    user: AuthUser,
    conf: Readonly<Record<string, unknown>>,
  ): Readonly<Record<string, unknown>>;
}

/**
 * A trigger's errors as Airflow answers them: a run_id in use → 409, a bad run_id or conf → 400.
 */
export function asTriggerHttpError(err: unknown): unknown {
  if (err instanceof AirlockError && err.code === 'AIRLOCK_ERR_STORE_CONFLICT') {
    return new AirlockError('AIRLOCK_ERR_HTTP_CONFLICT', err.message);
  }
  if (err instanceof AirlockError && err.code === 'AIRLOCK_ERR_CLI_USAGE') {
    return new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', err.message);
  }
  return err;
}

/** Airflow's `[core] max_active_tasks_per_dag` default. */
const MAX_ACTIVE_TASKS = 16;
const nullableText = z.string().nullable().optional();
const nullableDate = z.string().nullable().optional();

/** An ISO-8601 instant, or `null`. */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** `AIRLOCK_ERR_HTTP_NOT_FOUND` with Airflow's detail text. */
export function notFound(detail: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_HTTP_NOT_FOUND', detail);
}

// --- schemas -------------------------------------------------------------------------------------

const DagTagSchema = z
  .object({ name: z.string(), dag_id: z.string(), dag_display_name: z.string() })
  .openapi('DagTagResponse');

const dagFields = {
  dag_id: z.string(),
  dag_display_name: z.string(),
  is_paused: z.boolean(),
  is_stale: z.boolean(),
  last_parsed_time: nullableDate,
  last_parse_duration: z.number().nullable().optional(),
  last_expired: nullableDate,
  bundle_name: nullableText,
  bundle_version: nullableText,
  relative_fileloc: nullableText,
  fileloc: z.string(),
  description: nullableText,
  timetable_summary: nullableText,
  timetable_description: nullableText,
  timetable_partitioned: z.boolean(),
  tags: z.array(DagTagSchema),
  max_active_tasks: z.number().int(),
  max_active_runs: z.number().int().nullable().optional(),
  max_consecutive_failed_dag_runs: z.number().int(),
  has_task_concurrency_limits: z.boolean(),
  has_import_errors: z.boolean(),
  next_dagrun_logical_date: nullableDate,
  next_dagrun_data_interval_start: nullableDate,
  next_dagrun_data_interval_end: nullableDate,
  next_dagrun_run_after: nullableDate,
  allowed_run_types: z.array(z.string()).nullable().optional(),
  owners: z.array(z.string()),
  file_token: z.string(),
};

export const DagSchema = z.object(dagFields).openapi('DAGResponse');
export const DagCollectionSchema = z
  .object({ dags: z.array(DagSchema), total_entries: z.number().int() })
  .openapi('DAGCollectionResponse');
const DagDetailsSchema = z
  .object({
    ...dagFields,
    catchup: z.boolean(),
    dag_run_timeout: nullableText,
    asset_expression: z.record(z.string(), z.unknown()).nullable().optional(),
    doc_md: nullableText,
    start_date: nullableDate,
    end_date: nullableDate,
    is_paused_upon_creation: z.boolean().nullable().optional(),
    params: z.record(z.string(), z.unknown()).nullable().optional(),
    render_template_as_native_obj: z.boolean(),
    template_search_path: z.array(z.string()).nullable().optional(),
    timezone: nullableText,
    last_parsed: nullableDate,
    default_args: z.record(z.string(), z.unknown()).nullable().optional(),
    owner_links: z.record(z.string(), z.string()).nullable().optional(),
    is_favorite: z.boolean(),
    active_runs_count: z.number().int(),
    concurrency: z.number().int(),
  })
  .openapi('DAGDetailsResponse');

const TimeDeltaSchema = z
  .object({
    __type: z.string(),
    days: z.number().int(),
    seconds: z.number().int(),
    microseconds: z.number().int(),
  })
  .openapi('TimeDelta');

const TaskSchema = z
  .object({
    task_id: nullableText,
    task_display_name: nullableText,
    owner: nullableText,
    start_date: nullableDate,
    end_date: nullableDate,
    trigger_rule: nullableText,
    depends_on_past: z.boolean(),
    wait_for_downstream: z.boolean(),
    retries: z.number().nullable().optional(),
    queue: nullableText,
    pool: nullableText,
    pool_slots: z.number().nullable().optional(),
    execution_timeout: TimeDeltaSchema.nullable().optional(),
    retry_delay: TimeDeltaSchema.nullable().optional(),
    retry_exponential_backoff: z.number(),
    priority_weight: z.number().nullable().optional(),
    weight_rule: nullableText,
    ui_color: nullableText,
    ui_fgcolor: nullableText,
    template_fields: z.array(z.string()).nullable().optional(),
    downstream_task_ids: z.array(z.string()).nullable().optional(),
    doc_md: nullableText,
    operator_name: nullableText,
    params: z.record(z.string(), z.unknown()).nullable().optional(),
    class_ref: z.record(z.string(), z.unknown()).nullable().optional(),
    is_mapped: z.boolean().nullable().optional(),
    extra_links: z.array(z.string()),
  })
  .openapi('TaskResponse');

const TaskCollectionSchema = z
  .object({ tasks: z.array(TaskSchema), total_entries: z.number().int() })
  .openapi('TaskCollectionResponse');

/** Airflow's `DagRunState`. */
export const DagRunState = z
  .enum(['queued', 'running', 'success', 'failed'])
  .openapi('DagRunState');
const DagRunType = z
  .enum(['backfill', 'scheduled', 'manual', 'asset_triggered', 'asset_materialization'])
  .openapi('DagRunType');
const TriggeredBy = z
  .enum(['cli', 'operator', 'rest_api', 'ui', 'test', 'timetable', 'asset', 'backfill'])
  .openapi('DagRunTriggeredByType');

/** Airflow's `DagRunSchema`. */
export const DagRunSchema = z
  .object({
    dag_run_id: z.string(),
    dag_id: z.string(),
    logical_date: nullableDate,
    queued_at: nullableDate,
    start_date: nullableDate,
    end_date: nullableDate,
    duration: z.number().nullable().optional(),
    data_interval_start: nullableDate,
    data_interval_end: nullableDate,
    run_after: z.string(),
    last_scheduling_decision: nullableDate,
    run_type: DagRunType,
    state: DagRunState,
    triggered_by: TriggeredBy.nullable().optional(),
    triggering_user_name: nullableText,
    conf: z.record(z.string(), z.unknown()).nullable().optional(),
    note: nullableText,
    dag_versions: z.array(z.record(z.string(), z.unknown())),
    bundle_version: nullableText,
    dag_display_name: z.string(),
    partition_key: nullableText,
  })
  .openapi('DAGRunResponse');

const DagRunCollectionSchema = z
  .object({ dag_runs: z.array(DagRunSchema), total_entries: z.number().int() })
  .openapi('DAGRunCollectionResponse');

const TriggerBodySchema = z
  .object({
    dag_run_id: z.string().nullable().optional(),
    data_interval_start: z.iso.datetime({ offset: true }).nullable().optional(),
    data_interval_end: z.iso.datetime({ offset: true }).nullable().optional(),
    logical_date: z.iso.datetime({ offset: true }).nullable().optional(),
    run_after: z.iso.datetime({ offset: true }).nullable().optional(),
    conf: z.record(z.string(), z.unknown()).nullable().optional(),
    note: z.string().nullable().optional(),
    partition_key: z.string().nullable().optional(),
  })
  .strict()
  .openapi('TriggerDAGRunPostBody');

const dateRange = (name: string) => ({
  [`${name}_gte`]: z.iso.datetime({ offset: true }).nullable().optional(),
  [`${name}_gt`]: z.iso.datetime({ offset: true }).nullable().optional(),
  [`${name}_lte`]: z.iso.datetime({ offset: true }).nullable().optional(),
  [`${name}_lt`]: z.iso.datetime({ offset: true }).nullable().optional(),
});

const RunsBatchSchema = z
  .object({
    order_by: z.string().nullable().optional(),
    page_offset: z.number().int().min(0).default(0),
    page_limit: z.number().int().min(0).default(100),
    dag_ids: z.array(z.string()).nullable().optional(),
    states: z.array(DagRunState.nullable()).nullable().optional(),
    ...dateRange('run_after'),
    ...dateRange('logical_date'),
    ...dateRange('start_date'),
    ...dateRange('end_date'),
    conf_contains: z.string().nullable().optional(),
  })
  .strict()
  .openapi('DAGRunsBatchBody');

/** Airflow's `TaskInstanceState`. */
export const TaskInstanceState = z
  .enum([
    'removed',
    'scheduled',
    'queued',
    'running',
    'success',
    'restarting',
    'failed',
    'up_for_retry',
    'up_for_reschedule',
    'upstream_failed',
    'skipped',
    'deferred',
  ])
  .openapi('TaskInstanceState');

const TaskInstanceSchema = z
  .object({
    id: z.string(),
    task_id: z.string(),
    dag_id: z.string(),
    dag_run_id: z.string(),
    map_index: z.number().int(),
    logical_date: nullableDate,
    run_after: z.string(),
    start_date: nullableDate,
    end_date: nullableDate,
    duration: z.number().nullable().optional(),
    state: TaskInstanceState.nullable().optional(),
    try_number: z.number().int(),
    max_tries: z.number().int(),
    task_display_name: z.string(),
    dag_display_name: z.string(),
    hostname: nullableText,
    unixname: nullableText,
    pool: z.string(),
    pool_slots: z.number().int(),
    queue: nullableText,
    priority_weight: z.number().int().nullable().optional(),
    operator: nullableText,
    operator_name: nullableText,
    queued_when: nullableDate,
    scheduled_when: nullableDate,
    pid: z.number().int().nullable().optional(),
    executor: nullableText,
    executor_config: z.string(),
    note: nullableText,
    rendered_map_index: nullableText,
    rendered_fields: z.record(z.string(), z.unknown()),
  })
  .openapi('TaskInstanceResponse');

/** Airflow's `TaskInstanceCollectionSchema`. */
export const TaskInstanceCollectionSchema = z
  .object({ task_instances: z.array(TaskInstanceSchema), total_entries: z.number().int() })
  .openapi('TaskInstanceCollectionResponse');

const StructuredLogSchema = z
  .object({ timestamp: z.string().optional(), event: z.string() })
  .openapi('StructuredLogMessage');

const LogSchema = z
  .object({
    content: z.union([z.array(StructuredLogSchema), z.array(z.string())]),
    continuation_token: z.string().nullable().optional(),
  })
  .openapi('TaskInstancesLogResponse');

const ImportErrorSchema = z
  .object({
    import_error_id: z.number().int(),
    timestamp: z.string(),
    filename: z.string(),
    bundle_name: nullableText,
    stack_trace: z.string(),
  })
  .openapi('ImportErrorResponse');

const ImportErrorCollectionSchema = z
  .object({ import_errors: z.array(ImportErrorSchema), total_entries: z.number().int() })
  .openapi('ImportErrorCollectionResponse');

// --- views ---------------------------------------------------------------------------------------

/**
 * A DAG's params as Airflow serializes them (`airflow.models.param.Param`: default value,
 * description, JSON schema), for `/api/v1` and `/api/v2` alike.
 */
export function airflowParams(d: DagInfo): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(d.params).map(([name, spec]) => [
      name,
      {
        __class: 'airflow.models.param.Param',
        value: spec.default ?? null,
        description: spec.description ?? null,
        schema: spec,
      },
    ]),
  );
}

/**
 * A DAG as Airflow 3's `DAGResponse`: its pause state and next run from the store's DAG row
 * (`undefined` before a discovery recorded it: paused, as a new DAG starts by default).
 */
export function dagView(d: DagInfo, bag: DagBagInfo, state: DagStateRecord | undefined) {
  return {
    dag_id: d.dagId,
    dag_display_name: d.dagId,
    is_paused: state?.isPaused ?? true,
    is_stale: false,
    last_parsed_time: iso(state?.lastParsedAt),
    last_parse_duration: null,
    last_expired: null,
    bundle_name: null,
    bundle_version: null,
    relative_fileloc: d.fileloc,
    fileloc: d.fileloc,
    description: d.description,
    timetable_summary: d.schedule,
    timetable_description: d.schedule ?? 'Never, external triggers only',
    timetable_partitioned: false,
    tags: d.tags.map((name) => ({ name, dag_id: d.dagId, dag_display_name: d.dagId })),
    max_active_tasks: MAX_ACTIVE_TASKS,
    max_active_runs: d.maxActiveRuns,
    max_consecutive_failed_dag_runs: 0,
    has_task_concurrency_limits: false,
    has_import_errors: bag.errors.some((e) => e.file === d.fileloc),
    next_dagrun_logical_date: iso(state?.nextDagrun),
    next_dagrun_data_interval_start: iso(state?.nextDagrunDataIntervalStart),
    next_dagrun_data_interval_end: iso(state?.nextDagrunDataIntervalEnd),
    next_dagrun_run_after: iso(state?.nextDagrunCreateAfter),
    allowed_run_types: null,
    owners: ['airflow'],
    file_token: Buffer.from(d.fileloc).toString('base64url'),
  };
}

function timeDelta(seconds: number) {
  const whole = Math.floor(seconds);
  return {
    __type: 'TimeDelta',
    days: Math.floor(whole / 86_400),
    seconds: whole % 86_400,
    microseconds: Math.round((seconds - whole) * 1e6),
  };
}

function taskView(t: TaskInfo) {
  return {
    task_id: t.taskId,
    task_display_name: t.taskId,
    owner: 'airflow',
    start_date: null,
    end_date: null,
    trigger_rule: t.triggerRule,
    depends_on_past: false,
    wait_for_downstream: false,
    retries: t.retries,
    queue: 'default',
    pool: 'default_pool',
    pool_slots: 1,
    execution_timeout: t.timeoutSeconds === null ? null : timeDelta(t.timeoutSeconds),
    retry_delay: timeDelta(t.retryDelaySeconds),
    // Airflow 3's multiplier: 0 when off, 2 (`True`'s) when on.
    retry_exponential_backoff: t.retryExponentialBackoff ? 2 : 0,
    priority_weight: 1,
    weight_rule: 'downstream',
    ui_color: '#fff',
    ui_fgcolor: '#000',
    template_fields: [] as string[],
    downstream_task_ids: [...t.downstream],
    doc_md: t.description,
    operator_name: null,
    params: {},
    class_ref: null,
    is_mapped: false,
    extra_links: [] as string[],
  };
}

/** Airflow's `triggered_by` for a run: from its type, or the channel the store recorded. */
function triggeredByOf(run: DagRunRecord): z.infer<typeof TriggeredBy> | null {
  if (run.runType === 'scheduled') return 'timetable';
  if (run.runType === 'backfill') return 'backfill';
  if (run.runType === 'asset_triggered') return 'asset';
  if (run.triggeredBy === 'cli' || run.triggeredBy === 'test') return run.triggeredBy;
  return run.triggeredBy ? 'rest_api' : null;
}

/** A task instance of a run, with its run; Airflow's 404 when either does not exist. */
export async function taskInstanceOr404(
  api: PipelineApi,
  dagId: string,
  runId: string,
  taskId: string,
): Promise<{ run: DagRunRecord; ti: TaskInstanceRecord }> {
  const run = await api.runOr404(dagId, runId);
  const ti = await api.store.getTaskInstance(run.dagId, run.runId, taskId);
  if (!ti) {
    throw notFound(
      `The Task Instance with dag_id: \`${dagId}\`, run_id: \`${runId}\`, task_id: \`${taskId}\` and map_index: \`-1\` was not found`,
    );
  }
  return { run, ti };
}

/** When a run was due: a scheduled run after its data interval, any other at its logical date. */
export function runAfter(run: DagRunRecord): number {
  return run.runType === 'scheduled' ? (run.dataIntervalEnd ?? run.logicalDate) : run.logicalDate;
}

/** A run as Airflow 3's `DAGRunResponse`, its conf as `user` may see it. */
export function runView(api: PipelineApi, user: AuthUser, run: DagRunRecord) {
  const runType = DagRunType.safeParse(run.runType);
  const byChannel = run.triggeredBy === 'cli' || run.triggeredBy === 'test';
  return {
    dag_run_id: run.runId,
    dag_id: run.dagId,
    logical_date: iso(run.logicalDate),
    queued_at: iso(run.queuedAt),
    start_date: iso(run.startDate),
    end_date: iso(run.endDate),
    duration:
      run.startDate !== null && run.endDate !== null ? (run.endDate - run.startDate) / 1000 : null,
    data_interval_start: iso(run.dataIntervalStart ?? run.logicalDate),
    data_interval_end: iso(run.dataIntervalEnd ?? run.logicalDate),
    run_after: iso(runAfter(run)) as string,
    last_scheduling_decision: null,
    run_type: runType.success ? runType.data : 'manual',
    state: run.state,
    triggered_by: triggeredByOf(run),
    triggering_user_name: byChannel ? null : run.triggeredBy,
    conf: { ...api.visibleConf(user, run.conf) },
    note: run.note,
    dag_versions: [] as Record<string, unknown>[],
    bundle_version: null,
    dag_display_name: run.dagId,
    partition_key: null,
  };
}

/** A stable UUID-shaped id for a task instance (Airflow 3's ids are UUIDs). */
function tiId(ti: TaskInstanceRecord): string {
  const hex = createHash('sha256').update(`${ti.dagId}\0${ti.runId}\0${ti.taskId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A task instance as Airflow 3's `TaskInstanceResponse`. */
export function tiView(run: DagRunRecord, ti: TaskInstanceRecord) {
  const state = TaskInstanceState.safeParse(ti.state);
  return {
    id: tiId(ti),
    task_id: ti.taskId,
    dag_id: ti.dagId,
    dag_run_id: ti.runId,
    map_index: -1,
    logical_date: iso(run.logicalDate),
    run_after: iso(runAfter(run)) as string,
    start_date: iso(ti.startDate),
    end_date: iso(ti.endDate),
    duration:
      ti.startDate !== null && ti.endDate !== null ? (ti.endDate - ti.startDate) / 1000 : null,
    state: state.success ? state.data : null,
    try_number: ti.tryNumber,
    max_tries: ti.maxTries - 1,
    task_display_name: ti.taskId,
    dag_display_name: ti.dagId,
    hostname: ti.hostname,
    unixname: null,
    pool: 'default_pool',
    pool_slots: 1,
    queue: 'default',
    priority_weight: 1,
    operator: null,
    operator_name: null,
    queued_when: null,
    scheduled_when: null,
    pid: ti.pid,
    executor: null,
    executor_config: '{}',
    note: ti.note,
    rendered_map_index: null,
    rendered_fields: {},
  };
}

// --- filters -------------------------------------------------------------------------------------

type Range = Readonly<Record<string, unknown>>;

/** Whether `ms` lies in the `<name>_gte/_gt/_lte/_lt` bounds of `query`. */
function inRange(query: Range, name: string, ms: number | null): boolean {
  const bound = (suffix: string) => {
    const v = query[`${name}_${suffix}`];
    return typeof v === 'string' && v !== '' ? Date.parse(v) : undefined;
  };
  const [gte, gt, lte, lt] = [bound('gte'), bound('gt'), bound('lte'), bound('lt')];
  if (gte === undefined && gt === undefined && lte === undefined && lt === undefined) return true;
  if (ms === null) return false;
  return (
    (gte === undefined || ms >= gte) &&
    (gt === undefined || ms > gt) &&
    (lte === undefined || ms <= lte) &&
    (lt === undefined || ms < lt)
  );
}

const RUN_ORDER: Readonly<Record<string, (r: DagRunRecord) => unknown>> = {
  id: (r) => r.queuedAt,
  state: (r) => r.state,
  dag_id: (r) => r.dagId,
  run_id: (r) => r.runId,
  dag_run_id: (r) => r.runId,
  logical_date: (r) => r.logicalDate,
  run_after: runAfter,
  start_date: (r) => r.startDate,
  end_date: (r) => r.endDate,
  updated_at: (r) => r.endDate ?? r.startDate ?? r.queuedAt,
  conf: (r) => JSON.stringify(r.conf),
  duration: (r) => (r.startDate !== null && r.endDate !== null ? r.endDate - r.startDate : null),
  run_type: (r) => r.runType,
  data_interval_start: (r) => r.dataIntervalStart ?? r.logicalDate,
  data_interval_end: (r) => r.dataIntervalEnd ?? r.logicalDate,
};

/** Every run of `dagId` (`~`: of every DAG). */
async function allRuns(api: PipelineApi, dagId: string): Promise<DagRunRecord[]> {
  const out: DagRunRecord[] = [];
  const pageSize = 1000;
  for (let offset = 0; ; offset += pageSize) {
    const { runs } = await api.store.listRuns({
      ...(dagId === '~' ? {} : { dagId }),
      limit: pageSize,
      offset,
    });
    out.push(...runs);
    if (runs.length < pageSize) return out;
  }
}

// --- logs ----------------------------------------------------------------------------------------

/** A log continuation token: where the next read starts (opaque to clients). */
export function logContinuationToken(pos: number, end: boolean): string {
  return Buffer.from(JSON.stringify({ log_pos: pos, end_of_log: end })).toString('base64url');
}

/**
 * The line a log continuation token points at (0 without one).
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_BAD_REQUEST` for a token this server did not make.
 */
export function logPosition(token: string | undefined): number {
  if (!token) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      log_pos?: unknown;
    };
    if (typeof parsed.log_pos === 'number' && Number.isSafeInteger(parsed.log_pos)) {
      return Math.max(parsed.log_pos, 0);
    }
  } catch {
    // fall through
  }
  throw new AirlockError(
    'AIRLOCK_ERR_HTTP_BAD_REQUEST',
    'Bad Signature. Please use only the tokens provided by the API.',
  );
}

/** `[<ISO>] text` lines as Airflow 3's structured messages. */
function structured(lines: readonly string[]): { timestamp?: string; event: string }[] {
  return lines.map((line) => {
    const m = /^\[(\d{4}-\d\d-\d\dT[^\]]+)\] ?(.*)$/s.exec(line);
    return m ? { timestamp: m[1] as string, event: m[2] as string } : { event: line };
  });
}

// --- routes --------------------------------------------------------------------------------------

/** The path parameters of the DAG operations. */
export const dagParam = { dag_id: z.string().openapi({ param: { name: 'dag_id', in: 'path' } }) };
export const runParam = {
  ...dagParam,
  dag_run_id: z.string().openapi({ param: { name: 'dag_run_id', in: 'path' } }),
};
export const tiParam = {
  ...runParam,
  task_id: z.string().openapi({ param: { name: 'task_id', in: 'path' } }),
};
const bool = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .optional()
  .openapi({ type: 'boolean' });

/** The DAG filters of `GET /dags` and `PATCH /dags` (Airflow's names). */
export const dagFilterQuery = {
  ...pageQuery,
  tags: stringList,
  tags_match_mode: z.enum(['any', 'all']).nullable().optional(),
  owners: stringList,
  dag_id_pattern: z.string().nullable().optional(),
  exclude_stale: bool,
  paused: bool,
};
type DagFilter = {
  tags?: readonly string[] | undefined;
  tags_match_mode?: 'any' | 'all' | null | undefined;
  owners?: readonly string[] | undefined;
  dag_id_pattern?: string | null | undefined;
  dag_display_name_pattern?: string | null | undefined;
  paused?: boolean | undefined;
  has_import_errors?: boolean | undefined;
};

/** The discovered DAGs `q` selects (not paged), with the DAG rows they were matched on. */
export async function selectDags(api: PipelineApi, q: DagFilter) {
  const bag = await api.discover();
  const states = await api.store.dagStates();
  const idMatches = likeMatcher(q.dag_id_pattern);
  const nameMatches = likeMatcher(q.dag_display_name_pattern);
  const dags = bag.dags.filter((d) => {
    const tags = q.tags ?? [];
    const tagged =
      tags.length === 0 ||
      (q.tags_match_mode === 'all'
        ? tags.every((t) => d.tags.includes(t))
        : tags.some((t) => d.tags.includes(t)));
    const hasErrors = bag.errors.some((e) => e.file === d.fileloc);
    return (
      tagged &&
      idMatches(d.dagId) &&
      nameMatches(d.dagId) &&
      (!q.owners?.length || q.owners.includes('airflow')) &&
      (q.paused === undefined || q.paused === (states.get(d.dagId)?.isPaused ?? true)) &&
      (q.has_import_errors === undefined || q.has_import_errors === hasErrors)
    );
  });
  return { bag, states, dags };
}

/** Sorts and pages selected DAGs as `GET /dags` does. */
export function pageDags(
  dags: readonly DagInfo[],
  q: { order_by?: readonly string[] | undefined; limit: number; offset: number },
): DagInfo[] {
  return sortAndPage(
    dags,
    q,
    { dag_id: (d) => d.dagId, dag_display_name: (d) => d.dagId },
    'dag_id',
  );
}

const routes = {
  dags: createRoute({
    method: 'get',
    path: '/api/v2/dags',
    tags: ['DAG'],
    summary: 'Get Dags',
    security: SECURED,
    request: {
      query: z.object({
        ...dagFilterQuery,
        dag_display_name_pattern: z.string().nullable().optional(),
        has_import_errors: bool,
      }),
    },
    responses: { 200: jsonResponse(DagCollectionSchema), ...errorResponses(401, 403, 422) },
  }),
  dag: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}',
    tags: ['DAG'],
    summary: 'Get Dag',
    security: SECURED,
    request: { params: z.object(dagParam) },
    responses: { 200: jsonResponse(DagSchema), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  details: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/details',
    tags: ['DAG'],
    summary: 'Get Dag Details',
    security: SECURED,
    request: { params: z.object(dagParam) },
    responses: { 200: jsonResponse(DagDetailsSchema), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  tasks: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/tasks',
    tags: ['Task'],
    summary: 'Get Tasks',
    security: SECURED,
    request: { params: z.object(dagParam), query: z.object({ order_by: z.string().optional() }) },
    responses: {
      200: jsonResponse(TaskCollectionSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  task: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/tasks/{task_id}',
    tags: ['Task'],
    summary: 'Get Task',
    security: SECURED,
    request: {
      params: z.object({
        ...dagParam,
        task_id: z.string().openapi({ param: { name: 'task_id', in: 'path' } }),
      }),
    },
    responses: { 200: jsonResponse(TaskSchema), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  trigger: createRoute({
    method: 'post',
    path: '/api/v2/dags/{dag_id}/dagRuns',
    tags: ['DagRun'],
    summary: 'Trigger Dag Run',
    security: SECURED,
    request: {
      params: z.object(dagParam),
      body: { content: { 'application/json': { schema: TriggerBodySchema } }, required: true },
    },
    responses: {
      200: jsonResponse(DagRunSchema),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  runs: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns',
    tags: ['DagRun'],
    summary: 'Get Dag Runs',
    description: '`~` as `dag_id` lists the runs of every DAG.',
    security: SECURED,
    request: {
      params: z.object(dagParam),
      query: z.object({
        ...pageQuery,
        ...dateRange('run_after'),
        ...dateRange('logical_date'),
        ...dateRange('start_date'),
        ...dateRange('end_date'),
        run_type: stringList,
        state: stringList,
        run_id_pattern: z.string().nullable().optional(),
        triggering_user_name_pattern: z.string().nullable().optional(),
        dag_id_pattern: z.string().nullable().optional(),
      }),
    },
    responses: {
      200: jsonResponse(DagRunCollectionSchema),
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  runsBatch: createRoute({
    method: 'post',
    path: '/api/v2/dags/{dag_id}/dagRuns/list',
    tags: ['DagRun'],
    summary: 'Get List Dag Runs Batch',
    description: 'Only `~` as `dag_id`: the runs of the DAGs `dag_ids` names (every DAG without).',
    security: SECURED,
    request: {
      params: z.object(dagParam),
      body: { content: { 'application/json': { schema: RunsBatchSchema } }, required: true },
    },
    responses: {
      200: jsonResponse(DagRunCollectionSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  run: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
    tags: ['DagRun'],
    summary: 'Get Dag Run',
    security: SECURED,
    request: { params: z.object(runParam) },
    responses: { 200: jsonResponse(DagRunSchema), ...errorResponses(401, 403, 404, 422) },
  }),
  taskInstances: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances',
    tags: ['Task Instance'],
    summary: 'Get Task Instances',
    security: SECURED,
    request: {
      params: z.object(runParam),
      query: z.object({
        ...pageQuery,
        state: stringList,
        task_id: z.string().nullable().optional(),
      }),
    },
    responses: {
      200: jsonResponse(TaskInstanceCollectionSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  taskInstance: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
    tags: ['Task Instance'],
    summary: 'Get Task Instance',
    security: SECURED,
    request: { params: z.object(tiParam) },
    responses: { 200: jsonResponse(TaskInstanceSchema), ...errorResponses(401, 403, 404, 422) },
  }),
  log: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}',
    tags: ['Task Instance'],
    summary: 'Get Log',
    security: SECURED,
    request: {
      params: z.object({
        ...tiParam,
        try_number: z
          .string()
          .openapi({ param: { name: 'try_number', in: 'path' }, type: 'integer' }),
      }),
      query: z.object({
        full_content: bool,
        map_index: z.coerce.number().int().default(-1).openapi({ type: 'integer' }),
        token: z.string().nullable().optional(),
      }),
      headers: z.object({
        accept: z.string().optional(),
      }),
    },
    responses: {
      200: {
        description: 'Successful Response',
        content: {
          'application/json': { schema: LogSchema },
          'text/plain': { schema: z.string() },
          'application/x-ndjson': { schema: z.string() },
        },
      },
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  importErrors: createRoute({
    method: 'get',
    path: '/api/v2/importErrors',
    tags: ['Import Error'],
    summary: 'Get Import Errors',
    security: SECURED,
    request: {
      query: z.object({ ...pageQuery, filename_pattern: z.string().nullable().optional() }),
    },
    responses: {
      200: jsonResponse(ImportErrorCollectionSchema),
      ...errorResponses(401, 403, 422),
    },
  }),
  importError: createRoute({
    method: 'get',
    path: '/api/v2/importErrors/{import_error_id}',
    tags: ['Import Error'],
    summary: 'Get Import Error',
    security: SECURED,
    request: {
      params: z.object({
        import_error_id: z.coerce
          .number()
          .int()
          .openapi({ param: { name: 'import_error_id', in: 'path' }, type: 'integer' }),
      }),
    },
    responses: { 200: jsonResponse(ImportErrorSchema), ...errorResponses(401, 403, 404, 422) },
  }),
};

/** The filters of a runs list (Airflow 3's names). */
export type RunQuery = Range & {
  state?: readonly (string | null)[] | undefined;
  run_type?: readonly string[] | undefined;
  run_id_pattern?: string | null | undefined;
  triggering_user_name_pattern?: string | null | undefined;
  dag_id_pattern?: string | null | undefined;
  dag_ids?: readonly string[] | null | undefined;
  conf_contains?: string | null | undefined;
};

function runMatches(run: DagRunRecord, q: RunQuery): boolean {
  return (
    inRange(q, 'run_after', runAfter(run)) &&
    inRange(q, 'logical_date', run.logicalDate) &&
    inRange(q, 'start_date', run.startDate) &&
    inRange(q, 'end_date', run.endDate) &&
    (!q.state?.length || q.state.includes(run.state)) &&
    (!q.run_type?.length || q.run_type.includes(run.runType)) &&
    (!q.dag_ids?.length || q.dag_ids.includes(run.dagId)) &&
    likeMatcher(q.run_id_pattern)(run.runId) &&
    likeMatcher(q.dag_id_pattern)(run.dagId) &&
    (!q.triggering_user_name_pattern ||
      likeMatcher(q.triggering_user_name_pattern)(run.triggeredBy ?? '')) &&
    (!q.conf_contains || JSON.stringify(run.conf).includes(q.conf_contains))
  );
}

/**
 * The runs of `dagId` (`~`: every DAG) that `query` selects, sorted by its `order_by` (newest
 * first by default) and paged; `total` counts every selected run.
 */
export async function selectRuns(
  api: PipelineApi,
  dagId: string,
  query: RunQuery & { order_by?: readonly string[] | undefined; limit: number; offset: number },
): Promise<{ runs: DagRunRecord[]; total: number }> {
  const runs = (await allRuns(api, dagId)).filter((r) => runMatches(r, query));
  return { runs: sortAndPage(runs, query, RUN_ORDER, 'id'), total: runs.length };
}

/**
 * Adds the DAG, DAG run, task instance, log and import error operations to `/api/v2`.
 *
 * @example
 * ```ts
 * registerDagsV2(deps.apiV2, deps, pipelineApi);
 * ```
 */
export function registerDagsV2(v2: ApiV2, deps: AppDeps, api: PipelineApi): void {
  registerDagOperationsV2(v2, api);
  registerRunsV2(v2, deps, api);
  registerImportErrorsV2(v2, deps, api);
}

/** DAGs and their tasks. */
function registerDagOperationsV2(v2: ApiV2, api: PipelineApi): void {
  v2.openapi(routes.dags, async (c) => {
    const q = c.req.valid('query');
    const { bag, states, dags } = await selectDags(api, q);
    const page = pageDags(dags, q);
    return c.json(
      { dags: page.map((d) => dagView(d, bag, states.get(d.dagId))), total_entries: dags.length },
      200,
    );
  });

  v2.openapi(routes.dag, async (c) => {
    const d = await api.dagOr404(c.req.valid('param').dag_id);
    return c.json(dagView(d, await api.discover(), await api.store.dagState(d.dagId)), 200);
  });

  v2.openapi(routes.details, async (c) => {
    const d = await api.dagOr404(c.req.valid('param').dag_id);
    const runs = await allRuns(api, d.dagId);
    return c.json(
      {
        ...dagView(d, await api.discover(), await api.store.dagState(d.dagId)),
        catchup: d.catchup,
        dag_run_timeout: null,
        asset_expression: null,
        doc_md: d.description,
        start_date: iso(d.startDate),
        end_date: iso(d.endDate),
        is_paused_upon_creation: d.isPausedUponCreation,
        params: airflowParams(d),
        render_template_as_native_obj: false,
        template_search_path: null,
        timezone: d.timezone,
        last_parsed: iso(api.discoveredAt()),
        default_args: null,
        owner_links: null,
        is_favorite: false,
        active_runs_count: runs.filter((r) => r.state === 'running' || r.state === 'queued').length,
        concurrency: MAX_ACTIVE_TASKS,
      },
      200,
    );
  });

  v2.openapi(routes.tasks, async (c) => {
    const d = await api.dagOr404(c.req.valid('param').dag_id);
    const order = c.req.valid('query').order_by ?? 'task_id';
    const tasks = sortAndPage(
      d.tasks,
      { order_by: [order], limit: d.tasks.length, offset: 0 },
      { task_id: (t) => t.taskId, retries: (t) => t.retries },
      'task_id',
    );
    return c.json({ tasks: tasks.map(taskView), total_entries: tasks.length }, 200);
  });

  v2.openapi(routes.task, async (c) => {
    const { dag_id, task_id } = c.req.valid('param');
    const task = (await api.dagOr404(dag_id)).tasks.find((t) => t.taskId === task_id);
    if (!task) throw notFound(`Task ${task_id} not found`);
    return c.json(taskView(task), 200);
  });
}

/** DAG runs, task instances and logs. */
function registerRunsV2(v2: ApiV2, deps: AppDeps, api: PipelineApi): void {
  v2.openapi(routes.trigger, async (c) => {
    const body = c.req.valid('json');
    const logical = body.logical_date ?? body.run_after;
    let run: DagRunRecord;
    try {
      run = await api.trigger(c, c.req.valid('param').dag_id, body.conf ?? {}, {
        runId: body.dag_run_id ?? undefined,
        logicalDate: logical ? Date.parse(logical) : undefined,
        note: body.note ?? null,
      });
    } catch (err) {
      throw asTriggerHttpError(err);
    }
    return c.json(runView(api, c.get('user'), run), 200);
  });

  v2.openapi(routes.runs, async (c) => {
    const { dag_id } = c.req.valid('param');
    const q = c.req.valid('query');
    if (dag_id !== '~') await api.dagOr404(dag_id);
    const { runs, total } = await selectRuns(api, dag_id, q);
    const user = c.get('user');
    return c.json({ dag_runs: runs.map((r) => runView(api, user, r)), total_entries: total }, 200);
  });

  v2.openapi(routes.runsBatch, async (c) => {
    const { dag_id } = c.req.valid('param');
    if (dag_id !== '~') {
      throw new AirlockError(
        'AIRLOCK_ERR_HTTP_BAD_REQUEST',
        'the batch list takes `~` as dag_id; name the DAGs in `dag_ids`',
      );
    }
    const b = c.req.valid('json');
    const runs = (await allRuns(api, '~')).filter((r) =>
      runMatches(r, { ...b, state: b.states ?? undefined }),
    );
    const page = sortAndPage(
      runs,
      {
        order_by: b.order_by ? [b.order_by] : undefined,
        limit: b.page_limit,
        offset: b.page_offset,
      },
      RUN_ORDER,
      'id',
    );
    const user = c.get('user');
    return c.json(
      { dag_runs: page.map((r) => runView(api, user, r)), total_entries: runs.length },
      200,
    );
  });

  v2.openapi(routes.run, async (c) => {
    const { dag_id, dag_run_id } = c.req.valid('param');
    const run = await api.runOr404(dag_id, dag_run_id);
    return c.json(runView(api, c.get('user'), run), 200);
  });

  v2.openapi(routes.taskInstances, async (c) => {
    const { dag_id, dag_run_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const run = await api.runOr404(dag_id, dag_run_id);
    const tis = (await api.store.taskInstances(run.dagId, run.runId)).filter(
      (ti) =>
        (!q.state?.length || q.state.includes(ti.state ?? 'none')) &&
        (!q.task_id || ti.taskId === q.task_id),
    );
    const page = sortAndPage(
      tis,
      q,
      {
        id: (ti) => ti.id,
        task_id: (ti) => ti.taskId,
        state: (ti) => ti.state,
        start_date: (ti) => ti.startDate,
        end_date: (ti) => ti.endDate,
        try_number: (ti) => ti.tryNumber,
        map_index: () => -1,
      },
      'id',
    );
    return c.json(
      { task_instances: page.map((ti) => tiView(run, ti)), total_entries: tis.length },
      200,
    );
  });

  v2.openapi(routes.taskInstance, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    return c.json(tiView(run, ti), 200);
  });

  v2.openapi(routes.log, async (c) => {
    const p = c.req.valid('param');
    const q = c.req.valid('query');
    if (q.map_index !== -1) throw notFound('airlock task instances are not mapped (map_index -1)');
    const { text } = await api.tryLog(p.dag_id, p.dag_run_id, p.task_id, p.try_number);
    const lines = (text === undefined ? '' : deps.masker.redact(text))
      .split('\n')
      .filter((l) => l !== '');
    const from = q.full_content ? 0 : logPosition(q.token ?? undefined);
    const chunk = lines.slice(from);
    const accept = c.req.valid('header').accept ?? '';
    if (accept.includes('text/plain')) {
      return c.text(chunk.map((l) => `${l}\n`).join(''), 200);
    }
    if (accept.includes('application/x-ndjson')) {
      const ndjson = structured(chunk).map((m) => `${JSON.stringify(m)}\n`);
      return c.text(ndjson.join(''), 200, { 'Content-Type': 'application/x-ndjson' });
    }
    return c.json(
      {
        content: structured(chunk),
        continuation_token: logContinuationToken(lines.length, text !== undefined),
      },
      200,
    );
  });
}

/**
 * The import errors of the current discovery, masked (ids count from 1 in file order; both API
 * versions answer with them).
 */
export async function importErrorsOf(deps: AppDeps, api: PipelineApi) {
  const bag = await api.discover();
  const timestamp = iso(api.discoveredAt()) as string;
  return bag.errors.map((e, i) => ({
    import_error_id: i + 1,
    timestamp,
    filename: e.file,
    bundle_name: null,
    stack_trace: deps.masker.redact(e.message),
  }));
}

/** Import errors of the current discovery. */
function registerImportErrorsV2(v2: ApiV2, deps: AppDeps, api: PipelineApi): void {
  const importErrors = () => importErrorsOf(deps, api);

  v2.openapi(routes.importErrors, async (c) => {
    const q = c.req.valid('query');
    const matches = likeMatcher(q.filename_pattern);
    const errors = (await importErrors()).filter((e) => matches(e.filename));
    const page = sortAndPage(
      errors,
      q,
      {
        id: (e) => e.import_error_id,
        import_error_id: (e) => e.import_error_id,
        timestamp: (e) => e.timestamp,
        filename: (e) => e.filename,
      },
      'id',
    );
    return c.json({ import_errors: page, total_entries: errors.length }, 200);
  });

  v2.openapi(routes.importError, async (c) => {
    const id = c.req.valid('param').import_error_id;
    const found = (await importErrors()).find((e) => e.import_error_id === id);
    if (!found) throw notFound(`The ImportError with import_error_id: \`${id}\` was not found`);
    return c.json(found, 200);
  });
}
