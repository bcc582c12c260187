/** DAG descriptions for tests that create runs without discovering a DAG file. */
import type { DagInfo } from '../../src/pipelines/loader.ts';

/** A task of {@link dagInfo}: its id, upstream ids, retries and retry delay (seconds). */
export interface TaskSpec {
  id: string;
  up?: string[];
  retries?: number;
  delay?: number;
}

/**
 * A DAG `dagId` (file `<dagId>.ts`, no schedule) with `tasks`.
 *
 * @example
 * ```ts
 * await store.createRun({ dag: dagInfo([{ id: 'a' }, { id: 'b', up: ['a'] }]) });
 * ```
 */
export function dagInfo(tasks: TaskSpec[], dagId = 'etl'): DagInfo {
  return {
    dagId,
    fileloc: `${dagId}.ts`,
    description: null,
    tags: [],
    schedule: null,
    tasks: tasks.map((t) => ({
      taskId: t.id,
      description: null,
      upstream: t.up ?? [],
      downstream: [],
      retries: t.retries ?? 0,
      retryDelaySeconds: t.delay ?? 0,
      timeoutSeconds: null,
    })),
  };
}
