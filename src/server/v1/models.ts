/**
 * @module server/v1/models
 * The bodies `/api/v1` answers and accepts, as zod schemas under Airflow 2's component names,
 * each compatible with Airflow 2.10's published schema of that name (a test compares them; the
 * fields Airflow has and airlock has no concept of are absent or take Airflow's neutral value).
 */
import { z } from '@hono/zod-openapi';
import { dateTime, nullableDateTime, totalEntries } from './schemas.ts';

const text = z.string().nullable();

// --- Variables and Connections ---------------------------------------------------------------

export const VariableCollectionItemSchema = z
  .object({ key: z.string(), description: text })
  .openapi('VariableCollectionItem');
export const VariableSchema = z
  .object({ key: z.string(), description: text, value: z.string() })
  .openapi('Variable');
/** A list row: `value` (masked as the role needs), `unreadable` for a row no key decrypts. */
export const VariableCollectionSchema = z
  .object({
    variables: z.array(
      VariableSchema.extend({
        unreadable: z.string().optional().openapi({ description: 'airlock: the error code' }),
      }),
    ),
    ...totalEntries,
  })
  .openapi('VariableCollection');
export const VariableBodySchema = z
  .object({
    key: z.string().optional(),
    value: z.string().optional(),
    description: z.string().nullable().optional(),
  })
  .openapi('VariableBody');

const connectionItem = {
  connection_id: z.string(),
  conn_type: z.string(),
  description: text,
  host: text,
  login: text,
  schema: text,
  port: z.number().int().nullable(),
};
export const ConnectionCollectionItemSchema = z
  .object({
    ...connectionItem,
    unreadable: z.string().optional().openapi({ description: 'airlock: the error code' }),
  })
  .openapi('ConnectionCollectionItem');
/** A Connection: `password` is write-only (accepted, never returned). */
export const ConnectionSchema = z.object({ ...connectionItem, extra: text }).openapi('Connection');
export const ConnectionCollectionSchema = z
  .object({ connections: z.array(ConnectionCollectionItemSchema), ...totalEntries })
  .openapi('ConnectionCollection');
export const ConnectionBodySchema = z
  .object({
    connection_id: z.string().optional(),
    conn_type: z.string().optional(),
    description: text.optional(),
    host: text.optional(),
    login: text.optional(),
    schema: text.optional(),
    // A string is read as Python's `int()` reads it; a bad port is AIRLOCK_ERR_CONN_PORT_INVALID.
    port: z.union([z.number(), z.string()]).nullable().optional(),
    password: text.optional().openapi({ writeOnly: true, format: 'password' }),
    extra: text.optional(),
  })
  .openapi('ConnectionBody');
export const ConnectionTestSchema = z
  .object({ status: z.boolean(), message: z.string() })
  .openapi('ConnectionTest');

// --- health, version, config -----------------------------------------------------------------

const HealthStatus = z.enum(['healthy', 'unhealthy']).nullable().openapi('HealthStatus');
export const HealthInfoSchema = z
  .object({
    metadatabase: z.object({ status: HealthStatus }).openapi('MetadatabaseStatus'),
    scheduler: z
      .object({ status: HealthStatus, latest_scheduler_heartbeat: nullableDateTime })
      .openapi('SchedulerStatus'),
    triggerer: z
      .object({ status: HealthStatus, latest_triggerer_heartbeat: nullableDateTime })
      .openapi('TriggererStatus'),
    dag_processor: z
      .object({ status: HealthStatus, latest_dag_processor_heartbeat: nullableDateTime })
      .openapi('DagProcessorStatus'),
    status: HealthStatus.openapi({ description: 'airlock: the overall status' }),
    metastore: z
      .object({ status: HealthStatus, dialect: z.enum(['sqlite', 'postgres']) })
      .openapi({ description: "airlock: the metastore's status and dialect" }),
  })
  .openapi('HealthInfo');
export const VersionInfoSchema = z
  .object({ version: z.string(), git_version: z.string().nullable() })
  .openapi('VersionInfo');
export const ConfigSchema = z
  .object({
    sections: z.array(
      z
        .object({
          name: z.string(),
          options: z.array(
            z.object({ key: z.string(), value: z.string() }).openapi('ConfigOption'),
          ),
        })
        .openapi('ConfigSection'),
    ),
  })
  .openapi('Config');

