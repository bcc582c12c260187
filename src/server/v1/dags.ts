/**
 * @module server/v1/dags
 * Airflow 2's stable REST API for DAGs and DAG runs (`/api/v1/dags…`), answering the operations
 * `dag-operations.ts` declares: DAGs listed (paging, `order_by`, `dag_id_pattern`, `tags`,
 * `paused`, `fields`), paused one at a time or in bulk (`PATCH /dags?dag_id_pattern=`), runs listed
 * (`~` for every DAG, Airflow's filters), triggered (`logical_date` or `execution_date`, `note`),
 * marked, noted, cleared and deleted. The task instance operations are in `task-instances.ts`.
 */
import type { Context } from 'hono';
import { AirlockError } from '../../errors.ts';
import type { DagRunRecord } from '../../pipelines/store.ts';
import { requirePermission } from '../auth/roles.ts';
import type { AppDeps, AppEnv } from '../context.ts';
import { maskFields, pageOf, paginate } from '../routes/_api.ts';
import { clearIn, clearTaskInstances } from '../v2/clearing.ts';
import { asTriggerHttpError, type PipelineApi, selectRuns } from '../v2/dags.ts';
import { v1Route } from './app.ts';
import { DAG_V1 } from './dag-operations.ts';
import { limitOffset } from './schemas.ts';
import { registerTaskInstancesV1 } from './task-instances.ts';
import { dagJson, pick, runJson, tiReference } from './views.ts';

function bad(message: string): AirlockError {
  return new AirlockError('AIRLOCK_ERR_HTTP_BAD_REQUEST', message);
}

/**
 * The logical date a trigger body gives (`logical_date`, or the deprecated `execution_date`;
 * both must agree), in ms; `undefined` for "now".
 */
function logicalDateOf(logical: unknown, execution: unknown): number | undefined {
  const parse = (name: string, value: unknown) => {
    if (value === undefined || value === null) return undefined;
    const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms)) throw bad(`\`${name}\` must be an ISO-8601 date-time`);
    return ms;
  };
  const a = parse('logical_date', logical);
  const b = parse('execution_date', execution);
  if (a !== undefined && b !== undefined && a !== b) {
    throw bad('logical_date and execution_date differ; give one');
  }
  return a ?? b;
}

const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/**
 * Registers Airflow 2's DAG and DAG run operations (and, through `task-instances.ts`, the task
 * instance ones) on `deps.apiV1`.
 *
 * @example
 * ```ts
 * registerDagApiV1(deps, pipelineApi);
 * ```
 */
export function registerDagApiV1(deps: AppDeps, api: PipelineApi): void {
  registerDagsV1(deps, api);
  registerRunsV1(deps, api);
  registerTaskInstancesV1(deps, api);
}

/** The DAGs `dag_id_pattern` (a substring, any case; `~` for all) and `tags` select. */
async function selectDagsV1(
  api: PipelineApi,
  q: { dag_id_pattern?: string | undefined; tags?: string | string[] | undefined },
  paused?: boolean,
) {
  const bag = await api.discover();
  const states = await api.store.dagStates();
  const pattern = q.dag_id_pattern === '~' ? '' : (q.dag_id_pattern ?? '').toLowerCase();
  const tags = asList(q.tags);
  // A DAG without a row yet (never discovered by a scheduler) starts paused, as the store's.
  const isPaused = (dagId: string) => states.get(dagId)?.isPaused ?? true;
  const dags = bag.dags.filter(
    (d) =>
      d.dagId.toLowerCase().includes(pattern) &&
      (tags.length === 0 || tags.some((t) => d.tags.includes(t))) &&
      (paused === undefined || isPaused(d.dagId) === paused),
  );
  return { bag, states, dags };
}

function registerDagsV1(deps: AppDeps, api: PipelineApi): void {
  const v1 = deps.apiV1;
  v1Route(v1, DAG_V1.getDags, async (c) => {
    const q = c.req.valid('query');
    const page = pageOf(c, ['dag_id']);
    const paused = q.paused === undefined ? undefined : q.paused === 'true';
    const { bag, states, dags } = await selectDagsV1(api, q, paused);
    return c.json({
      dags: paginate(dags, page, (d) => d.dagId).map((d) =>
        pick(dagJson(d, bag, states.get(d.dagId)), q.fields),
      ),
      total_entries: dags.length,
      import_errors: bag.errors.map((e) => ({
        filename: e.file,
        stack_trace: deps.masker.redact(e.message),
      })),
    });
  });

  // Airflow 2.3+: pause or unpause every DAG the pattern selects (the page `limit` gives).
  v1Route(v1, DAG_V1.patchDags, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const q = c.req.valid('query');
    maskFields(asList(q.update_mask), ['is_paused']);
    const { bag, dags } = await selectDagsV1(api, q);
    const { limit, offset } = limitOffset(q);
    const page = [...dags].sort((a, b) => (a.dagId < b.dagId ? -1 : 1));
    const paused = c.req.valid('json').is_paused;
    const views = [];
    for (const d of page.slice(offset, offset + limit)) {
      views.push(dagJson(d, bag, await api.setPaused(c, d.dagId, paused)));
    }
    return c.json({ dags: views, total_entries: dags.length, import_errors: [] });
  });

  v1Route(v1, DAG_V1.getDag, async (c) => {
    const d = await api.dagOr404(c.req.valid('param').dag_id);
    const view = dagJson(d, await api.discover(), await api.store.dagState(d.dagId));
    return c.json(pick(view, c.req.valid('query').fields));
  });

  // `{"is_paused": true|false}`: the one field Airflow lets a client change.
  v1Route(v1, DAG_V1.patchDag, async (c) => {
    maskFields(asList(c.req.valid('query').update_mask), ['is_paused']);
    const state = await api.setPaused(
      c,
      c.req.valid('param').dag_id,
      c.req.valid('json').is_paused,
    );
    return c.json(dagJson(await api.dagOr404(state.dagId), await api.discover(), state));
  });

  v1Route(v1, DAG_V1.clearTaskInstances, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const body = c.req.valid('json');
    const dag = await api.dagOr404(c.req.valid('param').dag_id);
    const cleared = await clearTaskInstances(api, dag, body, body.dry_run);
    return c.json({ task_instances: cleared.map(({ run, ti }) => tiReference(run, ti)) });
  });
}

