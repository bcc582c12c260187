/** Peak RSS of a child process, for scenarios that run the built CLI in its own process. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A preloaded module (`node --import <hook>`) that writes the process's peak RSS on exit, and how
 * to read it (in MB) afterwards; `done()` removes both files.
 */
export function peakRssHook(): { hook: string; readMb(): number; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-rss-'));
  const hook = join(dir, 'rss.mjs');
  const out = join(dir, 'rss.txt');
  writeFileSync(
    hook,
    `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(out)}, String(process.resourceUsage().maxRSS)));\n`,
  );
  return {
    hook,
    readMb: () => Math.round((Number(readFileSync(out, 'utf8')) / 1024) * 10) / 10,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}
