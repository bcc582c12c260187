/**
 * @module server/v1/task-instances
 * Airflow 2's task instance operations under `/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/
 * taskInstances…`: list (paged in SQL), get, tries (every try with its own state, dates, host and
 * process), logs (masked, `continuation_token`, `Accept: text/plain`) and XCom entries; and the
 * import errors of the DAG files (`/api/v1/importErrors`).
 */
import { AirlockError } from '../../errors.ts';
import type { AppDeps } from '../context.ts';
import { paginate } from '../routes/_api.ts';
import {
  importErrorsOf,
  logContinuationToken,
  logPosition,
  notFound,
  type PipelineApi,
  taskInstanceOr404,
} from '../v2/dags.ts';
import { v1Route } from './app.ts';
import { DAG_V1 } from './dag-operations.ts';
import { limitOffset } from './schemas.ts';
import { latestTry, tiJson, xcomJson } from './views.ts';

/** `order_by` of a list: a field of `fields`, `-` in front to reverse. */
function orderOf(raw: string | undefined, fields: readonly string[]) {
  const given = raw ?? fields[0] ?? '';
  const descending = given.startsWith('-');
  const orderBy = descending ? given.slice(1) : given;
  if (!fields.includes(orderBy)) {
    throw new AirlockError(
      'AIRLOCK_ERR_HTTP_BAD_REQUEST',
      `\`order_by\` must be one of ${fields.join(', ')} (prefix \`-\` to reverse)`,
    );
  }
  return { orderBy, descending };
}

/**
 * Registers the task instance, log, XCom and import error operations on `deps.apiV1`.
 *
 * @example
 * ```ts
 * registerTaskInstancesV1(deps, pipelineApi);
 * ```
 */
export function registerTaskInstancesV1(deps: AppDeps, api: PipelineApi): void {
  const v1 = deps.apiV1;
  v1Route(v1, DAG_V1.getTaskInstances, async (c) => {
    const { dag_id, dag_run_id } = c.req.valid('param');
    const run = await api.runOr404(dag_id, dag_run_id);
    // Paged in SQL, as Airflow's endpoint (limit 100 by default).
    const { instances, total } = await api.store.listTaskInstances(
      run.dagId,
      run.runId,
      limitOffset(c.req.valid('query')),
    );
    return c.json({
      task_instances: instances.map((ti) => tiJson(run, latestTry(ti))),
      total_entries: total,
    });
  });

  v1Route(v1, DAG_V1.getTaskInstance, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    return c.json(tiJson(run, latestTry(ti)));
  });

  v1Route(v1, DAG_V1.getTries, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    const tries = (await api.store.taskTries(ti)).map((t) => tiJson(run, t));
    const page = { ...limitOffset(q), ...orderOf(q.order_by, ['try_number', 'start_date']) };
    return c.json({
      task_instances: paginate(tries, page, (t, name) => t[name as 'try_number' | 'start_date']),
      total_entries: tries.length,
    });
  });

  v1Route(v1, DAG_V1.getTry, async (c) => {
    const { dag_id, dag_run_id, task_id, task_try_number } = c.req.valid('param');
    const { run, ti } = await taskInstanceOr404(api, dag_id, dag_run_id, task_id);
    const found = (await api.store.taskTries(ti)).find(
      (t) => t.tryNumber === (/^[1-9]\d{0,5}$/.test(task_try_number) ? Number(task_try_number) : 0),
    );
    if (!found) {
      throw notFound(`task \`${ti.taskId}\` of run \`${run.runId}\` has no try ${task_try_number}`);
    }
    return c.json(tiJson(run, found));
  });

  v1Route(v1, DAG_V1.getLog, async (c) => {
    const { dag_id, dag_run_id, task_id, task_try_number } = c.req.valid('param');
    const q = c.req.valid('query');
    const { text } = await api.tryLog(dag_id, dag_run_id, task_id, task_try_number);
    if (text === undefined) throw notFound('no log for this try on this server');
    const lines = deps.masker
      .redact(text)
      .split('\n')
      .filter((l) => l !== '');
    const from = q.full_content === 'true' ? 0 : logPosition(q.token);
    const content = lines
      .slice(from)
      .map((l) => `${l}\n`)
      .join('');
    if ((c.req.header('accept') ?? '').startsWith('text/plain')) return c.text(content);
    return c.json({ content, continuation_token: logContinuationToken(lines.length, true) });
  });

  // Airflow's XCom entries: a task's return value is `return_value` (masked when stored).
  v1Route(v1, DAG_V1.getXcomEntries, async (c) => {
    const { dag_id, dag_run_id, task_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const run = await api.runOr404(dag_id, dag_run_id);
    const mapped = q.map_index !== undefined && q.map_index !== '-1';
    const entries = mapped
      ? []
      : await api.store.xcoms(run.dagId, run.runId, {
          taskIds: [task_id],
          ...(q.xcom_key ? { key: q.xcom_key } : {}),
        });
    const { limit, offset } = limitOffset(q);
    return c.json({
      xcom_entries: entries.slice(offset, offset + limit).map((x) => xcomJson(run, x)),
      total_entries: entries.length,
    });
  });

  v1Route(v1, DAG_V1.getXcomEntry, async (c) => {
    const { dag_id, dag_run_id, task_id, xcom_key } = c.req.valid('param');
    const q = c.req.valid('query');
    const run = await api.runOr404(dag_id, dag_run_id);
    const mapped = q.map_index !== undefined && q.map_index !== '-1';
    const [entry] = mapped
      ? []
      : await api.store.xcoms(run.dagId, run.runId, { taskIds: [task_id], key: xcom_key });
    if (!entry) throw notFound(`no XCom entry \`${xcom_key}\` for this task and run`);
    const value = deps.masker.redactValue(entry.value, entry.key);
    return c.json({
      ...xcomJson(run, entry),
      // Airflow 2.10 answers text unless `stringify=false`; a null is text too (its schema has
      // no null value).
      value: q.stringify !== 'false' || value === null ? stringified(value) : value,
    });
  });

  v1Route(v1, DAG_V1.getImportErrors, async (c) => {
    const q = c.req.valid('query');
    const errors = await importErrorsOf(deps, api);
    const page = {
      ...limitOffset(q),
      ...orderOf(q.order_by, ['import_error_id', 'timestamp', 'filename']),
    };
    return c.json({
      import_errors: paginate(errors, page, (e, name) => e[name as 'filename']).map(v1Error),
      total_entries: errors.length,
    });
  });

  v1Route(v1, DAG_V1.getImportError, async (c) => {
    const id = Number(c.req.valid('param').import_error_id);
    const found = (await importErrorsOf(deps, api)).find((e) => e.import_error_id === id);
    if (!found) throw notFound(`no import error ${id}`);
    return c.json(v1Error(found));
  });
}

/** A value as text: a string as it is, anything else as JSON. */
function stringified(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** An import error as Airflow 2's `ImportError` (no bundle). */
function v1Error(e: {
  import_error_id: number;
  timestamp: string;
  filename: string;
  stack_trace: string;
}) {
  return {
    import_error_id: e.import_error_id,
    timestamp: e.timestamp,
    filename: e.filename,
    stack_trace: e.stack_trace,
  };
}
