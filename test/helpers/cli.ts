/** Runs the built `airlock` executable in a child process, as a user would. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

/** The project root. */
export const ROOT = resolve(import.meta.dirname, '../..');
/** The pinned Node 24 binary (what npm scripts and npx use). */
export const NODE = join(ROOT, 'node_modules/.bin/node');
/** The built bin, as `npx airlock` runs it. */
export const BIN = join(ROOT, 'dist/cli/bin.js');

/** What one CLI run printed and how it exited. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

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
  return new Promise((resolvePromise, reject) => {
    const child = spawn(options.node ?? NODE, [...(options.nodeArgs ?? []), bin, ...args], {
      cwd: options.cwd ?? ROOT,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Asserts that `stderr` is exactly one line, `airlock: error <code>: …`, with no stack. */
export function expectOneLineError(stderr: string, code: string): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^airlock: error ${code}: `));
  expect(stderr).not.toMatch(/\n\s+at /);
}
