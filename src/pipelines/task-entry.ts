/**
 * @module pipelines/task-entry
 * The task process's entry: turns on Node's on-disk compile cache (`module.enableCompileCache`,
 * in the OS temporary folder unless `NODE_COMPILE_CACHE` names one) before anything else is
 * loaded, so that each try reuses the bytecode of airlock's modules (and of the DAG file) that
 * an earlier try compiled, then runs {@link import('./task-main.ts')}. The cache holds compiled
 * code only, never a value.
 *
 * In the built package, `npm run build` also bundles the task process into one file
 * (`task-bundle-main.js`, see `scripts/bundle-task.ts`): one file to compile instead of dozens
 * of modules to resolve and load one by one. The bundle publishes its DAG API, which a DAG file's
 * `import { … } from 'airlock'` then gets (see `bundled.ts`), so the task process holds one copy
 * of each module. A worker with a current bundle starts the bundle itself instead of this entry
 * (see `task-start.ts`).
 */
import { currentTaskBundle } from './task-start.ts';

const module = process.getBuiltinModule('node:module');

module.enableCompileCache?.();
const bundle = currentTaskBundle(import.meta.url);

if (bundle) {
  await import(bundle.href);
} else {
  await import('./task-main.ts');
}
