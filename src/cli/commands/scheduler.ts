/**
 * @module cli/commands/scheduler
 * `airlock scheduler`: creates the scheduled runs of the unpaused DAGs as they fall due, until
 * SIGINT or SIGTERM. Run one next to each `airlock worker` pool, or several against one
 * PostgreSQL database for high availability (they coordinate through row locks).
 */
import type { Command } from 'commander';
import { type CliContext, untilStopSignal } from '../context.ts';
import { openPipelineEnvironment, pipelines } from './_pipelines.ts';

/** Registers `airlock scheduler`. */
export function registerSchedulerCommand(program: Command, context: CliContext): void {
  program
    .command('scheduler')
    .description(
      'create the scheduled runs of unpaused DAGs as they fall due (workers run them), until stopped',
    )
    .action(async () => {
      try {
        const p = await pipelines();
        const env = await openPipelineEnvironment(context);
        const { metastore } = env;
        const scheduler = p.startScheduler({
          ...env.processOptions,
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
