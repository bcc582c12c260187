/**
 * @module pipelines/worker
 * Runs tasks: a worker claims task instances from the queue (see `store.ts`), runs each try in
 * its own supervised child process (see `supervisor.ts`: the worker masks its output as bytes and
 * answers its lookups through one resolver per settings version), writes the try's masked log,
 * heart-beats while it runs, enforces the task's timeout, and records the outcome (success, a
 * retry after the delay, or failure, and what that means for the tasks after it).
 *
 * Any number of workers, on one machine or many, may pull from one database; `concurrency`
 * bounds the tries one worker runs at once. On start, and then periodically, a worker marks
 * `failed` the running tries whose heartbeat is stale (their worker crashed).
 */
import { createInterface } from 'node:readline';
import type { Logger } from '../logging/logger.ts';
import { registerEnvironmentSecrets } from '../masking/deployment.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { Metastore } from '../metastore/metastore.ts';
import { AWAIT_SPEC_ENV, SPEC_MESSAGE } from './_ipc.ts';
import { siblingEntry } from './loader.ts';
import { appendLogLines, TaskLogFile, taskLogPath } from './logs.ts';
import type { PipelineSettings } from './settings.ts';
import {
  type ClaimFilter,
  type DagRunRecord,
  defaultWorkerId,
  type PipelineStore,
  TASK_QUEUED_CHANNEL,
  type TaskInstanceRecord,
} from './store.ts';
import { isOutcomeMessage } from './supervised.ts';
import {
  createSupervisorLookup,
  type SpawnSupervisedOptions,
  type SupervisedChild,
  type SupervisorLookup,
  spawnSupervised,
  supervisorLookups,
} from './supervisor.ts';
import type { TaskSpec } from './task-main.ts';
import { taskProcessStart } from './task-start.ts';
import type { XcomChannel } from './xcom.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The "task" folder of a run's log that holds its DAG callback's output. */
export const DAG_CALLBACK_LOG = 'dag_callback';

/** Options of {@link runTaskProcess}. */
export interface RunTaskProcessOptions {
  /** The deployment's environment; the task process gets it without airlock's credentials. */
  env: Env;
  /**
   * The supervisor's masker (holding the deployment's secrets): the try's output is masked with
   * a copy of it, to which what the task resolves is added.
   */
  masker: SecretsMasker;
  /** Where the task's `Variable.get` / `Connection.get` are resolved. @default one built from `env` */
  lookup?: SupervisorLookup | undefined;
  /** The try's log file; `undefined` writes none (`tasks test`). */
  logPath?: string | undefined;
  /** Also receives every (masked) line, e.g. to echo it on a terminal. */
  onLine?: ((line: string) => void) | undefined;
  /** Kill the try after this long. @default none */
  timeoutMs?: number | null | undefined;
  /** Stops the try (SIGTERM, then SIGKILL after `killGraceMs`). */
  signal?: AbortSignal | undefined;
  /** @default 5000 */
  killGraceMs?: number;
  /** Called with the child's pid once it started. */
  onStart?: (pid: number) => void;
  /** Where the try's return value is kept and its upstream values read. @default none (`tasks test`) */
  xcom?: XcomChannel | undefined;
  /**
   * A task process started ahead for this try ({@link startSpareTaskProcess}); used when it is
   * still alive and was started with this `env`, else a process is started now.
   */
  spare?: SpareTaskProcess | undefined;
}

/**
 * A task process started before its try (by {@link startSpareTaskProcess}): Node and airlock's
 * modules are loaded, no try and no secret of a try is in it yet. It serves one try only.
 */
export interface SpareTaskProcess {
  readonly env: Env;
  /** The masker of its pipes: a fork of the worker's, for this process's one try. */
  readonly masker: SecretsMasker;
  readonly supervised: SupervisedChild;
  /** The try's task values, set when the try is handed over. */
  readonly xcom: { current: XcomChannel | undefined };
  /** Whether it can still take a try. */
  alive(): boolean;
  /** Ends it unused. */
  discard(): void;
}

/** What a task process runs without a current bundle: the entry that turns on the compile cache. */
const TASK_ENTRY = 'task-entry';

/**
 * Starts a task process under supervision: the bundle or the entry (see `task-start.ts`), with
 * `extraEnv` added to what that needs in its environment.
 */
