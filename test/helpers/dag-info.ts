/** DAG descriptions as the discovery hands them over, for store and route tests. */
import type { DagInfo, TaskInfo } from '../../src/pipelines/loader.ts';

/** A task with the defaults a `task(id, fn)` gets, `overrides` applied. */
export function testTaskInfo(taskId: string, overrides: Partial<TaskInfo> = {}): TaskInfo {
  return {
    taskId,
    description: null,
    upstream: [],
    downstream: [],
    retries: 0,
    retryDelaySeconds: 0,
    timeoutSeconds: null,
    retryExponentialBackoff: false,
    maxRetryDelaySeconds: null,
    triggerRule: 'all_success',
    ...overrides,
  };
}

/** A manual DAG (`schedule: null`) with `tasks`, `overrides` applied. */
export function testDagInfo(
  dagId: string,
  tasks: readonly TaskInfo[],
  overrides: Partial<DagInfo> = {},
): DagInfo {
  return {
    dagId,
    fileloc: `${dagId}.ts`,
    description: null,
    tags: [],
    schedule: null,
    timezone: 'UTC',
    startDate: null,
    endDate: null,
    catchup: false,
    maxActiveRuns: 16,
    isPausedUponCreation: null,
    params: {},
    callbacks: [],
    tasks,
    ...overrides,
  };
}
