/**
 * @module server/v1/dag-operations
 * The declarations (`createRoute`) of Airflow 2's DAG operations that airlock serves under
 * `/api/v1`: DAGs (list, bulk and single `PATCH`), DAG runs (list, trigger, get, state, note,
 * clear, delete), `clearTaskInstances`, task instances (list, get, tries), logs, XCom entries and
 * import errors. Each validates its request and is its entry in `/api/v1/openapi.json`; the
 * pipelines' route module answers them (`v1/dags.ts`, `v1/task-instances.ts`).
 */
import { createRoute, z } from '@hono/zod-openapi';
import {
  ClearDagRunSchema,
  ClearTaskInstancesSchema,
  DagCollectionSchema,
  DagPatchSchema,
  DagRunCollectionSchema,
  DagRunSchema,
  DagSchema,
  ImportErrorCollectionSchema,
  ImportErrorSchema,
  SetDagRunNoteSchema,
  TaskInstanceCollectionSchema,
  TaskInstanceReferenceCollectionSchema,
  TaskInstanceSchema,
  TriggerDagRunSchema,
  UpdateDagRunStateSchema,
  XComCollectionSchema,
  XComSchema,
} from './models.ts';
import {
  body,
  boolQuery,
  dateQuery,
  NO_CONTENT,
  ok,
  orderByQuery,
  pageQuery,
  pathParam,
  problems,
  repeated,
  updateMaskQuery,
} from './schemas.ts';

const dag = { dag_id: pathParam('dag_id') };
const run = { ...dag, dag_run_id: pathParam('dag_run_id') };
const ti = { ...run, task_id: pathParam('task_id') };
// Not checked here: a try the task instance does not have, however written, is a 404.
const tryNumber = z
  .string()
  .openapi({ param: { name: 'task_try_number', in: 'path' }, type: 'integer' });
const fields = repeated.openapi({
  description: 'The fields to return (all by default).',
});

