/**
 * @module server/v2/xcom
 * Airflow 3's XCom entries under `/api/v2`: a task instance's entries (paged, `xcom_key` or
 * `xcom_key_pattern`) and one entry with its value. A task's return value is `return_value`;
 * values were masked when stored, and are redacted again by key as the v1 API does.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { DagRunRecord, XcomRecord } from '../../pipelines/store.ts';
import type { AppDeps } from '../context.ts';
import type { ApiV2 } from './app.ts';
import { iso, notFound, type PipelineApi, runAfter, taskInstanceOr404, tiParam } from './dags.ts';
import {
  errorResponses,
  jsonResponse,
  likeMatcher,
  pageQuery,
  SECURED,
  sortAndPage,
} from './schemas.ts';

const xcomFields = {
  key: z.string(),
  timestamp: z.string(),
  logical_date: z.string().nullable().optional(),
  map_index: z.number().int(),
  task_id: z.string(),
  dag_id: z.string(),
  run_id: z.string(),
  dag_display_name: z.string(),
  task_display_name: z.string(),
  run_after: z.string(),
};

const XcomSchema = z.object(xcomFields).openapi('XComResponse');
const XcomCollectionSchema = z
  .object({ xcom_entries: z.array(XcomSchema), total_entries: z.number().int() })
  .openapi('XComCollectionResponse');
const XcomNativeSchema = z
  .object({ ...xcomFields, value: z.unknown() })
  .openapi('XComResponseNative');

const mapIndex = z.coerce
  .number()
  .int()
  .optional()
  .openapi({ type: 'integer', description: 'airlock tasks are unmapped: -1 or none' });

const routes = {
  list: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries',
    tags: ['XCom'],
    summary: 'Get Xcom Entries',
    security: SECURED,
    request: {
      params: z.object(tiParam),
      query: z.object({
        ...pageQuery,
        xcom_key: z.string().nullable().optional(),
        xcom_key_pattern: z.string().nullable().optional(),
        map_index: mapIndex,
      }),
    },
    responses: {
      200: jsonResponse(XcomCollectionSchema),
      ...errorResponses(400, 401, 403, 404, 422),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}',
    tags: ['XCom'],
    summary: 'Get Xcom Entry',
    security: SECURED,
    request: {
      params: z.object({
        ...tiParam,
        xcom_key: z.string().openapi({ param: { name: 'xcom_key', in: 'path' } }),
      }),
      query: z.object({
        map_index: mapIndex,
        deserialize: z.enum(['true', 'false']).optional().openapi({ type: 'boolean' }),
        stringify: z.enum(['true', 'false']).optional().openapi({ type: 'boolean' }),
      }),
    },
    responses: { 200: jsonResponse(XcomNativeSchema), ...errorResponses(400, 401, 403, 404, 422) },
  }),
};

function xcomView(run: DagRunRecord, x: XcomRecord) {
  return {
    key: x.key,
    timestamp: iso(x.createdAt) as string,
    logical_date: iso(run.logicalDate),
    map_index: -1,
    task_id: x.taskId,
    dag_id: x.dagId,
    run_id: x.runId,
    dag_display_name: x.dagId,
    task_display_name: x.taskId,
    run_after: iso(runAfter(run)) as string,
  };
}

/**
 * Adds the XCom entry operations to `/api/v2`.
 *
 * @example
 * ```ts
 * registerXcomV2(deps.apiV2, deps, pipelineApi);
 * ```
 */
export function registerXcomV2(v2: ApiV2, deps: AppDeps, api: PipelineApi): void {
  v2.openapi(routes.list, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    const keyMatches = likeMatcher(q.xcom_key_pattern);
    const entries =
      q.map_index !== undefined && q.map_index !== -1
        ? []
        : (
            await api.store.xcoms(run.dagId, run.runId, {
              taskIds: [ti.taskId],
              ...(q.xcom_key ? { key: q.xcom_key } : {}),
            })
          ).filter((x) => keyMatches(x.key));
    const page = sortAndPage(
      entries,
      q,
      { key: (x) => x.key, timestamp: (x) => x.createdAt, task_id: (x) => x.taskId },
      'key',
    );
    return c.json(
      { xcom_entries: page.map((x) => xcomView(run, x)), total_entries: entries.length },
      200,
    );
  });

  v2.openapi(routes.get, async (c) => {
    const { dag_id, dag_run_id, task_id, xcom_key } = c.req.valid('param');
    const q = c.req.valid('query');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    const [entry] =
      q.map_index !== undefined && q.map_index !== -1
        ? []
        : await api.store.xcoms(run.dagId, run.runId, { taskIds: [ti.taskId], key: xcom_key });
    if (!entry) {
      throw notFound(`XCom entry with key: \`${xcom_key}\` not found`);
    }
    const value = deps.masker.redactValue(entry.value, entry.key);
    return c.json(
      {
        ...xcomView(run, entry),
        value: q.stringify === 'true' ? JSON.stringify(value) : value,
      },
      200,
    );
  });
}
