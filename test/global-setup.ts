/**
 * Builds `dist/` once before the tests, as `npm run build` does (`tsc`, then the task process's
 * bundle), so that CLI tests run the executable `npx airlock` runs, built from the current
 * sources. The build goes to a private folder that then
 * replaces `dist/` in two renames, so that another test run using `dist/` at the same time
 * never sees a half-written file. Type errors do not stop the build here (`npm test`
 * type-checks before it runs vitest); a build that emits nothing does.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleTaskProcess } from '../scripts/bundle-task.ts';

export default async function setup(): Promise<void> {
  const root = resolve(import.meta.dirname, '..');
  const staging = join(root, `dist.build-${process.pid}`);
  const retired = join(root, `dist.old-${process.pid}`);
  const dist = join(root, 'dist');
  try {
    const result = spawnSync(
      join(root, 'node_modules/.bin/tsc'),
      ['-p', 'tsconfig.build.json', '--outDir', staging],
      { cwd: root, encoding: 'utf8' },
    );
    const bin = join(staging, 'cli/bin.js');
    if (!existsSync(bin)) {
      throw new Error(`the build emitted no dist/cli/bin.js:\n${result.stdout}${result.stderr}`);
    }
    chmodSync(bin, 0o755);
    await bundleTaskProcess(staging);
    if (existsSync(dist)) renameSync(dist, retired);
    renameSync(staging, dist);
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(retired, { recursive: true, force: true });
  }
}
