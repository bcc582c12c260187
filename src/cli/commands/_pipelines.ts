/**
 * @module cli/commands/_pipelines
 * The pipeline modules the `dags`, `tasks` and `worker` commands use, loaded when one of them
 * runs rather than when the CLI starts (a `variables get` never pays for them).
 */

/** Loads the pipeline modules (once; later calls get the cached modules). */
export async function pipelines() {
  const [environment, loader, settings, worker, scheduler, params] = await Promise.all([
    import('../../pipelines/environment.ts'),
    import('../../pipelines/loader.ts'),
    import('../../pipelines/settings.ts'),
    import('../../pipelines/worker.ts'),
    import('../../pipelines/scheduler.ts'),
    import('../../pipelines/params.ts'),
  ]);
  return { ...environment, ...loader, ...settings, ...worker, ...scheduler, ...params };
}
