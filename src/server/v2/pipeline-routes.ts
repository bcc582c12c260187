/**
 * @module server/v2/pipeline-routes
 * Every `/api/v2` operation over DAGs, runs, task instances, logs, XCom entries and import
 * errors: what they read (`dags.ts`, `xcom.ts`) and what an operator changes (`dag-changes.ts`).
 */
import type { AppDeps } from '../context.ts';
import type { ApiV2 } from './app.ts';
import { registerDagChangesV2 } from './dag-changes.ts';
import { type PipelineApi, registerDagsV2 } from './dags.ts';
import { registerXcomV2 } from './xcom.ts';

/**
 * Adds the DAG operations to `/api/v2` (the pipelines' route module calls it).
 *
 * @example
 * ```ts
 * registerPipelinesV2(deps.apiV2, deps, pipelineApi);
 * ```
 */
export function registerPipelinesV2(v2: ApiV2, deps: AppDeps, api: PipelineApi): void {
  registerDagsV2(v2, deps, api);
  registerDagChangesV2(v2, deps, api);
  registerXcomV2(v2, deps, api);
}
