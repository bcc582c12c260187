/**
 * @module server/v2/dag-changes
 * What an operator changes through Airflow 3's API: `PATCH` a DAG, or the DAGs filters select
 * (`is_paused`), `PATCH` a DAG run (mark it `success` or `failed`, or `queued` to run it again),
 * `DELETE` it, `POST …/clear` it, `PATCH` a task instance (`new_state`), and
 * `POST /dags/{dag_id}/clearTaskInstances` (Airflow's selection: see `clearing.ts`). Every change
 * needs the editor role. A run's `note` is kept; a task instance's note is airlock's own (why it
 * set a state) and is not written through the API. `GET …/tries` returns every try with its own
 * details (kept when the task instance went back for another try), and `GET …/wait` streams the
 * run's state, the listed tasks' results (`return_value`) on its last line.
 */
import { setTimeout } from 'node:timers/promises';
import { createRoute, z } from '@hono/zod-openapi';
import { AirlockError } from '../../errors.ts';
import { withRelatives } from '../../pipelines/relatives.ts';
import type { TryRecord } from '../../pipelines/store.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps } from '../context.ts';
import { maskFields } from '../routes/_api.ts';
import type { ApiV2 } from './app.ts';
import { clearIn, clearTaskInstances, dagIfLoaded, runsBetween } from './clearing.ts';
import {
  DagCollectionSchema,
  DagRunSchema,
  DagSchema,
  dagFilterQuery,
  dagParam,
  dagView,
  iso,
  notFound,
  type PipelineApi,
  pageDags,
  runParam,
  runView,
  selectDags,
  TaskInstanceCollectionSchema,
  TaskInstanceState,
  taskInstanceOr404,
  tiParam,
  tiView,
} from './dags.ts';
import { errorResponses, jsonResponse, SECURED, stringList } from './schemas.ts';

const DagPatchBody = z.object({ is_paused: z.boolean() }).strict().openapi('DAGPatchBody');

const RunPatchBody = z
  .object({
    state: z.enum(['queued', 'success', 'failed']).nullable().optional(),
    note: z.string().nullable().optional(),
  })
  .strict()
  .openapi('DAGRunPatchBody');

const RunClearBody = z
  .object({
    dry_run: z.boolean().default(true),
    only_failed: z.boolean().default(false),
    run_on_latest_version: z.boolean().default(false),
  })
  .strict()
  .openapi('DAGRunClearBody');

const TiPatchBody = z
  .object({
    new_state: TaskInstanceState.nullable().optional(),
    note: z.string().nullable().optional(),
    include_upstream: z.boolean().default(false),
    include_downstream: z.boolean().default(false),
    include_future: z.boolean().default(false),
    include_past: z.boolean().default(false),
  })
  .strict()
  .openapi('PatchTaskInstanceBody');

const ClearBody = z
  .object({
    dry_run: z.boolean().default(true),
    start_date: z.iso.datetime({ offset: true }).nullable().optional(),
    end_date: z.iso.datetime({ offset: true }).nullable().optional(),
    only_failed: z.boolean().default(true),
    only_running: z.boolean().default(false),
    reset_dag_runs: z.boolean().default(true),
    task_ids: z
      .array(z.union([z.string(), z.tuple([z.string(), z.number().int()])]))
      .nullable()
      .optional(),
    dag_run_id: z.string().nullable().optional(),
    include_upstream: z.boolean().default(false),
    include_downstream: z.boolean().default(false),
    include_future: z.boolean().default(false),
    include_past: z.boolean().default(false),
    run_on_latest_version: z.boolean().default(false),
    prevent_running_task: z.boolean().default(false),
  })
  .strict()
  .openapi('ClearTaskInstancesBody');

const TaskInstanceHistorySchema = z
  .object({
    task_id: z.string(),
    dag_id: z.string(),
    dag_run_id: z.string(),
    map_index: z.number().int(),
    start_date: z.string().nullable().optional(),
    end_date: z.string().nullable().optional(),
    duration: z.number().nullable().optional(),
    state: TaskInstanceState.nullable().optional(),
    try_number: z.number().int(),
    max_tries: z.number().int(),
    task_display_name: z.string(),
    dag_display_name: z.string(),
    hostname: z.string().nullable().optional(),
    pool: z.string(),
    pool_slots: z.number().int(),
    pid: z.number().int().nullable().optional(),
    executor_config: z.string(),
  })
  .openapi('TaskInstanceHistoryResponse');