// --- DAGs, runs, task instances --------------------------------------------------------------

export const TagSchema = z.object({ name: z.string() }).openapi('Tag');
export const DagSchema = z
  .object({
    dag_id: z.string(),
    dag_display_name: z.string(),
    root_dag_id: text,
    is_paused: z.boolean().nullable(),
    is_active: z.boolean().nullable(),
    is_subdag: z.boolean(),
    last_parsed_time: nullableDateTime,
    last_pickled: nullableDateTime,
    last_expired: nullableDateTime,
    scheduler_lock: z.boolean().nullable(),
    pickle_id: text,
    default_view: text,
    fileloc: z.string(),
    file_token: z.string(),
    owners: z.array(z.string()),
    description: text,
    schedule_interval: z
      .object({ __type: z.literal('CronExpression'), value: z.string() })
      .nullable()
      .openapi('ScheduleInterval'),
    timetable_description: text,
    tags: z.array(TagSchema),
    max_active_tasks: z.number().int().nullable(),
    max_active_runs: z.number().int().nullable(),
    max_consecutive_failed_dag_runs: z.number().int().nullable(),
    has_task_concurrency_limits: z.boolean().nullable(),
    has_import_errors: z.boolean().nullable(),
    next_dagrun: nullableDateTime,
    next_dagrun_data_interval_start: nullableDateTime,
    next_dagrun_data_interval_end: nullableDateTime,
    next_dagrun_create_after: nullableDateTime,
    timezone: z.string().openapi({ description: "airlock: the DAG's time zone" }),
    start_date: nullableDateTime.openapi({ description: "airlock: the DAG's start date" }),
    end_date: nullableDateTime.openapi({ description: "airlock: the DAG's end date" }),
    catchup: z.boolean().openapi({ description: 'airlock: whether missed intervals run' }),
    params: z.record(z.string(), z.unknown()).openapi({ description: 'airlock: the params' }),
    task_ids: z.array(z.string()).openapi({ description: "airlock: the DAG's tasks" }),
  })
  .openapi('DAG');
export const DagCollectionSchema = z
  .object({
    dags: z.array(DagSchema),
    ...totalEntries,
    import_errors: z
      .array(z.object({ filename: z.string(), stack_trace: z.string() }))
      .openapi({ description: 'airlock: the DAG files that did not load (masked)' }),
  })
  .openapi('DAGCollection');
export const DagPatchSchema = z.object({ is_paused: z.boolean() }).openapi('DAGPatch');

export const DagStateSchema = z
  .enum(['queued', 'running', 'success', 'failed'])
  .openapi('DagState');
export const DagRunSchema = z
  .object({
    dag_run_id: text,
    dag_id: z.string(),
    logical_date: nullableDateTime,
    execution_date: nullableDateTime,
    start_date: nullableDateTime,
    end_date: nullableDateTime,
    data_interval_start: nullableDateTime,
    data_interval_end: nullableDateTime,
    last_scheduling_decision: nullableDateTime,
    run_type: z.enum(['backfill', 'manual', 'scheduled', 'dataset_triggered']),
    state: DagStateSchema,
    external_trigger: z.boolean(),
    conf: z.record(z.string(), z.unknown()),
    note: text,
    queued_at: nullableDateTime.openapi({ description: 'airlock: when the run was queued' }),
    triggered_by: text.openapi({ description: 'airlock: who triggered the run' }),
  })
  .openapi('DAGRun');
export const DagRunCollectionSchema = z
  .object({ dag_runs: z.array(DagRunSchema), ...totalEntries })
  .openapi('DAGRunCollection');
export const TriggerDagRunSchema = z
  .object({
    dag_run_id: z.string().nullable().optional(),
    logical_date: z.string().nullable().optional().openapi({ format: 'date-time' }),
    execution_date: z.string().nullable().optional().openapi({ format: 'date-time' }),
    data_interval_start: z.string().nullable().optional().openapi({ format: 'date-time' }),
    data_interval_end: z.string().nullable().optional().openapi({ format: 'date-time' }),
    conf: z.record(z.string(), z.unknown()).optional(),
    note: z.string().nullable().optional(),
  })
  .openapi('TriggerDAGRun');
