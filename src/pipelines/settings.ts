/**
 * @module pipelines/settings
 * Where DAG files and task logs live and how workers pace themselves, read from the environment
 * with Airflow's names where Airflow has one (`AIRFLOW__CORE__DAGS_FOLDER`,
 * `AIRFLOW__LOGGING__BASE_LOG_FOLDER`); an `AIRLOCK__` name wins over its `AIRFLOW__` twin.
 */
import { join } from 'node:path';
import { AirlockError } from '../errors.ts';

/** The pipeline settings. */
export interface PipelineSettings {
  /** `AIRLOCK__CORE__DAGS_FOLDER`. @default `$AIRLOCK_HOME/dags` */
  readonly dagsFolder: string;
  /** `AIRLOCK__LOGGING__BASE_LOG_FOLDER`. @default `$AIRLOCK_HOME/logs` */
  readonly logsFolder: string;
  /** `AIRLOCK__WORKER__CONCURRENCY`: tasks one worker runs at once. @default 4 */
  readonly concurrency: number;
  /** `AIRLOCK__WORKER__HEARTBEAT_SECONDS`: how often a running task's heartbeat is written. @default 5 */
  readonly heartbeatSeconds: number;
  /**
   * `AIRLOCK__WORKER__HEARTBEAT_TIMEOUT_SECONDS`: a running task whose heartbeat is older is
   * taken as lost with its worker (Airflow's zombie threshold) and marked failed.
   * @default 60
   */
  readonly heartbeatTimeoutSeconds: number;
  /**
   * `AIRLOCK__WORKER__PRESTART`: a worker keeps a task process started ahead for each of its
   * slots, which gets its try over its channel (every try still gets a fresh process of its own).
   * @default true
   */
  readonly prestart: boolean;
  /** `AIRLOCK__WORKER__POLL_INTERVAL_MS`: how often an idle worker looks for work. @default 1000 */
  readonly pollIntervalMs: number;
  /** `AIRLOCK__SCHEDULER__POLL_INTERVAL_MS`: how often the scheduler looks for due runs. @default 1000 */
  readonly schedulerPollIntervalMs: number;
  /**
   * `AIRLOCK__SCHEDULER__MIN_FILE_PROCESS_INTERVAL` (Airflow's name): seconds between two
   * discoveries of the DAGs folder by the scheduler.
   * @default 30
   */
  readonly dagParseIntervalSeconds: number;
  /**
   * `AIRLOCK__CORE__DAGS_ARE_PAUSED_AT_CREATION` (Airflow's name): whether a DAG seen for the
   * first time starts paused (a DAG's `isPausedUponCreation` wins).
   * @default true
   */
  readonly pausedAtCreation: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

function first(env: Env, names: readonly string[]): [string, string] | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return [name, value.trim()];
  }
  return undefined;
}

function positive(env: Env, name: string, fallback: number, integer: boolean): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new AirlockError(
      'AIRLOCK_ERR_CONFIG_INVALID',
      `${name}: must be a ${integer ? 'whole ' : ''}number > 0`,
      { details: { setting: name } },
    );
  }
  return n;
}

function flag(env: Env, names: readonly string[], fallback: boolean): boolean {
  const found = first(env, names);
  if (!found) return fallback;
  const value = found[1].toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new AirlockError('AIRLOCK_ERR_CONFIG_INVALID', `${found[0]}: must be true or false`, {
    details: { setting: found[0] },
  });
}

/**
 * The pipeline settings of `env`, with `home` (`AIRLOCK_HOME`, from the loaded config).
 *
 * @throws AirlockError `AIRLOCK_ERR_CONFIG_INVALID` for a number that is not one.
 * @example
 * ```ts
 * const { dagsFolder } = loadPipelineSettings(process.env, loadConfig().home);
 * ```
 */
export function loadPipelineSettings(env: Env, home: string): PipelineSettings {
  const dags = first(env, ['AIRLOCK__CORE__DAGS_FOLDER', 'AIRFLOW__CORE__DAGS_FOLDER']);
  const logs = first(env, [
    'AIRLOCK__LOGGING__BASE_LOG_FOLDER',
    'AIRFLOW__LOGGING__BASE_LOG_FOLDER',
  ]);
  return Object.freeze({
    dagsFolder: dags ? dags[1] : join(home, 'dags'),
    logsFolder: logs ? logs[1] : join(home, 'logs'),
    concurrency: positive(env, 'AIRLOCK__WORKER__CONCURRENCY', 4, true),
    heartbeatSeconds: positive(env, 'AIRLOCK__WORKER__HEARTBEAT_SECONDS', 5, false),
    heartbeatTimeoutSeconds: positive(env, 'AIRLOCK__WORKER__HEARTBEAT_TIMEOUT_SECONDS', 60, false),
    prestart: flag(env, ['AIRLOCK__WORKER__PRESTART'], true),
    pollIntervalMs: positive(env, 'AIRLOCK__WORKER__POLL_INTERVAL_MS', 1000, true),
    schedulerPollIntervalMs: positive(env, 'AIRLOCK__SCHEDULER__POLL_INTERVAL_MS', 1000, true),
    dagParseIntervalSeconds: positive(
      env,
      'AIRLOCK__SCHEDULER__MIN_FILE_PROCESS_INTERVAL',
      30,
      false,
    ),
    pausedAtCreation: flag(
      env,
      ['AIRLOCK__CORE__DAGS_ARE_PAUSED_AT_CREATION', 'AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION'],
      true,
    ),
  });
}
