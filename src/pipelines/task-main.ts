/**
 * @module pipelines/task-main
 * The task process: runs one try of one task. Its supervisor (the worker, `dags test`,
 * `tasks test`; see `supervisor.ts`) starts it with the deployment's environment minus airlock's
 * own credentials, the try's description in `AIRLOCK_TASK_SPEC` (JSON, {@link TaskSpec}), and a
 * channel (see `_ipc.ts`) over which `Variable.get` / `Connection.get` ask the supervisor.
 *
 * The supervisor masks this process's stdout and stderr as bytes: that is the safety net. This
 * process also masks what it writes itself and what goes through `process.stdout` /
 * `process.stderr` (one ordered stream to stdout, written synchronously), which is cheap and
 * covers `console.log` of objects early. Exit code 0: the try succeeded; 1: it failed.
 */
import { readMaskingSettings } from '../config/masking-settings.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import { SecretsMasker } from '../masking/masker.ts';
import { AWAIT_SPEC_ENV, OWN_COMPILE_CACHE_ENV, SPEC_MESSAGE } from './_ipc.ts';
import { MaskedOutput } from './_output.ts';
import {
  Connection,
  createTaskRuntime,
  type DagRunInfo,
  setTaskRuntime,
  type TaskContext,
  type TaskLogger,
  Variable,
} from './context.ts';
import { SkipTask, type Task } from './dag.ts';
import { loadDagFromFile } from './loader.ts';
import { resolveParams } from './params.ts';
import {
  askSupervisor,
  connectToSupervisor,
  openSupervisorChannel,
  releaseSupervisorChannel,
  tellOutcome,
} from './supervised.ts';
import {
  RETURN_VALUE_KEY,
  serializeXcom,
  throwIfXcomError,
  XCOM_MESSAGE,
  type XcomReply,
} from './xcom.ts';

/** The try a task process runs. */
export interface TaskSpec {
  readonly dagsFolder: string;
  /** The DAG file, relative to the folder. */
  readonly fileloc: string;
  readonly dagId: string;
  readonly taskId: string;
  readonly runId: string;
  readonly runType: string;
  readonly tryNumber: number;
  readonly maxTries: number;
  /** ISO-8601. */
  readonly logicalDate: string;
  /** ISO-8601: the run's data interval. */
  readonly dataIntervalStart: string;
  readonly dataIntervalEnd: string;
  readonly conf: Readonly<Record<string, unknown>>;
  /** Set to run the DAG's callback for a run that ended (`success` or `failed`), not a task. */
  readonly callback?: 'success' | 'failed';
}

// Before anything of the task: the `NODE_COMPILE_CACHE` its worker set goes (Node read it at
// start-up; the cache stays on), so the task's environment is the one it was given (see
// `task-start.ts`).
if (process.env[OWN_COMPILE_CACHE_ENV] === '1') {
  delete process.env.NODE_COMPILE_CACHE;
  delete process.env[OWN_COMPILE_CACHE_ENV];
}

const masker = new SecretsMasker();
// stdout and stderr are merged into one ordered, masked stream on fd 1.
const output = new MaskedOutput(1, masker);
output.install();

async function finish(code: number): Promise<never> {
  output.end();
  await releaseSupervisorChannel();
  process.exit(code);
}

function line(level: string, message: string): void {
  output.write(`${level} - ${message}\n`);
}

function describe(err: unknown): string {
  if (isAirlockError(err)) return `${err.name} ${err.code}: ${err.message}`;
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return `a thrown ${typeof err}`;
}

/**
 * The masker's sensitive words from the (credential-free) environment, as the chain's: only
 * those two settings are read (not the whole configuration with every backend's option schema,
 * which a task process never needs). An invalid value reads as Airflow's default (the
 * supervisor masks by its own settings).
 */
function configureFromEnv(m: SecretsMasker): void {
  const settings = readMaskingSettings(process.env);
  m.configure({
    sensitiveWords: settings.sensitiveVarConnNames,
    hideSensitive: settings.hideSensitiveVarConnFields,
  });
}

function parseSpec(text: string | undefined): TaskSpec | undefined {
  try {
    return JSON.parse(text ?? '') as TaskSpec;
  } catch {
    return undefined;
  }
}

