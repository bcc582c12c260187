/**
 * @module pipelines/task-entry
 * The task process's entry: turns on Node's on-disk compile cache (`module.enableCompileCache`,
 * in the OS temporary folder unless `NODE_COMPILE_CACHE` names one) before anything else is
 * loaded, so that each try reuses the bytecode of airlock's modules (and of the DAG file) that
 * an earlier try compiled, then runs {@link import('./task-main.ts')}. The cache holds compiled
 * code only, never a value.
 */
import module from 'node:module';

module.enableCompileCache?.();
await import('./task-main.ts');