export const UpdateDagRunStateSchema = z
  .object({ state: z.enum(['success', 'failed', 'queued']) })
  .openapi('UpdateDagRunState');
export const SetDagRunNoteSchema = z.object({ note: z.string() }).openapi('SetDagRunNote');
export const ClearDagRunSchema = z
  .object({ dry_run: z.boolean().default(true) })
  .openapi('ClearDagRun');
export const ClearTaskInstancesSchema = z
  .object({
    dry_run: z.boolean().default(true),
    task_ids: z.array(z.string()).min(1).optional(),
    start_date: dateTime.optional(),
    end_date: dateTime.optional(),
    only_failed: z.boolean().default(true),
    only_running: z.boolean().default(false),
    include_subdags: z.boolean().optional(),
    include_parentdag: z.boolean().optional(),
    reset_dag_runs: z.boolean().optional(),
    dag_run_id: z.string().nullable().optional(),
    include_upstream: z.boolean().default(false),
    include_downstream: z.boolean().default(false),
    include_future: z.boolean().default(false),
    include_past: z.boolean().default(false),
  })
  .openapi('ClearTaskInstances');
export const TaskInstanceReferenceCollectionSchema = z
  .object({
    task_instances: z.array(
      z
        .object({
          task_id: z.string(),
          dag_id: z.string(),
          dag_run_id: z.string(),
          execution_date: dateTime,
        })
        .openapi('TaskInstanceReference'),
    ),
  })
  .openapi('TaskInstanceReferenceCollection');

export const TaskStateSchema = z
  .enum([
    'success',
    'running',
    'failed',
    'upstream_failed',
    'skipped',
    'up_for_retry',
    'up_for_reschedule',
    'queued',
    'none',
    'scheduled',
    'deferred',
    'removed',
    'restarting',
  ])
  .nullable()
  .openapi('TaskState');
const tiFields = {
  task_id: z.string(),
  task_display_name: z.string(),
  dag_id: z.string(),
  dag_run_id: z.string(),
  execution_date: dateTime,
  start_date: nullableDateTime,
  end_date: nullableDateTime,
  duration: z.number().nullable(),
  state: TaskStateSchema,
  try_number: z.number().int(),
  map_index: z.number().int(),
  max_tries: z.number().int(),
  hostname: z.string(),
  unixname: z.string(),
  pool: z.string(),
  pool_slots: z.number().int(),
  queue: text,
  priority_weight: z.number().int().nullable(),
  operator: text,
  queued_when: text,
  pid: z.number().int().nullable(),
  executor: text,
  executor_config: z.string(),
  note: text,
};
export const TaskInstanceSchema = z
  .object({ ...tiFields, rendered_map_index: text, rendered_fields: z.object({}) })
  .openapi('TaskInstance');
export const TaskInstanceCollectionSchema = z
  .object({ task_instances: z.array(TaskInstanceSchema), ...totalEntries })
  .openapi('TaskInstanceCollection');

export const XComCollectionItemSchema = z
  .object({
    key: z.string(),
    timestamp: dateTime,
    execution_date: dateTime,
    map_index: z.number().int(),
    task_id: z.string(),
    dag_id: z.string(),
    dag_run_id: z.string().openapi({ description: 'airlock: the run' }),
    logical_date: dateTime.openapi({ description: "airlock: the run's logical date" }),
  })
  .openapi('XComCollectionItem');
/** `value`: JSON text by default (`stringify`, Airflow 2.10's default), the data without. */
export const XComSchema = XComCollectionItemSchema.extend({
  value: z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.array(z.unknown()),
    z.record(z.string(), z.unknown()),
  ]),
}).openapi('XCom');
export const XComCollectionSchema = z
  .object({ xcom_entries: z.array(XComCollectionItemSchema), ...totalEntries })
  .openapi('XComCollection');

export const ImportErrorSchema = z
  .object({
    import_error_id: z.number().int(),
    timestamp: dateTime,
    filename: z.string(),
    stack_trace: z.string(),
  })
  .openapi('ImportError');
export const ImportErrorCollectionSchema = z
  .object({ import_errors: z.array(ImportErrorSchema), ...totalEntries })
  .openapi('ImportErrorCollection');
