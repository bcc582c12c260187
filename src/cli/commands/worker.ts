/**
 * @module cli/commands/worker
 * `airlock worker [--concurrency N]`: pulls task instances from the metastore's queue and runs
 * them, until SIGINT or SIGTERM (then it stops claiming and waits for its running tries; a
 * second signal stops them). Start as many as you like, on one machine or many, against one
 * database.
 */
import type { Command } from 'commander';
import { AirlockError } from '../../errors.ts';
import type { CliContext } from '../context.ts';
import { openPipelineEnvironment, pipelines } from './_pipelines.ts';

/** Registers `airlock worker`. */
export function registerWorkerCommand(program: Command, context: CliContext): void {
  program
    .command('worker')
    .description('run queued tasks from the metastore until stopped (SIGINT/SIGTERM)')
    .option('--concurrency <n>', 'tasks run at once (default AIRLOCK__WORKER__CONCURRENCY or 4)')
    .action(async (options: { concurrency?: string }) => {
      try {
        let concurrency: number | undefined;
        if (options.concurrency !== undefined) {
          concurrency = Number(options.concurrency);
          if (!Number.isInteger(concurrency) || concurrency < 1) {
            throw new AirlockError(
              'AIRLOCK_ERR_CLI_USAGE',
              '--concurrency must be a whole number > 0',
            );
          }
        }
        const env = await openPipelineEnvironment(context);
        const { metastore } = env;
        const worker = (await pipelines()).startWorker({
          ...env.processOptions,
          ...(concurrency === undefined ? {} : { concurrency }),
        });
        context.io.stdout(
          `worker ${worker.workerId} started (concurrency ${concurrency ?? env.settings.concurrency}, DAGs ${env.settings.dagsFolder}, metastore ${metastore.url})\n`,
        );
        await new Promise<void>((resolve) => {
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals) => {
            signals++;
            context.io.stdout(
              signals === 1
                ? `received ${signal}: waiting for ${worker.running} running task(s); send it again to stop them\n`
                : `received ${signal}: stopping the running tasks\n`,
            );
            void worker.stop({ kill: signals > 1 }).then(() => {
              process.off('SIGINT', onSignal);
              process.off('SIGTERM', onSignal);
              resolve();
            });
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
        });
        context.io.stdout(`worker ${worker.workerId} stopped\n`);
      } finally {
        await context.dispose();
      }
    });
}
