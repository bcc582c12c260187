/**
 * @module pipelines/relatives
 * The tasks an operator's change covers (Airflow's `include_upstream` / `include_downstream`,
 * `tasks clear -u/-d`): the named tasks and, when asked, everything up- or downstream of them.
 */
import type { DagInfo } from './loader.ts';

/**
 * `taskIds` with their upstream and/or downstream tasks, transitively.
 *
 * @example
 * ```ts
 * withRelatives(dag, ['extract'], false, true); // Set { 'extract', 'transform', 'load' }
 * ```
 */
export function withRelatives(
  dag: DagInfo,
  taskIds: readonly string[],
  upstream: boolean,
  downstream: boolean,
): Set<string> {
  const out = new Set(taskIds);
  const walk = (id: string, dir: 'upstream' | 'downstream') => {
    const task = dag.tasks.find((t) => t.taskId === id);
    for (const next of task?.[dir] ?? []) {
      if (!out.has(next)) {
        out.add(next);
        walk(next, dir);
      }
    }
  };
  for (const id of taskIds) {
    if (upstream) walk(id, 'upstream');
    if (downstream) walk(id, 'downstream');
  }
  return out;
}

/** The tries a task gets when cleared: its retries + 1 (1 for a task the DAG no longer has). */
export function triesOf(dag: DagInfo | undefined): (taskId: string) => number {
  return (taskId) => (dag?.tasks.find((t) => t.taskId === taskId)?.retries ?? 0) + 1;
}
