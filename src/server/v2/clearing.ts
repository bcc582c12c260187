/**
 * @module server/v2/clearing
 * Airflow's `clearTaskInstances` (both API versions) and "clear a run" over airlock's runs: which
 * task instances a request selects, and clearing them (or only reporting them, `dry_run`).
 *
 * The selection is Airflow's (`DAG.clear` as the API calls it): the runs whose logical date lies
 * between `start_date` and `end_date` (a `dag_run_id` makes both that run's logical date);
 * `include_past` drops the lower bound and `include_future` the upper one; `task_ids` with their
 * upstream/downstream relatives; `only_failed` keeps `failed`/`upstream_failed` task instances,
 * `only_running` keeps `running` ones.
 */
import type { DagInfo } from '../../pipelines/loader.ts';
import { triesOf, withRelatives } from '../../pipelines/relatives.ts';
import type { DagRunRecord, TaskInstanceRecord } from '../../pipelines/store.ts';
import type { PipelineApi } from './dags.ts';

/** What a clear request selects (Airflow's field names). */
export interface ClearSelection {
  readonly dag_run_id?: string | null | undefined;
  readonly start_date?: string | null | undefined;
  readonly end_date?: string | null | undefined;
  readonly task_ids?: readonly string[] | null | undefined;
  readonly include_upstream?: boolean | undefined;
  readonly include_downstream?: boolean | undefined;
  readonly include_past?: boolean | undefined;
  readonly include_future?: boolean | undefined;
  readonly only_failed?: boolean | undefined;
  readonly only_running?: boolean | undefined;
}

/** A cleared (or, dry, a selected) task instance and its run. */
export interface ClearedTask {
  readonly run: DagRunRecord;
  readonly ti: TaskInstanceRecord;
}

const FAILED = new Set(['failed', 'upstream_failed']);

/** A DAG's definition, when its file still loads (clearing a run of a removed DAG still works). */
export async function dagIfLoaded(api: PipelineApi, dagId: string): Promise<DagInfo | undefined> {
  return (await api.discover()).dags.find((d) => d.dagId === dagId);
}

/** Whether a task instance's state passes `only_failed` / `only_running`. */
export function stateSelected(ti: TaskInstanceRecord, q: ClearSelection): boolean {
  return (
    (!q.only_failed || FAILED.has(ti.state ?? '')) && (!q.only_running || ti.state === 'running')
  );
}

/** The runs of `dagId` whose logical date lies in `[from, to]` (either end open when undefined). */
export async function runsBetween(
  api: PipelineApi,
  dagId: string,
  from: number | undefined,
  to: number | undefined,
): Promise<DagRunRecord[]> {
  const out: DagRunRecord[] = [];
  const pageSize = 1000;
  for (let offset = 0; ; offset += pageSize) {
    const { runs } = await api.store.listRuns({ dagId, limit: pageSize, offset });
    out.push(
      ...runs.filter(
        (r) =>
          (from === undefined || r.logicalDate >= from) &&
          (to === undefined || r.logicalDate <= to),
      ),
    );
    if (runs.length < pageSize) return out;
  }
}

/** Clears `tis` of `run` (or reports them, dry); the cleared task instances as they are now. */
export async function clearIn(
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
 * Selects the task instances of `dag` that `q` names and clears them (unless `dryRun`).
 *
 * @throws AirlockError `AIRLOCK_ERR_HTTP_NOT_FOUND` when `dag_run_id` names no run of the DAG.
 */
export async function clearTaskInstances(
  api: PipelineApi,
  dag: DagInfo,
  q: ClearSelection,
  dryRun: boolean,
): Promise<ClearedTask[]> {
  let from = q.start_date ? Date.parse(q.start_date) : undefined;
  let to = q.end_date ? Date.parse(q.end_date) : undefined;
  if (q.dag_run_id) {
    const run = await api.runOr404(dag.dagId, q.dag_run_id);
    from = run.logicalDate;
    to = run.logicalDate;
  }
  if (q.include_past) from = undefined;
  if (q.include_future) to = undefined;
  const ids = q.task_ids?.length
    ? withRelatives(dag, q.task_ids, q.include_upstream ?? false, q.include_downstream ?? false)
    : undefined;
  const out: ClearedTask[] = [];
  for (const run of await runsBetween(api, dag.dagId, from, to)) {
    const tis = (await api.store.taskInstances(run.dagId, run.runId)).filter(
      (ti) => (!ids || ids.has(ti.taskId)) && stateSelected(ti, q),
    );
    for (const ti of await clearIn(api, run, tis, dryRun)) out.push({ run, ti });
  }
  return out;
}