function spawnTaskProcess(
  options: SpawnSupervisedOptions & { env: Env; extraEnv: Readonly<Record<string, string>> },
): SupervisedChild {
  const start = taskProcessStart(options.env, siblingEntry(TASK_ENTRY));
  return spawnSupervised(start.entry, [], {
    ...options,
    extraEnv: { ...start.extraEnv, ...options.extraEnv },
  });
}

/**
 * Starts a task process that loads and then waits for its try (see `task-main.ts`), so that the
 * try does not wait for Node's start-up. It gets the same environment (without airlock's
 * credentials) as a process started for the try, and a fresh masker fork of its own.
 *
 * @example
 * ```ts
 * const spare = startSpareTaskProcess(env, masker, lookup);
 * await runTaskProcess(spec, { env, masker, lookup, spare });
 * ```
 */
export function startSpareTaskProcess(
  env: Env,
  masker: SecretsMasker,
  lookup: SupervisorLookup,
): SpareTaskProcess {
  const own = masker.fork();
  const xcom: { current: XcomChannel | undefined } = { current: undefined };
  const none = () => Promise.reject(new Error('no try yet'));
  const supervised = spawnTaskProcess({
    env,
    extraEnv: { [AWAIT_SPEC_ENV]: '1' },
    masker: own,
    lookup,
    xcom: {
      push: (key, json) => (xcom.current ? xcom.current.push(key, json) : none()),
      pull: (taskIds, key) => (xcom.current ? xcom.current.pull(taskIds, key) : none()),
    },
  });
  const { child } = supervised;
  child.once('error', () => {});
  return {
    env,
    masker: own,
    supervised,
    xcom,
    alive: () =>
      child.pid !== undefined &&
      child.exitCode === null &&
      child.signalCode === null &&
      supervised.connected(),
    discard: () => supervised.killGroup('SIGKILL'),
  };
}

/** How a task process ended. */
export interface TaskProcessResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** The task skipped itself (`SkipTask`). */
  readonly skipped: boolean;
  /** The task asked for the tasks after it to be skipped (`shortCircuit`). */
  readonly skipDownstream: boolean;
}

/**
 * Runs one try in a child process and waits for it.
 *
 * @example
 * ```ts
 * const { exitCode } = await runTaskProcess(spec, { env: process.env, masker, onLine: console.log });
 * ```
 */
export async function runTaskProcess(
  spec: TaskSpec,
  options: RunTaskProcessOptions,
): Promise<TaskProcessResult> {
  const { logPath, onLine } = options;
  const spare =
    options.spare?.env === options.env && options.spare.alive() ? options.spare : undefined;
  if (options.spare && !spare) options.spare.discard();
  // This try's masker: the deployment's secrets, the task's environment, what it resolves.
  const masker = spare ? spare.masker : options.masker.fork();
  const log = logPath ? new TaskLogFile(logPath, masker) : undefined;
  const emit = (lines: string[]) => {
    // The log file masks what it writes with the same masker.
    log?.append(lines);
    if (onLine) for (const l of lines) onLine(masker.redact(l));
  };
  const own = options.lookup === undefined ? createSupervisorLookup(options.env) : undefined;
  const lookup = options.lookup ?? (own as SupervisorLookup);
  try {
    return await new Promise((resolve) => {
      const started = spare
        ? spare.supervised
        : spawnTaskProcess({
            env: options.env,
            extraEnv: { AIRLOCK_TASK_SPEC: JSON.stringify(spec) },
            masker,
            lookup,
            xcom: options.xcom,
          });
      const { child, stdout, stderr, killGroup } = started;
      if (spare) {
        spare.xcom.current = options.xcom;
        started.send({ type: SPEC_MESSAGE, spec });
      }
      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (why: string) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        emit([`WARNING - airlock: ${why}; sending SIGTERM`]);
        child.kill('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs ?? 5000);
        killTimer.unref();
      };
      const timeout =
        options.timeoutMs != null
          ? setTimeout(() => {
              timedOut = true;
              stop(`the task timed out after ${Math.round((options.timeoutMs ?? 0) / 1000)}s`);
            }, options.timeoutMs)
          : undefined;
      const onAbort = () => stop('the worker is stopping the task');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (spare && child.pid !== undefined) options.onStart?.(child.pid);
      else {
        child.once('spawn', () => {
          if (child.pid !== undefined) options.onStart?.(child.pid);
        });
      }
      // The child's bytes, masked by the supervisor, split into lines.
      const readers = [stdout, stderr].map(
        (stream) =>
          new Promise<void>((done) => {
            const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
            rl.on('line', (l) => emit([l]));
            rl.on('close', done);
          }),
      );
      const told = { skipped: false, skipDownstream: false };
      started.onMessage((message) => {
        if (!isOutcomeMessage(message)) return;
        if (message.skipped === true) told.skipped = true;
        if (message.skipDownstream === true) told.skipDownstream = true;
      });
      let spawnError: string | undefined;
      child.once('error', (err) => {
        spawnError = (err as NodeJS.ErrnoException).code ?? err.name;
      });
      child.once('close', async (code, signal) => {
        await Promise.all(readers);
        if (timeout) clearTimeout(timeout);
        if (killTimer) clearTimeout(killTimer);
        options.signal?.removeEventListener('abort', onAbort);
        if (spawnError) emit([`ERROR - airlock: cannot start the task process (${spawnError})`]);
        log?.close();
        resolve({ exitCode: code, signal, timedOut, ...told });
      });
    });
  } finally {
    log?.close();
    await own?.dispose().catch(() => {});
  }
}

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  store: PipelineStore;
  settings: PipelineSettings;
  /** The deployment's environment, read for each try (deployment settings may change). */
  env: () => Env | Promise<Env>;
  /** Holds the deployment's secrets; each try's output is masked with a copy of it. */
  masker: SecretsMasker;
  /**
   * The open metastore the tries' lookups read (else the configured one is opened). The worker
   * also listens on it for queued work (PostgreSQL `LISTEN`, SQLite's signal file), so that a
   * trigger in another process starts its tasks at once; the poll stays as the fallback.
   */
  metastore?: Metastore | undefined;
  logger?: Logger | undefined;
  /** @default `host:pid` */
  workerId?: string;
  /** @default settings.concurrency */
  concurrency?: number;
  /** Claim only these runs (`dags test`). */
  filter?: ClaimFilter;
  /** Also receives every (masked) log line with its task (`dags test` echoes them). */
  onLine?: (ti: TaskInstanceRecord, line: string) => void;
  /** Called after each try is recorded. */
  onTryFinished?: (ti: TaskInstanceRecord, state: string | undefined) => void;
}

