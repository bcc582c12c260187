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
 * of each module.
 */
// Taken from the process, not imported: an ES import of `node:fs` reads every export of it
// (loading `fs/promises` and Node's streams, which a try that prints nothing never needs).
const { statSync } = process.getBuiltinModule('node:fs');
const module = process.getBuiltinModule('node:module');

module.enableCompileCache?.();
const bundle = new URL('./task-bundle-main.js', import.meta.url);

/**
 * Whether the bundle is there and was made from the modules beside it: a `tsc` run without the
 * bundling step (rewriting `task-main.js`) leaves an older bundle, which is then not used.
 */
function bundleIsCurrent(): boolean {
  if (!import.meta.url.endsWith('.js')) return false;
  try {
    return statSync(bundle).mtimeMs >= statSync(new URL('./task-main.js', import.meta.url)).mtimeMs;
  } catch {
    return false;
  }
}

if (bundleIsCurrent()) {
  await import(bundle.href);
} else {
  await import('./task-main.ts');
}
