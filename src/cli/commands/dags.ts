/**
 * @module cli/commands/dags
 * `airlock dags list | list-import-errors | list-runs | trigger | test | pause | unpause`, as
 * Airflow's `airflow dags …`.
 * DAG files are loaded from `$AIRLOCK_HOME/dags` (or `AIRLOCK__CORE__DAGS_FOLDER`); a broken file
 * is reported, and the others still load.
 */
import { type Command, Option } from 'commander';
import { AirlockError } from '../../errors.ts';

import type { DagRunRecord } from '../../pipelines/store.ts';

import {
  argumentOrFlag,
  type CliContext,
  closing,
  LIST_FORMATS,
  type ListFormat,
  parseLogicalDate,
  printRows,
} from '../context.ts';
import { openPipelineEnvironment, pipelines } from './_pipelines.ts';

interface ListRunsOptions {
  dagId?: string;
  output: ListFormat;
  limit: string;
}

interface TriggerOptions {
  runId?: string;
  conf?: string;
  logicalDate?: string;
  execDate?: string;
  output: ListFormat;
}

function outputOption(): Option {
  return new Option('-o, --output <format>', 'table, json, yaml or plain')
    .choices([...LIST_FORMATS])
    .default('table');
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** A run as Airflow's `dags list-runs` / `dags trigger` print it. */
export function runRow(run: DagRunRecord): Record<string, unknown> {
  return {
    dag_id: run.dagId,
    run_id: run.runId,
    state: run.state,
    run_type: run.runType,
    logical_date: iso(run.logicalDate),
    data_interval_start: iso(run.dataIntervalStart),
    data_interval_end: iso(run.dataIntervalEnd),
    start_date: iso(run.startDate),
    end_date: iso(run.endDate),
  };
}

/** The pipeline store over the configured metastore (created on first use). */
async function storeOf(context: CliContext) {
  return (await openPipelineEnvironment(context)).store;
}

/**
 * Discovers the DAGs folder and records what it found in the metastore (a DAG seen for the first
 * time starts paused unless configured otherwise), as the scheduler does: its pause state and
 * next run are then known.
 */
async function syncedDags(context: CliContext) {
  const p = await pipelines();
  const found = await bag(context);
  const store = await storeOf(context);
  const settings = p.loadPipelineSettings(context.io.env, context.config().home);
  await store.syncDags(found.dags, {
    now: p.schedulerClock(context.io.env)(),
    pausedAtCreation: settings.pausedAtCreation,
  });
  return { found, store, states: await store.dagStates() };
}

function setPausedCommand(dags: Command, context: CliContext, paused: boolean): void {
  dags
    .command(paused ? 'pause' : 'unpause')
    .description(
      paused
        ? 'pause a DAG: the scheduler creates no run for it (runs already queued still run)'
        : 'unpause a DAG: the scheduler creates its runs as they fall due',
    )
    .argument('<dag_id>')
    .addOption(outputOption())
    .action((dagId: string, options: { output: ListFormat }) =>
      closing(context, async () => {
        const { found, store } = await syncedDags(context);
        (await pipelines()).requireDagInfo(found, dagId);
        const state = await store.setPaused(dagId, paused);
        await printRows(
          context.io,
          [{ dag_id: state.dagId, is_paused: state.isPaused }],
          options.output,
        );
      }),
    );
}

/**
 * The DAGs folder, loaded in a supervised child (never in this process): its import errors come
 * back masked with the environment's secrets and whatever the DAG files resolved.
 */
async function bag(context: CliContext) {
  const config = context.config();
  const p = await pipelines();
  const settings = p.loadPipelineSettings(context.io.env, config.home);
  return p.discoverDagsInChild(settings.dagsFolder, {
    env: context.io.env,
    masker: context.masker,
  });
}

function warnImportErrors(context: CliContext, count: number): void {
  if (count > 0) {
    context.io.stderr(
      `airlock: warning: ${count} DAG file(s) failed to load; see \`airlock dags list-import-errors\`\n`,
    );
  }
}

/** Registers `airlock dags …`. */
export function registerDagsCommands(program: Command, context: CliContext): void {
  const dags = program.command('dags').description('list, trigger and test DAGs (pipelines)');

  dags
    .command('list')
    .description('list the DAGs in the DAGs folder')
    .addOption(outputOption())
    .action((options: { output: ListFormat }) =>
      closing(context, async () => {
        const { found, states } = await syncedDags(context);
        const rows = found.dags.map((d) => {
          const state = states.get(d.dagId);
          return {
            dag_id: d.dagId,
            fileloc: d.fileloc,
            is_paused: state?.isPaused ?? null,
            schedule: d.schedule,
            next_dagrun: iso(state?.nextDagrun ?? null),
            next_dagrun_data_interval_start: iso(state?.nextDagrunDataIntervalStart ?? null),
            next_dagrun_data_interval_end: iso(state?.nextDagrunDataIntervalEnd ?? null),
            tags: d.tags.join(', '),
            tasks: d.tasks.map((t) => t.taskId).join(', '),
            description: d.description,
          };
        });
        await printRows(context.io, rows, options.output, [
          'dag_id',
          'fileloc',
          'is_paused',
          'schedule',
          'next_dagrun',
          'next_dagrun_data_interval_start',
          'next_dagrun_data_interval_end',
          'tags',
          'tasks',
          'description',
        ]);
        warnImportErrors(context, found.errors.length);
      }),
    );

  setPausedCommand(dags, context, true);
  setPausedCommand(dags, context, false);

  dags
    .command('list-import-errors')
    .description('list the DAG files that failed to load, with their errors')
    .addOption(outputOption())
    .action((options: { output: ListFormat }) =>
      closing(context, async () => {
        const found = await bag(context);
        const rows = found.errors.map((e) => ({
          filepath: e.file,
          error: e.message,
        }));
        await printRows(context.io, rows, options.output, ['filepath', 'error']);
        if (rows.length > 0) context.exitCode = 1;
      }),
    );

  dags
    .command('list-runs')
    .description("list a DAG's runs, newest first")
    .argument('[dag_id]', 'the DAG (or -d)')
    .option('-d, --dag-id <dag_id>', "the DAG (Airflow 2's flag)")
    .addOption(outputOption())
    .option('--limit <n>', 'at most this many runs', '100')
    .action((positional: string | undefined, options: ListRunsOptions) =>
      closing(context, async () => {
        const dagId = argumentOrFlag('DAG', '-d', positional, options.dagId);
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1) {
          throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', '--limit must be a whole number > 0');
        }
        const store = await storeOf(context);
        const { runs } = await store.listRuns({ dagId, limit });
        await printRows(context.io, runs.map(runRow), options.output);
      }),
    );

  dags
    .command('trigger')
    .description('queue a run of a DAG; a worker (`airlock worker`) runs it')
    .argument('<dag_id>')
    .option('-r, --run-id <run_id>', 'the run id (default manual__<time>)')
    .option('-c, --conf <json>', 'a JSON object, the run\'s "conf"')
    .option('-l, --logical-date <date>', "the run's logical date (ISO-8601; default now)")
    .option('-e, --exec-date <date>', "the logical date, as Airflow 2's flag names it")
    .addOption(outputOption())
    .action((dagId: string, options: TriggerOptions) =>
      closing(context, async () => {
        const conf = (await pipelines()).parseConf(options.conf);
        const dates = [options.logicalDate, options.execDate].filter((d) => d !== undefined);
        if (dates.length === 2 && dates[0] !== dates[1]) {
          throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', 'give -l or -e, not both');
        }
        const logicalDate = dates[0] === undefined ? undefined : parseLogicalDate(dates[0]);
        // Recorded as the scheduler records it (the worker reads the DAG's callbacks there).
        const { found } = await syncedDags(context);
        const d = (await pipelines()).requireDagInfo(found, dagId);
        (await pipelines()).resolveParams(d.params, conf);
        const store = await storeOf(context);
        const run = await store.createRun({
          dag: d,
          conf,
          triggeredBy: 'cli',
          ...(options.runId === undefined ? {} : { runId: options.runId }),
          ...(logicalDate === undefined ? {} : { logicalDate }),
        });
        await printRows(context.io, [runRow(run)], options.output);
      }),
    );

  dags
    .command('test')
    .description(
      'run a DAG once in the foreground: every task in its own process, logs on this terminal',
    )
    .argument('<dag_id>')
    .argument('[logical_date]', "the run's logical date (ISO-8601; default now)")
    .option('-c, --conf <json>', 'a JSON object, the run\'s "conf"')
    .action((dagId: string, date: string | undefined, options: { conf?: string }) =>
      closing(context, async () => {
        const conf = (await pipelines()).parseConf(options.conf);
        const logicalDate = date === undefined ? undefined : parseLogicalDate(date);
        // Recorded as the scheduler records it (the worker reads the DAG's callbacks there).
        const { found } = await syncedDags(context);
        const d = (await pipelines()).requireDagInfo(found, dagId);
        (await pipelines()).resolveParams(d.params, conf);
        const env = await openPipelineEnvironment(context);
        const { metastore } = env;
        const now = Date.now();
        const run = await env.store.createRun({
          dag: d,
          conf,
          runType: 'test',
          runId: `test__${new Date(logicalDate ?? now).toISOString()}`,
          triggeredBy: 'cli',
          now,
          ...(logicalDate === undefined ? {} : { logicalDate }),
        });
        context.io.stdout(`Running DAG ${dagId} (run_id ${run.runId})\n`);
        const { startWorker } = await pipelines();
        const final = await new Promise<DagRunRecord>((resolve, reject) => {
          let settled = false;
          const check = async () => {
            const current = await env.store.getRun(dagId, run.runId);
            if (
              !settled &&
              current &&
              (current.state === 'success' || current.state === 'failed')
            ) {
              settled = true;
              clearInterval(poller);
              await worker.stop();
              resolve(current);
            }
          };
          const worker = startWorker({
            store: env.store,
            settings: {
              ...env.settings,
              pollIntervalMs: Math.min(env.settings.pollIntervalMs, 200),
            },
            env: env.taskEnv,
            masker: context.masker,
            metastore,
            logger: context.logger,
            filter: { dagId, runId: run.runId },
            onLine: (ti, line) => context.io.stdout(`[${ti.taskId}] ${line}\n`),
            onTryFinished: (ti, state) => {
              context.io.stdout(`[${ti.taskId}] try ${ti.tryNumber}: ${state ?? 'not recorded'}\n`);
              check().catch(reject);
            },
          });
          // Another worker on the same database may finish the run's last task.
          const poller = setInterval(() => check().catch(reject), 1000);
          check().catch(reject);
        });
        const tis = await env.store.taskInstances(dagId, run.runId);
        for (const ti of tis) context.io.stdout(`${ti.taskId}\t${ti.state ?? 'none'}\n`);
        context.io.stdout(`DAG run ${run.runId}: ${final.state}\n`);
        if (final.state !== 'success') {
          throw new AirlockError(
            'AIRLOCK_ERR_DAG_RUN_FAILED',
            `DAG \`${dagId}\` run \`${run.runId}\` failed; the logs are under ${env.settings.logsFolder}`,
            { details: { dag_id: dagId, run_id: run.runId } },
          );
        }
      }),
    );
}