/** The DAG, DAG run and task instance operations. */
export const DAG_V1 = {
  getDags: createRoute({
    method: 'get',
    path: '/api/v1/dags',
    operationId: 'get_dags',
    tags: ['DAG'],
    summary: 'List DAGs',
    request: {
      query: z.object({
        ...pageQuery,
        order_by: orderByQuery(['dag_id']),
        tags: repeated,
        only_active: boolQuery,
        paused: boolQuery,
        fields,
        dag_id_pattern: z.string().optional(),
      }),
    },
    responses: { 200: ok(DagCollectionSchema), ...problems(400, 401) },
  }),
  patchDags: createRoute({
    method: 'patch',
    path: '/api/v1/dags',
    operationId: 'patch_dags',
    tags: ['DAG'],
    summary: 'Pause or unpause the DAGs whose dag_id contains `dag_id_pattern` (`~`: every DAG)',
    request: {
      query: z.object({
        ...pageQuery,
        tags: repeated,
        update_mask: updateMaskQuery,
        only_active: boolQuery,
        dag_id_pattern: z.string(),
      }),
      body: body(DagPatchSchema),
    },
    responses: { 200: ok(DagCollectionSchema), ...problems(400, 401, 403, 404) },
  }),
  getDag: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}',
    operationId: 'get_dag',
    tags: ['DAG'],
    summary: 'Get basic information about a DAG',
    request: { params: z.object(dag), query: z.object({ fields }) },
    responses: { 200: ok(DagSchema), ...problems(400, 401, 403, 404) },
  }),
  patchDag: createRoute({
    method: 'patch',
    path: '/api/v1/dags/{dag_id}',
    operationId: 'patch_dag',
    tags: ['DAG'],
    summary: 'Pause or unpause a DAG',
    request: {
      params: z.object(dag),
      query: z.object({ update_mask: updateMaskQuery }),
      body: body(DagPatchSchema),
    },
    responses: { 200: ok(DagSchema), ...problems(400, 401, 403, 404) },
  }),
  clearTaskInstances: createRoute({
    method: 'post',
    path: '/api/v1/dags/{dag_id}/clearTaskInstances',
    operationId: 'post_clear_task_instances',
    tags: ['DAG'],
    summary: 'Clear a set of task instances (Airflow’s selection: dates, past, future, states)',
    request: { params: z.object(dag), body: body(ClearTaskInstancesSchema) },
    responses: { 200: ok(TaskInstanceReferenceCollectionSchema), ...problems(400, 401, 403, 404) },
  }),

  getDagRuns: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns',
    operationId: 'get_dag_runs',
    tags: ['DAGRun'],
    summary: 'List DAG runs (`~` as dag_id: of every DAG)',
    request: {
      params: z.object(dag),
      query: z.object({
        ...pageQuery,
        execution_date_gte: dateQuery,
        execution_date_lte: dateQuery,
        start_date_gte: dateQuery,
        start_date_lte: dateQuery,
        end_date_gte: dateQuery,
        end_date_lte: dateQuery,
        updated_at_gte: dateQuery,
        updated_at_lte: dateQuery,
        state: repeated,
        order_by: orderByQuery(['execution_date', 'start_date', 'end_date', 'dag_run_id']),
        fields,
      }),
    },
    responses: { 200: ok(DagRunCollectionSchema), ...problems(400, 401) },
  }),
  postDagRun: createRoute({
    method: 'post',
    path: '/api/v1/dags/{dag_id}/dagRuns',
    operationId: 'post_dag_run',
    tags: ['DAGRun'],
    summary: 'Trigger a new DAG run (at `logical_date`, or now)',
    request: { params: z.object(dag), body: body(TriggerDagRunSchema, false) },
    responses: { 200: ok(DagRunSchema), ...problems(400, 401, 403, 404, 409) },
  }),
  getDagRun: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}',
    operationId: 'get_dag_run',
    tags: ['DAGRun'],
    summary: 'Get a DAG run',
    request: { params: z.object(run), query: z.object({ fields }) },
    responses: { 200: ok(DagRunSchema), ...problems(401, 403, 404) },
  }),
  updateDagRunState: createRoute({
    method: 'patch',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}',
    operationId: 'update_dag_run_state',
    tags: ['DAGRun'],
    summary: 'Mark a DAG run success or failed, or queue it to run again',
    request: { params: z.object(run), body: body(UpdateDagRunStateSchema) },
    responses: { 200: ok(DagRunSchema), ...problems(400, 401, 403, 404) },
  }),
  deleteDagRun: createRoute({
    method: 'delete',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}',
    operationId: 'delete_dag_run',
    tags: ['DAGRun'],
    summary: 'Delete a DAG run and its task instances',
    request: { params: z.object(run) },
    responses: { 204: NO_CONTENT, ...problems(400, 401, 403, 404) },
  }),
  clearDagRun: createRoute({
    method: 'post',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/clear',
    operationId: 'clear_dag_run',
    tags: ['DAGRun'],
    summary: 'Clear every task instance of a DAG run (`dry_run`: only list them)',
    request: { params: z.object(run), body: body(ClearDagRunSchema) },
    responses: {
      200: ok(z.union([DagRunSchema, TaskInstanceReferenceCollectionSchema])),
      ...problems(400, 401, 403, 404),
    },
  }),
  setDagRunNote: createRoute({
    method: 'patch',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/setNote',
    operationId: 'set_dag_run_note',
    tags: ['DAGRun'],
    summary: "Set a DAG run's note",
    request: { params: z.object(run), body: body(SetDagRunNoteSchema) },
    responses: { 200: ok(DagRunSchema), ...problems(400, 401, 403, 404) },
  }),

  getTaskInstances: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances',
    operationId: 'get_task_instances',
    tags: ['TaskInstance'],
    summary: 'List the task instances of a DAG run',
    request: { params: z.object(run), query: z.object(pageQuery) },
    responses: { 200: ok(TaskInstanceCollectionSchema), ...problems(400, 401, 403, 404) },
  }),
  getTaskInstance: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
    operationId: 'get_task_instance',
    tags: ['TaskInstance'],
    summary: 'Get a task instance',
    request: { params: z.object(ti) },
    responses: { 200: ok(TaskInstanceSchema), ...problems(401, 403, 404) },
  }),
  getTries: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries',
    operationId: 'get_task_instance_tries',
    tags: ['TaskInstance'],
    summary: 'List the tries of a task instance, each with its own details',
    request: {
      params: z.object(ti),
      query: z.object({ ...pageQuery, order_by: orderByQuery(['try_number', 'start_date']) }),
    },
    responses: { 200: ok(TaskInstanceCollectionSchema), ...problems(400, 401, 403, 404) },
  }),
  getTry: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries/{task_try_number}',
    operationId: 'get_task_instance_try_details',
    tags: ['TaskInstance'],
    summary: 'Get one try of a task instance',
    request: { params: z.object({ ...ti, task_try_number: tryNumber }) },
    responses: { 200: ok(TaskInstanceSchema), ...problems(400, 401, 403, 404) },
  }),
  getLog: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}',
    operationId: 'get_log',
    tags: ['TaskInstance'],
    summary: "Get a try's log (masked), in pages with `token`; text with `Accept: text/plain`",
    request: {
      params: z.object({ ...ti, task_try_number: tryNumber }),
      query: z.object({
        full_content: boolQuery,
        map_index: z.string().optional().openapi({ type: 'integer' }),
        token: z.string().optional(),
      }),
    },
    responses: {
      200: {
        description: 'Success.',
        content: {
          'application/json': {
            schema: z
              .object({ continuation_token: z.string(), content: z.string() })
              .openapi('TaskInstanceLog'),
          },
          'text/plain': { schema: z.string() },
        },
      },
      ...problems(400, 401, 403, 404),
    },
  }),
  getXcomEntries: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries',
    operationId: 'get_xcom_entries',
    tags: ['XCom'],
    summary: "List a task instance's XCom entries (a task's return value is `return_value`)",
    request: {
      params: z.object(ti),
      query: z.object({
        ...pageQuery,
        map_index: z.string().optional().openapi({ type: 'integer' }),
        xcom_key: z.string().optional(),
      }),
    },
    responses: { 200: ok(XComCollectionSchema), ...problems(400, 401, 403, 404) },
  }),
  getXcomEntry: createRoute({
    method: 'get',
    path: '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}',
    operationId: 'get_xcom_entry',
    tags: ['XCom'],
    summary: 'Get an XCom entry (masked)',
    request: {
      params: z.object({ ...ti, xcom_key: pathParam('xcom_key') }),
      query: z.object({
        map_index: z.string().optional().openapi({ type: 'integer' }),
        deserialize: boolQuery,
        stringify: boolQuery,
      }),
    },
    responses: { 200: ok(XComSchema), ...problems(401, 403, 404) },
  }),

  getImportErrors: createRoute({
    method: 'get',
    path: '/api/v1/importErrors',
    operationId: 'get_import_errors',
    tags: ['ImportError'],
    summary: 'List the DAG files that did not load (masked)',
    request: {
      query: z.object({
        ...pageQuery,
        order_by: orderByQuery(['import_error_id', 'timestamp', 'filename']),
      }),
    },
    responses: { 200: ok(ImportErrorCollectionSchema), ...problems(400, 401, 403) },
  }),
  getImportError: createRoute({
    method: 'get',
    path: '/api/v1/importErrors/{import_error_id}',
    operationId: 'get_import_error',
    tags: ['ImportError'],
    summary: 'Get an import error',
    request: {
      params: z.object({
        import_error_id: z
          .string()
          .regex(/^\d+$/, 'must be an integer')
          .openapi({ param: { name: 'import_error_id', in: 'path' }, type: 'integer' }),
      }),
    },
    responses: { 200: ok(ImportErrorSchema), ...problems(401, 403, 404) },
  }),
};
