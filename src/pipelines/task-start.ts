/**
 * @module pipelines/task-start
 * What a worker starts for a task process. In the built package with a current bundle (see
 * `task-entry.ts`), the bundle itself, with Node's on-disk compile cache turned on by
 * `NODE_COMPILE_CACHE` from the process's first instruction: the entry module turns the cache
 * on only once it is itself loaded, then checks the bundle and imports it, which costs a try
 * about 1.5 ms of CPU (a fifth of what the task process costs over `node -e ""`). Anywhere else
 * (the sources, a build without the bundling step), `task-entry`.
 *
 * The variable is the worker's doing, not the deployment's: it comes with
 * `OWN_COMPILE_CACHE_ENV`, and the task process removes both before anything of the task runs
 * (`task-main.ts`), so the task and what it starts see the environment they were given. A
 * deployment that sets `NODE_COMPILE_CACHE` itself keeps its own.
 *
 * Only workers and the entry module load this module, not the task bundle. Node's modules are
 * taken with `process.getBuiltinModule` (the entry loads it; see `task-entry.ts`).
 */
import { OWN_COMPILE_CACHE_ENV } from './_ipc.ts';

const { statSync } = process.getBuiltinModule('node:fs');
const { tmpdir } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');

/** The bundled task process, beside the built `task-main.js`. */
const BUNDLE = 'task-bundle-main.js';

/**
 * The task bundle in the folder of `moduleUrl`, when that folder is the built package's and the
 * bundle was made from the modules beside it (a `tsc` run without the bundling step rewrites
 * `task-main.js` and leaves an older bundle, which is then not used).
 *
 * @example
 * ```ts
 * currentTaskBundle(import.meta.url); // URL of dist/pipelines/task-bundle-main.js, or undefined
 * ```
 */
export function currentTaskBundle(moduleUrl: string): URL | undefined {
  if (!moduleUrl.endsWith('.js')) return undefined;
  const bundle = new URL(`./${BUNDLE}`, moduleUrl);
  try {
    const made = statSync(bundle).mtimeMs;
    return made >= statSync(new URL('./task-main.js', moduleUrl)).mtimeMs ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The script a worker runs for a task process, and what to add to its environment; `fallback`
 * (the entry module) when there is no current bundle.
 *
 * @example
 * ```ts
 * const { entry, extraEnv } = taskProcessStart(env, siblingEntry('task-entry'));
 * ```
 */
export function taskProcessStart(
  env: Readonly<Record<string, string | undefined>>,
  fallback: string,
): { entry: string; extraEnv: Record<string, string> } {
  const bundle = currentTaskBundle(import.meta.url);
  if (!bundle) return { entry: fallback, extraEnv: {} };
  const entry = fileURLToPath(bundle);
  // The deployment's own cache folder, if it names one, is left as it is.
  if (env.NODE_COMPILE_CACHE) return { entry, extraEnv: {} };
  // Where `module.enableCompileCache()` puts it by default, so both ways share one cache.
  const folder = join(tmpdir(), 'node-compile-cache');
  return { entry, extraEnv: { NODE_COMPILE_CACHE: folder, [OWN_COMPILE_CACHE_ENV]: '1' } };
}