/** A running worker. */
export interface Worker {
  readonly workerId: string;
  /** Tries whose process is running now (a try being recorded after its process ended is not). */
  readonly running: number;
  /** Looks for work now instead of at the next poll. */
  wake(): void;
  /**
   * Stops claiming and waits for the running tries; with `kill`, stops them first (they are
   * recorded as failed, and retried if they have retries left).
   */
  stop(options?: { kill?: boolean }): Promise<void>;
}

/**
 * The task processes a worker starts ahead, `count` at most (one per slot with
 * `AIRLOCK__WORKER__PRESTART`, else none): each takes one try; one started with another
 * environment (a new settings version) is discarded. The environment's secrets go into the
 * worker's own masker once per environment, so that each try's fork finds them there and shares
 * the worker's masking index instead of copying it.
 */
function createSpares(
  masker: SecretsMasker,
  lookups: ReturnType<typeof supervisorLookups>,
  count: number,
) {
  const spares: SpareTaskProcess[] = [];
  const registered = new WeakSet<Env>();
  const registerOnce = (env: Env) => {
    if (registered.has(env)) return;
    registerEnvironmentSecrets(masker, env);
    registered.add(env);
  };
  return {
    registerOnce,
    take(env: Env): SpareTaskProcess | undefined {
      for (let spare = spares.shift(); spare; spare = spares.shift()) {
        if (spare.env === env && spare.alive()) return spare;
        spare.discard();
      }
      return undefined;
    },
    refill(env: Env): void {
      if (count === 0) return;
      registerOnce(env);
      while (spares.length < count)
        spares.push(startSpareTaskProcess(env, masker, lookups.of(env)));
    },
    discardAll(): void {
      for (const spare of spares.splice(0)) spare.discard();
    },
  };
}

/**
 * Starts a worker: reaps stale tries, then claims and runs tasks until stopped.
 *
 * @example
 * ```ts
 * const worker = startWorker({ store, settings, env: () => process.env, masker });
 * process.on('SIGTERM', () => worker.stop());
 * ```
 */
