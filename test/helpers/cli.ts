/** Runs the built `airlock` executable in a child process, as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { type ProcessResult, runProcess } from './process.ts';

/** The project root. */
export const ROOT = resolve(import.meta.dirname, '../..');
/** The pinned Node 24 binary (what npm scripts and npx use). */
export const NODE = join(ROOT, 'node_modules/.bin/node');
/** The built bin, as `npx airlock` runs it. */
export const BIN = join(ROOT, 'dist/cli/bin.js');

/** What one CLI run printed and how it exited. */
export type CliResult = ProcessResult;

/** Options of {@link runAirlock}. */
export interface RunOptions {
  env?: Record<string, string>;
  nodeArgs?: string[];
  node?: string;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** The executable to run. @default this repository's `dist/cli/bin.js` */
  bin?: string;
}

/** A minimal environment: no AIRFLOW_/AIRLOCK_ settings leak in from the developer's shell. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(AIRFLOW|AIRLOCK)_/.test(k) || /^(VAULT|AWS|GOOGLE|AZURE)_/.test(k)) continue;
    if (k.startsWith('VITEST') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Runs `airlock <args>` with the pinned Node and a clean environment.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runAirlock(['variables', 'get', 'x'], { env: { AIRFLOW_VAR_X: '1' } });
 * ```
 */
export function runAirlock(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const bin = options.bin ?? BIN;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: the vitest global setup builds it`);
  return runProcess(options.node ?? NODE, [...(options.nodeArgs ?? []), bin, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    ...(options.input === undefined ? {} : { input: options.input }),
    timeoutMs: options.timeoutMs ?? 20_000,
  });
}

/** Asserts that `stderr` is exactly one line, `airlock: error <code>: …`, with no stack. */
export function expectOneLineError(stderr: string, code: string): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^airlock: error ${code}: `));
  expect(stderr).not.toMatch(/\n\s+at /);
}

/**
 * Starts `airlock <args>` in the background (a worker, a server, a long `dags test`) with the
 * pinned Node and a clean environment; its output is drained so that it never blocks.
 *
 * @example
 * ```ts
 * const worker = startAirlock(['worker'], env);
 * worker.kill('SIGTERM');
 * ```
 */
export function startAirlock(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(NODE, [BIN, ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}