/**
 * The try: from `AIRLOCK_TASK_SPEC`, or, in a process its worker started ahead of the try
 * (`AIRLOCK_TASK_AWAIT_SPEC`), from the worker's one {@link SPEC_MESSAGE} (everything above is
 * loaded by then), waited for in a blocking read: the process has nothing else to do. A process
 * whose worker goes away while it waits exits.
 */
async function readSpec(): Promise<TaskSpec | undefined> {
  const channel = process.env[AWAIT_SPEC_ENV] === '1' ? openSupervisorChannel() : undefined;
  delete process.env[AWAIT_SPEC_ENV];
  if (!channel) return parseSpec(process.env.AIRLOCK_TASK_SPEC);
  let spec: TaskSpec | undefined;
  const take = (message: unknown) => {
    const m = message as { type?: unknown; spec?: unknown } | null | undefined;
    if (m === undefined) process.exit(1);
    if (m?.type !== SPEC_MESSAGE) return false;
    spec = m.spec as TaskSpec;
    return true;
  };
  if (channel.receiveSync(take)) return spec;
  return new Promise((resolve) => {
    channel.receive((message) => {
      if (!take(message)) return false;
      resolve(spec);
      return true;
    });
  });
}

const read = await readSpec();
if (!read) {
  line('ERROR', 'airlock: AIRLOCK_TASK_SPEC is missing or is not JSON');
  await finish(2);
}
const spec = read as TaskSpec;
delete process.env.AIRLOCK_TASK_SPEC;

const controller = new AbortController();
process.on('SIGTERM', () => {
  line('WARNING', 'received SIGTERM: stopping the task');
  controller.abort(new Error('the task was stopped (SIGTERM)'));
  // A second to clean up on the abort signal, then the try ends (the worker kills it later).
  setTimeout(() => {
    line('INFO', `Marking task as FAILED. dag_id=${spec.dagId}, task_id=${spec.taskId}`);
    void finish(143);
  }, 1000);
});

const log: TaskLogger = {
  debug: (m) => line('DEBUG', m),
  info: (m) => line('INFO', m),
  warn: (m) => line('WARNING', m),
  error: (m) => line('ERROR', m),
};

function isSkip(err: unknown): err is Error {
  return err instanceof SkipTask || (err as { airlockSkip?: unknown } | null)?.airlockSkip === true;
}

/** Runs a callback; what it throws is logged and changes nothing (as in Airflow). */
async function runCallback(name: string, fn: () => unknown): Promise<void> {
  try {
    line('INFO', `Executing ${name}`);
    await fn();
  } catch (err) {
    line('ERROR', `${name} failed: ${describe(err)}`);
  }
}

const dagRun: DagRunInfo = {
  dagId: spec.dagId,
  runId: spec.runId,
  logicalDate: spec.logicalDate,
  dataIntervalStart: spec.dataIntervalStart,
  dataIntervalEnd: spec.dataIntervalEnd,
  runType: spec.runType,
  conf: spec.conf,
};
let context: TaskContext | undefined;
let current: Task<unknown> | undefined;
let skipDownstream = false;

