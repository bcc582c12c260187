/**
 * Independent clients (gcloud, the AWS CLI, Python with hvac or the Azure SDK) run as child
 * processes: the proof that a test double speaks its store's protocol is a client we did not
 * write. A missing client fails the test with the command that installs it; it never skips.
 */

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cleanEnv } from './cli.ts';
import { type ProcessResult, runProcess } from './process.ts';

/** Debian's Python, where `apt-get install python3-hvac python3-azure` puts the SDKs. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** The absolute path of `command` on PATH, or `undefined`. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** What one client run printed and how it exited. */
export type ToolResult = ProcessResult;

/** Options of {@link runTool}. */
export interface ToolOptions {
  /** Added to a clean environment (no AIRFLOW_/AIRLOCK_/cloud settings of the developer). */
  env?: Record<string, string>;
  /** Written to the client's stdin. */
  input?: string;
  /** @default 60_000 */
  timeoutMs?: number;
}

/**
 * Runs `command args…`; rejects with `install` in the message when the command is missing.
 *
 * @example
 * ```ts
 * const r = await runTool('gcloud', ['--version'], {}, 'the Google Cloud CLI is preinstalled');
 * ```
 */
export function runTool(
  command: string,
  args: string[],
  options: ToolOptions,
  install: string,
): Promise<ToolResult> {
  const path = command.startsWith('/') ? command : findOnPath(command);
  if (!path) {
    return Promise.reject(new Error(`\`${command}\` is not on PATH: ${install}`));
  }
  return runProcess(path, args, {
    env: cleanEnv(options.env),
    ...(options.input === undefined ? {} : { input: options.input }),
    timeoutMs: options.timeoutMs ?? 60_000,
  }).catch((err: Error) => {
    throw new Error(`${command}: ${err.message}; ${install}`);
  });
}

/**
 * Runs a Python script with Debian's python3, after checking it can import `module`; the error
 * names the apt package that provides it.
 *
 * @example
 * ```ts
 * const out = await runPython('hvac', 'python3-hvac', script, [vault.url]);
 * ```
 */
export async function runPython(
  module: string,
  aptPackage: string,
  script: string,
  args: string[],
  options: ToolOptions = {},
): Promise<ToolResult> {
  const install = `run \`apt-get install -y ${aptPackage}\` (.ci/run does)`;
  const probe = await runTool(SYSTEM_PYTHON, ['-c', `import ${module}`], {}, install);
  if (probe.code !== 0) {
    throw new Error(`${SYSTEM_PYTHON} cannot import ${module}: ${install}`);
  }
  // No __pycache__ beside the scripts: a test run leaves the work tree as it found it.
  return runTool(
    SYSTEM_PYTHON,
    [script, ...args],
    { ...options, env: { PYTHONDONTWRITEBYTECODE: '1', ...options.env } },
    install,
  );
}
