/**
 * The try a test hands a task process: the first try of a manual run `r`, dated now, unless
 * `fields` say otherwise.
 */
import type { TaskSpec } from '../../src/pipelines/task-main.ts';

/**
 * @example
 * ```ts
 * const spec = trySpec({ dagsFolder, fileloc: 'noop.ts', dagId: 'noop', taskId: 't' });
 * ```
 */
export function trySpec(
  fields: Pick<TaskSpec, 'dagsFolder' | 'fileloc' | 'dagId' | 'taskId'> & Partial<TaskSpec>,
): TaskSpec {
  const now = new Date().toISOString();
  return {
    runId: 'r',
    runType: 'manual',
    tryNumber: 1,
    maxTries: 1,
    logicalDate: now,
    dataIntervalStart: now,
    dataIntervalEnd: now,
    conf: {},
    ...fields,
  };
}