try {
  const supervised = connectToSupervisor(masker);
  const runtime = supervised
    ? { resolver: supervised, masker, dispose: async () => {} }
    : createTaskRuntime(process.env, { masker });
  if (supervised) configureFromEnv(masker);
  setTaskRuntime(runtime);
  const d = await loadDagFromFile(spec.dagsFolder, spec.fileloc, spec.dagId);
  const t = d.getTask(spec.taskId);
  current = t;
  if (spec.callback) {
    // The DAG's run ended: its callback, in this supervised process.
    const callback = spec.callback === 'success' ? d.onSuccess : d.onFailure;
    if (callback) {
      await runCallback(
        `the DAG's on${spec.callback === 'success' ? 'Success' : 'Failure'} callback`,
        () =>
          callback({
            dagId: spec.dagId,
            runId: spec.runId,
            state: spec.callback as string,
            dagRun,
            log,
          }),
      );
    }
    await runtime.dispose().catch(() => {});
    await finish(0);
  } else if (!t) {
    line('ERROR', `DAG \`${spec.dagId}\` has no task \`${spec.taskId}\``);
    await finish(1);
  } else {
    // The upstream tasks' values (direct or not), asked for once so that `upstream(a)` is
    // synchronous: they all ended before this task was queued.
    const ancestors = new Set<string>();
    const visit = (id: string) => {
      for (const up of d.getTask(id)?.upstream ?? []) {
        if (!ancestors.has(up)) {
          ancestors.add(up);
          visit(up);
        }
      }
    };
    visit(t.id);
    // No upstream task: no question (a round trip to the supervisor and its database).
    const pulled =
      supervised && ancestors.size > 0
        ? throwIfXcomError(
            await askSupervisor<XcomReply>(
              { type: XCOM_MESSAGE, op: 'pull', key: RETURN_VALUE_KEY, taskIds: [...ancestors] },
              "the upstream tasks' values",
            ),
          ).values
        : {};
    const upstream = (task: Task<unknown> | string): unknown => {
      const id = typeof task === 'string' ? task : task.id;
      const text = pulled[id];
      if (text === undefined) {
        throw new AirlockError(
          'AIRLOCK_ERR_DAG_XCOM_NOT_FOUND',
          ancestors.has(id)
            ? `upstream task \`${id}\` returned no value in run \`${spec.runId}\``
            : `task \`${id}\` is not upstream of \`${spec.taskId}\` (add it to dependsOn)`,
          { details: { task_id: id } },
        );
      }
      return JSON.parse(text) as unknown;
    };
    const params = resolveParams(d.params, spec.conf);
    context = {
      dagId: spec.dagId,
      taskId: spec.taskId,
      runId: spec.runId,
      tryNumber: spec.tryNumber,
      maxTries: spec.maxTries,
      logicalDate: spec.logicalDate,
      dataIntervalStart: spec.dataIntervalStart,
      dataIntervalEnd: spec.dataIntervalEnd,
      dagRun,
      params,
      upstream: upstream as TaskContext['upstream'],
      skip: (reason?: string) => {
        throw new SkipTask(reason);
      },
      skipDownstream: () => {
        skipDownstream = true;
      },
      signal: controller.signal,
      log,
      Variable,
      Connection,
    };
    line(
      'INFO',
      `Executing <Task ${spec.dagId}.${spec.taskId}> run_id=${spec.runId} try ${spec.tryNumber}/${spec.maxTries}`,
    );
    const returned = await t.fn(context as TaskContext);
    const text = serializeXcom(returned);
    if (text !== undefined) {
      if (supervised) {
        throwIfXcomError(
          await askSupervisor<XcomReply>(
            { type: XCOM_MESSAGE, op: 'push', key: RETURN_VALUE_KEY, value: text },
            "the task's return value",
          ),
        );
      }
      // Shown as it is stored: masked, strings under sensitive keys included.
      const shown = JSON.stringify(
        masker.redactValue(JSON.parse(text) as unknown, RETURN_VALUE_KEY),
      );
      line(
        'INFO',
        `Done. Returned value was: ${shown.length > 1000 ? `${shown.slice(0, 1000)}…` : shown}`,
      );
    }
    const { onSuccess } = t.callbacks;
    if (onSuccess) await runCallback('onSuccess callback', () => onSuccess(context as TaskContext));
    if (skipDownstream) tellOutcome({ skipDownstream: true });
    line('INFO', `Marking task as SUCCESS. dag_id=${spec.dagId}, task_id=${spec.taskId}`);
    await runtime.dispose().catch(() => {});
    await finish(0);
  }
} catch (err) {
  if (isSkip(err)) {
    line('INFO', `Skipping task: ${masker.redact(err.message)}`);
    tellOutcome({ skipped: true });
    line('INFO', `Marking task as SKIPPED. dag_id=${spec.dagId}, task_id=${spec.taskId}`);
    await finish(0);
  }
  line('ERROR', `Task failed with exception: ${describe(err)}`);
  const { onFailure } = current?.callbacks ?? {};
  if (onFailure && context && spec.tryNumber >= spec.maxTries) {
    const ctx = context;
    await runCallback('onFailure callback', () => onFailure(ctx, err));
  }
  line('INFO', `Marking task as FAILED. dag_id=${spec.dagId}, task_id=${spec.taskId}`);
  await finish(1);
}
