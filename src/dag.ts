/**
 * @module dag
 * `airlock/dag`: what a DAG file uses (the pipeline API, `Variable` and `Connection` for task
 * code, the errors), without the rest of the library (backends, configuration, the server),
 * so that a task process starts in about the time Node itself does. A DAG file may import the
 * same names from `airlock`: in a task process (and a discovery), an `import { … } from
 * 'airlock'` that names only these is resolved to this entry (see `pipelines/loader.ts`).
 *
 * @example
 * ```ts
 * import { dag, task, Variable } from 'airlock/dag';
 * dag('etl', { schedule: '@daily' }, () => {
 *   task('extract', async () => Variable.get('bucket'));
 * });
 * ```
 */
export {
  AirlockError,
  ConfigError,
  ERROR_CODES,
  type ErrorCode,
  isAirlockError,
  NotFoundError,
} from './errors.ts';
export {
  Connection,
  type ConnectionWithGet,
  type DagRunInfo,
  type TaskContext,
  type TaskLogger,
  type TaskRef,
  Variable,
  type VariableGet,
} from './pipelines/context.ts';
export {
  chain,
  Dag,
  type DagCallback,
  type DagCallbackContext,
  type DagOptions,
  dag,
  isDag,
  SkipTask,
  shortCircuit,
  Task,
  type TaskCallback,
  type TaskFn,
  type TaskOptions,
  type TaskSettings,
  TRIGGER_RULES,
  type TriggerRule,
  task,
} from './pipelines/dag.ts';
export type { ParamSpec, ParamSpecs, ParamsOf } from './pipelines/params.ts';
