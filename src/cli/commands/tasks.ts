/**
 * @module cli/commands/tasks
 * `airlock tasks test DAG_ID TASK_ID` (one task, in its own process, its output masked on this
 * terminal; no state is recorded and upstream tasks are not checked, as `airflow tasks test`) and
 * `airlock tasks states-for-dag-run DAG_ID RUN_ID`.
 */
import { type Command, Option } from 'commander';
import { AirlockError } from '../../errors.ts';

import {
  type CliContext,
  closing,
  LIST_FORMATS,
  type ListFormat,
  parseLogicalDate,
  printRows,
} from '../context.ts';
import { openPipelineEnvironment, pipelines } from './_pipelines.ts';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Registers `airlock tasks …`. */
export function registerTasksCommands(program: Command, context: CliContext): void {
  const tasks = program.command('tasks').description("test a DAG's tasks and list their states");

  tasks
    .command('test')
    .description(
      'run one task in its own process, its log on this terminal; records no state, checks no upstream task',
    )
    .argument('<dag_id>')
    .argument('<task_id>')
    .argument(
      '[date_or_run_id]',
      'a logical date (ISO-8601), or the run_id of a run whose logical date and conf to use',
    )
    .option('-c, --conf <json>', 'a JSON object, the run\'s "conf"')
    .action(
      (dagId: string, taskId: string, dateOrRun: string | undefined, options: { conf?: string }) =>
        closing(context, async () => {
          let conf = (await pipelines()).parseConf(options.conf);
          const config = context.config();
          const settings = (await pipelines()).loadPipelineSettings(context.io.env, config.home);
          // The DAG file is loaded in a supervised child, never in this process.
          const d = (await pipelines()).requireDagInfo(
            await (await pipelines()).discoverDagsInChild(settings.dagsFolder, {
              env: context.io.env,
              masker: context.masker,
            }),
            dagId,
          );
          const t = d.tasks.find((x) => x.taskId === taskId);
          if (!t) {
            throw new AirlockError(
              'AIRLOCK_ERR_DAG_TASK_NOT_FOUND',
              `DAG \`${dagId}\` has no task \`${taskId}\``,
              { details: { dag_id: dagId, task_id: taskId } },
            );
          }
          // With a metastore, the deployment settings apply too; without one, the environment.
          const metastore = await context.metastore('read');
          const env = metastore
            ? await (await pipelines()).deploymentEnvironment(
                metastore,
                context.io.env,
                context.masker,
              )()
            : context.io.env;
          let logical = new Date();
          let runId: string | undefined;
          let interval: { start: number; end: number } | undefined;
          if (dateOrRun !== undefined && /^\d{4}-\d\d-\d\d/.test(dateOrRun)) {
            logical = new Date(parseLogicalDate(dateOrRun));
          } else if (dateOrRun !== undefined) {
            // A run_id: the run's logical date and conf (a --conf still wins), as Airflow's.
            const { PipelineStore } = await import('../../pipelines/store.ts');
            const run = metastore
              ? await PipelineStore.from(metastore).getRun(dagId, dateOrRun)
              : undefined;
            if (!run) {
              throw new AirlockError(
                'AIRLOCK_ERR_DAG_RUN_NOT_FOUND',
                `DAG \`${dagId}\` has no run \`${dateOrRun}\`; give a logical date or an existing run_id`,
                { details: { dag_id: dagId, run_id: dateOrRun } },
              );
            }
            logical = new Date(run.logicalDate);
            runId = run.runId;
            interval = {
              start: run.dataIntervalStart ?? run.logicalDate,
              end: run.dataIntervalEnd ?? run.logicalDate,
            };
            if (options.conf === undefined) conf = { ...run.conf };
          }
          const now = logical;
          const result = await (await pipelines()).runTaskProcess(
            {
              dagsFolder: settings.dagsFolder,
              fileloc: d.fileloc,
              dagId,
              taskId,
              runId: runId ?? `test__${now.toISOString()}`,
              runType: 'test',
              tryNumber: 1,
              maxTries: 1,
              logicalDate: now.toISOString(),
              dataIntervalStart: new Date(interval?.start ?? now.getTime()).toISOString(),
              dataIntervalEnd: new Date(interval?.end ?? now.getTime()).toISOString(),
              conf,
            },
            {
              env,
              masker: context.masker,
              onLine: (line) => context.io.stdout(`${line}\n`),
              timeoutMs: t.timeoutSeconds === null ? null : t.timeoutSeconds * 1000,
            },
          );
          if (result.exitCode !== 0 || result.timedOut) {
            throw new AirlockError(
              'AIRLOCK_ERR_DAG_RUN_FAILED',
              `task \`${taskId}\` of DAG \`${dagId}\` failed${result.timedOut ? ' (timed out)' : ''}`,
              { details: { dag_id: dagId, task_id: taskId } },
            );
          }
        }),
    );

  tasks
    .command('states-for-dag-run')
    .description("the states of a DAG run's tasks")
    .argument('<dag_id>')
    .argument('<run_id>')
    .addOption(
      new Option('-o, --output <format>', 'table, json, yaml or plain')
        .choices([...LIST_FORMATS])
        .default('table'),
    )
    .action((dagId: string, runId: string, options: { output: ListFormat }) =>
      closing(context, async () => {
        const { store } = await openPipelineEnvironment(context);
        const run = await store.getRun(dagId, runId);
        if (!run) {
          throw new AirlockError(
            'AIRLOCK_ERR_DAG_RUN_NOT_FOUND',
            `DAG \`${dagId}\` has no run \`${runId}\``,
            { details: { dag_id: dagId, run_id: runId } },
          );
        }
        const rows = (await store.taskInstances(dagId, runId)).map((ti) => ({
          dag_id: ti.dagId,
          run_id: ti.runId,
          task_id: ti.taskId,
          state: ti.state,
          try_number: ti.tryNumber,
          start_date: iso(ti.startDate),
          end_date: iso(ti.endDate),
        }));
        await printRows(context.io, rows, options.output);
      }),
    );
}
