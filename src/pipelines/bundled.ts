/**
 * @module pipelines/bundled
 * The task bundle's DAG API (see `task-entry.ts`). A task process built from the bundle holds one
 * copy of airlock's modules, inside the bundle; the bundle publishes its DAG API (what
 * `airlock/dag` exports) here, on `globalThis`, with the URL of the small module that re-exports
 * it (`task-bundle-dag.ts`). The `airlock` resolve hook (`loader.ts`) sends a DAG file's
 * `import { dag, task } from 'airlock'` there, so that the DAG file and the task process share
 * those modules instead of loading a second copy of them from the package.
 */
import type * as DagApi from '../dag.ts';

/** Where the API is published (`task-bundle-dag.ts` reads it by the same key). */
export const BUNDLED_DAG_API_KEY = 'airlock.pipelines.bundled-dag-api';
const KEY = Symbol.for(BUNDLED_DAG_API_KEY);

type Published = { readonly url: string; readonly api: typeof DagApi };
const slots = globalThis as { [KEY]?: Published };

/** Publishes the bundle's DAG API, re-exported by the module at `url`. */
export function publishBundledDagApi(url: string, api: typeof DagApi): void {
  slots[KEY] = { url, api };
}

/** The published DAG API's module URL, when this process runs the bundle. */
export function bundledDagApiUrl(): string | undefined {
  return slots[KEY]?.url;
}

/** The published DAG API (what `task-bundle-dag.ts` re-exports). */
export function bundledDagApi(): typeof DagApi {
  const published = slots[KEY];
  if (!published) throw new Error('airlock: the task bundle did not publish its DAG API');
  return published.api;
}
