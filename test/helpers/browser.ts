/**
 * A real `airlock server` process (what `npm start` runs) and Debian's Chromium, for the
 * browser tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { BIN, cleanEnv, NODE, ROOT } from './cli.ts';

/** Debian's Chromium, the only browser these tests use (never a downloaded one). */
export const CHROMIUM = '/usr/bin/chromium';

/** A running `airlock server`. */
export interface ServerProcess {
  readonly url: string;
  /** The server's process id (for its memory, in the soak test). */
  readonly pid: number;
  /** Everything the server printed so far. */
  output(): string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `airlock server --port 0` with a clean environment plus `env`, and waits for its
 * `listening on <url>` line.
 */
export async function startServerProcess(
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<ServerProcess> {
  const child: ChildProcess = spawn(NODE, [BIN, 'server', '--port', '0', ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}`)), 40_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${out}`)));
  });
  return {
    url,
    pid: child.pid ?? 0,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Launches Debian's Chromium headless, failing with a clear message when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Debian's Chromium at ${CHROMIUM} (apt-get install chromium); .ci/run installs it`,
    );
  }
  // launch() gives every run a fresh, temporary user-data dir of its own.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * Where the browser tests put their screenshots: `docs/screenshots/` when
 * `UPDATE_SCREENSHOTS=1` (to refresh the README's pictures), else a temporary folder, so that a
 * test run leaves the work tree as it was.
 */
export const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(ROOT, 'docs/screenshots')
    : mkdtempSync(join(tmpdir(), 'airlock-screenshots-'));
