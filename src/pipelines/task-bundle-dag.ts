/**
 * @module pipelines/task-bundle-dag
 * What a DAG file's `import { … } from 'airlock'` (or `airlock/dag`) gets in a task process built
 * from the bundle: the bundle's own DAG API, published by `task-bundle-publish.ts` (see
 * `bundled.ts`). The same names as `airlock/dag`; a test keeps them equal.
 */
import { bundledDagApi } from './bundled.ts';

export const {
  AirlockError,
  ConfigError,
  Connection,
  Dag,
  ERROR_CODES,
  NotFoundError,
  SkipTask,
  TRIGGER_RULES,
  Task,
  Variable,
  chain,
  dag,
  isAirlockError,
  isDag,
  shortCircuit,
  task,
} = bundledDagApi();
