/**
 * @module cli/commands/dag-state
 * Airflow's DAG and task verbs over recorded runs: `airlock dags state DAG_ID DATE_OR_RUN_ID`,
 * `airlock dags details DAG_ID`, `airlock dags delete DAG_ID -y`, `airlock tasks list DAG_ID`,
 * `airlock tasks state DAG_ID TASK_ID DATE_OR_RUN_ID` and `airlock tasks clear DAG_ID …`. A run is
 * named by its run_id or by its logical date (ISO-8601), as Airflow's `[logical_date_or_run_id]`.
 */
import { type Command, Option } from 'commander';
import { AirlockError } from '../../errors.ts';
import type { Metastore } from '../../metastore/metastore.ts';
import type { DagRunRecord } from '../../pipelines/store.ts';
import {
  type CliContext,
  closing,
  LIST_FORMATS,
  type ListFormat,
  parseLogicalDate,
  printRows,
} from '../context.ts';
import { pipelines } from './_pipelines.ts';

/** The run `dateOrRunId` names: a run_id of the DAG, else the run at that logical date. */
async function findRun(
  metastore: Metastore | undefined,
  dagId: string,
  dateOrRunId: string,
): Promise<DagRunRecord> {
  const { PipelineStore } = await import('../../pipelines/store.ts');
  const store = metastore ? PipelineStore.from(metastore) : undefined;
  let run = await store?.getRun(dagId, dateOrRunId);
  if (!run && store && /^\d{4}-\d\d-\d\d/.test(dateOrRunId)) {
    const at = parseLogicalDate(dateOrRunId);
    const pageSize = 500;
    for (let offset = 0; !run; offset += pageSize) {
      const { runs } = await store.listRuns({ dagId, limit: pageSize, offset });
      run = runs.find((r) => r.logicalDate === at);
      if (runs.length < pageSize) break;
    }
  }
  if (!run) {
    throw new AirlockError(
      'AIRLOCK_ERR_DAG_RUN_NOT_FOUND',
      `DAG \`${dagId}\` has no run \`${dateOrRunId}\` (a run_id or a logical date)`,
      { details: { dag_id: dagId } },
    );
  }
  return run;
}

interface ClearOptions {
  taskRegex?: string;
  startDate?: string;
  endDate?: string;
  onlyFailed: boolean;
  upstream: boolean;
  downstream: boolean;
  yes: boolean;
}

/** `airlock tasks clear DAG_ID [-t REGEX] [-s DATE] [-e DATE] [-f] [-u] [-d] -y`, as Airflow's. */
function registerTasksClear(tasks: Command, context: CliContext): void {
  tasks
    .command('clear')
    .description("clear a DAG's task instances so that workers run them again")
    .argument('<dag_id>')
    .option('-t, --task-regex <regex>', 'only the tasks whose id matches')
    .option('-s, --start-date <date>', 'only runs at or after this logical date')
    .option('-e, --end-date <date>', 'only runs at or before this logical date')
    .option('-f, --only-failed', 'only failed (and upstream_failed) task instances', false)
    .option('-u, --upstream', 'also their upstream tasks', false)
    .option('-d, --downstream', 'also their downstream tasks', false)
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)', false)
    .action((dagId: string, options: ClearOptions) =>
      closing(context, async () => {
        if (!options.yes) {
          throw new AirlockError(
            'AIRLOCK_ERR_CLI_USAGE',
            'clearing runs tasks again; confirm with -y',
          );
        }
        let pattern: RegExp | undefined;
        try {
          pattern = options.taskRegex === undefined ? undefined : new RegExp(options.taskRegex);
        } catch {
          throw new AirlockError(
            'AIRLOCK_ERR_CLI_USAGE',
            '--task-regex is not a valid regular expression',
          );
        }
        const from =
          options.startDate === undefined ? undefined : parseLogicalDate(options.startDate);
        const to = options.endDate === undefined ? undefined : parseLogicalDate(options.endDate);
        const dag = await dagInfo(context, dagId);
        const { triesOf, withRelatives } = await import('../../pipelines/relatives.ts');
        const named = dag.tasks.map((t) => t.taskId).filter((id) => !pattern || pattern.test(id));
        const ids = withRelatives(dag, named, options.upstream, options.downstream);
        const metastore = await context.metastore('write');
        const { PipelineStore } = await import('../../pipelines/store.ts');
        const store = PipelineStore.from(metastore as Metastore);
        let cleared = 0;
        for (let offset = 0; ; offset += 500) {
          const { runs } = await store.listRuns({ dagId, limit: 500, offset });
          for (const run of runs) {
            if (
              (from !== undefined && run.logicalDate < from) ||
              (to !== undefined && run.logicalDate > to)
            ) {
              continue;
            }
            const tis = (await store.taskInstances(run.dagId, run.runId)).filter(
              (ti) =>
                ids.has(ti.taskId) &&
                (!options.onlyFailed || ti.state === 'failed' || ti.state === 'upstream_failed'),
            );
            const done = await store.clearTasks(
              run.dagId,
              run.runId,
              tis.map((ti) => ti.taskId),
              triesOf(dag),
            );
            for (const taskId of done) context.io.stdout(`${run.runId}\t${taskId}\n`);
            cleared += done.length;
          }
          if (runs.length < 500) break;
        }
        context.io.stdout(`Cleared ${cleared} task instance(s)\n`);
      }),
    );
}

