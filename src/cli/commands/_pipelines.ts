/**
 * @module cli/commands/_pipelines
 * The pipeline modules the `dags`, `tasks` and `worker` commands use, loaded when one of them
 * runs rather than when the CLI starts (a `variables get` never pays for them).
 */
import type { Metastore } from '../../metastore/metastore.ts';
import type { CliContext } from '../context.ts';

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

/**
 * The configured metastore (opened to write, created on first use) and the pipeline environment
 * over it: what `worker`, `scheduler`, `dags` and `tasks` all start from.
 */
export async function openPipelineEnvironment(context: CliContext) {
  const metastore = (await context.metastore('write')) as Metastore;
  const env = (await pipelines()).pipelineEnvironment(
    metastore,
    context.config(),
    context.io.env,
    context.masker,
  );
  return {
    metastore,
    ...env,
    /** What `startWorker` and `startScheduler` take from the environment. */
    processOptions: {
      store: env.store,
      settings: env.settings,
      env: env.taskEnv,
      masker: context.masker,
      metastore,
      logger: context.logger,
    },
  };
}