export function startWorker(options: WorkerOptions): Worker {
  const { store, settings, masker, logger } = options;
  const workerId = options.workerId ?? defaultWorkerId();
  // One resolver (and cache) per settings version, shared by the tries of this worker.
  const lookups = supervisorLookups({ metastore: options.metastore, logger });
  const concurrency = options.concurrency ?? settings.concurrency;
  const running = new Map<number, { ti: TaskInstanceRecord; abort: AbortController }>();
  const tries = new Set<Promise<void>>();
  let stopping = false;
  let polling = false;
  const spares = createSpares(masker, lookups, settings.prestart ? concurrency : 0);
  let again = false;
  let lastReap = 0;

  const reap = async () => {
    lastReap = Date.now();
    const reaped = await store.reapStale(settings.heartbeatTimeoutSeconds * 1000);
    for (const ti of reaped) {
      logger?.warn(
        { dagId: ti.dagId, runId: ti.runId, taskId: ti.taskId, worker: ti.workerId },
        'marked a running task failed: its worker stopped heart-beating',
      );
      try {
        appendLogLines(
          taskLogPath(settings.logsFolder, ti.dagId, ti.runId, ti.taskId, ti.tryNumber),
          [`ERROR - airlock: no heartbeat from worker ${ti.workerId ?? '?'}; marked failed`],
          masker,
        );
      } catch {
        // the log may live on the dead worker's machine
      }
    }
  };

  // The runs of recent tries: what a try's description takes from its run (file, dates, conf)
  // does not change, so the tries of one run read it once.
  const runs = new Map<string, DagRunRecord | undefined>();
  const runOf = async (ti: TaskInstanceRecord) => {
    const key = `${ti.dagId}\u0000${ti.runId}`;
    if (runs.has(key)) return runs.get(key);
    const run = await store.getRun(ti.dagId, ti.runId);
    if (runs.size >= 64) runs.delete(runs.keys().next().value as string);
    if (run) runs.set(key, run);
    return run;
  };

  /** Runs a try and records it; `release` frees its slot once its process has ended. */
  const runTry = async (ti: TaskInstanceRecord, abort: AbortController, release: () => void) => {
    const logPath = taskLogPath(settings.logsFolder, ti.dagId, ti.runId, ti.taskId, ti.tryNumber);
    let success = false;
    let skipped = false;
    let skipDownstream = false;
    let exitCode: number | null = null;
    let note: string | undefined;
    try {
      const run = await runOf(ti);
      const env = await options.env();
      const spec = specOf(run, ti);
      appendLogLines(
        logPath,
        [`INFO - airlock: worker ${workerId} starting try ${ti.tryNumber} of ${ti.maxTries}`],
        masker,
      );
      // A try starts without the values of an earlier try (as Airflow clears them); the first
      // try of a task instance has none.
      if (ti.tryNumber > 1) await store.clearXcom(ti);
      spares.registerOnce(env);
      const spare = spares.take(env);
      setImmediate(() => {
        if (!stopping) spares.refill(env);
      });
      const result = await runTaskProcess(spec, {
        env,
        masker,
        spare,
        lookup: lookups.of(env),
        logPath,
        onLine: options.onLine ? (l) => options.onLine?.(ti, l) : undefined,
        timeoutMs: ti.timeoutMs,
        signal: abort.signal,
        xcom: {
          push: (key, json) => store.setXcom(ti, key, json),
          pull: async (taskIds, key) =>
            Object.fromEntries(
              (await store.xcoms(ti.dagId, ti.runId, { taskIds, key })).map((x) => [
                x.taskId,
                x.text,
              ]),
            ),
        },
      });
      exitCode = result.exitCode;
      success = result.exitCode === 0 && !result.timedOut;
      skipped = success && result.skipped;
      skipDownstream = success && result.skipDownstream;
      if (result.timedOut) note = `timed out after ${Math.round((ti.timeoutMs ?? 0) / 1000)}s`;
      else if (abort.signal.aborted) note = 'stopped by its worker';
    } catch (err) {
      note = `airlock could not run the task (${err instanceof Error ? err.name : typeof err})`;
      try {
        appendLogLines(logPath, [`ERROR - airlock: ${note}`], masker);
      } catch {
        // nothing more to do: the state below records it
      }
    }
    // The process has ended: the slot takes its next task while this try is recorded.
    release();
    const report = await store.finishTry(ti, {
      success,
      skipped,
      skipDownstream,
      exitCode,
      ...(note === undefined ? {} : { note }),
    });
    const retryAt =
      report.state === 'up_for_retry'
        ? (await store.getTaskInstance(ti.dagId, ti.runId, ti.taskId))?.runAfter
        : null;
    const outcome =
      report.state === 'up_for_retry'
        ? `up_for_retry (next try in ${Math.round(((retryAt ?? Date.now()) - Date.now()) / 1000)}s)`
        : (report.state ?? 'not recorded (the try was reaped)');
    try {
      appendLogLines(logPath, [`INFO - airlock: try ${ti.tryNumber} ended: ${outcome}`], masker);
    } catch {
      // ignore
    }
    if (report.runState === 'success' || report.runState === 'failed') {
      await runDagCallback(ti, report.runState).catch((err: unknown) => {
        logger?.error(
          { dagId: ti.dagId, runId: ti.runId, error: err instanceof Error ? err.name : typeof err },
          'could not run the DAG callback',
        );
      });
    }
    options.onTryFinished?.(ti, report.state ?? undefined);
  };

  /** A run ended: the DAG's callback for it, if it has one, in its own supervised process. */
  const runDagCallback = async (ti: TaskInstanceRecord, state: 'success' | 'failed') => {
    const dagState = await store.dagState(ti.dagId);
    if (!dagState?.info.callbacks?.includes(state)) return;
    const run = await store.getRun(ti.dagId, ti.runId);
    if (!run) return;
    const env = await options.env();
    const logPath = taskLogPath(settings.logsFolder, ti.dagId, ti.runId, DAG_CALLBACK_LOG, 1);
    await runTaskProcess(
      {
        ...specOf(run, ti),
        taskId: '',
        tryNumber: 1,
        maxTries: 1,
        callback: state,
      },
      { env, masker, lookup: lookups.of(env), logPath, timeoutMs: 300_000 },
    );
  };

  const specOf = (run: DagRunRecord | undefined, ti: TaskInstanceRecord): TaskSpec => ({
    dagsFolder: settings.dagsFolder,
    fileloc: run?.fileloc ?? '',
    dagId: ti.dagId,
    taskId: ti.taskId,
    runId: ti.runId,
    runType: run?.runType ?? 'manual',
    tryNumber: ti.tryNumber,
    maxTries: ti.maxTries,
    logicalDate: new Date(run?.logicalDate ?? Date.now()).toISOString(),
    dataIntervalStart: new Date(
      run?.dataIntervalStart ?? run?.logicalDate ?? Date.now(),
    ).toISOString(),
    dataIntervalEnd: new Date(run?.dataIntervalEnd ?? run?.logicalDate ?? Date.now()).toISOString(),
    conf: run?.conf ?? {},
  });

  const poll = async () => {
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    try {
      do {
        again = false;
        if (Date.now() - lastReap >= settings.heartbeatSeconds * 1000) await reap();
        while (!stopping && running.size < concurrency) {
          const ti = await store.claimNext(workerId, {
            ...(options.filter ?? {}),
            pid: process.pid,
          });
          if (!ti) break;
          const abort = new AbortController();
          running.set(ti.id, { ti, abort });
          const release = () => {
            if (running.delete(ti.id) && !stopping) void poll();
          };
          const p: Promise<void> = runTry(ti, abort, release)
            .catch((err: unknown) => {
              logger?.error(
                { dagId: ti.dagId, taskId: ti.taskId, error: err instanceof Error ? err.name : '' },
                'could not record a try',
              );
            })
            .finally(() => {
              running.delete(ti.id);
              tries.delete(p);
              if (!stopping) void poll();
            });
          tries.add(p);
        }
      } while (again && !stopping);
    } catch (err) {
      logger?.error(
        { error: err instanceof Error ? err.name : typeof err },
        'the worker could not reach the metastore; retrying',
      );
    } finally {
      polling = false;
    }
  };

  const heartbeat = setInterval(() => {
    void store.heartbeat(workerId, [...running.keys()]).catch(() => {});
  }, settings.heartbeatSeconds * 1000);
  const ticker = setInterval(() => {
    if (!stopping) void poll();
  }, settings.pollIntervalMs);
  const listening = options.metastore
    ?.listen(TASK_QUEUED_CHANNEL, () => {
      if (!stopping) void poll();
    })
    .catch(() => undefined);
  void reap()
    .catch(() => {})
    .then(() => poll());

  return {
    workerId,
    get running() {
      return running.size;
    },
    wake() {
      if (!stopping) void poll();
    },
    async stop(stopOptions = {}) {
      stopping = true;
      clearInterval(ticker);
      await (await listening)?.close();
      if (stopOptions.kill) for (const { abort } of running.values()) abort.abort();
      spares.discardAll();
      while (polling) await new Promise((r) => setTimeout(r, 10));
      await Promise.allSettled([...tries]);
      spares.discardAll();
      clearInterval(heartbeat);
      await lookups.dispose();
    },
  };
}
