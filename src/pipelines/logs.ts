/**
 * @module pipelines/logs
 * Task logs: one file per try, `<logs>/<dag_id>/<run_id>/<task_id>/<try>.log` (Airflow's layout),
 * one line per output line, `[<ISO time>] <text>`. Every line is written through a masker.
 */
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { AirlockError } from '../errors.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import { writeAll } from '../util/write-all.ts';
import { isValidId } from './dag.ts';
import { checkRunId } from './store.ts';

/**
 * The log file of one try. Every part is checked before it becomes a path: dag and task ids by
 * Airflow's id rule (never `.` or `..`), the run_id by {@link checkRunId}, the try a whole number
 * ≥ 1; and the result must lie inside `logsFolder`.
 *
 * @throws AirlockError `AIRLOCK_ERR_CLI_USAGE` when a part is not valid.
 * @example
 * ```ts
 * taskLogPath('/home/me/airlock/logs', 'etl', 'manual__…', 'load', 1); // …/etl/manual__…/load/1.log
 * ```
 */
export function taskLogPath(
  logsFolder: string,
  dagId: string,
  runId: string,
  taskId: string,
  tryNumber: number,
): string {
  if (
    !isValidId(dagId) ||
    !isValidId(taskId) ||
    !Number.isSafeInteger(tryNumber) ||
    tryNumber < 1
  ) {
    throw new AirlockError(
      'AIRLOCK_ERR_CLI_USAGE',
      'a log path needs a valid dag_id and task_id (letters, digits, `_`, `.`, `-`) and a try number >= 1',
    );
  }
  const root = resolve(logsFolder);
  const path = join(root, dagId, checkRunId(runId), taskId, `${tryNumber}.log`);
  const inside = relative(root, path);
  if (inside.startsWith(`..${sep}`) || inside === '..' || resolve(root, inside) !== path) {
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', 'a log path must stay inside the logs folder');
  }
  return path;
}

/** `[2026-01-01T00:00:00.000Z] text`. */
export function formatLogLine(text: string, now = Date.now()): string {
  return `[${new Date(now).toISOString()}] ${text}\n`;
}

/** Appends `lines` (masked) to a log file, creating its folder (mode 0700). */
export function appendLogLines(
  path: string,
  lines: readonly string[],
  masker: SecretsMasker,
): void {
  const file = new TaskLogFile(path, masker);
  try {
    file.append(lines);
  } finally {
    file.close();
  }
}

/**
 * The log file of one running try, opened once (at its first lines) and appended to until
 * {@link TaskLogFile.close}: a try's output arrives a line at a time, and opening, writing and
 * closing the file (and making its folder) for each line costs the worker more than the line.
 *
 * @example
 * ```ts
 * const log = new TaskLogFile(path, masker);
 * log.append(['INFO - starting']);
 * log.close();
 * ```
 */
export class TaskLogFile {
  readonly #path: string;
  readonly #masker: SecretsMasker;
  #fd: number | undefined;

  constructor(path: string, masker: SecretsMasker) {
    this.#path = path;
    this.#masker = masker;
  }

  /** Appends `lines` (masked), creating the file and its folder (mode 0700) first. */
  append(lines: readonly string[]): void {
    if (lines.length === 0) return;
    if (this.#fd === undefined) {
      try {
        this.#fd = openSync(this.#path, 'a', 0o600);
      } catch (err) {
        // The try's first line: its folder is made first (a try writes its log in three goes).
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 });
        this.#fd = openSync(this.#path, 'a', 0o600);
      }
    }
    writeAll(
      this.#fd,
      Buffer.from(lines.map((l) => formatLogLine(this.#masker.redact(l))).join('')),
    );
  }

  /** Closes the file (a later {@link append} opens it again). */
  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }
}

/** A try's log, or `undefined` when there is none (yet, or on this machine) or an id is not valid. */
export function readTaskLog(
  logsFolder: string,
  dagId: string,
  runId: string,
  taskId: string,
  tryNumber: number,
): string | undefined {
  let path: string;
  try {
    path = taskLogPath(logsFolder, dagId, runId, taskId, tryNumber);
  } catch {
    return undefined;
  }
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