const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  required: true,
});

const routes = {
  patchDags: createRoute({
    method: 'patch',
    path: '/api/v2/dags',
    tags: ['DAG'],
    summary: 'Patch Dags',
    security: SECURED,
    request: {
      query: z.object({ ...dagFilterQuery, update_mask: stringList }),
      body: jsonBody(DagPatchBody),
    },
    responses: {
      200: jsonResponse(DagCollectionSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  patchDag: createRoute({
    method: 'patch',
    path: '/api/v2/dags/{dag_id}',
    tags: ['DAG'],
    summary: 'Patch Dag',
    security: SECURED,
    request: {
      params: z.object(dagParam),
      query: z.object({ update_mask: stringList }),
      body: jsonBody(DagPatchBody),
    },
    responses: { 200: jsonResponse(DagSchema), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  patchRun: createRoute({
    method: 'patch',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
    tags: ['DagRun'],
    summary: 'Patch Dag Run',
    security: SECURED,
    request: {
      params: z.object(runParam),
      query: z.object({ update_mask: stringList }),
      body: jsonBody(RunPatchBody),
    },
    responses: { 200: jsonResponse(DagRunSchema), ...errorResponses(400, 401, 403, 404, 422) },
  }),
  deleteRun: createRoute({
    method: 'delete',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}',
    tags: ['DagRun'],
    summary: 'Delete Dag Run',
    security: SECURED,
    request: { params: z.object(runParam) },
    responses: {
      204: { description: 'Successful Response' },
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  clearRun: createRoute({
    method: 'post',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear',
    tags: ['DagRun'],
    summary: 'Clear Dag Run',
    security: SECURED,
    request: { params: z.object(runParam), body: jsonBody(RunClearBody) },
    responses: {
      200: jsonResponse(z.union([TaskInstanceCollectionSchema, DagRunSchema])),
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  patchTi: createRoute({
    method: 'patch',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}',
    tags: ['Task Instance'],
    summary: 'Patch Task Instance',
    security: SECURED,
    request: {
      params: z.object(tiParam),
      query: z.object({
        map_index: z.coerce.number().int().nullable().optional().openapi({ type: 'integer' }),
        update_mask: stringList,
      }),
      body: jsonBody(TiPatchBody),
    },
    responses: {
      200: jsonResponse(TaskInstanceCollectionSchema),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
  }),
  tries: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries',
    tags: ['Task Instance'],
    summary: 'Get Task Instance Tries',
    description:
      'Every try of the task instance, oldest first, each with its own state, dates, host and process.',
    security: SECURED,
    request: { params: z.object(tiParam) },
    responses: {
      200: jsonResponse(
        z
          .object({
            task_instances: z.array(TaskInstanceHistorySchema),
            total_entries: z.number().int(),
          })
          .openapi('TaskInstanceHistoryCollectionResponse'),
      ),
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  wait: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait',
    tags: ['DagRun'],
    summary: 'Wait Dag Run Until Finished',
    description:
      'Streams the run\'s state as NDJSON (`{"state": …}` a line, every `interval` seconds) until it is finished; the last line carries `results`, the `return_value` of each task `result` names (those that have one).',
    security: SECURED,
    request: {
      params: z.object(runParam),
      query: z.object({
        interval: z.coerce.number().gt(0).openapi({ type: 'number' }),
        result: stringList,
      }),
    },
    responses: {
      200: {
        description: 'Successful Response',
        content: { 'application/x-ndjson': { schema: z.string() } },
      },
      ...errorResponses(401, 403, 404, 422),
    },
  }),
  clearTis: createRoute({
    method: 'post',
    path: '/api/v2/dags/{dag_id}/clearTaskInstances',
    tags: ['Task Instance'],
    summary: 'Post Clear Task Instances',
    security: SECURED,
    request: { params: z.object(dagParam), body: jsonBody(ClearBody) },
    responses: {
      200: jsonResponse(TaskInstanceCollectionSchema),
      ...errorResponses(401, 403, 404, 409, 422),
    },
  }),
};

function refuse(detail: string): never {
  throw new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', detail);
}

/** One try as Airflow 3's `TaskInstanceHistoryResponse`. */
export function tryView(t: TryRecord) {
  return {
    task_id: t.taskId,
    dag_id: t.dagId,
    dag_run_id: t.runId,
    map_index: -1,
    try_number: t.tryNumber,
    max_tries: t.maxTries - 1,
    state: t.state,
    start_date: iso(t.startDate),
    end_date: iso(t.endDate),
    duration: t.startDate !== null && t.endDate !== null ? (t.endDate - t.startDate) / 1000 : null,
    hostname: t.hostname,
    pid: t.pid,
    task_display_name: t.taskId,
    dag_display_name: t.dagId,
    pool: 'default_pool',
    pool_slots: 1,
    executor_config: '{}',
  };
}

/**
 * Adds the DAG run and task instance changes to `/api/v2`.
 *
 * @example
 * ```ts
 * registerDagChangesV2(deps.apiV2, deps, pipelineApi);
 * ```
 */
export function registerDagChangesV2(v2: ApiV2, deps: AppDeps, api: PipelineApi): void {
  // Pause or unpause: the scheduler creates no run of a paused DAG (queued ones still run).
  v2.openapi(routes.patchDag, async (c) => {
    const { dag_id } = c.req.valid('param');
    // `is_paused` is the one field Airflow lets a client change.
    maskFields(c.req.valid('query').update_mask, ['is_paused']);
    const state = await api.setPaused(c, dag_id, c.req.valid('json').is_paused);
    return c.json(dagView(await api.dagOr404(dag_id), await api.discover(), state), 200);
  });

  // Pause or unpause every DAG the filters select (the page of them `limit`/`offset` give).
  v2.openapi(routes.patchDags, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const q = c.req.valid('query');
    maskFields(q.update_mask, ['is_paused']);
    const { bag, dags } = await selectDags(api, q);
    const page = pageDags(dags, q);
    const paused = c.req.valid('json').is_paused;
    const views = [];
    for (const d of page) views.push(dagView(d, bag, await api.setPaused(c, d.dagId, paused)));
    return c.json({ dags: views, total_entries: dags.length }, 200);
  });

  v2.openapi(routes.patchRun, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    const body = c.req.valid('json');
    const mask = maskFields(c.req.valid('query').update_mask, ['state', 'note']);
    const run = await api.runOr404(dag_id, dag_run_id);
    // Airflow: a field is changed when the mask names it, or (no mask) when the body has it.
    if (mask ? mask.has('note') : body.note !== undefined) {
      await api.store.setRunNote(run.dagId, run.runId, body.note ?? null);
    }
    const state = !mask || mask.has('state') ? body.state : undefined;
    if (state === 'queued') {
      const tis = await api.store.taskInstances(run.dagId, run.runId);
      await clearIn(api, run, tis, false);
    } else if (state === 'success' || state === 'failed') {
      await api.store.setRunState(run.dagId, run.runId, state);
    }
    return c.json(runView(api, c.get('user'), await api.runOr404(dag_id, dag_run_id)), 200);
  });

  v2.openapi(routes.deleteRun, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    if (!(await api.store.deleteRun(dag_id, dag_run_id))) {
      throw notFound(
        `The DagRun with dag_id: \`${dag_id}\` and run_id: \`${dag_run_id}\` was not found`,
      );
    }
    return c.body(null, 204);
  });

  v2.openapi(routes.clearRun, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    const body = c.req.valid('json');
    const run = await api.runOr404(dag_id, dag_run_id);
    const tis = (await api.store.taskInstances(run.dagId, run.runId)).filter(
      (ti) => !body.only_failed || ti.state === 'failed' || ti.state === 'upstream_failed',
    );
    const cleared = await clearIn(api, run, tis, body.dry_run);
    if (body.dry_run) {
      return c.json(
        {
          task_instances: cleared.map((ti) => tiView(run, ti)),
          total_entries: cleared.length,
        },
        200,
      );
    }
    return c.json(runView(api, c.get('user'), await api.runOr404(dag_id, dag_run_id)), 200);
  });

  v2.openapi(routes.patchTi, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const body = c.req.valid('json');
    const mask = maskFields(q.update_mask, ['new_state', 'note']);
    if (q.map_index !== undefined && q.map_index !== null && q.map_index !== -1) {
      throw notFound('airlock task instances are not mapped (map_index -1)');
    }
    if ((!mask || mask.has('note')) && body.note) {
      refuse('airlock keeps no notes on task instances set through the API; patch without `note`');
    }
    const run = await api.runOr404(dag_id, dag_run_id);
    const state = !mask || mask.has('new_state') ? body.new_state : undefined;
    if (state !== undefined && state !== null && state !== 'success' && state !== 'failed') {
      refuse('new_state must be success or failed');
    }
    if (!(await api.store.getTaskInstance(run.dagId, run.runId, task_id))) {
      throw notFound(
        `Task Instance not found for dag_id=${dag_id}, run_id=${dag_run_id}, task_id=${task_id}`,
      );
    }
    const dag = await dagIfLoaded(api, run.dagId);
    const ids =
      dag === undefined
        ? new Set([task_id])
        : withRelatives(dag, [task_id], body.include_upstream, body.include_downstream);
    // include_past / include_future: the same tasks in the DAG's earlier / later runs too.
    const runs =
      state && (body.include_past || body.include_future)
        ? await runsBetween(
            api,
            run.dagId,
            body.include_past ? undefined : run.logicalDate,
            body.include_future ? undefined : run.logicalDate,
          )
        : [run];
    const changed: ReturnType<typeof tiView>[] = [];
    for (const r of runs) {
      for (const id of ids) {
        const ti =
          state === 'success' || state === 'failed'
            ? await api.store.setTaskState(r.dagId, r.runId, id, state)
            : await api.store.getTaskInstance(r.dagId, r.runId, id);
        if (ti) changed.push(tiView(r, ti));
      }
    }
    return c.json({ task_instances: changed, total_entries: changed.length }, 200);
  });

  v2.openapi(routes.tries, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const { ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    const tries = (await api.store.taskTries(ti)).map(tryView);
    return c.json({ task_instances: tries, total_entries: tries.length }, 200);
  });

  v2.openapi(routes.wait, async (c) => {
    const { dag_id, dag_run_id } = c.req.valid('param');
    const { interval, result } = c.req.valid('query');
    await api.runOr404(dag_id, dag_run_id);
    // Airflow 3.1: the last line carries `results`, each listed task's return value.
    const results = async (): Promise<Record<string, unknown>> => {
      const out: Record<string, unknown> = {};
      const entries = await api.store.xcoms(dag_id, dag_run_id, {
        taskIds: result ?? [],
        key: 'return_value',
      });
      for (const x of entries) out[x.taskId] = deps.masker.redactValue(x.value, x.key);
      return out;
    };
    const encoder = new TextEncoder();
    const signal = c.req.raw.signal;
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          for (;;) {
            const run = await api.store.getRun(dag_id, dag_run_id);
            const state = run?.state ?? 'deleted';
            const done = state !== 'queued' && state !== 'running';
            const line = done && result?.length ? { state, results: await results() } : { state };
            controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
            if (done) break;
            await setTimeout(interval * 1000, undefined, { signal });
          }
        } catch {
          // The client went away (aborted sleep) or the store failed: end the stream.
        }
        controller.close();
      },
    });
    // @hono/zod-openapi types no streamed (non-JSON, non-text) answer; the route still documents it.
    return c.body(body, 200, { 'Content-Type': 'application/x-ndjson' }) as never;
  });

  v2.openapi(routes.clearTis, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id } = c.req.valid('param');
    const body = c.req.valid('json');
    const dag = await api.dagOr404(dag_id);
    const task_ids = body.task_ids?.map((t) => (typeof t === 'string' ? t : t[0]));
    const cleared = await clearTaskInstances(api, dag, { ...body, task_ids }, body.dry_run);
    const out = cleared.map(({ run, ti }) => tiView(run, ti));
    return c.json({ task_instances: out, total_entries: out.length }, 200);
  });
}
