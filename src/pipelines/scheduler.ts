/**
 * @module pipelines/scheduler
 * The scheduler: it discovers the DAGs folder (in a supervised child, every
 * `AIRLOCK__SCHEDULER__MIN_FILE_PROCESS_INTERVAL` seconds), records each DAG in the metastore
 * (`airlock_dag`: paused or not, next run), and every `AIRLOCK__SCHEDULER__POLL_INTERVAL_MS`
 * creates the scheduled runs that are due (see {@link PipelineStore.scheduleDue}); workers then
 * run their tasks.
 *
 * Any number of schedulers may run against one PostgreSQL database, as Airflow's HA scheduler:
 * each DAG's row is locked (`FOR UPDATE SKIP LOCKED`) while its runs are created, the next run is
 * computed from the runs already in the database inside that lock, and a unique index on
 * (dag_id, logical_date) of scheduled runs refuses a duplicate. On SQLite, one process at a time
 * holds the write lock. A scheduler that was down creates, when it starts, the runs it missed as
 * each DAG's `catchup` says (all of them, or the latest).
 */

import { AirlockError } from '../errors.ts';
import { type DagBagInfo, discoverDagsInChild } from './loader.ts';
import type { DagRunRecord } from './store.ts';
import { supervisorLookups } from './supervisor.ts';
import type { WorkerOptions } from './worker.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The test-only clock variable: an ISO-8601 instant the scheduler's clock starts from. */
export const FAKE_NOW_ENV = 'AIRLOCK__SCHEDULER__FAKE_NOW';

/**
 * The scheduler's clock: the real one, or (for tests, `AIRLOCK__SCHEDULER__FAKE_NOW`) one that
 * starts at the given instant and advances in real time.
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` when the variable is not an ISO-8601 instant.
 * @example
 * ```ts
 * const now = schedulerClock({ AIRLOCK__SCHEDULER__FAKE_NOW: '2026-03-01T10:30:00Z' });
 * ```
 */
export function schedulerClock(env: Env): () => number {
  const fake = env[FAKE_NOW_ENV];
  if (fake === undefined || fake.trim() === '') return Date.now;
  const start = Date.parse(fake);
  if (!Number.isFinite(start)) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${FAKE_NOW_ENV}: must be an ISO-8601 instant`,
      { details: { setting: FAKE_NOW_ENV } },
    );
  }
  const offset = start - Date.now();
  return () => Date.now() + offset;
}

/** Options of {@link startScheduler}. */
export interface SchedulerOptions
  extends Pick<WorkerOptions, 'store' | 'settings' | 'env' | 'masker' | 'metastore' | 'logger'> {
  /** @default the real clock, or the fake one of `AIRLOCK__SCHEDULER__FAKE_NOW` */
  now?: () => number;
  /** How the DAGs folder is read. @default a supervised discovery child */
  discover?: () => Promise<DagBagInfo>;
  /** Told about the runs created (an in-process worker's `wake`). */
  onRuns?: (runs: readonly DagRunRecord[]) => void;
}

/** A running scheduler. */
export interface Scheduler {
  /** Discovers now (instead of at the next interval) and schedules. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a scheduler loop in this process.
 *
 * @example
 * ```ts
 * const scheduler = startScheduler({ store, settings, env: () => process.env, masker });
 * process.on('SIGTERM', () => scheduler.stop());
 * ```
 */
export function startScheduler(options: SchedulerOptions): Scheduler {
  const { store, settings, logger } = options;
  const now = options.now ?? Date.now;
  const lookups = supervisorLookups({ metastore: options.metastore, logger });
  const discover =
    options.discover ??
    (async () => {
      const env = await options.env();
      return discoverDagsInChild(settings.dagsFolder, {
        env,
        masker: options.masker,
        lookup: lookups.of(env),
      });
    });
  let lastParse = Number.NEGATIVE_INFINITY;
  let stopping = false;
  let running: Promise<void> | undefined;

  const once = async (forceParse: boolean) => {
    try {
      if (forceParse || Date.now() - lastParse >= settings.dagParseIntervalSeconds * 1000) {
        const bag = await discover();
        lastParse = Date.now();
        await store.syncDags(bag.dags, { now: now(), pausedAtCreation: settings.pausedAtCreation });
      }
      const runs = await store.scheduleDue(now());
      for (const run of runs) {
        logger?.info(
          {
            dagId: run.dagId,
            runId: run.runId,
            logicalDate: new Date(run.logicalDate).toISOString(),
          },
          'scheduled run created',
        );
      }
      if (runs.length > 0) options.onRuns?.(runs);
    } catch (err) {
      logger?.error(
        err instanceof AirlockError
          ? { code: err.code, error: options.masker.redact(err.message) }
          : { error: err instanceof Error ? err.name : typeof err },
        'the scheduler loop failed; retrying',
      );
    }
  };
  const tick = (forceParse = false): Promise<void> => {
    if (running) return running;
    running = once(forceParse).finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopping) void tick();
  }, settings.schedulerPollIntervalMs);
  void tick();

  return {
    async refresh() {
      await running;
      await tick(true);
    },
    async stop() {
      stopping = true;
      clearInterval(timer);
      await running;
      await lookups.dispose();
    },
  };
}
