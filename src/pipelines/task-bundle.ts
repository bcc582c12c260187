/**
 * @module pipelines/task-bundle
 * The task bundle's entry (`scripts/bundle-task.ts` bundles it into `task-bundle-main.js`): the
 * DAG API is published first, then the task process runs (`task-main.ts`). Modules evaluate in
 * the order they are imported here.
 */
import './task-bundle-publish.ts';
import './task-main.ts';