/** The DAG, discovered in a supervised child. */
async function dagInfo(context: CliContext, dagId: string) {
  const p = await pipelines();
  const settings = p.loadPipelineSettings(context.io.env, context.config().home);
  const found = await p.discoverDagsInChild(settings.dagsFolder, {
    env: context.io.env,
    masker: context.masker,
  });
  return p.requireDagInfo(found, dagId);
}

function group(program: Command, name: string): Command {
  const found = program.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`the ${name} command group is not registered`);
  return found;
}

/**
 * Registers `dags state`, `dags details`, `tasks list` and `tasks state` (after the `dags` and
 * `tasks` groups).
 */
export function registerDagStateCommands(program: Command, context: CliContext): void {
  const dags = group(program, 'dags');
  const tasks = group(program, 'tasks');

  dags
    .command('state')
    .description("print a DAG run's state")
    .argument('<dag_id>')
    .argument('<date_or_run_id>', 'the run_id, or the logical date (ISO-8601)')
    .action((dagId: string, dateOrRunId: string) =>
      closing(context, async () => {
        const run = await findRun(await context.metastore('read'), dagId, dateOrRunId);
        context.io.stdout(`${run.state}\n`);
      }),
    );

  dags
    .command('details')
    .description("a DAG's details: file, description, tags, tasks")
    .argument('<dag_id>')
    .addOption(
      new Option('-o, --output <format>', 'table, json, yaml or plain')
        .choices([...LIST_FORMATS])
        .default('table'),
    )
    .action((dagId: string, options: { output: ListFormat }) =>
      closing(context, async () => {
        const d = await dagInfo(context, dagId);
        await printRows(
          context.io,
          [
            {
              dag_id: d.dagId,
              fileloc: d.fileloc,
              description: d.description,
              tags: d.tags.join(', '),
              tasks: d.tasks.map((t) => t.taskId).join(', '),
              schedule: d.schedule,
              is_paused: false,
            },
          ],
          options.output,
        );
      }),
    );

  dags
    .command('delete')
    .description('delete every recorded run of a DAG and its task instances (the DAG file stays)')
    .argument('<dag_id>')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)', false)
    .action((dagId: string, options: { yes: boolean }) =>
      closing(context, async () => {
        if (!options.yes) {
          throw new AirlockError(
            'AIRLOCK_ERR_CLI_USAGE',
            `this deletes every run of DAG \`${dagId}\`; confirm with -y`,
          );
        }
        const metastore = await context.metastore('write');
        const { PipelineStore } = await import('../../pipelines/store.ts');
        const store = PipelineStore.from(metastore as Metastore);
        let deleted = 0;
        for (;;) {
          const { runs } = await store.listRuns({ dagId, limit: 500 });
          if (runs.length === 0) break;
          for (const run of runs) if (await store.deleteRun(run.dagId, run.runId)) deleted++;
        }
        context.io.stdout(`Removed ${deleted} run(s) of DAG ${dagId}\n`);
      }),
    );

  registerTasksClear(tasks, context);

  tasks
    .command('list')
    .description("a DAG's task ids, in dependency order")
    .argument('<dag_id>')
    .action((dagId: string) =>
      closing(context, async () => {
        const d = await dagInfo(context, dagId);
        context.io.stdout(d.tasks.map((t) => `${t.taskId}\n`).join(''));
      }),
    );

  tasks
    .command('state')
    .description("print a task instance's state (None when it has none yet)")
    .argument('<dag_id>')
    .argument('<task_id>')
    .argument('<date_or_run_id>', 'the run_id, or the logical date (ISO-8601)')
    .action((dagId: string, taskId: string, dateOrRunId: string) =>
      closing(context, async () => {
        const metastore = await context.metastore('read');
        const run = await findRun(metastore, dagId, dateOrRunId);
        const { PipelineStore } = await import('../../pipelines/store.ts');
        const ti = await PipelineStore.from(metastore as Metastore).getTaskInstance(
          run.dagId,
          run.runId,
          taskId,
        );
        if (!ti) {
          throw new AirlockError(
            'AIRLOCK_ERR_DAG_TASK_NOT_FOUND',
            `run \`${run.runId}\` of DAG \`${dagId}\` has no task \`${taskId}\``,
            { details: { dag_id: dagId, task_id: taskId } },
          );
        }
        context.io.stdout(`${ti.state ?? 'None'}\n`);
      }),
    );
}
