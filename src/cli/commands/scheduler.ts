/**
 * @module cli/commands/scheduler
 * `airlock scheduler`: creates the scheduled runs of the unpaused DAGs as they fall due, until
 * SIGINT or SIGTERM. Run one next to each `airlock worker` pool, or several against one
 * PostgreSQL database for high availability (they coordinate through row locks).
 */
import type { Command } from 'commander';
import type { Metastore } from '../../metastore/metastore.ts';
import { type CliContext, untilStopSignal } from '../context.ts';
import { pipelines } from './_pipelines.ts';

/** Registers `airlock scheduler`. */
export function registerSchedulerCommand(program: Command, context: CliContext): void {
  program
    .command('scheduler')
    .description(
      'create the scheduled runs of unpaused DAGs as they fall due (workers run them), until stopped',
    )
    .action(async () => {
      try {
        const metastore = (await context.metastore('write')) as Metastore;
        const p = await pipelines();
        const env = p.pipelineEnvironment(
          metastore,
          context.config(),
          context.io.env,
          context.masker,
        );
        const scheduler = p.startScheduler({
          store: env.store,
          settings: env.settings,
          env: env.taskEnv,
          masker: context.masker,
          metastore,
          logger: context.logger,
          now: p.schedulerClock(context.io.env),
        });
        context.io.stdout(
          `scheduler started (DAGs ${env.settings.dagsFolder}, metastore ${metastore.url})\n`,
        );
        await untilStopSignal();
        await scheduler.stop();
        context.io.stdout('scheduler stopped\n');
      } finally {
        await context.dispose();
      }
    });
}