function registerRunsV1(deps: AppDeps, api: PipelineApi): void {
  const v1 = deps.apiV1;
  const view = (c: Context<AppEnv>, run: DagRunRecord) =>
    runJson(run, api.visibleConf(c.get('user'), run.conf));

  v1Route(v1, DAG_V1.getDagRuns, async (c) => {
    const { dag_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { limit, offset } = limitOffset(q);
    // Airflow 2's filters, under Airflow 3's names (execution_date is the logical date).
    const filters = {
      logical_date_gte: q.execution_date_gte,
      logical_date_lte: q.execution_date_lte,
      start_date_gte: q.start_date_gte,
      start_date_lte: q.start_date_lte,
      end_date_gte: q.end_date_gte,
      end_date_lte: q.end_date_lte,
      updated_at_gte: q.updated_at_gte,
      updated_at_lte: q.updated_at_lte,
      state: q.state === undefined ? undefined : asList(q.state),
      order_by: q.order_by
        ? [
            q.order_by
              .replace(/^(-?)execution_date$/, '$1logical_date')
              .replace(/^(-?)dag_run_id$/, '$1run_id'),
          ]
        : undefined,
    };
    // `~` lists the runs of every DAG, as Airflow's; without filters the store pages.
    const { runs, total } = Object.values(filters).some((v) => v !== undefined)
      ? await selectRuns(api, dag_id, { ...filters, limit, offset })
      : await api.store.listRuns({ ...(dag_id === '~' ? {} : { dagId: dag_id }), limit, offset });
    return c.json({
      dag_runs: runs.map((r) => pick(view(c, r), q.fields)),
      total_entries: total,
    });
  });

  v1Route(v1, DAG_V1.postDagRun, async (c) => {
    const body = c.req.valid('json');
    let run: DagRunRecord;
    try {
      run = await api.trigger(
        c,
        c.req.valid('param').dag_id,
        { ...(body.conf ?? {}) },
        {
          runId: body.dag_run_id ?? undefined,
          logicalDate: logicalDateOf(body.logical_date, body.execution_date),
          note: body.note ?? null,
        },
      );
    } catch (err) {
      throw asTriggerHttpError(err);
    }
    return c.json(view(c, run));
  });

  v1Route(v1, DAG_V1.getDagRun, async (c) => {
    const { dag_id, dag_run_id } = c.req.valid('param');
    return c.json(
      pick(view(c, await api.runOr404(dag_id, dag_run_id)), c.req.valid('query').fields),
    );
  });

  // Airflow's "mark success / failed", or `queued` to run every task again.
  v1Route(v1, DAG_V1.updateDagRunState, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    const run = await api.runOr404(dag_id, dag_run_id);
    const { state } = c.req.valid('json');
    if (state === 'queued') {
      await clearIn(api, run, await api.store.taskInstances(run.dagId, run.runId), false);
    } else {
      await api.store.setRunState(run.dagId, run.runId, state);
    }
    return c.json(view(c, await api.runOr404(dag_id, dag_run_id)));
  });

  v1Route(v1, DAG_V1.deleteDagRun, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    if (!(await api.store.deleteRun(dag_id, dag_run_id))) await api.runOr404(dag_id, dag_run_id);
    return c.body(null, 204);
  });

  v1Route(v1, DAG_V1.clearDagRun, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    const run = await api.runOr404(dag_id, dag_run_id);
    const { dry_run } = c.req.valid('json');
    const tis = await api.store.taskInstances(run.dagId, run.runId);
    const cleared = await clearIn(api, run, tis, dry_run);
    if (dry_run) return c.json({ task_instances: cleared.map((ti) => tiReference(run, ti)) });
    return c.json(view(c, await api.runOr404(dag_id, dag_run_id)));
  });

  v1Route(v1, DAG_V1.setDagRunNote, async (c) => {
    requirePermission(c.get('user').role, 'write');
    const { dag_id, dag_run_id } = c.req.valid('param');
    const run = await api.runOr404(dag_id, dag_run_id);
    const noted = await api.store.setRunNote(run.dagId, run.runId, c.req.valid('json').note);
    return c.json(view(c, noted ?? run));
  });
}
