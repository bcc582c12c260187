/**
 * @module pipelines/task-bundle-publish
 * Imported first by the task bundle's entry (`task-bundle.ts`): publishes the bundle's DAG API
 * before the task process's code runs (see `bundled.ts`).
 */
import * as api from '../dag.ts';
import { publishBundledDagApi } from './bundled.ts';

publishBundledDagApi(new URL('./task-bundle-dag.js', import.meta.url).href, api);
