/**
 * @module pipelines/task-bundle-dag
 * What a DAG file's `import { … } from 'airlock'` (or `airlock/dag`) gets in a task process built
 * from the bundle: the bundle's own DAG API, published by `task-bundle-publish.ts` (see
 * `bundled.ts`). The same names as `airlock/dag`; a test keeps them equal.
 */
import type * as DagApi from '../dag.ts';

// The slot `bundled.ts` publishes to, read here rather than imported from it: one module for a
// DAG file's `import … from 'airlock'` to load instead of two (about 0.3 ms of every try). A
// test keeps the key equal to `bundled.ts`'s.
const published = (globalThis as { [key: symbol]: { readonly api: typeof DagApi } | undefined })[
  Symbol.for('airlock.pipelines.bundled-dag-api')
];
if (!published) throw new Error('airlock: the task bundle did not publish its DAG API');

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
} = published.api;
