/**
 * @module pipelines/logs
 * Task logs: one file per try, `<logs>/<dag_id>/<run_id>/<task_id>/<try>.log` (Airflow's layout),
 * one line per output line, `[<ISO time>] <text>`. Every line is written through a masker.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SecretsMasker } from '../masking/masker.ts';
import { checkRunId } from './store.ts';

/**
 * The log file of one try.
 *
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
  return join(logsFolder, dagId, checkRunId(runId), taskId, `${tryNumber}.log`);
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
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  appendFileSync(path, lines.map((l) => formatLogLine(masker.redact(l))).join(''), {
    mode: 0o600,
  });
}

/** A try's log, or `undefined` when there is none (yet, or on this machine). */
export function readTaskLog(
  logsFolder: string,
  dagId: string,
  runId: string,
  taskId: string,
  tryNumber: number,
): string | undefined {
  try {
    return readFileSync(taskLogPath(logsFolder, dagId, runId, taskId, tryNumber), 'utf8');
  } catch {
    return undefined;
  }
}
