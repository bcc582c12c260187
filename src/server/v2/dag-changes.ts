/**
 * @module server/v2/dag-changes
 * What an operator changes through Airflow 3's API: `PATCH` a DAG, or the DAGs filters select
 * (`is_paused`), `PATCH` a DAG run (mark it `success` or `failed`, or `queued` to run it again),
 * `DELETE` it, `POST …/clear` it, `PATCH` a task instance (`new_state`), and
 * `POST /dags/{dag_id}/clearTaskInstances`. Every change needs the editor
 * role; a `note` is refused (airlock keeps none), and so are the options airlock cannot honour
 * (`include_past`/`include_future`, `only_running`).
 */
import { setTimeout } from 'node:timers/promises';
import { createRoute, z } from '@hono/zod-openapi';
import { AirlockError } from '../../errors.ts';
import type { DagInfo } from '../../pipelines/loader.ts';
import { triesOf, withRelatives } from '../../pipelines/relatives.ts';
import type { DagRunRecord, TaskInstanceRecord } from '../../pipelines/store.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps } from '../context.ts';
import { maskFields } from '../routes/_api.ts';
import type { ApiV2 } from './app.ts';
import {
  DagCollectionSchema,
  DagRunSchema,
  DagSchema,
  dagFilterQuery,
  dagParam,
  dagView,
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
      'Every try of the task instance; airlock keeps the details of the latest try only, so earlier tries have null state and dates.',
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
      'Streams the run\'s state as NDJSON (`{"state": …}` a line, every `interval` seconds) until it is finished.',
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

/** A DAG's definition, when its file still loads (clearing a run of a removed DAG still works). */
async function dagIfLoaded(api: PipelineApi, dagId: string): Promise<DagInfo | undefined> {
  return (await api.discover()).dags.find((d) => d.dagId === dagId);
}

/** Clears `tis` of `run` (or reports them, dry); the cleared task instances as they are now. */
async function clearIn(
  api: PipelineApi,
  run: DagRunRecord,
  tis: readonly TaskInstanceRecord[],
  dryRun: boolean,
): Promise<TaskInstanceRecord[]> {
  if (dryRun || tis.length === 0) return [...tis];
  const dag = await dagIfLoaded(api, run.dagId);
  const cleared = await api.store.clearTasks(
    run.dagId,
    run.runId,
    tis.map((ti) => ti.taskId),
    triesOf(dag),
  );
  const now = await api.store.taskInstances(run.dagId, run.runId);
  return now.filter((ti) => cleared.includes(ti.taskId));
}

/**
 * Adds the DAG run and task instance changes to `/api/v2`.
 *
 * @example
 * ```ts
 * registerDagChangesV2(deps.apiV2, deps, pipelineApi);
 * ```
 */
export function registerDagChangesV2(v2: ApiV2, _deps: AppDeps, api: PipelineApi): void {
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
    if ((!mask || mask.has('note')) && body.note) {
      refuse('airlock keeps no notes on DAG runs; patch without `note`');
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
    if (body.include_future || body.include_past) {
      refuse(
        'airlock runs are not ordered in time for a DAG; give include_past/include_future false',
      );
    }
    const run = await api.runOr404(dag_id, dag_run_id);
    const state = !mask || mask.has('new_state') ? body.new_state : undefined;
    if (state !== undefined && state !== null && state !== 'success' && state !== 'failed') {
      refuse('new_state must be success or failed');
    }
    const dag = await dagIfLoaded(api, run.dagId);
    const ids =
      dag === undefined
        ? new Set([task_id])
        : withRelatives(dag, [task_id], body.include_upstream, body.include_downstream);
    const changed: TaskInstanceRecord[] = [];
    for (const id of ids) {
      const ti =
        state === 'success' || state === 'failed'
          ? await api.store.setTaskState(run.dagId, run.runId, id, state)
          : await api.store.getTaskInstance(run.dagId, run.runId, id);
      if (!ti && id === task_id) {
        throw notFound(
          `Task Instance not found for dag_id=${dag_id}, run_id=${dag_run_id}, task_id=${task_id}`,
        );
      }
      if (ti) changed.push(ti);
    }
    return c.json(
      { task_instances: changed.map((ti) => tiView(run, ti)), total_entries: changed.length },
      200,
    );
  });

  v2.openapi(routes.tries, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    const latest = tiView(run, ti);
    const tries = Array.from({ length: ti.tryNumber }, (_, i) => {
      const n = i + 1;
      const base = {
        task_id: ti.taskId,
        dag_id: ti.dagId,
        dag_run_id: ti.runId,
        map_index: -1,
        try_number: n,
        max_tries: latest.max_tries,
        task_display_name: ti.taskId,
        dag_display_name: ti.dagId,
        pool: 'default_pool',
        pool_slots: 1,
        executor_config: '{}',
      };
      if (n < ti.tryNumber) return { ...base, state: null, start_date: null, end_date: null };
      return {
        ...base,
        state: latest.state,
        start_date: latest.start_date,
        end_date: latest.end_date,
        duration: latest.duration,
        hostname: latest.hostname,
        pid: latest.pid,
      };
    });
    return c.json({ task_instances: tries, total_entries: tries.length }, 200);
  });

  v2.openapi(routes.wait, async (c) => {
    const { dag_id, dag_run_id } = c.req.valid('param');
    const { interval, result } = c.req.valid('query');
    if (result?.length) refuse('airlock keeps no XCom results to collect; wait without `result`');
    await api.runOr404(dag_id, dag_run_id);
    const encoder = new TextEncoder();
    const signal = c.req.raw.signal;
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          for (;;) {
            const run = await api.store.getRun(dag_id, dag_run_id);
            const state = run?.state ?? 'deleted';
            controller.enqueue(encoder.encode(`${JSON.stringify({ state })}\n`));
            if (state !== 'queued' && state !== 'running') break;
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
    if (body.only_running || body.include_future || body.include_past) {
      refuse('airlock does not clear by only_running, include_past or include_future');
    }
    const dag = await api.dagOr404(dag_id);
    const named = body.task_ids?.map((t) => (typeof t === 'string' ? t : t[0]));
    const ids = named
      ? withRelatives(dag, named, body.include_upstream, body.include_downstream)
      : undefined;
    const runs = body.dag_run_id
      ? [await api.runOr404(dag_id, body.dag_run_id)]
      : (await api.store.listRuns({ dagId: dag_id, limit: 10_000 })).runs.filter((r) => {
          const from = body.start_date ? Date.parse(body.start_date) : undefined;
          const to = body.end_date ? Date.parse(body.end_date) : undefined;
          return (
            (from === undefined || r.logicalDate >= from) &&
            (to === undefined || r.logicalDate <= to)
          );
        });
    const out: ReturnType<typeof tiView>[] = [];
    for (const run of runs) {
      const tis = (await api.store.taskInstances(run.dagId, run.runId)).filter(
        (ti) =>
          (!ids || ids.has(ti.taskId)) &&
          (!body.only_failed || ti.state === 'failed' || ti.state === 'upstream_failed'),
      );
      for (const ti of await clearIn(api, run, tis, body.dry_run)) out.push(tiView(run, ti));
    }
    return c.json({ task_instances: out, total_entries: out.length }, 200);
  });
}
